"""Pose files of other tools: each example is written here from its format's published description,
and every one must read as the same COCO-18 pose."""

import json
import logging

import numpy as np
import pytest

from pona.data.posefile import read_pose, write_pose
from pona.errors import DataError
from pona.pose import JOINTS

from helpers import run_cli

H, W = 128, 64

# A person facing the camera in a 128x64 image, (y, x) by pona's joint names; the neck is the
# shoulders' midpoint, as formats without a neck synthesise it.
REF = {
    "nose": (20, 32), "neck": (34, 32),
    "r_shoulder": (34, 22), "r_elbow": (50, 18), "r_wrist": (64, 16),
    "l_shoulder": (34, 42), "l_elbow": (50, 46), "l_wrist": (64, 48),
    "r_hip": (68, 26), "r_knee": (90, 25), "r_ankle": (112, 24),
    "l_hip": (68, 38), "l_knee": (90, 39), "l_ankle": (112, 40),
    "r_eye": (17, 29), "l_eye": (17, 35), "r_ear": (19, 26), "l_ear": (19, 38),
}
KP = np.array([REF[n] for n in JOINTS], dtype=np.float64)

# Joint orders as the formats' documentation lists them, mapped to pona's names.
BODY_25 = ["nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist", "MidHip",
           "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear", "l_ear",
           "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel"]
COCO_17 = ["nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
           "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle"]
BLAZEPOSE = {0: "nose", 2: "l_eye", 5: "r_eye", 7: "l_ear", 8: "r_ear", 11: "l_shoulder", 12: "r_shoulder",
             13: "l_elbow", 14: "r_elbow", 15: "l_wrist", 16: "r_wrist", 23: "l_hip", 24: "r_hip",
             25: "l_knee", 26: "r_knee", 27: "l_ankle", 28: "r_ankle"}


def xyc(names, ref=REF, scale=1.0, shift=0.0, conf=1.0):
    """Flat [x, y, c, ...] for joints ``names``; names pona lacks get a point of their own."""
    out = []
    for i, n in enumerate(names):
        y, x = ref.get(n, (100 + i, 30))
        out += [x * scale + shift, y * scale + shift, conf]
    return out


def dump(path, obj):
    path.write_text(json.dumps(obj))
    return path


def small(ref=REF):
    """The same person at half size, near the top-left: a second, smaller person in a file."""
    return {n: (y / 2, x / 2) for n, (y, x) in ref.items()}


# --- each format reads as the same COCO-18 pose ----------------------------------------------------

def test_openpose_coco18_reads_in_pona_order(tmp_path):
    f = dump(tmp_path / "frame_000000000000_keypoints.json",
             {"version": 1.3, "people": [{"pose_keypoints_2d": xyc(JOINTS)}]})
    pose = read_pose(f)
    assert np.array_equal(pose.keypoints, KP) and pose.image_size is None


def test_openpose_body25_drops_midhip_and_feet_and_picks_the_largest_person(tmp_path):
    people = [{"pose_keypoints_2d": xyc(BODY_25, small())}, {"pose_keypoints_2d": xyc(BODY_25)}]
    f = dump(tmp_path / "body25.json", {"people": people})
    assert np.array_equal(read_pose(f).keypoints, KP)
    assert np.array_equal(read_pose(f, person=0).keypoints, np.array([small()[n] for n in JOINTS]))
    with pytest.raises(DataError, match="person 2 asked, the file has 2"):
        read_pose(f, person=2)


def test_openpose_confidence_zero_is_missing_and_threshold_drops_more(tmp_path):
    flat = xyc(JOINTS)
    flat[3 * 4 + 2] = 0.0   # r_wrist: not found
    flat[3 * 7 + 2] = 0.2   # l_wrist: found, unsure
    f = dump(tmp_path / "p.json", {"people": [{"pose_keypoints_2d": flat}]})
    kp = read_pose(f).keypoints
    assert (kp[4] == -1).all() and np.array_equal(kp[7], KP[7])
    assert (read_pose(f, threshold=0.5).keypoints[7] == -1).all()


