"""The user's own photos: fitting to the model size, the estimator interface, from_photos, the CLI,
and MediaPipe on real photos that ship in packages (marked ``pose``)."""

import json
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from pona.data import estimators
from pona.data.dataset import PairDataset
from pona.data.estimators import BLAZEPOSE_TO_COCO18, blazepose_to_coco18, get_estimator
from pona.data.layout import read_annotations, read_pairs
from pona.data.fit import Fit, fit_to_size, person_box
from pona.data.photos import find_photos, from_photos
from pona.errors import DataError, MissingExtraError, PonaError
from pona.pose import JOINTS, visible
from helpers import run_cli

NEAREST = Image.Resampling.NEAREST
J = {name: i for i, name in enumerate(JOINTS)}


def numbered_image(h, w):
    """(h, w, 3) uint8 whose every pixel is different: R = y, G = x, B = 7."""
    ys, xs = np.mgrid[0:h, 0:w]
    return np.stack([ys, xs, np.full_like(ys, 7)], -1).astype(np.uint8)


def spot_image(h, w, y, x, r=2):
    """Black image with a white (2r+1)^2 square centred on pixel (y, x)."""
    image = np.zeros((h, w, 3), np.uint8)
    image[y - r:y + r + 1, x - r:x + r + 1] = 255
    return image


def centroid(image):
    """Brightness-weighted centre (y, x) in pixel-centre coordinates."""
    m = image.astype(np.float64).sum(-1)
    ys, xs = np.mgrid[0:m.shape[0], 0:m.shape[1]]
    return np.array([(m * ys).sum(), (m * xs).sum()]) / m.sum()


# ---------------------------------------------------------------------------------------------
# fit_to_size and Fit


def test_fit_taller_photo_is_scaled_and_padded_left_and_right_exactly():
    image = numbered_image(10, 4)
    out, kp, fit = fit_to_size(image, (30, 30), keypoints=None, pad="white", resample=NEAREST)
    # scale min(30/10, 30/4) = 3 -> 30x12, centred: columns 9..20
    assert fit == Fit((10, 4), (30, 30), (0, 0, 10, 4), (30, 12), (0, 9)) and kp is None
    assert np.array_equal(out[:, 9:21], image.repeat(3, 0).repeat(3, 1))
    assert (out[:, :9] == 255).all() and (out[:, 21:] == 255).all()
    # pixel (2, 1) became the 3x3 block rows 6-8, columns 12-14: centre (7, 13)
    assert np.allclose(fit.apply([[2, 1]]), [[7, 13]])
    assert np.allclose(fit.scale, [3, 3]) and np.allclose(fit.offset, [1, 10])


def test_fit_wider_photo_is_scaled_and_padded_top_and_bottom_exactly():
    image = numbered_image(4, 10)
    out, _, fit = fit_to_size(image, (30, 30), pad=(1, 2, 3), resample=NEAREST)
    assert fit.resized == (12, 30) and fit.pad == (9, 0)
    assert np.array_equal(out[9:21], image.repeat(3, 0).repeat(3, 1))
    assert (out[:9] == [1, 2, 3]).all() and (out[21:] == [1, 2, 3]).all()
    assert np.allclose(fit.apply([[0, 0], [3, 9]]), [[10, 1], [19, 28]])


@pytest.mark.parametrize("shape, spot", [((200, 100), (120, 31)), ((90, 300), (40, 250))])
def test_fitted_keypoint_lands_on_the_resized_feature(shape, spot):
    # Downscaling with an antialiasing filter: the spot's brightness centre and the mapped keypoint agree.
    out, kp, fit = fit_to_size(spot_image(*shape, *spot), (64, 48), keypoints=None, pad="black")
    mapped = fit.apply(np.array([spot], dtype=float))[0]
    assert np.abs(centroid(out) - mapped).max() < 0.1
    assert fit.scale.min() < 1 and (fit.pad[0] > 0) != (fit.pad[1] > 0)  # padded on one axis only


