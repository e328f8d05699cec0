import json

import numpy as np
import pytest
from PIL import Image

from pona.data import InvalidDatasetError, check_dataset, validate, write_annotations, write_pairs
from pona.errors import DataError
from helpers import run_cli

ROW = "{name}:[" + ", ".join(["-1"] * 17) + ", 3]:[" + ", ".join(["-1"] * 17) + ", 5]"  # L-ear at (3, 5)


def make_valid(root, size=(32, 16)):
    """A clean two-split dataset: 3 images per split, each annotated, two pairs per split.

    Crafted, not the tests' tiny world (conftest): each test below adds one defect and names the
    file line it expects by hand (3 rows per file), and the joints sit on the first and the last
    pixel, so that one row more or one pixel less is a fault."""
    h, w = size
    for split in ("train", "test"):
        (root / split).mkdir(parents=True)
        ann = {}
        for i in range(3):
            name = f"{split}{i}.jpg"
            Image.fromarray(np.full((h, w, 3), 40 * i, np.uint8)).save(root / split / name)
            kp = np.full((18, 2), -1)
            kp[0] = (h - 1, w - 1)  # the last pixel: in range
            kp[1] = (0, 0)
            ann[name] = kp
        write_annotations(root / f"toy-annotation-{split}.csv", ann)
        write_pairs(root / f"toy-pairs-{split}.csv", [(f"{split}0.jpg", f"{split}1.jpg"), (f"{split}1.jpg", f"{split}2.jpg")])
    return root


def append(path, *lines):
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


def only(report, kind):
    """The problems of one kind; asserts there is no problem of any other kind."""
    assert {p.kind for p in report.problems} == {kind}, report.format()
    return [p for p in report.problems if p.kind == kind]


def test_a_clean_dataset_has_no_problems_and_is_counted(tmp_path):
    make_valid(tmp_path)
    r = validate(tmp_path)
    assert r.ok and r.problems == [], r.format()
    assert r.image_size == (32, 16) and r.image_size_inferred
    assert {s: (c.name, c.images, c.annotations, c.pairs) for s, c in r.splits.items()} == {
        "train": ("toy", 3, 3, 2), "test": ("toy", 3, 3, 2)}
    assert r.format().splitlines()[-1] == "OK"


def test_malformed_rows_are_all_reported_with_file_line_and_why(tmp_path):
    make_valid(tmp_path)
    ann = tmp_path / "toy-annotation-train.csv"
    append(ann, "a.jpg:[1, 2]:[1, 2]", "no fields here", "b.jpg:nope:[1]", ROW.format(name="c.jpg").replace("3]", "NaN]"))
    append(tmp_path / "toy-pairs-train.csv", "train0.jpg")
    problems = only(validate(tmp_path), "malformed_row")
    where = [(p.file, p.line) for p in problems]
    assert where == [(str(ann), 5), (str(ann), 6), (str(ann), 7), (str(ann), 8), (str(tmp_path / "toy-pairs-train.csv"), 4)]
    assert "keypoints_y has 2 values, expected 18" in problems[0].message
    assert "expected 3 fields" in problems[1].message
    assert "not a list of integers" in problems[2].message
    assert "not a finite number" in problems[3].message
    assert "expected 'from,to'" in problems[4].message
    assert str(problems[0]).startswith(f"{ann}:5: keypoints_y")  # the location is not repeated


def test_a_malformed_row_is_reported_once_not_again_by_pairs_naming_its_image(tmp_path):
    make_valid(tmp_path)
    ann = tmp_path / "toy-annotation-train.csv"
    lines = ann.read_text().splitlines()
    lines[2] = lines[2].replace("[", "[0, ", 1)  # train1.jpg: 19 y values
    ann.write_text("\n".join(lines) + "\n")
    [p] = only(validate(tmp_path), "malformed_row")  # no unknown_image (2 pairs), no unannotated_image
    assert (p.file, p.line) == (str(ann), 3) and "keypoints_y has 19 values" in p.message


def test_a_row_that_is_not_utf8_is_one_malformed_row(tmp_path):
    make_valid(tmp_path)
    with open(tmp_path / "toy-pairs-test.csv", "ab") as f:
        f.write(b"caf\xe9.jpg,test0.jpg\n")
    [p] = only(validate(tmp_path), "malformed_row")
    assert p.line == 4 and "UTF-8" in p.message


def test_out_of_range_keypoints_name_the_joint_file_and_line(tmp_path):
    make_valid(tmp_path)
    ann = tmp_path / "toy-annotation-test.csv"
    kp = np.full((18, 2), -1)
    kp[4] = (32, 3)    # y == H: one past the last row
    kp[7] = (2, 16)    # x == W
    write_annotations(ann, {"test0.jpg": kp, "test1.jpg": np.full((18, 2), -1), "test2.jpg": np.full((18, 2), -1)})
    [p] = only(validate(tmp_path), "out_of_range")
    assert (p.file, p.line) == (str(ann), 2)
    assert "r_wrist (y=32, x=3)" in p.message and "l_wrist (y=2, x=16)" in p.message