def test_coco_dataset_file_with_two_people_gives_image_size_and_synthesised_neck(tmp_path):
    def ann(ref, i):
        flat = xyc(COCO_17, ref)
        flat[2::3] = [2] * 17
        return {"id": i, "image_id": 7, "category_id": 1, "keypoints": flat, "num_keypoints": 17}
    f = dump(tmp_path / "person_keypoints.json", {
        "images": [{"id": 7, "file_name": "a.jpg", "height": H, "width": W}],
        "annotations": [ann(small(), 1), ann(REF, 2)],
        "categories": [{"id": 1, "name": "person", "keypoints": COCO_17}]})
    pose = read_pose(f)
    assert np.array_equal(pose.keypoints, KP) and pose.image_size == (H, W)
    assert np.allclose(read_pose(f, person=0).keypoints, np.array([small()[n] for n in JOINTS]))


def test_coco_visibility_zero_is_missing_and_the_neck_needs_both_shoulders(tmp_path):
    flat = xyc(COCO_17)
    flat[2::3] = [2] * 17
    flat[3 * 5 + 2] = 0  # left shoulder not labelled
    kp = read_pose(dump(tmp_path / "a.json", {"annotations": [{"keypoints": flat}]})).keypoints
    assert (kp[5] == -1).all() and (kp[1] == -1).all() and np.array_equal(kp[2], KP[2])


def test_detection_lists_of_detectron2_mmpose_and_ultralytics_read_the_same(tmp_path):
    flat = xyc(COCO_17, conf=0.9)
    flat[3 * 16 + 2] = 0.1  # a right ankle guessed with a low score: dropped by the default 0.3
    expected = KP.copy()
    expected[JOINTS.index("r_ankle")] = -1
    detectron = [{"image_id": 0, "category_id": 1, "keypoints": flat, "score": 0.99}]
    pairs = [[flat[3 * i], flat[3 * i + 1]] for i in range(17)]
    mmpose = [{"keypoints": pairs, "keypoint_scores": flat[2::3], "bbox": [[0, 0, 64, 128]], "bbox_score": 0.9}]
    yolo = [{"name": "person", "class": 0, "confidence": 0.9,
             "keypoints": {"x": flat[0::3], "y": flat[1::3], "visible": flat[2::3]}}]
    for name, obj in {"detectron": detectron, "mmpose": mmpose, "yolo": yolo,
                      "mmpose-saved": {"instance_info": [{"frame_id": 0, "instances": mmpose}]}}.items():
        assert np.array_equal(read_pose(dump(tmp_path / f"{name}.json", obj)).keypoints, expected), name
    assert np.array_equal(read_pose(tmp_path / "detectron.json", threshold=0).keypoints, KP)


def test_coco_wholebody_uses_the_17_body_joints(tmp_path):
    flat = xyc(COCO_17) + [5.0, 5.0, 0.9] * (133 - 17)  # feet, face, hands: ignored
    f = dump(tmp_path / "dwpose.json", [{"keypoints": flat, "score": 0.8}])
    assert np.array_equal(read_pose(f).keypoints, KP)


def mediapipe_landmarks(size=(H, W)):
    """33 landmarks, x and y fractions of the image width and height (0 and 1 its outer edges)."""
    h, w = size
    marks = []
    for i in range(33):
        y, x = REF.get(BLAZEPOSE.get(i), (100, 30))
        marks.append({"x": (x + 0.5) / w, "y": (y + 0.5) / h, "z": -0.1, "visibility": 0.9})
    return marks


def test_mediapipe_json_and_csv_are_normalised_and_need_the_image_size(tmp_path):
    f = dump(tmp_path / "landmarks.json", mediapipe_landmarks())
    with pytest.raises(DataError, match="landmarks.json: MediaPipe BlazePose coordinates are fractions of the image"):
        read_pose(f)
    pose = read_pose(f, image_size=(H, W))
    assert np.allclose(pose.keypoints, KP) and pose.image_size == (H, W)
    g = dump(tmp_path / "with-size.json", {"image_height": H, "image_width": W, "landmarks": mediapipe_landmarks()})
    assert np.allclose(read_pose(g).keypoints, KP)
    rows = ["landmark,x,y,z,visibility"] + [f"{i},{m['x']!r},{m['y']!r},{m['z']},{m['visibility']}"
                                           for i, m in enumerate(mediapipe_landmarks())]
    (tmp_path / "landmarks.csv").write_text("\n".join(rows) + "\n")
    assert np.allclose(read_pose(tmp_path / "landmarks.csv", image_size=(H, W)).keypoints, KP)