def test_keypoints_round_trip_and_missing_joints_stay_missing():
    rng = np.random.default_rng(0)
    kp = np.stack([rng.uniform(40, 160, 18), rng.uniform(30, 90, 18)], 1)
    kp[[4, 9]] = -1
    _, fitted, fit = fit_to_size(np.zeros((200, 120, 3), np.uint8), (128, 64), keypoints=kp)
    assert (fitted[[4, 9]] == -1).all() and visible(fitted).sum() == 16
    assert ((fitted >= 0) & (fitted <= [127, 63])).all(where=visible(fitted)[:, None])
    back = fit.invert(fitted)
    assert np.allclose(back, kp, atol=1e-9)
    assert np.allclose(fit.apply(fit.invert(fitted)), fitted, atol=1e-9)


def test_joints_outside_the_crop_become_missing():
    fit = fit_to_size(np.zeros((100, 100, 3), np.uint8), (20, 20), box=(10, 10, 30, 30), expand=False)[2]
    assert fit.box == (10, 10, 30, 30) and fit.resized == (20, 20) and fit.pad == (0, 0)
    out = fit.apply([[5, 20], [20, 20], [29.4, 10], [-1, -1], [31, 20]])
    # (5, 20) is above the box, (31, 20) below; (29.4, 10) is inside the last pixel row (clamped)
    assert out[0].tolist() == [-1, -1] and out[4].tolist() == [-1, -1] and out[3].tolist() == [-1, -1]
    assert np.allclose(out[1], [10, 10]) and np.allclose(out[2], [19, 0])
    assert np.allclose(fit.apply([[5, 20]], drop_outside=False), [[-5, 10]])


def test_person_box_covers_the_joints_with_head_room():
    kp = np.full((18, 2), -1.0)
    kp[J["r_eye"]], kp[J["l_eye"]] = (100, 190), (100, 210)
    kp[J["r_ear"]], kp[J["l_ear"]] = (105, 180), (105, 220)      # face width 40
    kp[J["r_ankle"]], kp[J["l_ankle"]] = (400, 185), (400, 215)
    top, left, bottom, right = person_box(kp, (500, 400), margin=0.1)
    side = 400 - 100 + 1
    assert np.isclose(top, 99.5 - 1.2 * 40) and np.isclose(bottom, 400.5 + 0.1 * side)
    assert np.isclose(left, 179.5 - 0.1 * side) and np.isclose(right, 220.5 + 0.1 * side)
    assert person_box(kp[:1], (500, 400)) is None  # one joint: no box


def test_person_crop_grows_to_the_target_aspect_inside_the_photo():
    kp = np.full((18, 2), -1.0)
    kp[J["nose"]], kp[J["l_ankle"]] = (50, 100), (250, 110)
    image = spot_image(300, 400, 150, 105)
    out, fitted, fit = fit_to_size(image, (128, 64), keypoints=kp)
    top, left, bottom, right = fit.box
    assert fit.pad == (0, 0) and fit.resized == (128, 64)  # the photo had room: no padding
    assert abs((bottom - top) / (right - left) - 2) < 0.02
    assert visible(fitted).sum() == 2 and np.allclose(fit.invert(fitted), kp)
    assert np.abs(centroid(out) - fit.apply([[150, 105]])[0]).max() < 0.3


def test_crop_near_the_photo_edge_is_shifted_inside_then_padded():
    kp = np.full((18, 2), -1.0)
    kp[J["nose"]], kp[J["r_ankle"]] = (5, 2), (60, 10)
    _, fitted, fit = fit_to_size(np.zeros((64, 64, 3), np.uint8), (32, 32), keypoints=kp)
    top, left, bottom, right = fit.box
    assert 0 <= top and 0 == left and bottom <= 64 and right <= 64
    assert visible(fitted).sum() == 2


