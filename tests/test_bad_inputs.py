"""Bad input on the command line (issue 14): each case exits 2 with exactly one line, ``error: ...``,
and leaves every file the user made as it was. Then the cases where pona must recover or refuse
instead of failing: damaged training states, a locked or reused run directory, --overwrite,
truncated outputs, 16-bit images, output formats.

Tiny data only: the tests' tiny world (conftest: the synthetic people at 32x16, the tiny generator).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import TINY_CONFIG, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_TRAIN = ["optim.constant_iterations=2", "optim.decay_iterations=0", "run.val_every=0",
              "run.checkpoint_every=1", "run.keep_last=3"]


@pytest.fixture(scope="module")
def checkpoint_file(tmp_path_factory):
    from pona.models import build_generator
    from pona.models.io import save_generator

    path = tmp_path_factory.mktemp("ckpt") / "g.safetensors"
    save_generator(build_generator(TINY_CONFIG), path)
    return path


def _with_header(src: Path, dst: Path, change) -> Path:
    """A copy of checkpoint ``src`` whose header metadata went through ``change(meta)``."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
    change(meta)
    save_file(load_file(str(src)), str(dst), metadata=meta)
    return dst


@pytest.fixture
def ws(tmp_path, tiny_people, checkpoint_file, monkeypatch):
    """A user's folder: a photo, a binary file posing as a config, broken checkpoints; cwd."""
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (16, 32), (200, 30, 30)).save("photo.png")
    Path("binary.yaml").write_bytes(b"\xff\xfe\x00model: {}")
    Path("notes.txt").write_text("mine\n")
    # a good target pose: the inputs are read before the model loads, so a checkpoint case needs them right
    Path("pose.json").write_text(json.dumps({"image_size": [32, 16], "keypoints": [[4 + j, 8] for j in range(18)]}))
    Path("strings.json").write_text(json.dumps({"image_size": [32, 16], "keypoints": [["4", "8"]] * 18}))
    Path("empty.yaml").write_text("")
    Image.new("RGB", (16, 32), (200, 30, 30)).save("photo.gif")
    Path("myrun").mkdir()  # a training run of the user's
    Path("myrun/config.yaml").write_text("model: {}\n")

    def drop(meta):
        del meta["config"]

    def not_json(meta):
        meta["config"] = "{ngf: 8"

    def huge(meta):
        meta["config"] = json.dumps({**json.loads(meta["config"]), "ngf": 100000})

    _with_header(checkpoint_file, tmp_path / "noconfig.safetensors", drop)
    _with_header(checkpoint_file, tmp_path / "notjson.safetensors", not_json)
    _with_header(checkpoint_file, tmp_path / "huge.safetensors", huge)
    return {"dir": tmp_path, "data": str(tiny_people), "ckpt": str(checkpoint_file)}