def test_negative_half_missing_and_fractional_joints_are_bad_keypoints_one_line_each(tmp_path, capsys):
    # (-1, 7) used to pass here as "missing". It no longer does: PATN's CSVs (compute_coordinates)
    # and pona's writers mark a missing joint -1 in *both* coordinates, so a lone -1 is a lost or
    # mistyped value, not a convention; pona.pose.visible would silently drop the joint. Likewise
    # the files hold integers, so y = 1.5 was made or edited by other means (the reader used to
    # round it silently). Each is refused, one line per joint naming file, row and joint.
    make_valid(tmp_path)
    ann = tmp_path / "toy-annotation-test.csv"
    ys, xs = [-1] * 18, [-1] * 18
    ys[10], xs[10] = 5, -3     # r_ankle: negative but not -1
    ys[13], xs[13] = -1, 7     # l_ankle: half-missing
    ys[2], xs[2] = -7, -1      # r_shoulder: negative (and half-missing)
    ys[0], xs[0] = 1.5, 4      # nose: not a whole pixel
    ys[1], xs[1] = 3.0, 4      # neck: 3.0 is a whole pixel, fine
    write_annotations(ann, {"test1.jpg": np.full((18, 2), -1), "test2.jpg": np.full((18, 2), -1)})
    append(ann, f"test0.jpg:{json.dumps(ys)}:{json.dumps(xs)}")
    problems = only(validate(tmp_path), "bad_keypoint")
    assert [(p.file, p.line) for p in problems] == [(str(ann), 4)] * 4
    assert [str(p) for p in problems] == [
        f"{ann}:4: test0.jpg: nose (y=1.5, x=4): not a whole pixel (PATN coordinates are integers)",
        f"{ann}:4: test0.jpg: r_shoulder (y=-7, x=-1): negative (only -1 in both coordinates means missing)",
        f"{ann}:4: test0.jpg: r_ankle (y=5, x=-3): negative (only -1 in both coordinates means missing)",
        f"{ann}:4: test0.jpg: l_ankle (y=-1, x=7): half-missing (-1 in one coordinate only; a missing joint is -1 in both)",
    ]
    # The readers training, evaluation and `--pose file.csv:NAME` use refuse the row in one line too.
    from pona.data import read_annotations
    with pytest.raises(DataError, match=r"toy-annotation-test.csv:4: test0.jpg: nose \(y=1.5, x=4\): not a whole pixel "
                                        r"\(PATN coordinates are integers\) \(and 3 more; `pona data check` lists all\)$"):
        read_annotations(ann)
    code, out, _ = run_cli(capsys, "data", "check", str(tmp_path))
    assert code == 2 and "bad_keypoint: 4 errors" in out and "l_ankle (y=-1, x=7): half-missing" in out


def test_annotated_image_without_file_is_missing(tmp_path):
    make_valid(tmp_path)
    (tmp_path / "train" / "train2.jpg").unlink()
    [p] = only(validate(tmp_path), "missing_image")
    assert (p.file, p.line) == (str(tmp_path / "toy-annotation-train.csv"), 4) and "train2.jpg" in p.message


def test_pairs_naming_unannotated_images(tmp_path):
    make_valid(tmp_path)
    append(tmp_path / "toy-pairs-test.csv", "test0.jpg,ghost.jpg", "ghost.jpg,ghost.jpg")
    problems = only(validate(tmp_path), "unknown_image")
    pairs = str(tmp_path / "toy-pairs-test.csv")
    assert [(p.file, p.line) for p in problems] == [(pairs, 4), (pairs, 5)]  # a pair (x, x) reports x once
    assert "ghost.jpg has no row" in problems[0].message and "no image file either" in problems[0].message


def test_duplicate_names_give_both_lines(tmp_path):
    make_valid(tmp_path)
    ann = tmp_path / "toy-annotation-train.csv"
    append(ann, ROW.format(name="train1.jpg"))
    [p] = only(validate(tmp_path), "duplicate_name")
    assert (p.file, p.line) == (str(ann), 5) and "first at line 3" in p.message


def test_wrong_size_inferred_as_the_most_common_or_given(tmp_path):
    make_valid(tmp_path)
    Image.fromarray(np.zeros((34, 16, 3), np.uint8)).save(tmp_path / "test" / "test1.jpg")
    [p] = only(validate(tmp_path), "wrong_size")
    assert p.file == str(tmp_path / "test" / "test1.jpg") and "is 34x16 (HxW), expected 32x16" in p.message
    r = validate(tmp_path, image_size=(34, 16))
    assert len(only(r, "wrong_size")) == 5 and not r.image_size_inferred