def test_a_one_pixel_gap_is_stretched_only_on_large_sides():
    _, _, fit = fit_to_size(np.zeros((100, 99, 3), np.uint8), (128, 128))   # 128 x 126.7 -> stretched
    assert fit.resized == (128, 128) and fit.pad == (0, 0) and np.allclose(fit.scale, [128 / 100, 128 / 99])
    _, _, fit = fit_to_size(np.zeros((3, 2, 3), np.uint8), (3, 3))           # 3 x 2: padded, not stretched
    assert fit.resized == (3, 2) and fit.pad == (0, 0)


def test_edge_padding_uses_the_median_border_colour():
    image = np.full((20, 10, 3), (10, 200, 30), np.uint8)
    image[5:15, 3:7] = 255  # a person-ish blob away from the border
    image[0, 0] = 0         # a stray border pixel does not change the median
    out, _, fit = fit_to_size(image, (20, 20))
    assert fit.pad == (0, 5) and (out[:, :5] == (10, 200, 30)).all() and (out[:, 15:] == (10, 200, 30)).all()


def test_bad_pad_and_size_are_reported():
    with pytest.raises(PonaError, match="pad must be"):
        fit_to_size(np.zeros((8, 8, 3), np.uint8), (4, 4), pad="plaid")
    with pytest.raises(PonaError, match="size must be positive"):
        fit_to_size(np.zeros((8, 8, 3), np.uint8), (0, 4))
    with pytest.raises(PonaError, match="empty or outside the 8x8 image"):
        fit_to_size(np.zeros((8, 8, 3), np.uint8), (4, 4), box=(2, 5, 6, 5))
    with pytest.raises(PonaError, match="empty or outside"):
        fit_to_size(np.zeros((8, 8, 3), np.uint8), (4, 4), box=(9, 0, 12, 4))
    with pytest.raises(DataError, match=r"\(H, W, 3\) uint8"):
        fit_to_size(np.zeros((8, 8), np.float32), (4, 4))


def test_unfit_pastes_back_into_the_crop_box_only():
    original = np.zeros((60, 80, 3), np.uint8)
    _, _, fit = fit_to_size(original, (20, 20), box=(10, 30, 40, 45), expand=False)
    assert fit.resized == (20, 10) and fit.pad == (0, 5)
    generated = np.zeros((20, 20, 3), np.uint8)
    generated[:, 5:15] = (255, 0, 0)        # the person's region
    generated[:, :5] = generated[:, 15:] = (0, 0, 255)  # padding: must not be pasted
    pasted = fit.unfit(generated, original, resample=NEAREST)
    red = (pasted == (255, 0, 0)).all(-1)
    assert red[10:40, 30:45].all() and red.sum() == 30 * 15 and not (pasted[..., 2] > 0).any()


def test_unfit_of_the_fitted_image_gives_back_the_original():
    original = np.random.default_rng(1).integers(0, 256, (12, 7, 3), dtype=np.uint8)
    fitted, _, fit = fit_to_size(original, (36, 36), resample=NEAREST)  # exact 3x upscale
    assert np.array_equal(fit.unfit(fitted, original, resample=NEAREST), original)
    assert np.array_equal(fit.unfit(Image.fromarray(fitted), Image.fromarray(original), resample=NEAREST), original)
    with pytest.raises(DataError, match="fit expects 36x36"):
        fit.unfit(fitted[:30], original)
    with pytest.raises(DataError, match="12x7 photo"):
        fit.unfit(fitted, original[:10])


def test_fit_survives_a_json_round_trip():
    fit = fit_to_size(np.zeros((50, 30, 3), np.uint8), (128, 64))[2]
    again = Fit.from_dict(json.loads(json.dumps(fit.to_dict())))
    assert again == fit and np.allclose(again.offset, fit.offset)


# ---------------------------------------------------------------------------------------------
# The estimator interface and the BlazePose mapping (no MediaPipe needed)