def snapshot(*roots) -> dict:
    """path -> sha256 of every file under ``roots``."""
    out = {}
    for root in roots:
        for p in sorted(Path(root).rglob("*")):
            if p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def assert_one_error_line(code, out, err, *needles):
    lines = err.splitlines()
    assert code == 2, (code, out, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def transfer(ckpt, *extra):
    return ["transfer", "--checkpoint", ckpt, "--device", "cpu", "--image", "photo.png", "--pose", "pose.json", *extra]


def train(data, *extra):
    return ["train", "--config", "synth-tiny", "--data", data, *extra]


# (id, args from the workspace, words the error line must hold)
CASES = [
    # sizes
    ("smoke-0x0", lambda w: ["smoke", "--size", "0x0"], ["--size", "positive"]),
    ("smoke-7x5", lambda w: ["smoke", "--size", "7x5"], ["--size", "multiples of 4"]),
    ("smoke-negative", lambda w: ["smoke", "--size", "-8x-8"], ["--size", "positive"]),
    ("smoke-huge", lambda w: ["smoke", "--size", "100000x100000"], ["--size", "at most"]),
    ("bench-7x5", lambda w: ["bench", "--sizes", "7x5"], ["--sizes", "multiples of 4"]),
    # an output under a file
    ("transfer-out-under-file", lambda w: transfer(w["ckpt"], "--out", "photo.png/x.png"), ["--out", "not a folder"]),
    ("train-out-under-file", lambda w: train(w["data"], "--out", "photo.png/run"), ["--out", "not a folder"]),
    ("export-out-under-file", lambda w: ["export", "--checkpoint", w["ckpt"], "--out", "photo.png/m.onnx"], ["--out"]),
    ("synth-out-under-file", lambda w: ["data", "synth", "photo.png/ds"], ["OUT", "not a folder"]),
    ("evaluate-json-under-file", lambda w: ["evaluate", "--generated", ".", "--data", w["data"], "--json", "photo.png/r.json"],
     ["--json", "not a folder"]),
    ("generate-out-under-file", lambda w: ["generate", "--checkpoint", w["ckpt"], "--device", "cpu", "--data", w["data"],
                                           "--out", "photo.png/gen"], ["--out"]),
    ("pose-out-under-file", lambda w: ["pose", "photo.png", "--out", "photo.png/x.png"], ["--out"]),
    # an output nobody can write
    ("transfer-out-proc", lambda w: transfer(w["ckpt"], "--out", "/proc/pona-test/x.png"), ["--out", "cannot write"]),
    ("train-out-proc", lambda w: train(w["data"], "--out", "/proc/pona-test/run"), ["--out", "cannot write"]),
    ("synth-out-proc", lambda w: ["data", "synth", "/proc/pona-test"], ["OUT", "cannot write"]),
    # an extension pona does not write
    ("transfer-out-json", lambda w: transfer(w["ckpt"], "--out", "x.json"), ["--out", ".png"]),
    ("transfer-show-txt", lambda w: transfer(w["ckpt"], "--out", "x.png", "--show", "panel.txt"), ["--show"]),
    ("pose-out-json", lambda w: ["pose", "photo.png", "--out", "x.json"], ["--out", ".jpg"]),
    ("pose-json-png", lambda w: ["pose", "photo.png", "--json", "p.png"], ["--json", ".json"]),
    ("export-out-txt", lambda w: ["export", "--checkpoint", w["ckpt"], "--out", "m.txt"], ["--out", ".onnx"]),
    ("evaluate-json-png", lambda w: ["evaluate", "--generated", ".", "--data", w["data"], "--json", "p.png"], ["--json"]),
    ("synth-montage-txt", lambda w: ["data", "synth", "ds", "--montage", "m.txt"], ["--montage"]),
    ("bench-out-png", lambda w: ["bench", "--out", "b.png"], ["--out", ".json"]),
    ("convert-out-txt", lambda w: ["convert-checkpoint", "photo.png", "g.txt"], ["OUT", ".safetensors"]),
    ("from-photos-out-is-input", lambda w: ["data", "from-photos", ".", "."], ["is the photo folder"]),
    ("from-photos-into-a-dataset", lambda w: ["data", "from-photos", ".", w["data"], "--split", "train"],
     ["already holds a dataset", "synth-annotation-train.csv"]),
    # input == output
    ("transfer-overwrites-image", lambda w: transfer(w["ckpt"], "--out", "photo.png"), ["--out", "is the input"]),
    ("animate-overwrites-image", lambda w: ["animate", "--checkpoint", w["ckpt"], "--device", "cpu", "--image", "photo.gif",
                                            "--poses", "pose.json", "--out", "photo.gif"], ["--out", "is the input --image"]),
    ("pose-show-overwrites-on", lambda w: ["pose", "show", "pose.json", "--on", "photo.png", "--out", "photo.png"],
     ["--out", "is the input --on"]),
    ("pose-convert-overwrites-source", lambda w: ["pose", "convert", "pose.json", "pose.json", "--to", "openpose"],
     ["OUT", "is the input SOURCE"]),
    # outputs inside the user's dataset or run: the next reader would take them for data
    ("train-out-inside-data", lambda w: train(w["data"], "--out", str(Path(w["data"]) / "train")),
     ["--out", "inside the dataset"]),
    ("generate-into-data", lambda w: ["generate", "--checkpoint", w["ckpt"], "--device", "cpu", "--data", w["data"],
                                      "--out", str(Path(w["data"]) / "test")], ["--out", "the dataset"]),
    ("copy-baseline-into-data", lambda w: ["evaluate", "--copy-baseline", "--generated", str(Path(w["data"]) / "test"),
                                           "--data", w["data"], "--estimator", "none", "--offline"],
     ["--generated", "the dataset"]),
    ("synth-into-a-run", lambda w: ["data", "synth", "myrun"], ["OUT", "training run"]),
    ("from-photos-into-a-run", lambda w: ["data", "from-photos", ".", "myrun"], ["OUT_DIR", "training run"]),
    ("from-photos-size-huge", lambda w: ["data", "from-photos", ".", "ds", "--size", "100000x100000"], ["--size", "at most"]),
    # configs
    ("binary-config", lambda w: train(w["data"], "--config", "binary.yaml"), ["binary.yaml", "UTF-8"]),
    ("lr-nan", lambda w: train(w["data"], "--print-config", "optim.lr=nan"), ["optim.lr", "finite"]),
    ("lr-inf", lambda w: train(w["data"], "--print-config", "optim.lr=inf"), ["optim.lr", "finite"]),
    ("print-config-huge-model", lambda w: train(w["data"], "--print-config", "model.ngf=100000"), ["ngf=100000", "GiB"]),
    ("print-config-tpu", lambda w: train(w["data"], "--print-config", "run.device=tpu"), ["run.device", "tpu"]),
    ("empty-config", lambda w: train(w["data"], "--config", "empty.yaml"), ["empty.yaml", "empty"]),
    ("demo-bad-override", lambda w: ["demo", "--out", "d", "optim.lr=nan"], ["optim.lr", "finite"]),
    ("train-out-is-data", lambda w: train(w["data"], "--out", w["data"]), ["dataset directory"]),
    # checkpoints
    ("info-no-config", lambda w: ["info", "noconfig.safetensors"], ["noconfig.safetensors", "no generator config"]),
    ("info-config-not-json", lambda w: ["info", "notjson.safetensors"], ["notjson.safetensors", "not JSON"]),
    ("info-huge", lambda w: ["info", "huge.safetensors"], ["huge.safetensors", "GiB"]),
    ("transfer-no-config", lambda w: transfer("noconfig.safetensors", "--out", "x.png"), ["no generator config"]),
    ("transfer-huge", lambda w: transfer("huge.safetensors", "--out", "x.png"), ["ngf=100000"]),
    ("train-huge-model", lambda w: train(w["data"], "--out", "run", "model.ngf=100000"), ["ngf=100000", "GiB"]),
    # devices
    ("transfer-tpu", lambda w: transfer(w["ckpt"], "--out", "x.png", "--device", "tpu"), ["--device", "tpu"]),
    ("train-tpu", lambda w: train(w["data"], "--out", "run", "run.device=tpu"), ["run.device", "tpu"]),
    ("serve-tpu", lambda w: ["serve", "--checkpoint", w["ckpt"], "--device", "tpu"], ["tpu"]),
    ("serve-host-unresolvable", lambda w: ["serve", "--checkpoint", w["ckpt"], "--host", "no such host!", "--port", "0"],
     ["--host", "no such host!"]),
    # inputs are checked before the model loads (no log line before the error)
    ("attention-point-outside", lambda w: ["visualize-attention", "--checkpoint", w["ckpt"], "--device", "cpu", "--image",
                                           "photo.png", "--pose", "pose.json", "--source-pose", "pose.json",
                                           "--out", "x.png", "--point", "999,999"], ["--point", "outside"]),
    ("transfer-strings-as-coordinates", lambda w: transfer(w["ckpt"], "--out", "x.png", "--pose", "strings.json"),
     ["strings.json", "number pairs"]),
    # options that were silently ignored
    ("evaluate-estimator-bogus", lambda w: ["evaluate", "--generated", ".", "--data", w["data"], "--estimator", "bogus"],
     ["--estimator", "bogus"]),
]
if not torch.cuda.is_available():
    CASES += [
        ("transfer-cuda", lambda w: transfer(w["ckpt"], "--out", "x.png", "--device", "cuda"), ["--device", "CUDA"]),
        ("train-cuda", lambda w: train(w["data"], "--out", "run", "run.device=cuda"), ["run.device", "CUDA"]),
    ]


@pytest.mark.parametrize("make_args,needles", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(ws, capsys, make_args, needles):
    before = snapshot(ws["dir"], ws["data"])
    code, out, err = run_cli(capsys, *make_args(ws))
    assert_one_error_line(code, out, err, *needles)
    assert snapshot(ws["dir"], ws["data"]) == before  # nothing changed, nothing left behind


def test_bench_batches_below_one_is_a_usage_error(capsys):
    code, _, err = run_cli(capsys, "bench", "--batches", "0")
    assert code == 2 and "--batches" in err and ">= 1" in err and "Traceback" not in err


def test_serve_on_a_port_in_use_is_one_line(ws, capsys):
    import socket

    pytest.importorskip("uvicorn")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, out, err = run_cli(capsys, "serve", "--checkpoint", ws["ckpt"], "--port", str(port))
    assert_one_error_line(code, out, err, f"--port {port}")
    assert out == ""  # no banner


# -- training: damaged states, the run directory ------------------------------------------------

@pytest.fixture
def run(tmp_path, tiny_people, capsys):
    """A finished 2-iteration run (states at iterations 1 and 2), with a user's files inside it."""
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *train(str(tiny_people), "--out", str(out), *TINY_TRAIN))
    assert code == 0, err
    (out / "samples").mkdir(exist_ok=True)
    (out / "samples" / "my-favourite.png").write_bytes(b"user")
    (out / "checkpoints" / "README.txt").write_text("my notes\n")
    (out / "notes.md").write_text("mine\n")
    return out


def _states(run):
    return sorted(p.name for p in (run / "checkpoints").glob("state-*.pt"))


def test_resume_falls_back_when_the_newest_state_lacks_keys(run, capsys, caplog):
    from pona.train import checkpoint

    newest = run / "checkpoints" / _states(run)[-1]
    state = torch.load(newest, weights_only=True)
    del state["optimizers"]
    torch.save(state, newest)
    code, out, err = run_cli(capsys, "train", "--out", str(run), "--resume", "optim.constant_iterations=3")
    assert code == 0, err
    assert "stopped at iteration 3" in out
    assert any("missing optimizers" in r.getMessage() for r in caplog.records)
    assert checkpoint.load_latest(run / "checkpoints")["iteration"] == 3


def test_all_checkpoints_damaged_is_one_line(run, capsys):
    for name in _states(run):
        (run / "checkpoints" / name).write_bytes(b"damaged")
    before = snapshot(run)
    code, out, err = run_cli(capsys, "train", "--out", str(run), "--resume")
    assert_one_error_line(code, out, err, "no readable training state")
    assert snapshot(run) == before


def test_overwrite_deletes_only_pona_files(run, tiny_people, capsys):
    old = set(_states(run))
    code, _, err = run_cli(capsys, *train(str(tiny_people), "--out", str(run)))
    assert_one_error_line(code, "", err, "--overwrite")  # without it: refused, as before
    code, _, err = run_cli(capsys, *train(str(tiny_people), "--out", str(run), "--overwrite", "optim.constant_iterations=1",
                                          "optim.decay_iterations=0", "run.val_every=0"))
    assert code == 0, err
    assert (run / "samples" / "my-favourite.png").read_bytes() == b"user"
    assert (run / "checkpoints" / "README.txt").read_text() == "my notes\n"
    assert (run / "notes.md").read_text() == "mine\n"
    assert set(_states(run)) == {"state-00000001.pt"} and old != {"state-00000001.pt"}


def test_stale_temporaries_are_removed_at_the_next_start(run, capsys):
    stale = run / "checkpoints" / ".state-00000003.pt.abc123.tmp"
    stale.write_bytes(b"half a state")
    theirs = run / "checkpoints" / ".my-editor-swap.tmp"  # not a name pona writes: kept
    theirs.write_bytes(b"x")
    code, _, err = run_cli(capsys, "train", "--out", str(run), "--resume", "optim.constant_iterations=3")
    assert code == 0, err
    assert not stale.exists() and theirs.exists()


def test_a_second_training_into_a_locked_run_is_refused(run, capsys):
    import subprocess
    import sys

    from pona.train.rundir import LOCK_FILE

    # a live process that is not this one holds the lock
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / LOCK_FILE).write_text(f"{holder.pid}\n")
        before = snapshot(run)
        code, out, err = run_cli(capsys, "train", "--out", str(run), "--resume", "optim.constant_iterations=3")
        assert_one_error_line(code, out, err, "in use by another training process", str(holder.pid))
        assert snapshot(run) == before
    finally:
        holder.kill()
        holder.wait()
    # its pid is gone now: the lock is stale and taken over
    code, _, err = run_cli(capsys, "train", "--out", str(run), "--resume", "optim.constant_iterations=3")
    assert code == 0, err
    assert not (run / LOCK_FILE).exists()  # released at the end


