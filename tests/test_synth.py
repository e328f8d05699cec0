import dataclasses

import numpy as np
import pytest
from PIL import Image

from pona.cli import main
from pona.data import PairDataset, read_annotations, read_pairs
from pona.data.synth import (BodyPose, example, montage, read_identities, render, render_layer, sample_identity,
                             sample_pose, sample_pose_sequence, street_background, camera_style, write_dataset)
from pona.data.synth.posing import P, fit, skeleton, to_pixels
from pona.errors import DataError
from pona.pose import JOINTS

J = {name: i for i, name in enumerate(JOINTS)}


def person(i, preset="market"):
    return sample_identity(np.random.default_rng([0, i]), preset, i)


def pose(i, k, preset="market"):
    return sample_pose(np.random.default_rng([0, i, k]), preset)


def test_same_identity_pose_and_seed_render_identically():
    a, b = example(0, 7, 3), example(0, 7, 3)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.keypoints, b.keypoints)
    assert a.image.shape == (128, 64, 3) and a.image.dtype == np.uint8
    # A person looks the same whatever was rendered before, and another seed gives another image.
    example(0, 8, 0)
    assert np.array_equal(example(0, 7, 3).image, a.image)
    assert not np.array_equal(example(1, 7, 3).image, a.image)


def test_different_identities_differ_in_the_same_pose():
    p = pose(0, 0)
    images = [render(person(i), p, (128, 64))[0].astype(float) for i in range(4)]
    for i in range(4):
        for j in range(i):
            assert np.abs(images[i] - images[j]).mean() > 2  # grey levels, over the whole image


def test_poses_of_one_person_differ():
    a, b = example(0, 3, 0), example(0, 3, 1)
    assert not np.array_equal(a.keypoints, b.keypoints)
    assert np.abs(a.image.astype(float) - b.image).mean() > 5


def test_a_studio_person_keeps_one_backdrop_and_people_differ():
    size = (64, 44)
    corner = {(i, k): example(0, i, k, "fashion", size=size).image[0, 0] for i in (1, 2) for k in range(3)}
    for i in (1, 2):  # the top-left corner is backdrop in every pose (poses differ: test above)
        assert all(np.array_equal(corner[i, 0], corner[i, k]) for k in (1, 2))
    assert not np.array_equal(corner[1, 0], corner[2, 0])


@pytest.mark.parametrize("preset", ["market", "fashion"])
def test_keypoints_land_on_the_drawn_body(preset):
    size = (128, 64) if preset == "market" else (256, 176)
    checked = 0
    for i in range(6):
        ident = person(i, preset)
        for k in range(3):
            p = pose(i, k, preset)
            rng = np.random.default_rng([5, i, k])
            bg = (np.clip(street_background(rng, size, camera_style(0, 1)), 0, 1) * 255).astype(np.uint8)
            image, kp = render(ident, p, size, background=bg)
            _, cover, kp2 = render_layer(ident, p, size)
            assert np.array_equal(kp, kp2)
            for y, x in kp[(kp >= 0).all(1)]:
                assert cover[y, x] > 0.5                     # the joint is inside the drawn person
                assert (image[y, x] != bg[y, x]).any()        # and its pixel is not the background's
                checked += 1
    assert checked > 6 * 3 * 10


def test_joints_outside_the_frame_are_minus_one():
    p = fit(BodyPose(), 0.5, zoom=1.8, top=True)       # a close-up: the legs leave the frame
    image, kp = render(person(0), p, (128, 64))
    for j in ("r_knee", "r_ankle", "l_knee", "l_ankle"):
        assert (kp[J[j]] == -1).all()
    assert (kp[J["neck"]] >= 0).all() and (kp[J["r_shoulder"]] >= 0).all()
    assert image.shape == (128, 64, 3)


def test_left_and_right_are_the_persons_own():
    ident = person(1)
    x = lambda kp, name: kp[J[name], 1]
    _, front = render(ident, fit(BodyPose(yaw=0.0), 0.5), (128, 64))
    assert x(front, "r_shoulder") < x(front, "neck") < x(front, "l_shoulder")  # facing us: right on the image's left
    assert x(front, "r_hip") < x(front, "l_hip") and x(front, "r_eye") < x(front, "l_eye")
    assert x(front, "r_ear") < x(front, "r_eye") and (front >= 0).all()  # every joint visible from the front
    _, back = render(ident, fit(BodyPose(yaw=np.pi), 0.5), (128, 64))
    assert x(back, "r_shoulder") > x(back, "l_shoulder") and x(back, "r_hip") > x(back, "l_hip")
    assert (back[[J["nose"], J["r_eye"], J["l_eye"]]] == -1).all()       # no face seen from behind
    assert (back[[J["r_ear"], J["l_ear"]]] >= 0).all()
    _, right = render(ident, fit(BodyPose(yaw=np.pi / 2), 0.5), (128, 64))  # facing image right
    assert (right[J["r_ear"]] >= 0).all() and (right[J["l_ear"]] == -1).all()
    assert x(right, "nose") > x(right, "r_ear")