def test_pona_json_and_patn_row_still_read(tmp_path):
    write_pose(tmp_path / "p.json", KP, (H, W))
    assert np.array_equal(read_pose(tmp_path / "p.json").keypoints, KP)
    with pytest.raises(DataError, match="p.json: person 1 asked, a pona pose file holds one"):
        read_pose(tmp_path / "p.json", person=1)
    write_pose(tmp_path / "ann.csv", KP, format="csv", name="img.jpg")
    assert np.array_equal(read_pose(f"{tmp_path / 'ann.csv'}:img.jpg").keypoints, KP)


def test_a_forced_format_that_does_not_fit_the_file_is_refused(tmp_path):
    f = dump(tmp_path / "op.json", {"people": [{"pose_keypoints_2d": xyc(JOINTS)}]})
    with pytest.raises(DataError, match="op.json: expected MediaPipe landmarks"):
        read_pose(f, format="mediapipe")
    with pytest.raises(DataError, match="unknown pose format 'dwpose'"):
        read_pose(f, format="dwpose")
    assert np.array_equal(read_pose(f, format="openpose").keypoints, KP)


# --- writers and round trips ---------------------------------------------------------------------

def test_pona_to_openpose_to_pona_is_exact_with_missing_joints_and_fractions(tmp_path):
    kp = KP + 0.123456789
    kp[[4, 13]] = -1
    write_pose(tmp_path / "a_keypoints.json", kp, (H, W), format="openpose")
    obj = json.loads((tmp_path / "a_keypoints.json").read_text())
    flat = obj["people"][0]["pose_keypoints_2d"]
    assert len(flat) == 54 and flat[12:15] == [0, 0, 0]  # r_wrist missing: (0, 0, 0)
    pose = read_pose(tmp_path / "a_keypoints.json")
    assert np.array_equal(pose.keypoints, kp) and pose.image_size == (H, W)
    write_pose(tmp_path / "back.json", pose.keypoints, pose.image_size)
    assert np.array_equal(read_pose(tmp_path / "back.json").keypoints, kp)


def test_coco_and_csv_writers_round_trip(tmp_path):
    write_pose(tmp_path / "c.json", KP, (H, W), format="coco")
    obj = json.loads((tmp_path / "c.json").read_text())
    assert len(obj["annotations"][0]["keypoints"]) == 51 and obj["images"][0]["height"] == H
    assert np.array_equal(read_pose(tmp_path / "c.json").keypoints, KP)  # the neck comes back as the midpoint
    write_pose(tmp_path / "a.csv", KP + 0.3, format="csv")
    assert np.array_equal(read_pose(f"{tmp_path / 'a.csv'}:a.jpg").keypoints, KP)  # whole pixels


# --- the classic mistakes ------------------------------------------------------------------------

def test_swapped_axes_are_refused_when_the_image_size_says_so(tmp_path):
    swapped = [v for x, y, c in zip(*[iter(xyc(JOINTS))] * 3) for v in (y, x, c)]  # [y, x, c] triples
    f = dump(tmp_path / "swapped.json", {"people": [{"pose_keypoints_2d": swapped}]})
    with pytest.raises(DataError, match=r"swapped.json: 8 of 18 joints are outside the 128x64 image \(HxW\) but all "
                                        r"are inside a 64x128 one: x and y look swapped"):
        read_pose(f, image_size=(H, W))
    upright = dump(tmp_path / "ok.json", openpose(xyc(JOINTS)))
    assert np.array_equal(read_pose(upright, image_size=(H, W)).keypoints, KP)


def test_a_lying_skeleton_warns_of_swapped_axes_without_an_image_size(tmp_path, caplog):
    swapped = [v for x, y, c in zip(*[iter(xyc(JOINTS))] * 3) for v in (y, x, c)]
    f = dump(tmp_path / "lying.json", {"people": [{"pose_keypoints_2d": swapped}]})
    with caplog.at_level(logging.WARNING):
        read_pose(f)
    assert "lying.json: the head is beside the feet" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        read_pose(dump(tmp_path / "up.json", {"people": [{"pose_keypoints_2d": xyc(JOINTS)}]}))
    assert caplog.text == ""


def test_normalised_coordinates_in_a_pixel_format_are_refused(tmp_path):
    f = dump(tmp_path / "norm.json", {"people": [{"pose_keypoints_2d": xyc(JOINTS, scale=1 / 128)}]})
    with pytest.raises(DataError, match=r"norm.json: every coordinate is within \[0, 1\]"):
        read_pose(f)