def test_a_worker_data_error_is_one_line(tmp_path, tiny_people, capsys):
    data = Path(shutil.copytree(tiny_people, tmp_path / "data"))  # a copy: this test damages an image
    image = next((data / "train").glob("*.png"))
    image.write_bytes(image.read_bytes()[:40])  # cut short: only a worker decodes it
    code, out, err = run_cli(capsys, *train(str(data), "--out", str(tmp_path / "run"), *TINY_TRAIN,
                                            "data.num_workers=1", "data.validate=false"))
    assert_one_error_line(code, out, err, image.name, "cannot read image")
    assert "Traceback" not in err


# -- outputs and images -------------------------------------------------------------------------

def test_generate_resume_redoes_a_truncated_output(tmp_path, tiny_people, checkpoint_file, capsys):
    out = tmp_path / "gen"
    args = ["generate", "--checkpoint", str(checkpoint_file), "--device", "cpu", "--data", str(tiny_people),
            "--out", str(out), "--workers", "0"]
    code, stdout, err = run_cli(capsys, *args)
    assert code == 0, err
    first = sorted(out.glob("*.png"))[0]
    first.write_bytes(first.read_bytes()[:60])
    code, stdout, err = run_cli(capsys, *args)
    assert code == 0, err
    assert ": 1 pairs written" in stdout
    with Image.open(first) as im:
        im.load()


