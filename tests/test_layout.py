import numpy as np
import pytest
import torch
from PIL import Image

from pona.data import PairDataset, find_split, read_annotations, read_pairs, write_annotations, write_pairs
from pona.data.layout import PAIRS_HEADER, csv_rows
from pona.data.synth import read_identities
from pona.errors import DataError


def make_dataset(root, size=(32, 16), n=3):
    """A tiny PATN-layout dataset: n images with a vertical stripe at a different x each."""
    h, w = size
    (root / "train").mkdir(parents=True)
    ann = {}
    for i in range(n):
        img = np.zeros((h, w, 3), np.uint8)
        img[:, i] = (255, 0, 0)
        Image.fromarray(img).save(root / "train" / f"p{i}.png")
        kp = np.full((18, 2), -1)
        kp[2] = (5 + i, 2)   # right shoulder on the left
        kp[5] = (5 + i, 12)  # left shoulder on the right
        ann[f"p{i}.png"] = kp
    write_annotations(root / "toy-annotation-train.csv", ann)
    write_pairs(root / "toy-pairs-train.csv", [("p0.png", "p1.png"), ("p1.png", "p2.png")])
    return ann


def test_annotation_and_pairs_round_trip(tmp_path):
    ann = {"a.jpg": np.arange(36).reshape(18, 2), "b.jpg": np.full((18, 2), -1)}
    write_annotations(tmp_path / "x-annotation-test.csv", ann)
    text = (tmp_path / "x-annotation-test.csv").read_text().splitlines()
    assert text[0] == "name:keypoints_y:keypoints_x"
    assert text[1].startswith("a.jpg:[0, 2, 4,")
    back = read_annotations(tmp_path / "x-annotation-test.csv")
    assert list(back) == ["a.jpg", "b.jpg"] and all(np.array_equal(back[k], ann[k]) for k in ann)
    write_pairs(tmp_path / "x-pairs-test.csv", [("a.jpg", "b.jpg")])
    assert read_pairs(tmp_path / "x-pairs-test.csv") == [("a.jpg", "b.jpg")]


@pytest.mark.parametrize("row, message", [
    ("a.jpg:[1, 2]:[1, 2]", r":2: keypoints_y has 2 values, expected 18"),
    ("a.jpg:[1, 2, 3", r":2: expected 3 fields"),
    ("a.jpg:nope:[0]", r":2: keypoints_y is not a list of integers"),
    (":[" + "1, " * 17 + "1]:[" + "1, " * 17 + "1]", r":2: empty image name"),
])
def test_malformed_annotation_rows_name_file_and_line(tmp_path, row, message):
    p = tmp_path / "x-annotation-train.csv"
    p.write_text("name:keypoints_y:keypoints_x\n" + row + "\n")
    with pytest.raises(DataError, match=message) as e:
        read_annotations(p)
    assert str(p) in str(e.value)


def test_find_split_infers_the_dataset_name_including_fasion(tmp_path):
    (tmp_path / "fasion-annotation-test.csv").write_text("name:keypoints_y:keypoints_x\n")
    s = find_split(tmp_path, "test")
    assert s.name == "fasion" and s.pairs == tmp_path / "fasion-pairs-test.csv"
    with pytest.raises(DataError, match="no <name>-annotation-train.csv"):
        find_split(tmp_path, "train")


def test_pair_dataset_items_have_the_documented_shapes_and_ranges(tmp_path):
    make_dataset(tmp_path)
    ds = PairDataset(tmp_path, "train")
    assert len(ds) == 2
    item = ds[0]
    assert item["source_image"].shape == (3, 32, 16) and item["source_image"].dtype == torch.float32
    assert item["source_image"].min() == -1 and item["source_image"].max() == 1
    assert item["source_image"][0, :, 0].eq(1).all()  # red stripe of p0 at x = 0
    assert item["target_maps"].shape == (18, 32, 16) and item["target_maps"][2, 6, 2] == 1
    assert item["source_name"] == "p0.png" and item["target_name"] == "p1.png" and not item["flipped"]


