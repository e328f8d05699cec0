import numpy as np
import pytest
from PIL import Image

from helpers import run_cli
from pona.data import read_annotations, write_annotations, write_pairs
from pona.data.prepare import flat_name, prepare_deepfashion, to_fashion_frame
from pona.errors import DataError

GREEN, WHITE = (0, 200, 0), (255, 255, 255)


def test_flat_name_follows_the_field():
    assert flat_name("WOMEN/Blouses_Shirts/id_00003115/01_7_additional.jpg") == \
        "fashionWOMENBlouses_Shirtsid0000311501_7additional.jpg"
    assert flat_name("MEN/Denim/id_00000080/01_1_front.jpg") == "fashionMENDenimid0000008001_1front.jpg"
    assert flat_name("MEN/Denim/01_1_front.jpg") is None            # no id folder
    assert flat_name("MEN/Denim/00000080/01_1_front.jpg") is None   # not id_
    assert flat_name("MEN/Denim/id_00000080/front.jpg") is None     # no NN_


def test_a_256_square_frame_is_cropped_to_columns_40_to_215():
    a = np.zeros((256, 256, 3), np.uint8)
    a[:, :, 0] = np.arange(256)[None, :]  # red = column index
    a[:, :, 1] = np.arange(256)[:, None]  # green = row index
    out = np.asarray(to_fashion_frame(Image.fromarray(a)))
    assert out.shape == (256, 176, 3)
    assert np.array_equal(out[0, :, 0], np.arange(40, 216)) and np.array_equal(out[:, 0, 1], np.arange(256))


def resized(w, h, seed=0):
    """A random w x h image and, independently, its LANCZOS resize to height 256."""
    im = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))
    return im, np.asarray(im.resize((round(w * 256 / h), 256), Image.LANCZOS))


def test_highres_is_resized_to_height_256_then_centred_on_256_and_cropped():
    im, r = resized(88, 128)                          # -> 176 x 256: pad 40 each side, crop 40 removes it
    assert np.array_equal(np.asarray(to_fashion_frame(im)), r)
    im, r = resized(192, 128)                         # -> 384 wide: centre 256 from 64, then crop from 40
    assert np.array_equal(np.asarray(to_fashion_frame(im)), r[:, 104:280])
    im, r = resized(64, 128)                          # -> 128 wide: pad 64 each side, content at 24..151
    out = np.asarray(to_fashion_frame(im))
    assert np.array_equal(out[:, 24:152], r)
    assert np.array_equal(out[:, :24], np.repeat(r[:, :1], 24, axis=1))   # edge columns repeated
    assert np.array_equal(out[:, 152:], np.repeat(r[:, -1:], 24, axis=1))


def test_the_original_750x1101_highres_keeps_all_its_columns():
    im, r = resized(750, 1101)
    assert r.shape == (256, 174, 3)
    out = np.asarray(to_fashion_frame(im))
    assert out.shape == (256, 176, 3) and np.array_equal(out[:, 1:175], r)
    assert np.array_equal(out[:, 0], r[:, 0]) and np.array_equal(out[:, 175], r[:, -1])


RAW = {  # relative path under img/ -> flat name
    "WOMEN/Blouses_Shirts/id_00003115/01_7_additional.jpg": "fashionWOMENBlouses_Shirtsid0000311501_7additional.jpg",
    "WOMEN/Blouses_Shirts/id_00003115/02_1_front.jpg": "fashionWOMENBlouses_Shirtsid0000311502_1front.jpg",
    "MEN/Denim/id_00000080/01_1_front.jpg": "fashionMENDenimid0000008001_1front.jpg",
    "MEN/Denim/id_00000080/01_2_side.jpg": "fashionMENDenimid0000008001_2side.jpg",  # in no list
}