@pytest.mark.parametrize("suffix,fmt", [(".png", "PNG"), (".jpg", "JPEG"), (".JPEG", "JPEG")])
def test_images_are_written_in_the_format_their_extension_names(tmp_path, suffix, fmt):
    from pona.fileio import save_image

    path = save_image(Image.new("RGBA", (8, 8), (1, 2, 3, 4)), tmp_path / f"x{suffix}")
    with Image.open(path) as im:
        assert im.format == fmt


def test_a_16_bit_grey_png_is_read_as_its_grey_levels(tmp_path):
    from pona.data.dataset import load_image
    from pona.data.fit import read_photo

    ramp = np.linspace(0, 65535, 32 * 16).reshape(32, 16).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    for read in (read_photo, load_image):
        rgb = read(tmp_path / "g16.png")
        assert rgb.shape == (32, 16, 3) and rgb.dtype == np.uint8
        assert rgb[0, 0, 0] == 0 and rgb[-1, -1, 0] == 255 and abs(rgb.mean() - 127.5) < 1


@pytest.mark.parametrize("mode", ["I", "F", "LA", "P", "CMYK", "1"])
def test_every_image_mode_reads_as_rgb(mode):
    from pona.data.dataset import rgb_array

    values = {"I": 65535, "F": 1.0, "LA": (255, 255), "P": 0, "CMYK": (0, 0, 0, 0), "1": 1}
    rgb = rgb_array(Image.new(mode, (4, 2), values[mode]))
    assert rgb.shape == (2, 4, 3) and rgb.dtype == np.uint8
    if mode in ("I", "F", "LA", "CMYK", "1"):
        assert (rgb == 255).all(), mode


