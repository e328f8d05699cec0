import numpy as np
import pytest
import torch
from PIL import Image

from pona.data import PairDataset, find_split, read_annotations, read_pairs, write_annotations, write_pairs
from pona.data.layout import PAIRS_HEADER, csv_rows
from pona.data.synth import read_identities
from pona.errors import DataError


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


def pixels(root, split, name):
    """The image file as the dataset should give it: (3, H, W), 0..255 mapped to -1..1."""
    return torch.from_numpy(np.asarray(Image.open(root / split / name).convert("RGB"), np.float32)).permute(2, 0, 1) / 127.5 - 1


def visible(kp):
    return [(j, int(y), int(x)) for j, (y, x) in enumerate(np.asarray(kp).tolist()) if y >= 0 and x >= 0]


def test_pair_dataset_items_have_the_documented_shapes_and_ranges(tiny_people):
    pairs = read_pairs(tiny_people / "synth-pairs-train.csv")
    ann = read_annotations(tiny_people / "synth-annotation-train.csv")
    ds = PairDataset(tiny_people, "train")
    assert len(ds) == len(pairs)
    item = ds[0]
    a, b = pairs[0]
    assert item["source_name"] == a and item["target_name"] == b and not item["flipped"]
    assert item["source_image"].shape == (3, 32, 16) and item["source_image"].dtype == torch.float32
    # the file's pixels, 0 -> -1 and 255 -> 1
    assert torch.allclose(item["source_image"], pixels(tiny_people, "train", a), atol=1e-6)
    assert torch.allclose(item["target_image"], pixels(tiny_people, "train", b), atol=1e-6)
    assert np.array_equal(item["target_keypoints"].numpy(), ann[b])
    maps = item["target_maps"]
    assert maps.shape == (18, 32, 16)
    joints = visible(ann[b])
    assert joints and all(maps[j, y, x] == 1 for j, y, x in joints)  # each Gaussian peaks on its joint
    assert all(maps[j].max() == 0 for j in set(range(18)) - {j for j, _, _ in joints})  # a missing joint: no map


def test_flip_mirrors_images_and_swaps_left_right_joints(tiny_people):
    from pona.pose import FLIP_PERM

    plain = PairDataset(tiny_people, "train")[1]
    ds = PairDataset(tiny_people, "train", flip=True, seed=0)
    flips = []
    for epoch in range(8):
        ds.set_epoch(epoch)
        item = ds[1]
        flips.append(item["flipped"])
        if not item["flipped"]:
            assert torch.equal(item["source_image"], plain["source_image"])
            assert torch.equal(item["source_keypoints"], plain["source_keypoints"])
            continue
        assert torch.equal(item["source_image"], plain["source_image"].flip(-1))
        assert torch.equal(item["target_image"], plain["target_image"].flip(-1))
        # joint j of the mirrored person is the mirror joint of the original, at x -> W - 1 - x
        kp = plain["source_keypoints"].tolist()
        expected = [[kp[FLIP_PERM[j]][0], 15 - kp[FLIP_PERM[j]][1]] if min(kp[FLIP_PERM[j]]) >= 0 else [-1, -1]
                    for j in range(18)]
        assert item["source_keypoints"].tolist() == expected
        assert FLIP_PERM[2] == 5 and FLIP_PERM[5] == 2  # the right shoulder becomes the left one
        assert all(item["source_maps"][j, y, x] == 1 for j, y, x in visible(item["source_keypoints"]))
    assert any(flips) and not all(flips)


def test_mask_option_adds_the_target_body_mask_mirrored_with_the_pair(tiny_people):
    from pona.masks import market_mask

    plain = PairDataset(tiny_people, "train", mask=True)[1]
    m = plain["target_mask"]
    assert m.shape == (1, 32, 16) and m.dtype == torch.float32 and set(m.unique().tolist()) == {0.0, 1.0}
    assert np.array_equal(m[0].numpy().astype(bool), market_mask(plain["target_keypoints"].numpy(), 32, 16))
    joints = visible(plain["target_keypoints"])
    assert joints and all(m[0, y, x] == 1 for _, y, x in joints)  # every joint's disc
    assert 0 < m.sum() < m.numel()  # the body, not the whole frame
    assert "target_mask" not in PairDataset(tiny_people, "train")[1]
    ds = PairDataset(tiny_people, "train", mask=True, flip=True)
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