def test_blazepose_landmarks_map_to_coco18():
    yx = np.stack([(np.arange(33) + 1) / 40, 0.9 - np.arange(33) / 40], 1)  # landmark i at a place of its own
    vis = np.ones(33)
    kp = blazepose_to_coco18(yx, vis, (100, 200), threshold=0.5)
    for j, b in enumerate(BLAZEPOSE_TO_COCO18):
        if b is not None:
            assert np.allclose(kp[j], [yx[b, 0] * 100 - 0.5, yx[b, 1] * 200 - 0.5]), JOINTS[j]
    assert np.allclose(kp[J["neck"]], (kp[J["r_shoulder"]] + kp[J["l_shoulder"]]) / 2)
    assert BLAZEPOSE_TO_COCO18[J["r_shoulder"]] == 12 and BLAZEPOSE_TO_COCO18[J["l_eye"]] == 2


def test_blazepose_drops_hidden_and_outside_landmarks():
    yx = np.full((33, 2), 0.5)
    vis = np.ones(33)
    vis[16] = 0.49              # right wrist under the threshold
    yx[28] = (1.3, 0.5)         # right ankle guessed below the photo
    yx[11] = (0.5, -0.01)       # left shoulder just left of the photo: the neck goes too
    yx[0] = (0.0, 1.0)          # nose on the top-right corner: kept, clamped to the corner pixel
    kp = blazepose_to_coco18(yx, vis, (10, 20), threshold=0.5)
    for name in ("r_wrist", "r_ankle", "l_shoulder", "neck"):
        assert (kp[J[name]] == -1).all(), name
    assert np.allclose(kp[J["nose"]], [0, 19]) and np.allclose(kp[J["r_shoulder"]], [4.5, 9.5])
    assert visible(kp).sum() == 14


def test_get_estimator_rejects_unknown_names_and_options():
    with pytest.raises(PonaError, match="unknown pose estimator 'openpose'; available: .*mediapipe"):
        get_estimator("openpose")
    with pytest.raises(PonaError, match="pose estimator 'mediapipe'.*threshold"):
        get_estimator("mediapipe", threshold=0.3)


def test_registered_estimator_is_built_with_its_options(monkeypatch):
    class Constant:
        def __init__(self, y=1.0):
            self.y = y

        def __call__(self, image):
            return np.full((18, 2), self.y)

    monkeypatch.setitem(estimators._REGISTRY, "constant", Constant)
    est = get_estimator("constant", y=3.0)
    assert isinstance(est, estimators.PoseEstimator) and est(np.zeros((4, 4, 3), np.uint8))[0, 0] == 3.0
    assert "constant" in estimators.available_estimators()


def test_missing_mediapipe_says_how_to_install(monkeypatch):
    for name in [m for m in sys.modules if m == "mediapipe" or m.startswith("mediapipe.")] + ["mediapipe"]:
        monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules: import fails
    with pytest.raises(MissingExtraError) as e:
        get_estimator("mediapipe")
    assert "pip install 'pona[pose]'" in str(e.value) and "make install-pose" in str(e.value)


# ---------------------------------------------------------------------------------------------
# from_photos with fake estimators


class FakeEstimator:
    """A standing person filling the middle of any photo; no person in an all-black photo."""

    def __init__(self):
        self.calls = []
        self.closed = False

    def __call__(self, image):
        self.calls.append(image.shape)
        if image.max() == 0:
            return None
        h, w = image.shape[:2]
        kp = np.stack([np.linspace(0.2, 0.9, 18) * h, np.linspace(0.4, 0.6, 18) * w], 1)
        kp[4] = -1  # a hidden wrist
        return kp

    def close(self):
        self.closed = True