def test_keypoints_are_checked_against_the_image_they_annotate(tmp_path):
    make_valid(tmp_path)  # every image has a nose at (31, 15), the last pixel of 32x16
    Image.fromarray(np.zeros((30, 16, 3), np.uint8)).save(tmp_path / "test" / "test1.jpg")
    r = validate(tmp_path)
    assert [(p.kind, p.line) for p in r.problems] == [("wrong_size", None), ("out_of_range", 3)]
    assert "nose (y=31, x=15) outside the 30x16 image" in r.problems[1].message


def test_unreadable_image(tmp_path):
    make_valid(tmp_path)
    (tmp_path / "train" / "train0.jpg").write_bytes(b"not an image")
    [p] = only(validate(tmp_path), "unreadable_image")
    assert p.file == str(tmp_path / "train" / "train0.jpg")


def test_bad_headers_are_reported_and_rows_still_checked(tmp_path):
    make_valid(tmp_path)
    pairs = tmp_path / "toy-pairs-train.csv"
    pairs.write_text("source,target\ntrain0.jpg,train1.jpg\ntrain0.jpg,nobody.jpg\n")
    ann = tmp_path / "toy-annotation-test.csv"
    ann.write_text("\ufeffname:keypoints_y:keypoints_x\n" + ann.read_text().split("\n", 1)[1])  # a BOM is fine
    r = validate(tmp_path)
    assert [(p.kind, p.file, p.line) for p in r.problems] == [
        ("bad_header", str(pairs), 1), ("unknown_image", str(pairs), 3)]
    assert "header must be 'from,to', got 'source,target'" in r.problems[0].message


def test_unannotated_images_are_a_warning_only(tmp_path):
    make_valid(tmp_path)
    Image.fromarray(np.zeros((32, 16, 3), np.uint8)).save(tmp_path / "train" / "stray.png")
    (tmp_path / "train" / "notes.txt").write_text("not an image, ignored")
    r = validate(tmp_path)
    [p] = only(r, "unannotated_image")
    assert r.ok and not p.is_error and p.file == str(tmp_path / "train" / "stray.png")
    assert r.splits["train"].images == 4
    assert check_dataset(tmp_path).warnings == [p]


def test_missing_files_and_empty_splits(tmp_path):
    make_valid(tmp_path)
    (tmp_path / "toy-pairs-test.csv").unlink()
    (tmp_path / "toy-annotation-train.csv").write_text("name:keypoints_y:keypoints_x\n\n")
    r = validate(tmp_path)
    kinds = [(p.kind, p.file) for p in r.problems]
    assert ("layout", str(tmp_path)) in kinds and "no <name>-pairs-test.csv" in str(r.problems[0])
    assert ("empty", str(tmp_path / "toy-annotation-train.csv")) in kinds
    assert r.count("unannotated_image") == 3  # the train images no row names
    assert only(validate(tmp_path / "nowhere"), "layout")[0].message == "dataset directory not found"


def test_only_the_requested_split_is_checked(tmp_path):
    make_valid(tmp_path)
    (tmp_path / "train" / "train0.jpg").unlink()
    assert validate(tmp_path, ("test",)).ok and list(validate(tmp_path, "test").splits) == ["test"]
    assert not validate(tmp_path, ("train",)).ok
    with pytest.raises(DataError, match="splits must be among"):
        validate(tmp_path, ("val",))


def test_check_dataset_raises_with_the_report_and_format_truncates(tmp_path):
    make_valid(tmp_path)
    append(tmp_path / "toy-annotation-train.csv", *[f"bad{i}.jpg:[1]:[1]" for i in range(13)])
    with pytest.raises(InvalidDatasetError) as e:
        check_dataset(tmp_path)
    assert isinstance(e.value, DataError) and e.value.report.count("malformed_row") == 13
    text = str(e.value)
    assert "13 errors" in text and f"{tmp_path / 'toy-annotation-train.csv'}:5:" in text
    assert "  ... and 3 more" in text and f"toy-annotation-train.csv:18:" not in text
    assert text.splitlines()[-1] == "NOT OK: 13 errors"
    assert "... and 11 more" in e.value.report.format(max_per_kind=2)


def test_cli_data_check_exit_codes_and_json(tmp_path, capsys):
    make_valid(tmp_path)
    code, out, _ = run_cli(capsys, "data", "check", str(tmp_path))
    assert code == 0 and out.rstrip().endswith("OK") and "train" in out
    code, out, _ = run_cli(capsys, "data", "check", str(tmp_path), "--size", "64x32", "--split", "test")
    assert code == 2 and "wrong_size: 3 errors" in out and "\ntrain" not in out
    code, out, _ = run_cli(capsys, "data", "check", str(tmp_path), "--size", "64x32", "--json")
    report = json.loads(out)
    assert code == 2 and report["ok"] is False and report["errors"] == 6 and report["image_size"] == [64, 32]
    assert report["problems"][0]["kind"] == "wrong_size" and report["splits"]["train"]["pairs"] == 2
    code, _, err = run_cli(capsys, "data", "check", str(tmp_path), "--size", "tall")
    assert code == 2 and "HEIGHTxWIDTH" in err