def test_exif_orientation_applies_to_16_bit_photos(tmp_path):
    from pona.data.fit import read_photo

    im = Image.fromarray(np.zeros((8, 4), np.uint16))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees: an 8x4 (HxW) file shows 4x8
    im.save(tmp_path / "rot.png", exif=exif)
    assert read_photo(tmp_path / "rot.png").shape == (4, 8, 3)


def test_a_worker_error_message_is_unwrapped_to_its_own_line():
    from torch._utils import ExceptionWrapper

    from pona.cli import one_line
    from pona.errors import DataError

    try:
        raise DataError("a.png: cannot read image: truncated")
    except DataError:
        wrapped = ExceptionWrapper(where="in DataLoader worker process 0")
    with pytest.raises(DataError) as caught:
        wrapped.reraise()
    assert "Traceback" in str(caught.value)
    assert one_line(caught.value) == "a.png: cannot read image: truncated"


def test_the_web_upload_decoder_reads_16_bit_grey_too():
    import io

    pytest.importorskip("starlette")
    from pona.web.uploads import UploadLimits, decode_image

    buf = io.BytesIO()
    Image.fromarray(np.full((8, 4), 32896, np.uint16)).save(buf, format="PNG")  # 32896 / 257 = 128
    assert (decode_image(buf.getvalue(), UploadLimits()) == 128).all()