def write_photo(path, h, w, value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(path)


@pytest.fixture
def photo_folder(tmp_path):
    root = tmp_path / "photos"
    write_photo(root / "bob" / "front.png", 60, 40)
    write_photo(root / "bob" / "side.jpg", 80, 50)
    write_photo(root / "bob" / "deeper" / "back.png", 70, 70)
    write_photo(root / "carol.png", 50, 90)
    write_photo(root / "nobody.png", 30, 30, value=0)      # the fake finds no one here
    (root / "broken.jpg").write_bytes(b"not a jpeg")
    (root / "notes.txt").write_text("not a photo")
    write_photo(root / ".hidden" / "x.png", 30, 30)
    return root


def test_find_photos_assigns_people_by_folder_or_name(photo_folder, tmp_path):
    found = [(p.relative_to(photo_folder).as_posix(), who) for p, who in find_photos(photo_folder)]
    assert found == [("bob/deeper/back.png", "bob"), ("bob/front.png", "bob"), ("bob/side.jpg", "bob"),
                     ("broken.jpg", "broken"), ("carol.png", "carol"), ("nobody.png", "nobody")]
    flat = tmp_path / "flat"
    for name in ("ann_1.png", "ann_2.png", "ben_1.png"):
        write_photo(flat / name, 8, 8)
    assert [who for _, who in find_photos(flat, person_sep="_")] == ["ann", "ann", "ben"]
    assert [who for _, who in find_photos(flat)] == ["ann_1", "ann_2", "ben_1"]


def test_from_photos_writes_the_patn_layout_and_reports_skipped(photo_folder, tmp_path):
    est = FakeEstimator()
    out = tmp_path / "dataset"
    summary = from_photos(photo_folder, out, "market", estimator=est)
    assert [photo for photo, _ in summary.skipped] == ["broken.jpg", "nobody.png"]
    assert summary.skipped[0][1].startswith("cannot read image") and summary.skipped[1][1] == "no person found"
    assert summary.people == {"bob": ["bob_back.png", "bob_front.png", "bob_side.png"], "carol": ["carol.png"]}
    assert not est.closed  # a caller's estimator is the caller's to close
    assert (60, 40, 3) in est.calls  # estimated on the original photo, not the fitted one

    annotations = read_annotations(out / "photos-annotation-test.csv")
    assert list(annotations) == ["bob_back.png", "bob_front.png", "bob_side.png", "carol.png"]
    for name, kp in annotations.items():
        assert Image.open(out / "test" / name).size == (64, 128)
        assert (kp[4] == -1).all() and visible(kp).sum() == 17
        assert ((kp >= 0) & (kp <= [127, 63])).all(where=visible(kp)[:, None])
    pairs = read_pairs(out / "photos-pairs-test.csv")
    assert len(pairs) == summary.pairs == 6 and ("bob_front.png", "bob_side.png") in pairs
    assert all(a.startswith("bob") and b.startswith("bob") and a != b for a, b in pairs)

    manifest = json.loads((out / "photos-sources-test.json").read_text())
    entry = {p["name"]: p for p in manifest["photos"]}["bob_side.png"]
    assert entry["source"] == "bob/side.jpg" and entry["person"] == "bob"
    fit = Fit.from_dict(entry["fit"])
    original_kp = FakeEstimator()(np.ones((80, 50, 3), np.uint8))
    assert np.abs(fit.apply(original_kp) - annotations["bob_side.png"]).max() <= 0.5  # CSV rounds
    assert [s["source"] for s in manifest["skipped"]] == ["broken.jpg", "nobody.png"]

    item = PairDataset(out, "test")[0]  # the result is a dataset pona trains and evaluates on
    assert item["source_image"].shape == (3, 128, 64) and item["source_maps"].shape == (18, 128, 64)


def test_from_photos_pair_options_and_size(photo_folder, tmp_path):
    summary = from_photos(photo_folder, tmp_path / "all", (32, 16), FakeEstimator(), pairs="all", split="train")
    assert summary.pairs == 4 * 3 and len(read_pairs(tmp_path / "all" / "photos-pairs-train.csv")) == 12
    assert Image.open(tmp_path / "all" / "train" / "carol.png").size == (16, 32)
    summary = from_photos(photo_folder, tmp_path / "none", "fashion", FakeEstimator(), pairs="none", name="mine")
    assert summary.pairs == 0 and read_pairs(tmp_path / "none" / "mine-pairs-test.csv") == []
    assert Image.open(tmp_path / "none" / "test" / "carol.png").size == (176, 256)
    with pytest.raises(PonaError, match="pairs must be"):
        from_photos(photo_folder, tmp_path / "x", "market", FakeEstimator(), pairs="some")
    with pytest.raises(PonaError, match="unknown preset 'deepfashion'"):
        from_photos(photo_folder, tmp_path / "x", "deepfashion", FakeEstimator())


def test_from_photos_survives_a_failing_estimator_but_not_an_empty_result(tmp_path):
    write_photo(tmp_path / "in" / "a.png", 20, 20)
    write_photo(tmp_path / "in" / "b.png", 20, 20)

    def failing(image):
        raise RuntimeError("model exploded")

    with pytest.raises(DataError, match=r"no usable photo among 2 \(a.png: pose estimator failed: RuntimeError: model exploded"):
        from_photos(tmp_path / "in", tmp_path / "out", "market", failing)
    assert not (tmp_path / "out").exists()  # nothing usable, nothing written
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: no photos"):
        from_photos(tmp_path / "empty", tmp_path / "x", "market", FakeEstimator())


def test_photo_names_are_made_safe_for_the_csv_files(tmp_path):
    write_photo(tmp_path / "in" / "my photo:1,a.png", 20, 20)
    write_photo(tmp_path / "in" / "x.png", 20, 20)
    write_photo(tmp_path / "in" / "x.jpg", 20, 20)
    summary = from_photos(tmp_path / "in", tmp_path / "out", "market", FakeEstimator(), pairs="all")
    assert sorted(n for names in summary.people.values() for n in names) == ["my_photo_1_a.png", "x-2.png", "x.png"]
    assert len(read_annotations(tmp_path / "out" / "photos-annotation-test.csv")) == 3


# ---------------------------------------------------------------------------------------------
# CLI, with a fake estimator registered


def test_cli_from_photos_and_pose(photo_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(estimators._REGISTRY, "fake", FakeEstimator)
    code, out, _ = run_cli(capsys, "data", "from-photos", str(photo_folder), str(tmp_path / "ds"), "--preset", "market",
                       "--estimator", "fake", "--pairs", "all")
    assert code == 0, out
    assert "wrote 4 images (128x64) of 2 people, 12 pairs" in out and "2 photos skipped" in out
    assert (tmp_path / "ds" / "photos-annotation-test.csv").is_file()

    code, out, _ = run_cli(capsys, "pose", str(photo_folder / "carol.png"), "--estimator", "fake",
                       "--json", str(tmp_path / "p.json"), "--out", str(tmp_path / "drawn.png"))
    assert code == 0
    printed = json.loads(out)
    assert printed["format"] == "pona-pose" and printed["image_size"] == [50, 90]
    assert np.allclose(printed["keypoints"], FakeEstimator()(np.ones((50, 90, 3), np.uint8)), atol=0.005)
    assert json.loads((tmp_path / "p.json").read_text())["keypoints"] == printed["keypoints"]
    drawn = np.asarray(Image.open(tmp_path / "drawn.png"))
    assert drawn.shape == (50, 90, 3) and (drawn != 128).any()  # something was drawn on the grey photo

    code, _, err = run_cli(capsys, "pose", str(photo_folder / "nobody.png"), "--estimator", "fake")
    assert code == 2 and err.startswith("error: ") and "nobody.png: no person found" in err


# ---------------------------------------------------------------------------------------------
# MediaPipe on real photos (the pose extra)


@pytest.fixture(scope="module")
def mediapipe_estimator():
    pytest.importorskip("mediapipe.python.solutions.pose",
                        reason="MediaPipe is not installed (pip install 'pona[pose]' or make install-pose)")
    est = get_estimator("mediapipe")
    yield est
    est.close()


def astronaut():
    from skimage import data

    return data.astronaut()  # Eileen Collins, head and shoulders, facing the camera, 512x512


@pytest.mark.pose
def test_mediapipe_finds_the_astronauts_head_and_shoulders(mediapipe_estimator):
    kp = mediapipe_estimator(astronaut())
    found = {JOINTS[j] for j in np.flatnonzero(visible(kp))}
    assert {"nose", "neck", "r_shoulder", "l_shoulder", "r_eye", "l_eye", "r_ear", "l_ear"} <= found
    assert not found & {"r_hip", "l_hip", "r_knee", "l_knee", "r_ankle", "l_ankle"}  # below the frame
    (ny, nx) = kp[J["nose"]]
    assert 100 < ny < 160 and 195 < nx < 250  # the face is at about rows 60-180, columns 170-280
    assert kp[J["r_eye"], 0] < ny and kp[J["l_eye"], 0] < ny  # eyes above the nose
    # Facing the camera: her right side is on the image's left.
    assert kp[J["r_shoulder"], 1] < kp[J["r_eye"], 1] < nx < kp[J["l_eye"], 1] < kp[J["l_shoulder"], 1]
    assert kp[J["r_ear"], 1] < kp[J["r_eye"], 1] and kp[J["l_ear"], 1] > kp[J["l_eye"], 1]
    assert 200 < kp[J["r_shoulder"], 0] < 300 and 200 < kp[J["l_shoulder"], 0] < 300
    assert np.allclose(kp[J["neck"]], (kp[J["r_shoulder"]] + kp[J["l_shoulder"]]) / 2)


@pytest.mark.pose
def test_mediapipe_finds_grace_hopper_and_no_one_in_a_cat(mediapipe_estimator):
    from skimage import data

    assert mediapipe_estimator(data.chelsea()) is None  # a cat
    cbook = pytest.importorskip("matplotlib.cbook", reason="matplotlib (the plot extra) ships the photo")
    with cbook.get_sample_data("grace_hopper.jpg") as f:  # head and shoulders, facing the camera
        hopper = np.asarray(Image.open(f).convert("RGB"))
    kp = mediapipe_estimator(hopper)
    assert visible(kp)[[J[n] for n in ("nose", "r_eye", "l_eye", "r_shoulder", "l_shoulder")]].all()
    assert 150 < kp[J["nose"], 0] < 280 and 220 < kp[J["nose"], 1] < 320
    assert kp[J["r_shoulder"], 1] < kp[J["nose"], 1] < kp[J["l_shoulder"], 1]
    assert kp[J["nose"], 0] < kp[J["neck"], 0]


@pytest.mark.pose
def test_mediapipe_estimator_is_shared_safely_between_threads(mediapipe_estimator):
    image = astronaut()
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(mediapipe_estimator, [image] * 4))
    assert all(np.allclose(r, results[0]) for r in results)


@pytest.mark.pose
def test_mediapipe_from_photos_and_closing(tmp_path):
    pytest.importorskip("mediapipe.python.solutions.pose", reason="MediaPipe is not installed")
    Image.fromarray(astronaut()).save(tmp_path / "astronaut.png")
    with get_estimator("mediapipe", visibility=0.5) as est:
        summary = from_photos(tmp_path, tmp_path / "out", "fashion", est)
        direct = est(astronaut())
    with pytest.raises(PonaError, match="closed"):
        est(astronaut())
    kp = read_annotations(tmp_path / "out" / "photos-annotation-test.csv")["astronaut.png"]
    fit = Fit.from_dict(json.loads((tmp_path / "out" / "photos-sources-test.json").read_text())["photos"][0]["fit"])
    assert summary.images == 1 and np.abs(kp - fit.apply(direct)).max() <= 0.5


@pytest.mark.pose
def test_mediapipe_models_that_must_be_downloaded_fail_clearly_offline(monkeypatch):
    mp_pose = pytest.importorskip("mediapipe.python.solutions.pose", reason="MediaPipe is not installed")
    import urllib.error

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(mp_pose.download_utils, "download_oss_model", offline)
    with pytest.raises(PonaError, match="model_complexity=2 .* use model_complexity=1"):
        get_estimator("mediapipe", model_complexity=2)