def fake_download(tmp_path):
    """A raw tree of 256x256 JPEGs: green, with a white square at x 100-131, y 64-95, and red/blue
    bands in the columns the crop must remove; the split lists; the field's CSVs.

    Crafted, not the tests' tiny world (conftest): preparing reads DeepFashion's raw download layout
    (img/MEN/..., the split lists), which only this writer makes."""
    a = np.zeros((256, 256, 3), np.uint8)
    a[:] = GREEN
    a[:, :40] = (255, 0, 0)
    a[:, 216:] = (0, 0, 255)
    a[64:96, 100:132] = WHITE
    for rel in RAW:
        (tmp_path / "raw" / "img" / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).save(tmp_path / "raw" / "img" / rel, quality=95)
    flat = list(RAW.values())
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "train.lst").write_text(f"{flat[0]}\n{flat[1]}\nfashionMENDenimid0000009901_1front.jpg\n\n")
    (lists / "test.lst").write_text(f"{flat[2]}\n")
    kp = np.full((18, 2), -1)
    kp[0] = (80, 75)
    write_annotations(lists / "fasion-annotation-train.csv", {flat[0]: kp, flat[1]: kp})
    write_annotations(lists / "fasion-annotation-test.csv", {flat[2]: kp})
    write_pairs(lists / "fasion-pairs-train.csv", [(flat[0], flat[1])])
    write_pairs(lists / "fasion-pairs-test.csv", [(flat[2], flat[2])])
    return tmp_path / "raw", lists


def test_prepare_writes_the_layout_from_a_raw_tree(tmp_path):
    raw, lists = fake_download(tmp_path)
    out = tmp_path / "fashion"
    r = prepare_deepfashion(raw, lists, out, annotations_dir=lists)
    assert r.source == raw / "img" and r.written == {"train": 2, "test": 1}
    assert r.missing == {"train": ["fashionMENDenimid0000009901_1front.jpg"], "test": []}
    assert sorted(p.name for p in (out / "train").iterdir()) == sorted(list(RAW.values())[:2])
    assert [p.name for p in (out / "test").iterdir()] == [list(RAW.values())[2]]
    img = np.asarray(Image.open(out / "test" / "fashionMENDenimid0000008001_1front.jpg")).astype(int)
    assert img.shape == (256, 176, 3)
    # the white square moves from x 100-131 to 60-91; no red or blue band survives the crop
    assert np.abs(img[80, 64:88] - WHITE).max() < 30 and np.abs(img[80, 50] - GREEN).max() < 30
    assert np.abs(img[:, [2, 173]] - GREEN).max() < 40
    assert sorted(r.copied) == ["fasion-annotation-test.csv", "fasion-annotation-train.csv",
                                "fasion-pairs-test.csv", "fasion-pairs-train.csv"]
    assert list(read_annotations(out / "fasion-annotation-test.csv")) == [list(RAW.values())[2]]
    again = prepare_deepfashion(raw, lists, out)
    assert again.written == {"train": 0, "test": 0} and again.kept == {"train": 2, "test": 1}


def test_prepare_reads_img_highres_when_asked(tmp_path):
    raw, lists = fake_download(tmp_path)
    rel = next(iter(RAW))
    (raw / "img_highres" / rel).parent.mkdir(parents=True)
    Image.new("RGB", (88, 128), GREEN).save(raw / "img_highres" / rel)
    r = prepare_deepfashion(raw, lists, tmp_path / "out", highres=True)
    assert r.source == raw / "img_highres" and r.written == {"train": 1, "test": 0}
    assert Image.open(tmp_path / "out" / "train" / RAW[rel]).size == (176, 256)


def test_prepare_errors_name_what_is_missing(tmp_path):
    raw, lists = fake_download(tmp_path)
    with pytest.raises(DataError, match="no In-shop image tree found"):
        prepare_deepfashion(tmp_path / "lists", lists, tmp_path / "out")
    with pytest.raises(DataError, match="no <name>-annotation-<split>.csv"):
        prepare_deepfashion(raw, lists, tmp_path / "out", annotations_dir=raw)
    (lists / "test.lst").unlink()
    with pytest.raises(DataError, match=r"test.lst: split list not found"):
        prepare_deepfashion(raw, lists, tmp_path / "out")


def test_cli_prepare_then_check(tmp_path, capsys):
    raw, lists = fake_download(tmp_path)
    out = tmp_path / "fashion"

    code, text, _ = run_cli(capsys, "data", "prepare-deepfashion", "--raw", str(raw / "img"), "--splits-dir", str(lists),
                            "--out", str(out), "--annotations-dir", str(lists))
    assert code == 0 and "train: wrote 2 images" in text and "1 listed name(s) not found" in text
    code, text, _ = run_cli(capsys, "data", "check", str(out))
    assert code == 0 and text.rstrip().endswith("OK")