def test_from_photos_does_not_read_its_own_output_inside_the_photo_folder(tmp_path):
    from pona.data.photos import from_photos

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (40, 80), (90, 90, 90)).save(photos / "alice.png")
    Image.new("RGB", (40, 80), (90, 90, 90)).save(photos / "bob.png")

    def estimator(image):  # a standing person in the middle of any photo
        h, w = image.shape[:2]
        return np.array([[h * (0.1 + 0.8 * j / 17), w / 2] for j in range(18)])

    for _ in range(2):  # the second run must not find the first run's images in photos/out/test
        summary = from_photos(photos, photos / "out", (32, 16), estimator)
        assert summary.images == 2 and sorted(summary.people) == ["alice", "bob"]


@pytest.mark.parametrize("deep", [False, True])
def test_data_check_finds_images_cut_short(tmp_path, tiny_people, capsys, deep):
    data = Path(shutil.copytree(tiny_people, tmp_path / "data"))  # a copy: this test damages an image
    png = next((data / "train").glob("*.png"))
    png.write_bytes(png.read_bytes()[:-20])  # the header and the size are intact
    code, out, _ = run_cli(capsys, "data", "check", str(data), *(["--deep"] if deep else []))
    assert code == 2 and png.name in out


def test_a_jpeg_cut_short_is_found_and_a_whole_one_passes(tmp_path):
    from pona.data.validate import _image_size

    noise = np.random.default_rng(0).integers(0, 256, (128, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "a.jpg", quality=90)
    whole = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "padded.jpg").write_bytes(whole + b"\x00" * 16)  # some cameras pad after the end marker
    (tmp_path / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    assert _image_size(tmp_path / "a.jpg") == (128, 64) and _image_size(tmp_path / "padded.jpg") == (128, 64)
    assert "cut short" in _image_size(tmp_path / "cut.jpg")


def test_the_whole_bad_input_catalogue_is_refused_cleanly(tmp_path):
    """benchmarks/bad_inputs.py, the broader catalogue of issue 14 (600+ command lines, ~10 s
    in-process): no traceback, no wrong success, no lost file, no refusal longer than one line."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bad_inputs.py"
    r = subprocess.run([sys.executable, str(script), "--json", str(tmp_path / "cases.json")],
                       capture_output=True, text=True, timeout=900)
    results = json.loads((tmp_path / "cases.json").read_text())
    outcomes = {c["outcome"] for c in results}
    assert r.returncode == 0 and outcomes <= {"error", "usage", "report"}, r.stdout[-4000:]
    assert len(results) >= 600 and {"error", "usage", "report"} <= outcomes