def test_left_right_mirrored_labels_warn(tmp_path, caplog):
    mirrored = {n: REF[n.replace("r_", "x_").replace("l_", "r_").replace("x_", "l_")] for n in JOINTS}
    f = dump(tmp_path / "mirror.json", {"people": [{"pose_keypoints_2d": xyc(JOINTS, mirrored)}]})
    with caplog.at_level(logging.WARNING):
        read_pose(f)
    assert "mirror.json: left and right look mirrored" in caplog.text


# --- bad files: one line naming the file ----------------------------------------------------------

def openpose(flat):
    return {"people": [{"pose_keypoints_2d": flat}]}


def with_value(i, v):
    flat = xyc(JOINTS)
    flat[i] = v
    return flat


BAD = {
    "wrong length": (openpose(xyc(JOINTS)[:-3]), "has 51 values, expected 54"),
    "NaN": ('{"people": [{"pose_keypoints_2d": [NaN' + ", 1" * 53 + "]}]}",
            "pose_keypoints_2d[0] is nan, not a finite number"),
    "negative confidence": (openpose(with_value(5, -0.5)), "joint 1 has a negative confidence"),
    "empty people": ({"people": []}, "'people' is empty"),
    "string coordinate": (openpose(with_value(0, "12")), "pose_keypoints_2d[0] is '12', not a number"),
    "boolean coordinate": (openpose(with_value(0, True)), "pose_keypoints_2d[0] is 'True', not a number"),
    "pona string": ({"keypoints": [["1", "2"]] * 18}, "'keypoints' must be 18 [y, x] number pairs"),
    "pona boolean size": ({"keypoints": KP.tolist(), "image_size": [True, True]}, "must be [height, width] positive"),
    "pona absurd size": ({"keypoints": KP.tolist(), "image_size": [200000, 64]},
                         "positive integers up to 100000, got 200000x64"),
    "pona 1e308 size": ({"keypoints": KP.tolist(), "image_size": [1e308, 64]}, "must be [height, width]"),
    "pona half-missing joint": ({"keypoints": [[-1, 35]] + KP.tolist()[1:], "image_size": [H, W]},
                                "joint 0 (nose) is [-1, 35]: -1 in one coordinate only"),
    "huge coordinate": (openpose(with_value(0, 1e308)), "beyond any image"),
    "every joint missing": (openpose([0.0] * 54), "every joint is missing"),
    "every joint outside": ({"keypoints": (KP + 500).tolist(), "image_size": [H, W]}, "every joint is outside"),
    "deep nesting": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "5000 digits": ('{"people": [{"pose_keypoints_2d": [' + "9" * 5000 + "]}]}", "a number in the JSON is too long"),
    "0xff byte": (b'{"people": \xff}', "not UTF-8 text (byte 0xff at offset 11)"),
    "unknown structure": ({"hello": 1}, "not a pose file pona knows"),
    "a pona sequence": ([{"keypoints": KP.tolist()}] * 2, "holds a pose sequence, expected one pose"),
    "mixed COCO layouts": ([{"keypoints": xyc(COCO_17)}, {"keypoints": xyc(COCO_17) * 7 + [1, 1, 1] * 14}],
                           "COCO-17 and COCO-WholeBody people in one file"),
    "MediaPipe 32 landmarks": ({"image_size": [H, W], "landmarks": mediapipe_landmarks()[:32]},
                               "has 32 landmarks, expected 33"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_files_are_refused_in_one_line_naming_the_file(tmp_path, case):
    content, message = BAD[case]
    f = tmp_path / "bad.json"
    if isinstance(content, bytes):
        f.write_bytes(content)
    else:
        f.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(DataError) as e:
        read_pose(f)
    assert str(e.value).startswith(str(f)) and "\n" not in str(e.value)
    assert message in str(e.value)


def test_a_folder_or_a_missing_path_is_one_line(tmp_path):
    for path, message in ((tmp_path, "is a folder"), (tmp_path / "none.json", "not found")):
        with pytest.raises(DataError, match=message) as e:
            read_pose(path)
        assert "\n" not in str(e.value)


# --- command line --------------------------------------------------------------------------------

def test_cli_format_lists_match_the_library():
    from pona.cli import pose as cli_pose
    from pona.data import posefile

    assert cli_pose.READ_FORMATS == posefile.READ_FORMATS and cli_pose.WRITE_FORMATS == posefile.WRITE_FORMATS


def test_cli_convert_body25_to_openpose_and_pona(tmp_path, capsys):
    src = dump(tmp_path / "two_keypoints.json", {"people": [{"pose_keypoints_2d": xyc(BODY_25)},
                                                           {"pose_keypoints_2d": xyc(BODY_25, small())}]})
    code, out, err = run_cli(capsys, "pose", "convert", str(src), str(tmp_path / "op.json"), "--to", "openpose",
                             "--image-size", f"{H}x{W}")
    assert code == 0, err
    assert "wrote" in out and "(openpose, 18 of 18 joints)" in out
    assert len(json.loads((tmp_path / "op.json").read_text())["people"][0]["pose_keypoints_2d"]) == 54
    code, out, err = run_cli(capsys, "pose", "convert", str(tmp_path / "op.json"), str(tmp_path / "p.json"))
    assert code == 0, err
    pose = read_pose(tmp_path / "p.json")
    assert np.array_equal(pose.keypoints, KP) and pose.image_size == (H, W)
    code, out, err = run_cli(capsys, "pose", "convert", str(src), str(tmp_path / "small.csv"), "--to", "csv",
                             "--person", "1", "--name", "s.jpg")
    assert code == 0, err
    assert np.array_equal(read_pose(f"{tmp_path / 'small.csv'}:s.jpg").keypoints, np.round(KP / 2))


def test_cli_convert_refuses_bad_input_in_one_line(tmp_path, capsys):
    bad = dump(tmp_path / "empty_keypoints.json", {"people": []})
    code, out, err = run_cli(capsys, "pose", "convert", str(bad), str(tmp_path / "p.json"))
    assert code == 2 and err == f"error: {bad}: 'people' is empty: OpenPose found nobody in this frame\n"
    norm = dump(tmp_path / "mp.json", mediapipe_landmarks())
    code, out, err = run_cli(capsys, "pose", "convert", str(norm), str(tmp_path / "p.json"))
    assert code == 2 and "--image-size HxW" in err and err.count("\n") == 1
    assert not (tmp_path / "p.json").exists()


def test_cli_show_draws_the_skeleton_at_the_pose_size(tmp_path, capsys):
    write_pose(tmp_path / "p.json", KP, (H, W), format="openpose")
    code, out, err = run_cli(capsys, "pose", "show", str(tmp_path / "p.json"), "--out", str(tmp_path / "s.png"))
    assert code == 0, err
    from PIL import Image
    drawn = np.asarray(Image.open(tmp_path / "s.png"))
    assert drawn.shape == (H, W, 3)
    y, x = REF["nose"]
    assert drawn[y, x].any() and not drawn[2, 2].any()  # a joint drawn, the corner still black
    code, out, err = run_cli(capsys, "pose", "show", str(tmp_path / "p.json"), "--out", str(tmp_path / "s.txt"))
    assert code == 2 and "extension" in err


def test_pona_pose_on_a_photo_keeps_working_and_writes_openpose(tmp_path, capsys, monkeypatch):
    from PIL import Image
    from pona.data import estimators

    monkeypatch.setitem(estimators._REGISTRY, "fixed", lambda: (lambda image: KP.copy()))
    Image.new("RGB", (W, H), (90, 90, 90)).save(tmp_path / "photo.png")
    for command in (("pose",), ("pose", "estimate")):
        code, out, err = run_cli(capsys, *command, str(tmp_path / "photo.png"), "--estimator", "fixed",
                                 "--json", str(tmp_path / "photo_keypoints.json"), "--format", "openpose")
        assert code == 0, err
        assert json.loads(out)["format"] == "pona-pose"  # stdout stays pona's JSON
        obj = json.loads((tmp_path / "photo_keypoints.json").read_text())
        assert obj["people"][0]["pose_keypoints_2d"][:3] == [32, 20, 1]
        assert np.array_equal(read_pose(tmp_path / "photo_keypoints.json").keypoints, KP)
        (tmp_path / "photo_keypoints.json").unlink()


def tiny_checkpoint(path):
    import dataclasses

    from helpers import TINY_CONFIG
    from pona.models import Generator, save_generator

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return save_generator(Generator(dataclasses.replace(TINY_CONFIG, image_size=(H // 4, W // 4))), path)


def test_transfer_and_animate_read_openpose_files(tmp_path, capsys):
    from PIL import Image

    ckpt = tiny_checkpoint(tmp_path / "g.safetensors")
    quarter = {n: (y / 4, x / 4) for n, (y, x) in REF.items()}  # the person in a 32x16 photo
    Image.new("RGB", (W // 4, H // 4), (120, 60, 30)).save(tmp_path / "photo.png")
    write_pose(tmp_path / "src.json", np.array([quarter[n] for n in JOINTS]), (H // 4, W // 4))
    moved = {n: (y, x + (1 if n.startswith("r_") else 0)) for n, (y, x) in quarter.items()}
    write_pose(tmp_path / "dst.json", np.array([moved[n] for n in JOINTS]), (H // 4, W // 4))
    dump(tmp_path / "dst_keypoints.json", {"people": [{"pose_keypoints_2d": xyc(BODY_25, small(quarter))},
                                                      {"pose_keypoints_2d": xyc(BODY_25, moved)}]})
    base = ("transfer", "--checkpoint", str(ckpt), "--image", str(tmp_path / "photo.png"), "--device", "cpu",
            "--precision", "fp32", "--source-pose", str(tmp_path / "src.json"))
    code, _, err = run_cli(capsys, *base, "--pose", str(tmp_path / "dst.json"), "--out", str(tmp_path / "a.png"))
    assert code == 0, err
    code, _, err = run_cli(capsys, *base, "--pose", str(tmp_path / "dst_keypoints.json"), "--person", "1",
                           "--pose-format", "openpose", "--out", str(tmp_path / "b.png"))
    assert code == 0, err
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.asarray(Image.open(tmp_path / "b.png")))
    code, _, err = run_cli(capsys, *base, "--pose", str(tmp_path / "dst_keypoints.json"), "--person", "2",
                           "--out", str(tmp_path / "c.png"))
    assert code == 2 and "person 2 asked, the file has 2" in err and err.count("\n") == 1

    frames = tmp_path / "openpose_out"  # openpose --write_json: one file per frame
    frames.mkdir()
    for i in range(3):
        step = {n: (y, x + i) for n, (y, x) in quarter.items()}  # distinct frames: a GIF merges equal ones
        dump(frames / f"video_{i:012d}_keypoints.json", {"people": [{"pose_keypoints_2d": xyc(BODY_25, step)}]})
    code, out, err = run_cli(capsys, "animate", "--checkpoint", str(ckpt), "--image", str(tmp_path / "photo.png"),
                             "--source-pose", str(tmp_path / "src.json"), "--poses", str(frames), "--device", "cpu",
                             "--out", str(tmp_path / "a.gif"))
    assert code == 0, err
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == 3


def test_from_photos_uses_existing_pose_files_instead_of_an_estimator(tmp_path, capsys, caplog):
    from PIL import Image
    from pona.data.layout import read_annotations
    from pona.data.fit import fit_to_size, read_photo

    photos, poses = tmp_path / "photos", tmp_path / "poses"
    photos.mkdir(), poses.mkdir()
    for stem in ("ann", "ben", "cat"):
        Image.new("RGB", (W, H), (100, 120, 140)).save(photos / f"{stem}.png")
    dump(poses / "ann_keypoints.json", openpose(xyc(JOINTS)))           # OpenPose's name
    write_pose(poses / "ben.json", KP, (H, W))                          # pona's
    code, out, err = run_cli(capsys, "data", "from-photos", str(photos), str(tmp_path / "ds"), "--poses", str(poses),
                             "--estimator", "no-such-estimator", "--pairs", "all")
    assert code == 0, err
    assert "wrote 2 images" in out and "1 photos skipped" in out and "skipped cat.png: no pose file" in caplog.text
    ann = read_annotations(tmp_path / "ds" / "photos-annotation-test.csv")
    _, expected, _ = fit_to_size(read_photo(photos / "ann.png"), (128, 64), KP)
    assert np.array_equal(ann["ann.png"], np.round(expected)) and np.array_equal(ann["ben.png"], ann["ann.png"])


def test_cli_show_on_a_photo_takes_its_size_for_normalised_landmarks(tmp_path, capsys):
    from PIL import Image

    Image.new("RGB", (W, H), (0, 0, 90)).save(tmp_path / "photo.png")
    dump(tmp_path / "mp.json", mediapipe_landmarks())
    code, out, err = run_cli(capsys, "pose", "show", str(tmp_path / "mp.json"), "--on", str(tmp_path / "photo.png"),
                             "--out", str(tmp_path / "s.jpg"))
    assert code == 0, err
    drawn = np.asarray(Image.open(tmp_path / "s.jpg"))
    y, x = REF["l_ankle"]
    assert drawn.shape == (H, W, 3)
    assert drawn[y, x, 0] > 50 and drawn[2, 2, 0] < 20 and drawn[2, 2, 2] > 60  # the ankle's (85, 0, 255) on the photo