def test_front_and_back_views_look_different():
    """The face side shows skin (face), the back of the head shows hair."""
    ident = dataclasses.replace(person(2), hat="none", hair_color=(0.1, 0.05, 0.0), skin=(0.9, 0.7, 0.6))
    for yaw, expect in ((0.0, ident.skin), (np.pi, ident.hair_color)):
        p = fit(BodyPose(yaw=yaw), 0.5)
        image, kp = render(ident, p, (256, 128))
        hy, hx = np.round(to_pixels(skeleton(p, ident.shoulder, ident.hip, ident.head), p, (256, 128))[P["head"]]).astype(int)
        centre = image[hy + 2: hy + 5, hx - 1: hx + 2].reshape(-1, 3).mean(0) / 255
        assert np.abs(centre - expect).max() < 0.2, (yaw, centre)


def test_written_dataset_passes_the_layout_readers_and_loads(tmp_path):
    s = write_dataset(tmp_path, "market", n_train_ids=3, n_test_ids=2, poses_per_id=3, seed=0)
    assert s.images == {"train": 9, "test": 6} and s.pairs == {"train": 18, "test": 12}
    ann = read_annotations(tmp_path / "synth-annotation-train.csv")
    pairs = read_pairs(tmp_path / "synth-pairs-train.csv")
    assert len(ann) == 9 and len(pairs) == 18
    assert all(a.split("_")[0] == b.split("_")[0] and a != b for a, b in pairs)  # same person, two images
    for name, kp in ann.items():
        with Image.open(tmp_path / "train" / name) as im:
            assert im.size == (64, 128) and im.format == "PNG"
        assert kp.shape == (18, 2)
    item = PairDataset(tmp_path, "train")[0]
    assert item["source_image"].shape == (3, 128, 64) and item["target_maps"].shape == (18, 128, 64)
    assert -1 <= item["source_image"].min() and item["source_image"].max() <= 1


def test_train_and_test_people_are_disjoint(tmp_path):
    write_dataset(tmp_path, "market", n_train_ids=4, n_test_ids=3, poses_per_id=2)
    rows = read_identities(tmp_path / "synth-identities.csv")
    train = {r.identity for r in rows if r.split == "train"}
    test = {r.identity for r in rows if r.split == "test"}
    assert train == {1, 2, 3, 4} and test == {5, 6, 7}
    assert {r.name for r in rows if r.split == "test"} == set(read_annotations(tmp_path / "synth-annotation-test.csv"))
    for r in rows:  # the name carries the identity and the camera (Market-1501 style)
        assert r.name.startswith(f"{r.identity:04d}_c{r.camera}s1_")
    cams = {}
    for r in rows:
        cams.setdefault(r.identity, set()).add(r.camera)
    assert all(len(c) == 2 for c in cams.values())  # consecutive poses come from different cameras


def test_a_person_is_the_same_in_any_dataset_and_with_workers(tmp_path):
    write_dataset(tmp_path / "a", "market", n_train_ids=2, n_test_ids=1, poses_per_id=2, seed=3)
    write_dataset(tmp_path / "b", "market", n_train_ids=3, n_test_ids=0, poses_per_id=3, seed=3, workers=2)
    names = sorted(p.name for p in (tmp_path / "a" / "train").iterdir())
    for name in names:
        assert (tmp_path / "a" / "train" / name).read_bytes() == (tmp_path / "b" / "train" / name).read_bytes()
    # identity 3 was a test person in "a" and a training person in "b": same images
    for p in (tmp_path / "a" / "test").iterdir():
        assert p.read_bytes() == (tmp_path / "b" / "train" / p.name).read_bytes()


def test_pairs_per_id_samples_distinct_pairs(tmp_path):
    write_dataset(tmp_path, "fashion", n_train_ids=2, n_test_ids=1, poses_per_id=3, pairs_per_id=4)
    pairs = read_pairs(tmp_path / "synth-pairs-train.csv")
    assert len(pairs) == 8 and len(set(pairs)) == 8
    assert all(a.startswith(b[:7]) for a, b in pairs)   # id00001_..., same person
    with Image.open(tmp_path / "train" / pairs[0][0]) as im:
        assert im.size == (176, 256)


def test_write_refuses_to_mix_datasets(tmp_path):
    write_dataset(tmp_path, n_train_ids=1, n_test_ids=0, poses_per_id=2)
    with pytest.raises(DataError, match="--overwrite"):
        write_dataset(tmp_path, n_train_ids=1, n_test_ids=0, poses_per_id=2)
    write_dataset(tmp_path, n_train_ids=1, n_test_ids=0, poses_per_id=3, overwrite=True)
    assert len(list((tmp_path / "train").iterdir())) == 3
    (tmp_path / "market-annotation-train.csv").write_text("name:keypoints_y:keypoints_x\n")
    with pytest.raises(DataError, match="another dataset"):
        write_dataset(tmp_path, n_train_ids=1, n_test_ids=0, poses_per_id=2, overwrite=True)
    with pytest.raises(DataError, match="poses per person"):
        write_dataset(tmp_path / "x", poses_per_id=1)


