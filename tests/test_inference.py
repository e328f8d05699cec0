"""Inference: transfer, panels, pose specs, generate (resume, legacy strips), animate, attention figure, ONNX."""

import dataclasses
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import TINY_CONFIG, open_gates, run_cli
from pona.data.dataset import to_tensor, to_uint8
from pona.data.layout import read_annotations, read_pairs
from pona.data.fit import fit_to_size
from pona.data.posefile import Pose, write_pose
from pona.errors import DataError, PonaError
from pona.inference import (
    PoNA, attention_figure, export_onnx, generate_pairs, load_pose, load_pose_sequence, write_animation,
)
from pona.inference import visualize
from pona.models import Generator, save_generator
from pona.pose import heatmaps

H, W = TINY_CONFIG.image_size
N_BLOCKS = TINY_CONFIG.n_blocks


def run(capsys, *args):
    return run_cli(capsys, *map(str, args))


def tiny_generator():
    g = Generator(TINY_CONFIG)
    open_gates(g, 1.0)  # gamma = beta = 0 at init make the attention a no-op
    return g.eval()


def pose_at(i):
    """A vertical line of joints, shifted by i; joint 5 missing."""
    kp = np.stack([np.linspace(3, 28, 18) + (i % 3), np.full(18, 4.0 + 2 * (i % 4))], 1).round()
    kp[5] = -1
    return kp


@pytest.fixture
def ckpt(tmp_path):
    return save_generator(tiny_generator(), tmp_path / "g.safetensors")


def people_names(root):
    """The test images of the tests' tiny world (conftest's ``tiny_people``), in name order."""
    return sorted(read_annotations(root / "synth-annotation-test.csv"))


def image_path(root, i):
    return root / "test" / people_names(root)[i]


def annotated(root, i):
    """The annotated pose of test image i."""
    return read_annotations(root / "synth-annotation-test.csv")[people_names(root)[i]]


def pairs_of(root):
    return read_pairs(root / "synth-pairs-test.csv")


def direct(g, image, src_kp, dst_kp):
    """The generator's output for one pair, computed without pona.inference."""
    with torch.no_grad():
        out = g(to_tensor(np.array(image))[None], heatmaps(src_kp, H, W)[None], heatmaps(dst_kp, H, W)[None])
    return to_uint8(out[0])


# -- transfer -------------------------------------------------------------------------------------

def test_transfer_at_model_size_equals_the_generator_output(ckpt, tiny_people):
    model = PoNA.from_checkpoint(ckpt)
    image = Image.open(image_path(tiny_people, 0))
    out = model.transfer(image, pose_at(0), pose_at(3))
    assert out.size == (W, H)
    assert np.array_equal(np.asarray(out), direct(model.generator, image, pose_at(0), pose_at(3)))
    # the attention matters: with the gates closed the output differs
    for name, p in model.generator.named_parameters():
        if name.endswith("gamma"):
            torch.nn.init.zeros_(p)
    assert not np.array_equal(np.asarray(model.transfer(image, pose_at(0), pose_at(3))), np.asarray(out))