def test_flip_mirrors_images_and_swaps_left_right_joints(tmp_path):
    make_dataset(tmp_path)
    ds = PairDataset(tmp_path, "train", flip=True, seed=0)
    flips = []
    for epoch in range(8):
        ds.set_epoch(epoch)
        item = ds[1]
        flips.append(item["flipped"])
        if item["flipped"]:
            assert item["source_image"][0, :, 14].eq(1).all()  # p1's stripe at x = 1 mirrored to 16 - 1 - 1
            # p1: R-shoulder (6, 2), L-shoulder (6, 12); mirrored, the joint at x = 13 is now the left one
            assert item["source_keypoints"][2].tolist() == [6, 3] and item["source_keypoints"][5].tolist() == [6, 13]
            assert item["source_maps"][5, 6, 13] == 1
        else:
            assert item["source_keypoints"][2].tolist() == [6, 2]
    assert any(flips) and not all(flips)


def test_mask_option_adds_the_target_body_mask_mirrored_with_the_pair(tmp_path):
    from pona.masks import market_mask

    make_dataset(tmp_path)
    plain = PairDataset(tmp_path, "train", mask=True)[1]  # target p2: shoulders at (7, 2), (7, 12)
    m = plain["target_mask"]
    assert m.shape == (1, 32, 16) and m.dtype == torch.float32 and set(m.unique().tolist()) == {0.0, 1.0}
    assert np.array_equal(m[0].numpy().astype(bool), market_mask(plain["target_keypoints"].numpy(), 32, 16))
    assert m[0, 7, 2] == 1 and m[0, 7, 12] == 1 and m[0, 20, 7] == 0  # the shoulders' discs; far below them
    assert "target_mask" not in PairDataset(tmp_path, "train")[1]
    ds = PairDataset(tmp_path, "train", mask=True, flip=True)
    for epoch in range(8):
        ds.set_epoch(epoch)
        flipped = ds[1]
        if flipped["flipped"]:
            break
    assert flipped["flipped"]
    assert np.array_equal(flipped["target_mask"][0].numpy().astype(bool),
                          market_mask(flipped["target_keypoints"].numpy(), 32, 16))
    assert torch.equal(flipped["target_mask"], plain["target_mask"].flip(-1))  # the mask mirrors exactly


def test_readers_accept_a_byte_order_mark(tmp_path):
    p = tmp_path / "x-pairs-test.csv"
    p.write_bytes(b"\xef\xbb\xbffrom,to\na.jpg,b.jpg\n")
    assert read_pairs(p) == [("a.jpg", "b.jpg")]


def test_one_csv_reader_serves_the_loaders_and_the_validator(tmp_path):
    p = tmp_path / "x-pairs-train.csv"
    p.write_bytes(b"\xef\xbb\xbffrom,to\ra.jpg,b.jpg\r\rc.jpg,d.jpg\r")  # a BOM, old Mac line ends, a blank row
    assert read_pairs(p) == [("a.jpg", "b.jpg"), ("c.jpg", "d.jpg")]
    p.write_bytes(b"from,to\na.jpg,b.jpg\n\xff.jpg,b.jpg\n")
    with pytest.raises(DataError, match=r":3: not UTF-8 text \(byte 0xff\); save the pairs file as UTF-8$"):
        read_pairs(p)
    told = []  # the validator's way: each fault told, the other rows still read
    assert list(csv_rows(p, PAIRS_HEADER, "pairs file", lambda *fault: told.append(fault))) == [(2, "a.jpg,b.jpg")]
    assert told == [("malformed_row", 3, "not UTF-8 text (byte 0xff); save the pairs file as UTF-8")]
    ids = tmp_path / "synth-identities.csv"
    ids.write_bytes(b"name,identity,split,camera,view,kind,pose\ncaf\xe9.png,0,train,0,front,stand,0\n")
    with pytest.raises(DataError, match=r":2: not UTF-8 text"):  # was a UnicodeDecodeError
        read_identities(ids)