def test_pose_sequences_move_smoothly():
    poses = sample_pose_sequence(np.random.default_rng(0), 24, kind="walk", view="right")
    ident = person(4)
    kps = np.stack([render(ident, p, (128, 64))[1] for p in poses]).astype(float)
    body = [J[n] for n in ("neck", "r_wrist", "l_wrist", "r_ankle", "l_ankle", "r_knee", "l_knee")]
    steps = np.abs(np.diff(kps[:, body], axis=0)).max()
    assert 0 < steps <= 8                                  # pixels per frame at 128x64
    assert len({p.scale for p in poses}) == 1              # one framing for the whole sequence
    for kind in ("turn", "random"):
        seq = sample_pose_sequence(np.random.default_rng(1), 30, "fashion", kind=kind)
        assert len(seq) == 30 and all(isinstance(p, BodyPose) for p in seq)


def test_montage_grids_people_by_poses(tmp_path):
    write_dataset(tmp_path, n_train_ids=3, n_test_ids=0, poses_per_id=2)
    sheet = montage(tmp_path, rows=2, cols=2, pad=2)
    assert sheet.size == (2 * 66 + 2, 2 * 130 + 2)
    sheet = montage([np.zeros((10, 5, 3), np.uint8)] * 3, cols=2, pad=1)
    assert sheet.size == (2 * 6 + 1, 2 * 11 + 1)


def test_cli_writes_the_layout(tmp_path, capsys):
    out, png = tmp_path / "synth", tmp_path / "m.png"
    main(["data", "synth", str(out), "--train-ids", "2", "--test-ids", "1", "--poses", "2", "--montage", str(png)])
    assert "train: 2 people, 4 images, 4 pairs" in capsys.readouterr().out
    for f in ("synth-annotation-train.csv", "synth-annotation-test.csv", "synth-pairs-train.csv",
              "synth-pairs-test.csv", "synth-identities.csv"):
        assert (out / f).is_file()
    assert len(list((out / "test").iterdir())) == 2 and Image.open(png).size[0] > 64
    with pytest.raises(SystemExit) as e:
        main(["data", "synth", str(out), "--train-ids", "2", "--poses", "2"])
    assert e.value.code == 2 and "--overwrite" in capsys.readouterr().err


def test_capsule_coverage_matches_hand_values():
    from pona.data.synth import raster
    layer = raster.Layer((10, 10), ss=1)
    win = layer.window(0, 0, 9, 9)
    alpha, t, v = raster.capsule(win, (5.0, 2.0), (5.0, 7.0), 1.0, 1.0)
    assert alpha[5, 4] == 1 and alpha[6, 4] == 0.5 and alpha[7, 4] == 0    # distance 0, 1 (edge), 2
    assert alpha[5, 8] == pytest.approx(0.5, abs=1e-5) and t[5, 4] == pytest.approx(0.4) and v[6, 4] == pytest.approx(-1)
    disc, _, _ = raster.capsule(win, (4.0, 4.0), (4.0, 4.0), 1.5, 1.5)    # a limb pointing at the camera
    assert disc[4, 4] == 1 and disc[4, 6] == 0 and disc[4, 5] == 1          # 0.5 + 1.5 - 1 -> 1
    s = raster.stripes(np.array([0.0, 0.25, 0.5, 1.0]), period=1.0, duty=0.5, px=1e-3)
    assert list(s) == [1, 0.5, 0, 1]


def test_png_writer_round_trips_through_pillow():
    import io
    from pona.data.synth import png_bytes
    image = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    for level in (0, 1, 9):
        assert np.array_equal(np.array(Image.open(io.BytesIO(png_bytes(image, level)))), image)


def test_pose_from_keypoints_reproduces_the_keypoints():
    from pona.data.synth import pose_from_keypoints
    for i in range(8):
        ident, p = person(i), pose(i, 0)
        _, kp = render(ident, p, (128, 64))
        q = pose_from_keypoints(kp, (128, 64))
        _, kq = render(ident, q, (128, 64))
        both = (kp >= 0).all(1) & (kq >= 0).all(1)
        both[[J["nose"], J["r_eye"], J["l_eye"], J["r_ear"], J["l_ear"]]] = False
        assert both.sum() >= 8 and np.abs(kq - kp)[both].max() <= 3
    kp[J["neck"]] = -1
    with pytest.raises(ValueError, match="neck"):
        pose_from_keypoints(kp, (128, 64))