def test_transfer_returns_attention_rows_that_sum_to_one(ckpt, tiny_people):
    model = PoNA.from_checkpoint(ckpt)
    out, maps = model.transfer(np.asarray(Image.open(image_path(tiny_people, 0))), pose_at(0), pose_at(1),
                               return_attention=True)
    n = (H // 4) * (W // 4)
    assert len(maps) == N_BLOCKS and all(len(b) == 2 for b in maps)
    assert maps[0][1].shape == (1, n, n) and torch.allclose(maps[0][1].sum(-1), torch.ones(1, n))


def test_transfer_panel_is_four_model_size_panels(ckpt, tiny_people):
    model = PoNA.from_checkpoint(ckpt)
    image = Image.open(image_path(tiny_people, 0))
    t = model.transfer_detailed(image, pose_at(0), pose_at(2))
    panel = np.asarray(t.panel())
    assert panel.shape == (H, 4 * W, 3)
    assert np.array_equal(panel[:, :W], np.asarray(image))               # condition
    assert np.array_equal(panel[:, 3 * W:], np.asarray(t.output))        # output
    assert panel[:, W:3 * W].any() and not panel[:, W:2 * W][:, :2].any()  # skeletons on black


def test_bad_pose_shape_and_image_are_clear_errors(ckpt, tiny_people):
    model = PoNA.from_checkpoint(ckpt)
    image = Image.open(image_path(tiny_people, 0))
    with pytest.raises(DataError, match=r"expected \[18, 2\]"):
        model.transfer(image, pose_at(0), np.zeros((17, 2)))
    with pytest.raises(DataError, match="RGB"):
        model.transfer(np.zeros((H, W), np.uint8), pose_at(0), pose_at(1))
    with pytest.raises(DataError, match="refers to a 20x40 image"):
        model.transfer(image, Pose(pose_at(0), (40, 20)), pose_at(1))


def big_photo():
    """An 80x50 photo (other than the model size) with smooth colours, and two poses in it."""
    rng = np.random.default_rng(3)
    photo = np.asarray(Image.fromarray(rng.integers(0, 256, (5, 3, 3), dtype=np.uint8)).resize((50, 80), Image.BILINEAR))
    src, dst = pose_at(0) * 2 + (8, 10), pose_at(2) * 2 + (8, 6)
    src[5] = dst[5] = -1
    return np.array(photo), src, dst


def test_transfer_of_another_size_uses_the_photo_fit_and_maps_back(ckpt):
    model = PoNA.from_checkpoint(ckpt)
    photo, src, dst = big_photo()
    fitted, fitted_src, fit = fit_to_size(photo, (H, W), keypoints=src)
    t = model.transfer_detailed(photo, src, dst)
    assert np.array_equal(t.condition, fitted) and np.array_equal(t.src_keypoints, fitted_src)
    assert np.array_equal(t.dst_keypoints, fit.apply(dst))   # same frame as the condition: same fit
    assert t.output.size == (W, H)
    assert np.array_equal(np.asarray(t.output), direct(model.generator, fitted, fitted_src, fit.apply(dst)))
    back = np.asarray(model.transfer(photo, src, dst, original_frame=True))
    assert back.shape == photo.shape
    top, left, bottom, right = fit.box
    outside = np.ones(photo.shape[:2], bool)
    outside[top:bottom, left:right] = False
    assert np.array_equal(back[outside], photo[outside]) and not np.array_equal(back, photo)
    assert np.array_equal(back, fit.unfit(np.asarray(t.output), photo))


def test_target_poses_of_their_own_frame_get_their_own_fit(ckpt):
    model = PoNA.from_checkpoint(ckpt)
    photo, src, dst = big_photo()
    fit = model.fit_input(photo, src)[2]
    # a pose already in the model frame is used as is
    assert np.array_equal(model.transfer_detailed(photo, src, Pose(pose_at(4), (H, W))).dst_keypoints, pose_at(4))
    # a pose from a 200x100 photo is framed on its own: the person fills the model frame as the data preparation does
    other = Pose(dst * 2.5 * (dst != -1) - (dst == -1), (200, 100))
    got = model.transfer_detailed(photo, src, other).dst_keypoints
    own = fit_to_size(np.zeros((200, 100, 3), np.uint8), (H, W), keypoints=other.keypoints)[1]
    assert np.allclose(got, own) and not np.allclose(got, fit.apply(dst))
    # a sequence in that frame gets one crop: a pose shifted by 10 px stays shifted by 10 px * scale
    moved = Pose(np.where(other.keypoints == -1, -1, other.keypoints + (0, 10)), (200, 100))
    pair = model.fit_poses([other, moved], (80, 50), fit)
    vis = pair[0, :, 0] != -1
    shift = pair[1][vis] - pair[0][vis]
    assert np.allclose(shift[:, 0], 0) and np.allclose(shift[:, 1], shift[0, 1]) and shift[0, 1] > 0


def test_target_frame_overrides_the_rule(ckpt):
    model = PoNA.from_checkpoint(ckpt)
    photo, src, dst = big_photo()
    fit = model.fit_input(photo, src)[2]
    same_size = Pose(dst, (80, 50))  # e.g. another photo from the same phone
    own = model.fit_poses([same_size], (80, 50), fit, "own")[0]
    assert np.allclose(own, fit_to_size(np.zeros((80, 50, 3), np.uint8), (H, W), keypoints=dst)[1])
    assert np.array_equal(model.fit_poses([same_size], (80, 50), fit, "auto")[0], fit.apply(dst))
    assert np.array_equal(model.fit_poses([Pose(dst, (200, 100))], (80, 50), fit, "condition")[0], fit.apply(dst))
    with pytest.raises(DataError, match="target pose 0 has no image_size"):
        model.fit_poses([dst], (80, 50), fit, "own")


def test_animate_in_the_original_frame(ckpt):
    model = PoNA.from_checkpoint(ckpt)
    photo, src, dst = big_photo()
    frames = model.animate(photo, src, [dst, src], original_frame=True)
    assert len(frames) == 2 and frames[0].size == (2 * 50, 80)


def test_missing_condition_pose_is_extracted_by_the_estimator(ckpt, tiny_people):
    calls = []

    def estimator(image):
        calls.append(image.shape)
        return pose_at(0)

    model = PoNA.from_checkpoint(ckpt, estimator=estimator)
    image = Image.open(image_path(tiny_people, 0))
    assert np.array_equal(np.asarray(model.transfer(image, None, pose_at(2))),
                          np.asarray(model.transfer(image, pose_at(0), pose_at(2))))
    assert calls == [(H, W, 3)]
    with pytest.raises(DataError, match="no person"):
        PoNA.from_checkpoint(ckpt, estimator=lambda im: None).transfer(image, None, pose_at(2))


# -- pose specs -------------------------------------------------------------------------------------

def test_pose_specs_json_csv_and_photo(tiny_people, tmp_path):
    write_pose(tmp_path / "p.json", pose_at(2), (H, W))
    assert np.array_equal(load_pose(tmp_path / "p.json").keypoints, pose_at(2))
    assert load_pose(f"{tiny_people}/synth-annotation-test.csv:{people_names(tiny_people)[3]}").keypoints.tolist() == annotated(tiny_people, 3).tolist()
    photo = load_pose(image_path(tiny_people, 1), estimator=lambda im: pose_at(1))
    assert photo.image_size == (H, W) and np.array_equal(photo.keypoints, pose_at(1))
    with pytest.raises(DataError, match="no row for image 'nope.png'"):
        load_pose(f"{tiny_people}/synth-annotation-test.csv:nope.png")
    with pytest.raises(DataError, match="no person"):
        load_pose(image_path(tiny_people, 1), estimator=lambda im: None)


def test_pose_sequences_from_a_json_list_a_folder_of_jsons_and_frames(tiny_people, tmp_path):
    poses = [Pose(pose_at(i), (H, W)).to_json() for i in range(3)]
    (tmp_path / "seq.json").write_text(json.dumps(poses))
    assert [p.keypoints.tolist() for p in load_pose_sequence(tmp_path / "seq.json")] == [pose_at(i).tolist() for i in range(3)]
    (tmp_path / "wrapped.json").write_text(json.dumps({"poses": poses[:2]}))
    assert len(load_pose_sequence(tmp_path / "wrapped.json")) == 2
    folder = tmp_path / "jsons"
    for i in (2, 0, 1):
        write_pose(folder / f"f{i:02d}.json", pose_at(i), (H, W))
    assert [p.keypoints[0, 0] for p in load_pose_sequence(folder)] == [pose_at(i)[0, 0] for i in range(3)]
    # frames: poses extracted in name order; frames without a person are skipped
    answers = iter([pose_at(0), None, pose_at(2)])
    seq = load_pose_sequence(tiny_people / "test", estimator=lambda im: next(answers, pose_at(4)))
    assert len(seq) == len(people_names(tiny_people)) - 1 and seq[1].keypoints[0, 0] == pose_at(2)[0, 0]
    (tmp_path / "bad.json").write_text('[{"keypoints": [[1, 2]]}]')
    with pytest.raises(DataError, match=r"bad.json: pose 0: 'keypoints' has shape \[1, 2\]"):
        load_pose_sequence(tmp_path / "bad.json")


# -- generate -------------------------------------------------------------------------------------

def test_generate_writes_rounded_outputs_named_from___to(ckpt, tiny_people, tmp_path):
    model = PoNA.from_checkpoint(ckpt)
    out = tmp_path / "out"
    pairs, ann = pairs_of(tiny_people), read_annotations(tiny_people / "synth-annotation-test.csv")
    n = len(pairs)
    report = generate_pairs(model, tiny_people, out, batch_size=n, workers=0, progress=False)
    assert (report.total, report.written, report.skipped) == (n, n, 0)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{a}___{b}.png" for a, b in pairs)
    # the same batch through the generator directly, rounded
    imgs = torch.stack([to_tensor(np.array(Image.open(tiny_people / "test" / a))) for a, _ in pairs])
    src = heatmaps(np.stack([ann[a] for a, _ in pairs]), H, W)
    dst = heatmaps(np.stack([ann[b] for _, b in pairs]), H, W)
    with torch.no_grad():
        fake = model.generator(imgs, src, dst)
    for i, (a, b) in enumerate(pairs):
        written = np.asarray(Image.open(out / f"{a}___{b}.png"))
        assert np.array_equal(written, to_uint8(fake[i]))
        exact = ((fake[i].clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).numpy()
        assert (np.abs(written - exact) <= 0.5 + 1e-4).all()  # rounded, not truncated: within half a level


def test_generate_resumes_and_overwrite_rewrites(ckpt, tiny_people, tmp_path):
    model = PoNA.from_checkpoint(ckpt)
    out = tmp_path / "out"
    pairs = pairs_of(tiny_people)
    generate_pairs(model, tiny_people, out, pairs=pairs[:2], workers=0, progress=False)
    first = out / f"{pairs[0][0]}___{pairs[0][1]}.png"
    os.utime(first, (1_000_000, 1_000_000))
    report = generate_pairs(model, tiny_people, out, workers=1, progress=False)  # a worker process loads the pairs
    assert (report.written, report.skipped) == (len(pairs) - 2, 2)
    assert first.stat().st_mtime == 1_000_000
    report = generate_pairs(model, tiny_people, out, overwrite=True, workers=0, progress=False)
    assert (report.written, report.skipped) == (len(pairs), 0) and first.stat().st_mtime != 1_000_000
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_generate_legacy_strips_have_five_panels(ckpt, tiny_people, tmp_path):
    model = PoNA.from_checkpoint(ckpt)
    pairs = pairs_of(tiny_people)
    a, b = pairs[0]
    png, vis = tmp_path / "out" / f"{a}___{b}.png", tmp_path / "out" / "legacy_strips" / f"{a}___{b}_vis.jpg"
    generate_pairs(model, tiny_people, tmp_path / "out", legacy_strips=True, batch_size=2, workers=0, progress=False)
    strip = np.asarray(Image.open(vis)).astype(float)
    assert strip.shape == (H, 5 * W, 3)
    w = strip.shape[1] // 5  # how the old scripts cut it
    condition = np.asarray(Image.open(tiny_people / "test" / a))
    target = np.asarray(Image.open(tiny_people / "test" / b))
    generated = np.asarray(Image.open(png))
    # JPEG is lossy (how much depends on the image: the synthetic street scenes and a random generator's
    # output are full of fine detail): each image panel is nearest to its own image of the three
    err = lambda a, b: np.abs(a - b.astype(float)).mean()  # noqa: E731
    images = {"condition": condition, "target": target, "generated": generated}
    for name, panel in (("condition", strip[:, :w]), ("target", strip[:, 2 * w:3 * w]), ("generated", strip[:, 4 * w:])):
        assert min(images, key=lambda k: err(panel, images[k])) == name, {k: err(panel, v) for k, v in images.items()}
    # a strip missing beside its PNG is made again from the PNG, which stays as it was
    vis.unlink()
    os.utime(png, (1_000_000, 1_000_000))
    report = generate_pairs(model, tiny_people, tmp_path / "out", legacy_strips=True, workers=0, progress=False)
    assert (report.written, report.strips_added, report.skipped) == (0, 1, len(pairs) - 1)
    again = np.asarray(Image.open(vis)).astype(float)
    assert np.array_equal(again, strip) and png.stat().st_mtime == 1_000_000


def test_generate_rejects_images_of_another_size(tiny_people, tmp_path):
    g = Generator(dataclasses.replace(TINY_CONFIG, image_size=(64, 32)))  # trained at another size
    with pytest.raises(DataError, match="16x32 .* trained at 32x64"):
        generate_pairs(PoNA(g), tiny_people, tmp_path / "out", workers=0, progress=False)


def test_a_failed_write_leaves_no_partial_file(ckpt, tiny_people, tmp_path, monkeypatch):
    model = PoNA.from_checkpoint(ckpt)

    def broken_save(self, fp, *args, **kwargs):
        with open(fp, "wb") as f:
            f.write(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        generate_pairs(model, tiny_people, tmp_path / "out", workers=0, progress=False)
    assert list((tmp_path / "out").iterdir()) == []


# -- animate ----------------------------------------------------------------------------------------

def test_animate_writes_a_gif_with_one_frame_per_pose(ckpt, tiny_people, tmp_path):
    model = PoNA.from_checkpoint(ckpt)
    image = Image.open(image_path(tiny_people, 0))
    frames = model.animate(image, pose_at(0), [pose_at(i) for i in range(5)], batch_size=2)
    assert len(frames) == 5 and {f.size for f in frames} == {(2 * W, H)}
    # each frame: skeleton | the same output transfer() gives
    assert np.array_equal(np.asarray(frames[3])[:, W:], np.asarray(model.transfer(image, pose_at(0), pose_at(3))))
    path = write_animation(frames, tmp_path / "a.gif", fps=5)
    with Image.open(path) as gif:
        assert gif.n_frames == 5 and gif.size == (2 * W, H) and gif.info["duration"] == 200


def test_animate_mp4_when_opencv_is_installed(ckpt, tiny_people, tmp_path):
    cv2 = pytest.importorskip("cv2")
    frames = PoNA.from_checkpoint(ckpt).animate(Image.open(image_path(tiny_people, 0)), pose_at(0),
                                               [pose_at(i) for i in range(3)])
    write_animation(frames, tmp_path / "a.mp4", fps=4)
    cap = cv2.VideoCapture(str(tmp_path / "a.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 3 and cap.get(cv2.CAP_PROP_FRAME_WIDTH) == 2 * W


def test_unknown_animation_format_is_an_error(tmp_path):
    with pytest.raises(PonaError, match="unknown animation format '.avi'"):
        write_animation([Image.new("RGB", (4, 4))], tmp_path / "a.avi")


# -- attention figure -------------------------------------------------------------------------------

def test_attention_view_rows_match_the_generator_maps(ckpt, tiny_people):
    model = PoNA.from_checkpoint(ckpt)
    cond = np.asarray(Image.open(image_path(tiny_people, 0)))
    view = visualize.attention_view(model, cond, pose_at(0), pose_at(2), point=(13, 9))
    h, w = H // 4, W // 4
    cell = 3 * w + 2  # (13 // 4, 9 // 4)
    assert view.cell == cell and len(view.blocks) == N_BLOCKS
    _, maps = model.transfer(cond, pose_at(0), pose_at(2), return_attention=True)
    for b, (self_map, cross_map) in zip(view.blocks, maps):
        assert b.pose_attention.shape == (h, w) and np.isclose(b.pose_attention.sum(), 1, atol=1e-5)
        assert np.allclose(b.pose_attention.ravel(), cross_map[0, cell].numpy())
        assert np.allclose(b.self_attention.ravel(), self_map[0, cell].numpy())
        assert b.pose_in.shape == b.image_after.shape == (h, w)
    # the hooks are gone and the output is the generator's
    assert all(not blk._forward_hooks and not blk._forward_pre_hooks for blk in model.generator.blocks)
    assert np.array_equal(np.asarray(view.output), np.asarray(model.transfer(cond, pose_at(0), pose_at(2))))


def test_attention_figure_has_one_row_per_block(ckpt, tiny_people):
    model = PoNA.from_checkpoint(ckpt)
    fig = attention_figure(model, Image.open(image_path(tiny_people, 0)), pose_at(0), pose_at(2), scale=2)
    assert fig.size == (visualize.COLUMNS * 2 * W, (1 + N_BLOCKS) * (2 * H + visualize.LABEL_HEIGHT))


def test_attention_figure_point_is_given_in_the_photo_pixels(ckpt, monkeypatch):
    model = PoNA.from_checkpoint(ckpt)
    photo, src, dst = big_photo()
    fit = model.fit_input(photo, src)[2]
    seen = []
    real = visualize.attention_view
    monkeypatch.setattr(visualize, "attention_view", lambda *a: seen.append(a[-1]) or real(*a))
    attention_figure(model, photo, src, dst, point=(40, 25), scale=1)
    assert seen == [tuple(int(round(v)) for v in fit.apply(np.array([[40.0, 25.0]]))[0])]
    with pytest.raises(PonaError, match="outside the person crop"):
        attention_figure(model, photo, src, dst, point=(79, 0), scale=1)


def test_auto_point_is_the_joint_that_moves_farthest():
    src, dst = pose_at(0), pose_at(0)
    dst[7] = (20, 14)
    assert visualize.auto_point(src, dst, (H, W)) == (20, 14)
    assert visualize.auto_point(np.full((18, 2), -1.0), dst, (H, W)) == (H // 2, W // 2)


def test_attention_figure_needs_a_pona_generator(tiny_people):
    from pona.models import PATNGenerator

    patn = PoNA(PATNGenerator(dataclasses.replace(TINY_CONFIG, arch="patn")))
    with pytest.raises(PonaError, match="PoNA generator"):
        attention_figure(patn, Image.open(image_path(tiny_people, 0)), pose_at(0), pose_at(1))


# -- ONNX -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("impl", ["explicit", "sdpa"])
def test_onnx_export_matches_pytorch_with_dynamic_batch(impl, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    g = tiny_generator()
    report = export_onnx(g, tmp_path / "g.onnx", attention=impl)
    assert report.checked and set(report.max_abs_diff) == {2, 3}
    assert max(report.max_abs_diff.values()) < 1e-4
    # independently: batch 3 through onnxruntime against the module
    sess = ort.InferenceSession(str(tmp_path / "g.onnx"))
    x, s, d = torch.rand(3, 3, H, W) * 2 - 1, torch.rand(3, 18, H, W), torch.rand(3, 18, H, W)
    got = sess.run(None, {"image": x.numpy(), "src_maps": s.numpy(), "dst_maps": d.numpy()})[0]
    with torch.no_grad():
        assert np.abs(got - g(x, s, d).numpy()).max() < 1e-4
    assert all(m.impl == "auto" for m in g.modules() if hasattr(m, "impl"))  # restored


# -- CLI --------------------------------------------------------------------------------------------

def test_cli_transfer_with_csv_poses_and_show_panel(ckpt, tiny_people, tmp_path, capsys):
    ann = tiny_people / "synth-annotation-test.csv"
    code, out, err = run(capsys, "transfer", "--checkpoint", ckpt, "--image", image_path(tiny_people, 0),
                         "--source-pose", f"{ann}:{people_names(tiny_people)[0]}", "--pose", f"{ann}:{people_names(tiny_people)[3]}",
                         "--out", tmp_path / "o.png", "--show", tmp_path / "panel.png", "--device", "cpu")
    assert code == 0, err
    # the CLI's default precision is auto, the library's fp32
    expected = PoNA.from_checkpoint(ckpt, precision="auto").transfer(Image.open(image_path(tiny_people, 0)),
                                                                     annotated(tiny_people, 0), annotated(tiny_people, 3))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o.png")), np.asarray(expected))
    assert Image.open(tmp_path / "panel.png").size == (4 * W, H)


def test_cli_precision_flag_is_used_and_refused_in_one_line(ckpt, tiny_people, tmp_path, capsys, monkeypatch):
    from pona import precision

    ann = tiny_people / "synth-annotation-test.csv"
    args = ("transfer", "--checkpoint", ckpt, "--image", image_path(tiny_people, 0), "--source-pose", f"{ann}:{people_names(tiny_people)[0]}",
            "--pose", f"{ann}:{people_names(tiny_people)[3]}", "--out", tmp_path / "o.png", "--device", "cpu")
    code, _, err = run(capsys, *args, "--precision", "fp32")
    assert code == 0, err
    expected = PoNA.from_checkpoint(ckpt, precision="fp32").transfer(Image.open(image_path(tiny_people, 0)),
                                                                     annotated(tiny_people, 0), annotated(tiny_people, 3))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o.png")), np.asarray(expected))
    code, _, err = run(capsys, *args, "--precision", "fp16")
    assert code == 2 and "fp16 runs only on CUDA" in err and err.count("\n") == 1
    monkeypatch.setattr(precision, "cpu_features", lambda: frozenset({"avx2"}))
    code, _, err = run(capsys, *args, "--precision", "bf16")
    assert code == 2 and "no AVX512-BF16 or AMX units" in err and err.count("\n") == 1
    code, _, err = run(capsys, *args, "--precision", "fp8")
    assert code == 2 and "'fp8' is not one of 'auto', 'fp32', 'bf16', 'fp16'" in err


def test_generate_pairs_runs_in_the_models_precision(ckpt, tiny_people, tmp_path):
    from pona.precision import Precision

    bf16 = PoNA.from_checkpoint(ckpt, precision=Precision("bf16", torch.bfloat16, True, "test"))
    (first,) = pairs_of(tiny_people)[:1]
    generate_pairs(bf16, tiny_people, tmp_path / "bf16", pairs=[first], workers=0, progress=False)
    generate_pairs(PoNA.from_checkpoint(ckpt), tiny_people, tmp_path / "fp32", pairs=[first], workers=0, progress=False)
    a, b = (np.asarray(Image.open(tmp_path / d / f"{first[0]}___{first[1]}.png"), dtype=int) for d in ("bf16", "fp32"))
    assert not np.array_equal(a, b) and np.abs(a - b).max() <= 8  # bf16 ran, and stayed close


def test_cli_transfer_with_poses_extracted_from_photos(ckpt, tiny_people, tmp_path, capsys, monkeypatch):
    from pona.inference import poses

    photo, src, dst = big_photo()
    Image.fromarray(photo).save(tmp_path / "person.png")
    Image.fromarray(photo[::-1].copy()).save(tmp_path / "target.png")  # another photo: its pose is dst
    answers = {photo.tobytes(): src, photo[::-1].tobytes(): dst}
    monkeypatch.setattr(poses, "default_estimator", lambda name="mediapipe": lambda im: answers[im.tobytes()])
    code, out, err = run(capsys, "transfer", "--checkpoint", ckpt, "--image", tmp_path / "person.png",
                         "--pose", tmp_path / "target.png", "--out", tmp_path / "o.png", "--original-frame",
                         "--target-frame", "own")
    assert code == 0, err
    assert Image.open(tmp_path / "o.png").size == (50, 80)
    model = PoNA.from_checkpoint(ckpt, precision="auto")
    expected = model.transfer(photo, src, Pose(dst, (80, 50)), original_frame=True, target_frame="own")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o.png")), np.asarray(expected))


def test_cli_generate_then_resume(ckpt, tiny_people, tmp_path, capsys):
    args = ("generate", "--checkpoint", ckpt, "--data", tiny_people, "--out", tmp_path / "out", "--workers", "0",
            "--batch-size", "3", "--legacy-strips")
    n = len(pairs_of(tiny_people))
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert f"{n} pairs written, 0 already there (of {n})" in out
    assert len(list((tmp_path / "out" / "legacy_strips").glob("*_vis.jpg"))) == n
    assert len([p for p in (tmp_path / "out").iterdir() if p.is_file()]) == n  # only the PNGs beside the folder
    code, out, _ = run(capsys, *args)
    assert f"0 pairs written, {n} already there" in out


def test_cli_animate_from_a_folder_of_pose_jsons(ckpt, tiny_people, tmp_path, capsys):
    for i in range(4):
        write_pose(tmp_path / "seq" / f"{i:03d}.json", pose_at(i), (H, W))
    code, out, err = run(capsys, "animate", "--checkpoint", ckpt, "--image", image_path(tiny_people, 0),
                         "--source-pose", f"{tiny_people}/synth-annotation-test.csv:{people_names(tiny_people)[0]}", "--poses", tmp_path / "seq",
                         "--out", tmp_path / "a.gif", "--fps", "10")
    assert code == 0, err
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == 4 and gif.size == (2 * W, H)


def test_cli_visualize_attention_and_bad_point(ckpt, tiny_people, tmp_path, capsys):
    ann = tiny_people / "synth-annotation-test.csv"
    base = ("visualize-attention", "--checkpoint", ckpt, "--image", image_path(tiny_people, 0),
            "--source-pose", f"{ann}:{people_names(tiny_people)[0]}", "--pose", f"{ann}:{people_names(tiny_people)[2]}", "--out", tmp_path / "att.png")
    code, out, err = run(capsys, *base, "--point", "10,5", "--scale", "1")
    assert code == 0, err
    assert Image.open(tmp_path / "att.png").size == (visualize.COLUMNS * W, (1 + N_BLOCKS) * (H + visualize.LABEL_HEIGHT))
    code, _, err = run(capsys, *base, "--point", "10")
    assert code == 2 and "y,x" in err
    code, _, err = run(capsys, *base, "--point", "99,5")
    assert code == 2 and err.startswith("error: ") and "outside" in err


def test_cli_export_reports_the_difference(ckpt, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    code, out, err = run(capsys, "export", "--checkpoint", ckpt, "--format", "onnx", "--out", tmp_path / "g.onnx")
    assert code == 0, err
    assert "max abs diff: batch 2:" in out and (tmp_path / "g.onnx").is_file()


def test_cli_pose_errors_are_one_line(ckpt, tiny_people, tmp_path, capsys):
    code, _, err = run(capsys, "transfer", "--checkpoint", ckpt, "--image", image_path(tiny_people, 0),
                       "--source-pose", f"{tiny_people}/synth-annotation-test.csv:{people_names(tiny_people)[0]}", "--pose", tmp_path / "none.json",
                       "--out", tmp_path / "o.png")
    assert code == 2 and "none.json: pose file not found" in err and err.count("\n") == 1


def test_written_files_get_the_usual_permissions_not_mkstemps_0600(ckpt, tiny_people, tmp_path):
    old = os.umask(0o022)
    try:
        first = pairs_of(tiny_people)[0]
        generate_pairs(PoNA.from_checkpoint(ckpt), tiny_people, tmp_path / "out", pairs=[first], workers=0, progress=False)
    finally:
        os.umask(old)
    assert (tmp_path / "out" / f"{first[0]}___{first[1]}.png").stat().st_mode & 0o777 == 0o644
