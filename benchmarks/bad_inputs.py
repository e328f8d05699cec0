"""Rerun the bad-input table of issue 14: a catalogue of bad command lines over every ``pona``
command, each run against a tiny workspace of a user's files, and the count of what happened.

    python benchmarks/bad_inputs.py                       # in-process (fast), prints the table
    python benchmarks/bad_inputs.py --json cases.json     # also every case's result
    python benchmarks/bad_inputs.py --subprocess --every 10   # every 10th case as a real `pona` process
    python benchmarks/bad_inputs.py --compare --every 10  # both ways; lists the cases they disagree on

Outcomes: ``error`` (exit 2, exactly one stderr line ``error: ...``), ``usage`` (a click usage
error, exit 2), ``report`` (``pona data check``'s problem report, exit 2: what that command is
for), ``unclear`` (exit 2, but not one line), ``traceback`` (a Python traceback, or an exit code
other than 0 and 2), ``wrong success`` (exit 0 on a bad input), ``timeout`` (still running after
--timeout seconds), ``data lost`` (a file the workspace held before the case changed or vanished;
sha256 before and after). The goal: no traceback, no wrong success, no data lost.

The cases are generated as tables of defect kinds x the commands that take that kind of argument
(pose files, output paths, checkpoints, configs, devices, datasets, sizes), plus run-directory and
shared-output cases; the workspace is rebuilt from a pristine copy after any case that touched it.
Cases that would train if wrongly accepted use tiny iteration counts.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

OUTCOMES = ("error", "usage", "report", "unclear", "traceback", "wrong success", "timeout", "data lost")
PROBLEMS = ("unclear", "traceback", "wrong success", "timeout", "data lost")
TINY_TRAIN = ("optim.constant_iterations=1", "optim.decay_iterations=0", "run.val_every=0", "run.checkpoint_every=1")


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    expect: str = "error"  # "report": pona data check answers a bad dataset with its report


@dataclass
class Result:
    id: str
    command: str
    outcome: str
    code: int | None
    seconds: float
    stdout: str
    stderr: str
    lost: list[str]


# -- the workspace: a user's folder -------------------------------------------------------------

def _pose_json(keypoints, size=(32, 16)) -> str:
    return json.dumps({"format": "pona-pose", "image_size": list(size), "keypoints": keypoints})


GOOD_KP = [[4 + j, 8] for j in range(18)]  # a standing stick figure inside 32x16

# name -> file content (str or bytes); every one is a bad pose file
BAD_POSES = {
    "utf8.json": b'{"keypoints": [[1, 2]]}\xff',
    "nested.json": "[" * 100_000 + "]" * 100_000,
    "bignum.json": '{"image_size": [32, 16], "keypoints": [[' + "9" * 5000 + ", 1]]}",
    "huge-size.json": _pose_json(GOOD_KP, (10**9, 10**9)),
    "bool-size.json": _pose_json(GOOD_KP, (True, True)),
    "zero-size.json": _pose_json(GOOD_KP, (0, 0)),
    "negative-size.json": _pose_json(GOOD_KP, (-32, -16)),
    "string-size.json": _pose_json(GOOD_KP, ("32", "16")),
    "float-overflow.json": _pose_json([[1e308, 8]] + GOOD_KP[1:]),
    "string-coords.json": _pose_json([["4", "8"]] + GOOD_KP[1:]),
    "bool-coords.json": _pose_json([[True, False]] + GOOD_KP[1:]),
    "null-coords.json": _pose_json([[None, None]] + GOOD_KP[1:]),
    "outside.json": _pose_json([[500 + j, 900] for j in range(18)]),
    "all-missing.json": _pose_json([[-1, -1]] * 18),
    "swapped.json": _pose_json([[8, 4 + j] for j in range(18)]),  # x up to 21 in a 16-wide image
    "half-missing.json": _pose_json([[-1, 35]] + GOOD_KP[1:]),
    "negative.json": _pose_json([[-7, -1]] + GOOD_KP[1:]),
    "nan.json": '{"image_size": [32, 16], "keypoints": [[NaN, 1]' + ", [1, 1]" * 17 + "]}",
    "17-joints.json": _pose_json(GOOD_KP[:17]),
    "3-coords.json": _pose_json([[1, 2, 3]] * 18),
    "no-keypoints.json": json.dumps({"format": "pona-pose", "image_size": [32, 16]}),
    "empty.json": "",
    "truncated.json": _pose_json(GOOD_KP)[:40],
    "null.json": "null",
    "empty-list.json": "[]",
    "openpose-short.json": json.dumps({"people": [{"pose_keypoints_2d": [1, 2, 0.9] * 5}]}),
    "coco-bad.json": json.dumps({"annotations": [{"keypoints": ["a"] * 51}]}),
    "pose-dir": None,     # a folder
    "missing.json": None,  # not written
}


def _write_bad_poses(ws: Path) -> None:
    poses = ws / "poses"
    poses.mkdir()
    for name, content in BAD_POSES.items():
        if name == "pose-dir":
            (poses / name).mkdir()
            (poses / name / "readme.txt").write_text("not a pose\n")
        elif content is not None:
            (poses / name).write_bytes(content if isinstance(content, bytes) else content.encode())


def _tiny_generator(path: Path) -> None:
    from pona.models import GeneratorConfig, build_generator
    from pona.models.io import save_generator

    save_generator(build_generator(GeneratorConfig(ngf=8, n_blocks=1, image_size=(32, 16))), path)


def _edit_header(path: Path, change: dict) -> None:
    """Rewrite checkpoint ``path``'s header metadata: key -> new value, or None to drop it."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
    for key, value in change.items():
        if value is None:
            del meta[key]
        else:
            meta[key] = value
    save_file(load_file(str(path)), str(path), metadata=meta)


def _write_bad_checkpoints(ws: Path) -> None:
    ck = ws / "ckpt"
    ck.mkdir()
    good = (ws / "g.safetensors").read_bytes()
    for name in ("noconfig", "notjson", "huge", "negative-ngf"):
        shutil.copy(ws / "g.safetensors", ck / f"{name}.safetensors")
    _edit_header(ck / "noconfig.safetensors", {"config": None})
    _edit_header(ck / "notjson.safetensors", {"config": "{ngf: 8"})
    config = json.loads(_header_config(ws / "g.safetensors"))
    _edit_header(ck / "huge.safetensors", {"config": json.dumps({**config, "ngf": 100000})})
    _edit_header(ck / "negative-ngf.safetensors", {"config": json.dumps({**config, "ngf": -8})})
    (ck / "truncated.safetensors").write_bytes(good[: len(good) // 2])
    (ck / "png.safetensors").write_bytes((ws / "photo.png").read_bytes())
    (ck / "text.safetensors").write_text("hello\n")
    (ck / "empty.safetensors").write_bytes(b"")
    (ck / "empty-run").mkdir()
    (ck / "released.pth").write_text("not a pickle\n")
    (ck / "released-truncated.pth").write_bytes(b"PK\x03\x04" + good[:100])


def _header_config(path: Path) -> str:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return f.metadata()["config"]


def _write_bad_configs(ws: Path) -> None:
    cfg = ws / "configs"
    cfg.mkdir()
    (cfg / "binary.yaml").write_bytes(b"\xff\xfe\x00model: {}")
    (cfg / "list.yaml").write_text("- 1\n- 2\n")
    (cfg / "unknown-key.yaml").write_text("base: synth-tiny\nmodel:\n  colour: blue\n")
    (cfg / "syntax.yaml").write_text("base: synth-tiny\nmodel: {ngf: 8\n")
    (cfg / "empty.yaml").write_text("")
    (cfg / "nan-lr.yaml").write_text("base: synth-tiny\noptim:\n  lr: .nan\n")
    (cfg / "bad-base.yaml").write_text("base: no-such-preset\n")
    (cfg / "string-ngf.yaml").write_text("base: synth-tiny\nmodel:\n  ngf: eight\n")


# name -> function(dataset folder, split) making one defect in that split of a copy of the dataset
def _cut_png(d: Path, split: str) -> None:
    png = min((d / split).glob("*.png"))
    png.write_bytes(png.read_bytes()[: png.stat().st_size // 2])


def _edit_annotations(d: Path, split: str, edit) -> None:
    csv = d / f"synth-annotation-{split}.csv"
    lines = csv.read_text().splitlines()
    lines[1] = edit(lines[1])
    csv.write_text("\n".join(lines) + "\n")


def _set_joint(row: str, y: str, x: str) -> str:
    """Joint 1 (the neck) of annotation row ``name:[ys]:[xs]`` set to (y, x)."""
    name, ys, xs = row.split(":")
    ys, xs = json.loads(ys), json.loads(xs)
    ys[1], xs[1] = y, x
    return f"{name}:[{', '.join(map(str, ys))}]:[{', '.join(map(str, xs))}]"


def _resize_one(d: Path, split: str) -> None:
    png = min((d / split).glob("*.png"))
    Image.new("RGB", (20, 40)).save(png)


def _pair_to_missing(d: Path, split: str) -> None:
    pairs = d / f"synth-pairs-{split}.csv"
    first = pairs.read_text().splitlines()[1].split(",")[0]
    pairs.write_text(pairs.read_text() + f"{first},nobody.png\n")


def _empty(d: Path, split: str) -> None:
    for p in list(d.iterdir()):
        shutil.rmtree(p) if p.is_dir() else p.unlink()


DATASET_DEFECTS = {
    "no-annotations": lambda d, split: (d / f"synth-annotation-{split}.csv").unlink(),
    "no-pairs": lambda d, split: (d / f"synth-pairs-{split}.csv").unlink(),
    "png-cut-in-half": _cut_png,
    "png-wrong-size": _resize_one,
    "bad-csv-row": lambda d, split: _edit_annotations(d, split, lambda row: row.split(":")[0] + ":[1, 2]"),
    "joint-negative": lambda d, split: _edit_annotations(d, split, lambda row: _set_joint(row, -7, -1)),
    "joint-half-missing": lambda d, split: _edit_annotations(d, split, lambda row: _set_joint(row, -1, 35)),
    "joint-fraction": lambda d, split: _edit_annotations(d, split, lambda row: _set_joint(row, 1.5, 3)),
    "pair-to-missing-image": _pair_to_missing,
    "no-split-folder": lambda d, split: shutil.rmtree(d / split),
    "empty": _empty,
}
# The web app reads a split's annotations when it starts, never its pairs, and an image when a
# request asks for it (a damaged one is answered 4xx, any size is fitted to the model): on these
# datasets it starts as it should.
NOT_READ_BY_SERVE = ("no-pairs", "pair-to-missing-image", "png-cut-in-half", "png-wrong-size")


def build_workspace(ws: Path) -> None:
    """A user's folder: a tiny dataset, a tiny generator, a finished tiny run, photos, good and
    bad pose files, bad checkpoints, configs and datasets, a file of notes."""
    from pona.cli import main
    from pona.data.synth import write_dataset

    ws.mkdir(parents=True)
    write_dataset(ws / "data", "market", n_train_ids=2, n_test_ids=1, poses_per_id=3, size=(32, 16))
    Image.new("RGB", (16, 32), (200, 30, 30)).save(ws / "photo.png")
    Image.new("RGB", (16, 32), (200, 30, 30)).save(ws / "photo.gif")
    Image.fromarray(np.full((32, 16), 40000, np.uint16)).save(ws / "grey16.png")
    (ws / "notes.txt").write_text("mine\n")
    (ws / "adir").mkdir()
    (ws / "adir" / "keep.txt").write_text("mine\n")
    (ws / "good.json").write_text(_pose_json(GOOD_KP))
    (ws / "walk.json").write_text(json.dumps([json.loads(_pose_json(GOOD_KP))] * 2))
    (ws / "photos").mkdir()
    Image.new("RGB", (40, 80), (90, 90, 90)).save(ws / "photos" / "alice.png")
    _tiny_generator(ws / "g.safetensors")
    _write_bad_poses(ws)
    _write_bad_checkpoints(ws)
    _write_bad_configs(ws)
    for name, defect in DATASET_DEFECTS.items():  # in the test split (train reads the train split)
        for folder, split in (("bad-data", "test"), ("bad-train-data", "train")):
            shutil.copytree(ws / "data", ws / folder / name)
            defect(ws / folder / name, split)
    with _quiet():
        code = _call(main, ["train", "--config", "synth-tiny", "--data", str(ws / "data"), "--out", str(ws / "run"),
                            *TINY_TRAIN, "optim.constant_iterations=2"])
    if code != 0:
        raise SystemExit("could not make the tiny training run")
    (ws / "run" / "notes.md").write_text("mine\n")
    (ws / "run" / "samples").mkdir(exist_ok=True)
    (ws / "run" / "samples" / "my-favourite.png").write_bytes(b"user")
    shutil.copytree(ws / "run", ws / "run-damaged")
    for state in (ws / "run-damaged" / "checkpoints").glob("state-*.pt"):
        state.write_bytes(b"damaged")
    (ws / "generated").mkdir()


# -- the catalogue ------------------------------------------------------------------------------

MODEL = ("--checkpoint", "g.safetensors", "--device", "cpu")


def _transfer(*extra, pose="good.json", source="good.json", out="x.png"):
    return ("transfer", *MODEL, "--image", "photo.png", "--pose", pose, "--source-pose", source, "--out", out, *extra)


def _attention(*extra, pose="good.json", out="x.png"):
    return ("visualize-attention", *MODEL, "--image", "photo.png", "--pose", pose, "--source-pose", "good.json",
            "--out", out, *extra)


def _animate(*extra, poses="walk.json", out="x.gif"):
    return ("animate", *MODEL, "--image", "photo.png", "--source-pose", "good.json", "--poses", poses, "--out", out,
            *extra)


def _train(*extra, data="data", out="new-run"):
    return ("train", "--config", "synth-tiny", "--data", data, "--out", out, *TINY_TRAIN, *extra)


def _generate(*extra, data="data", out="gen"):
    return ("generate", *MODEL, "--data", data, "--out", out, "--workers", "0", *extra)


def _evaluate(*extra, data="data"):
    return ("evaluate", "--generated", "generated", "--data", data, "--estimator", "none", "--offline", *extra)


def pose_cases() -> list[Case]:
    """Every bad pose file x every argument that reads one."""
    readers = {
        "transfer-pose": lambda p: _transfer(pose=p),
        "transfer-source-pose": lambda p: _transfer(source=p),
        "attention-pose": lambda p: _attention(pose=p),
        "animate-poses": lambda p: _animate(poses=p),
        "pose-convert": lambda p: ("pose", "convert", p, "converted.json"),
        "pose-show": lambda p: ("pose", "show", p, "--out", "skeleton.png"),
    }
    return [Case(f"{reader}:{name}", make(f"poses/{name}"))
            for name in BAD_POSES for reader, make in readers.items()]


# output option -> (command line with OUT where the path goes, the extension it writes)
OUTPUT_FILES = {
    "transfer --out": (lambda o: _transfer(out=o), ".png"),
    "transfer --show": (lambda o: _transfer("--show", o), ".png"),
    "visualize-attention --out": (lambda o: _attention(out=o), ".png"),
    "animate --out": (lambda o: _animate(out=o), ".gif"),
    "pose show --out": (lambda o: ("pose", "show", "good.json", "--out", o), ".png"),
    "pose convert OUT": (lambda o: ("pose", "convert", "good.json", o), ".json"),
    "pose estimate --out": (lambda o: ("pose", "photo.png", "--out", o), ".png"),
    "pose estimate --json": (lambda o: ("pose", "photo.png", "--json", o), ".json"),
    "export --out": (lambda o: ("export", "--checkpoint", "g.safetensors", "--out", o, "--no-check"), ".onnx"),
    "convert-checkpoint OUT": (lambda o: ("convert-checkpoint", "ckpt/released.pth", o), ".safetensors"),
    "evaluate --json": (lambda o: _evaluate("--json", o), ".json"),
    "evaluate --markdown": (lambda o: _evaluate("--markdown", o), ".md"),
    "bench --out": (lambda o: ("bench", "--quick", "--tasks", "data", "--out", o), ".json"),
    "data synth --montage": (lambda o: ("data", "synth", "new-data", "--train-ids", "1", "--test-ids", "0",
                                        "--poses", "2", "--montage", o), ".png"),
}
OUTPUT_DIRS = {
    "train --out": lambda o: _train(out=o),
    "generate --out": lambda o: _generate(out=o),
    "data synth OUT": lambda o: ("data", "synth", o, "--train-ids", "1", "--test-ids", "0", "--poses", "2"),
    "data from-photos OUT_DIR": lambda o: ("data", "from-photos", "photos", o, "--poses", "adir"),
    "data prepare-deepfashion --out": lambda o: ("data", "prepare-deepfashion", "--raw", "photos", "--splits-dir",
                                                 "adir", "--out", o),
    "reid augment --out": lambda o: ("reid", "augment", "--data", "data", "--portion", "0.5", "--checkpoint",
                                     "g.safetensors", "--out", o),
    "reid train --out": lambda o: ("reid", "train", "--data", "data", "--out", o, "--backbone", "small",
                                   "--max-steps", "1", "--no-pretrained"),
    "demo --out": lambda o: ("demo", "--out", o, "--minutes", "0.5", "--train-ids", "1", "--test-ids", "1",
                             "--poses", "2", "--eval-pairs", "1"),
    "evaluate --cache-dir": lambda o: _evaluate("--cache-dir", o),
}


def output_cases() -> list[Case]:
    """Every output argument x the ways its path can be wrong."""
    cases = []
    for option, (make, ext) in OUTPUT_FILES.items():
        name = option.replace(" ", "")
        wrong_ext = ".txt" if ext != ".txt" else ".png"
        for defect, path in (("under-a-file", f"photo.png/x{ext}"), ("unwritable", f"/proc/pona-bench/x{ext}"),
                             ("a-folder", "adir"), ("wrong-extension", f"x{wrong_ext}")):
            cases.append(Case(f"{name}:{defect}", make(path)))
    for option, make in OUTPUT_DIRS.items():
        name = option.replace(" ", "")
        for defect, path in (("under-a-file", "photo.png/out"), ("unwritable", "/proc/pona-bench/out"),
                             ("a-file", "notes.txt")):
            cases.append(Case(f"{name}:{defect}", make(path)))
    # an output that is an input: the user's photo or pose file would be replaced
    cases += [
        Case("transfer --out:is-the-image", _transfer(out="photo.png")),
        Case("transfer --show:is-the-image", _transfer("--show", "photo.png")),
        Case("visualize-attention --out:is-the-image", _attention(out="photo.png")),
        Case("animate --out:is-the-image", _animate("--image", "photo.gif", out="photo.gif")),
        Case("pose estimate --out:is-the-image", ("pose", "photo.png", "--out", "photo.png")),
        Case("pose show --out:is-the-photo", ("pose", "show", "good.json", "--on", "photo.png", "--out", "photo.png")),
        Case("pose convert OUT:is-the-input", ("pose", "convert", "good.json", "good.json", "--to", "openpose")),
    ]
    return cases


CHECKPOINT_DEFECTS = ("noconfig.safetensors", "notjson.safetensors", "huge.safetensors", "negative-ngf.safetensors",
                      "truncated.safetensors", "png.safetensors", "text.safetensors", "empty.safetensors",
                      "empty-run", "missing.safetensors")


def _with_checkpoint(argv: tuple, checkpoint: str) -> tuple:
    i = argv.index("--checkpoint")
    return (*argv[: i + 1], checkpoint, *argv[i + 2:])


def checkpoint_cases() -> list[Case]:
    """Every damaged checkpoint x every command that loads one; damaged released checkpoints."""
    users = {
        "info": lambda c: ("info", c),
        "transfer": lambda c: _with_checkpoint(_transfer(), c),
        "animate": lambda c: _with_checkpoint(_animate(), c),
        "visualize-attention": lambda c: _with_checkpoint(_attention(), c),
        "generate": lambda c: _with_checkpoint(_generate(), c),
        "export": lambda c: ("export", "--checkpoint", c, "--out", "m.onnx", "--no-check"),
        "serve": lambda c: ("serve", "--checkpoint", c, "--port", "0"),
        "reid-augment": lambda c: ("reid", "augment", "--data", "data", "--portion", "0.5", "--checkpoint", c,
                                   "--out", "reid-out"),
    }
    cases = [Case(f"{command}:{name}", make(f"ckpt/{name}"))
             for name in CHECKPOINT_DEFECTS for command, make in users.items()]
    for released in ("ckpt/released.pth", "ckpt/released-truncated.pth", "g.safetensors", "photo.png"):
        cases.append(Case(f"convert-checkpoint:{Path(released).name}",
                          ("convert-checkpoint", released, "converted.safetensors")))
    cases.append(Case("reid-evaluate:not-a-reid-checkpoint",
                      ("reid", "evaluate", "--checkpoint", "g.safetensors", "--data", "data")))
    return cases


BAD_OVERRIDES = {
    "lr-nan": "optim.lr=nan", "lr-inf": "optim.lr=inf", "lr-negative": "optim.lr=-1", "lr-string": "optim.lr=fast",
    "unknown-key": "model.colour=blue", "unknown-section": "garden.flowers=3", "ngf-string": "model.ngf=abc",
    "ngf-zero": "model.ngf=0", "ngf-huge": "model.ngf=100000", "batch-zero": "optim.batch_size=0",
    "no-equals": "optim.lr", "image-size-7x5": "model.image_size=[7,5]", "image-size-string": "model.image_size=big",
    "workers-negative": "data.num_workers=-1", "device-tpu": "run.device=tpu", "keep-last-zero": "run.keep_last=-1",
    "blocks-zero": "model.n_blocks=0", "yaml-garbage": "model.ngf=[1,",
}


def config_cases() -> list[Case]:
    """Bad overrides x (train, train --print-config, demo); bad --config files."""
    cases = []
    for name, override in BAD_OVERRIDES.items():
        cases.append(Case(f"train-override:{name}", _train(override)))
        cases.append(Case(f"train-print-config:{name}", ("train", "--config", "synth-tiny", "--print-config", override)))
    for name in ("lr-nan", "unknown-key", "ngf-huge", "no-equals"):
        cases.append(Case(f"demo-override:{name}", (*OUTPUT_DIRS["demo --out"]("demo-out"), BAD_OVERRIDES[name])))
    for name in ("binary", "list", "unknown-key", "syntax", "empty", "nan-lr", "bad-base", "string-ngf"):
        cases.append(Case(f"train-config:{name}.yaml", ("train", "--config", f"configs/{name}.yaml", "--data", "data",
                                                         "--out", "new-run", *TINY_TRAIN)))
    cases += [Case("train-config:missing.yaml", _train("--config", "configs/missing.yaml")),
              Case("train-config:no-such-preset", ("train", "--config", "no-such-preset", "--data", "data")),
              Case("train-config:a-folder", ("train", "--config", "configs", "--data", "data")),
              Case("demo:bad-preset", (*OUTPUT_DIRS["demo --out"]("demo-out"), "--preset", "no-such-preset"))]
    return cases


def device_cases() -> list[Case]:
    """Devices that are not there x every command with --device (train: run.device)."""
    import torch

    devices = ["tpu", "cuda:99" if torch.cuda.is_available() else "cuda", "cpu:banana", ""]
    commands = {
        "transfer": _transfer(), "animate": _animate(), "visualize-attention": _attention(), "generate": _generate(),
        "evaluate": _evaluate(), "serve": ("serve", "--checkpoint", "g.safetensors", "--port", "0", "--device", "cpu"),
        "reid-augment": ("reid", "augment", "--data", "data", "--portion", "0.5", "--checkpoint", "g.safetensors",
                         "--out", "reid-out", "--device", "cpu"),
        "reid-train": ("reid", "train", "--data", "data", "--out", "reid-run", "--backbone", "small", "--max-steps",
                       "1", "--no-pretrained", "--device", "cpu"),
        "reid-evaluate": ("reid", "evaluate", "--checkpoint", "run", "--data", "data", "--device", "cpu"),
    }
    cases = []
    for device in devices:
        label = device or "empty"
        for command, argv in commands.items():
            i = argv.index("--device") if "--device" in argv else None
            argv = (*argv[:i + 1], device, *argv[i + 2:]) if i is not None else (*argv, "--device", device)
            cases.append(Case(f"{command}:device-{label}", argv))
        cases.append(Case(f"train:device-{label}", _train(f"run.device={device}")))
    return cases


def dataset_cases() -> list[Case]:
    """Every dataset defect x every command that reads a dataset."""
    readers = {
        "data-check": (lambda d: ("data", "check", f"bad-data/{d}"), "report"),
        "data-check-deep": (lambda d: ("data", "check", f"bad-data/{d}", "--deep"), "report"),
        "train": (lambda d: _train(data=f"bad-train-data/{d}"), "error"),
        "generate": (lambda d: _generate(data=f"bad-data/{d}"), "error"),
        "evaluate": (lambda d: _evaluate(data=f"bad-data/{d}"), "error"),
        "serve": (lambda d: ("serve", "--checkpoint", "g.safetensors", "--port", "0", "--data", f"bad-data/{d}"),
                  "error"),
    }
    cases = [Case(f"{reader}:{defect}", make(defect), expect)
             for defect in DATASET_DEFECTS for reader, (make, expect) in readers.items()
             if not (reader == "serve" and defect in NOT_READ_BY_SERVE)]
    cases += [Case(f"{reader}:not-a-folder", make("../notes.txt"), "error") for reader, (make, _) in readers.items()]
    return cases


def size_cases() -> list[Case]:
    """Bad HxW values x every option that takes one (model sizes also need multiples of 4)."""
    general = {"zero": "0x0", "negative": "-8x-8", "garbage": "abc", "three-sides": "8x8x8", "one-side": "8x"}
    model = {**general, "not-multiple-of-4": "7x5", "huge": "100000x100000"}
    options = {
        "smoke --size": (lambda s: ("smoke", "--size", s), model),
        "bench --sizes": (lambda s: ("bench", "--quick", "--tasks", "inference", "--sizes", s), model),
        "data check --size": (lambda s: ("data", "check", "data", "--size", s), general),
        "data from-photos --size": (lambda s: ("data", "from-photos", "photos", "ph-out", "--size", s,
                                               "--poses", "adir"), {**general, "huge": "100000x100000"}),
        "pose convert --image-size": (lambda s: ("pose", "convert", "good.json", "c.json", "--image-size", s),
                                      general),
        "pose show --image-size": (lambda s: ("pose", "show", "poses/all-missing.json", "--out", "s.png",
                                              "--image-size", s), {**general, "huge": "100000x100000"}),
        "reid train --size": (lambda s: ("reid", "train", "--data", "data", "--out", "reid-run", "--backbone",
                                         "small", "--max-steps", "1", "--no-pretrained", "--size", s), general),
        "convert-checkpoint --image-size": (lambda s: ("convert-checkpoint", "ckpt/released.pth", "c.safetensors",
                                                       "--image-size", s), general),
    }
    return [Case(f"{option.replace(' ', '')}:{name}", make(value))
            for option, (make, values) in options.items() for name, value in values.items()]


def run_cases() -> list[Case]:
    """--resume / --overwrite misuse, locked runs, outputs shared with inputs or other commands."""
    return [
        Case("train:resume-without-out", ("train", "--resume")),
        Case("train:resume-with-config", ("train", "--config", "synth-tiny", "--out", "run", "--resume")),
        Case("train:resume-a-dataset", ("train", "--out", "data", "--resume")),
        Case("train:resume-an-empty-folder", ("train", "--out", "adir", "--resume")),
        Case("train:resume-missing-run", ("train", "--out", "no-such-run", "--resume")),
        Case("train:resume-all-states-damaged", ("train", "--out", "run-damaged", "--resume")),
        Case("train:resume-and-overwrite", ("train", "--out", "run", "--resume", "--overwrite")),
        Case("train:existing-run-no-flag", _train(out="run")),
        Case("train:overwrite-then-bad-override", _train("--overwrite", "model.ngf=100000", out="run")),
        Case("train:overwrite-then-bad-data", _train("--overwrite", data="bad-data/png-cut-in-half", out="run")),
        Case("train:out-is-the-dataset", _train(out="data")),
        Case("train:out-inside-the-dataset", _train(out="data/train")),
        Case("train:locked-run", ("train", "--out", "run-locked", "--resume", "optim.constant_iterations=3")),
        Case("train:locked-run-overwrite", _train("--overwrite", out="run-locked")),
        Case("generate:out-is-the-dataset-split", _generate(out="data/test")),
        Case("generate:out-is-the-dataset", _generate(out="data")),
        Case("evaluate:copy-baseline-into-the-dataset", ("evaluate", "--copy-baseline", "--generated", "data/test",
                                                         "--data", "data", "--estimator", "none", "--offline")),
        Case("data-synth:into-the-dataset", ("data", "synth", "data", "--train-ids", "1", "--test-ids", "0")),
        Case("data-synth:into-a-run", ("data", "synth", "run", "--train-ids", "1", "--test-ids", "0", "--poses", "2")),
        Case("data-synth:overwrite-a-run", ("data", "synth", "run", "--overwrite", "--train-ids", "1", "--test-ids",
                                            "0", "--poses", "2")),
        Case("from-photos:out-is-the-input", ("data", "from-photos", "photos", "photos", "--poses", "adir")),
        Case("from-photos:out-is-a-dataset", ("data", "from-photos", "photos", "data", "--poses", "adir")),
        Case("from-photos:out-is-a-run", ("data", "from-photos", "photos", "run", "--poses", "adir")),
        Case("reid-augment:out-is-the-dataset", ("reid", "augment", "--data", "data", "--portion", "0.5",
                                                 "--checkpoint", "g.safetensors", "--out", "data")),
        Case("reid-train:out-is-the-dataset", ("reid", "train", "--data", "data", "--out", "data", "--backbone",
                                               "small", "--max-steps", "1", "--no-pretrained")),
        Case("prepare-deepfashion:out-is-the-raw-folder", ("data", "prepare-deepfashion", "--raw", "photos",
                                                           "--splits-dir", "adir", "--out", "photos", "--overwrite")),
    ]


def misc_cases() -> list[Case]:
    """Other values that cannot work: missing inputs, options that contradict, things out of range."""
    return [
        Case("transfer:image-missing", _transfer("--image", "nope.png")),
        Case("transfer:image-not-an-image", ("transfer", *MODEL, "--image", "notes.txt", "--pose", "good.json",
                                             "--source-pose", "good.json", "--out", "x.png")),
        Case("transfer:image-cut-in-half", _transfer("--image", "bad-data/png-cut-in-half/test/"
                                                                "0003_c1s1_000050_01.png")),
        Case("transfer:person-out-of-range", _transfer("--person", "5")),
        Case("transfer:pose-format-wrong", _transfer("--pose-format", "openpose")),
        Case("transfer:pose-csv-no-row", _transfer(pose="data/synth-annotation-test.csv:nobody.png")),
        Case("transfer:pose-csv-missing-file", _transfer(pose="nope.csv:a.png")),
        Case("transfer:pose-is-a-missing-photo", _transfer(pose="nope.jpg")),
        Case("attention:point-and-auto", _attention("--point", "1,1", "--auto")),
        Case("attention:point-garbage", _attention("--point", "abc")),
        Case("attention:point-outside", _attention("--point", "999,999")),
        Case("attention:point-negative", _attention("--point", "-5,-5")),
        Case("animate:poses-empty-folder", _animate(poses="ckpt/empty-run")),
        Case("animate:poses-missing", _animate(poses="nope")),
        Case("animate:fps-zero", _animate("--fps", "0")),
        Case("animate:sequence-with-a-bad-pose", _animate(poses="poses/pose-dir")),
        Case("pose-convert:person-out-of-range", ("pose", "convert", "good.json", "c.json", "--person", "3")),
        Case("pose-convert:threshold-negative", ("pose", "convert", "good.json", "c.json", "--threshold", "-1")),
        Case("pose-convert:csv-without-name", ("pose", "convert", "data/synth-annotation-test.csv", "c.json")),
        Case("pose-estimate:not-an-image", ("pose", "notes.txt")),
        Case("pose-estimate:estimator-bogus", ("pose", "photo.png", "--estimator", "bogus")),
        Case("pose-show:on-not-an-image", ("pose", "show", "good.json", "--out", "s.png", "--on", "notes.txt")),
        Case("evaluate:estimator-bogus", ("evaluate", "--generated", "generated", "--data", "data", "--estimator",
                                          "bogus", "--offline")),
        Case("evaluate:generated-missing", ("evaluate", "--generated", "nope", "--data", "data", "--estimator", "none")),
        Case("evaluate:no-generated", ("evaluate", "--data", "data")),
        Case("evaluate:pairs-not-a-csv", _evaluate("--pairs", "photo.png")),
        Case("evaluate:strict-with-images-missing", _evaluate("--strict")),
        Case("generate:pairs-not-a-csv", _generate("--pairs", "photo.png")),
        Case("generate:pairs-to-missing-images", _generate("--pairs", "bad-data/pair-to-missing-image/"
                                                                       "synth-pairs-test.csv")),
        Case("generate:split-missing", _generate("--split", "train", data="bad-train-data/no-split-folder")),
        Case("from-photos:no-photos", ("data", "from-photos", "adir", "ph-out", "--poses", "adir")),
        Case("from-photos:estimator-bogus", ("data", "from-photos", "photos", "ph-out", "--estimator", "bogus")),
        Case("prepare-deepfashion:no-lists", ("data", "prepare-deepfashion", "--raw", "photos", "--splits-dir",
                                              "adir", "--out", "df-out")),
        Case("data-synth:png-level-10", ("data", "synth", "new-data", "--png-level", "10")),
        Case("data-synth:poses-1", ("data", "synth", "new-data", "--poses", "1")),
        Case("serve:port-too-big", ("serve", "--checkpoint", "g.safetensors", "--port", "70000")),
        Case("serve:host-garbage", ("serve", "--checkpoint", "g.safetensors", "--host", "no such host!", "--port", "0")),
        Case("serve:upload-limit-zero", ("serve", "--checkpoint", "g.safetensors", "--max-upload-mb", "0")),
        Case("serve:data-missing", ("serve", "--checkpoint", "g.safetensors", "--data", "nope")),
        Case("bench:batches-garbage", ("bench", "--batches", "a,b")),
        Case("bench:batches-zero", ("bench", "--quick", "--tasks", "inference", "--batches", "0")),
        Case("bench:tasks-unknown", ("bench", "--quick", "--tasks", "everything")),
        Case("bench:precision-unknown", ("bench", "--quick", "--precision", "fp8")),
        Case("reid-train:data-not-market", ("reid", "train", "--data", "adir", "--out", "reid-run", "--backbone",
                                            "small", "--max-steps", "1", "--no-pretrained")),
        Case("reid-evaluate:data-without-query", ("reid", "evaluate", "--checkpoint", "run", "--data", "data")),
        Case("reid-augment:data-without-annotations", ("reid", "augment", "--data", "bad-data/empty", "--portion",
                                                       "0.5", "--checkpoint", "g.safetensors", "--out", "reid-out")),
        Case("info:missing", ("info", "nope.safetensors")),
        Case("smoke:batch-zero", ("smoke", "--batch", "0")),
        Case("unknown-command", ("frobnicate",)),
    ]


def catalogue() -> list[Case]:
    cases = (pose_cases() + output_cases() + checkpoint_cases() + config_cases() + device_cases() + dataset_cases()
             + size_cases() + run_cases() + misc_cases())
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    return cases


# -- running a case -----------------------------------------------------------------------------

class Timeout(Exception):
    pass


@contextlib.contextmanager
def _alarm(seconds: int):
    def ring(signum, frame):
        raise Timeout()

    old = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def _quiet():
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def _call(main, argv) -> int:
    """``main(argv)`` with the console script's exit-code semantics: return is 0, sys.exit(n) is n,
    sys.exit("text") prints the text and is 1, an uncaught exception prints its traceback and is 1."""
    try:
        main(list(argv))
        return 0
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        print(e.code, file=sys.stderr)
        return 1
    except Timeout:
        raise
    except BaseException:  # noqa: BLE001 (what the interpreter would print at exit)
        traceback.print_exc()
        return 1


def run_in_process(argv, timeout: int) -> tuple[int | None, str, str]:
    from pona.cli import main

    out, err = io.StringIO(), io.StringIO()
    # The console script starts with no logging handler: pona's cli() calls basicConfig, which
    # binds a handler to the sys.stderr of that moment; drop it so this case's stderr is the one.
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    cwd = os.getcwd()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        # a new filter clears every module's "already warned" registry: each case warns as a fresh process would
        warnings.filterwarnings("default", message="pona-bad-inputs: a fresh warnings registry")
        try:
            with _alarm(timeout):
                code = _call(main, argv)
        except Timeout:
            code = None
    os.chdir(cwd)
    return code, out.getvalue(), err.getvalue()


def run_subprocess(argv, timeout: int, cwd: Path) -> tuple[int | None, str, str]:
    script = Path(sys.executable).with_name("pona")  # the console script of this environment
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    try:
        p = subprocess.run([str(script), *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                           check=False)
    except subprocess.TimeoutExpired as e:
        return None, _text(e.stdout), _text(e.stderr)
    return p.returncode, p.stdout, p.stderr


def _text(b) -> str:
    return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")


def classify(code: int | None, out: str, err: str, expect: str, lost: list[str]) -> str:
    if lost:
        return "data lost"
    if code is None:
        return "timeout"
    if "Traceback (most recent call last)" in out + err or code not in (0, 2):
        return "traceback"
    if code == 0:
        return "wrong success"
    lines = err.splitlines()
    if len(lines) == 1 and lines[0].startswith("error: "):
        return "error"
    if "Usage:" in err and "Error:" in err:
        return "usage"
    if expect == "report":
        return "report"
    return "unclear"


# -- the workspace, kept as it was --------------------------------------------------------------

class Snapshot:
    """sha256 of every file under a folder. Hashes are cached by (size, mtime, inode) so that a
    case that touched nothing costs a stat per file, not a read."""

    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[tuple, str] = {}

    def take(self) -> dict[str, str]:
        hashes = {}
        for dirpath, _, files in os.walk(self.root):
            for name in files:
                path = Path(dirpath) / name
                st = path.lstat()
                key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
                if key not in self._cache:
                    self._cache[key] = hashlib.sha256(path.read_bytes()).hexdigest()
                hashes[str(path.relative_to(self.root))] = self._cache[key]
        return hashes


def restore(ws: Path, pristine: Path, before: dict, after: dict) -> None:
    """Put the workspace back as ``pristine`` holds it: changed and vanished files copied back,
    new files and folders removed, so that every case sees the same workspace."""
    for rel, digest in before.items():
        if after.get(rel) != digest:
            (ws / rel).parent.mkdir(parents=True, exist_ok=True)
            if (ws / rel).is_dir():
                shutil.rmtree(ws / rel)
            shutil.copy2(pristine / rel, ws / rel)
    for rel in set(after) - set(before):
        (ws / rel).unlink(missing_ok=True)
    for dirpath, dirs, _ in os.walk(ws, topdown=False):
        for d in dirs:
            path = Path(dirpath) / d
            if not (pristine / path.relative_to(ws)).is_dir():
                shutil.rmtree(path, ignore_errors=True)


def run_case(case: Case, ws: Path, pristine: Path, snap: Snapshot, before: dict, how: str, timeout: int) -> Result:
    t = time.perf_counter()
    if how == "subprocess":
        code, out, err = run_subprocess(case.argv, timeout, ws)
    else:
        code, out, err = run_in_process(case.argv, timeout)
    seconds = time.perf_counter() - t
    after = snap.take()
    lost = sorted(rel for rel, digest in before.items() if after.get(rel) != digest)
    if after != before:
        restore(ws, pristine, before, after)
    return Result(case.id, "pona " + " ".join(_quote(a) for a in case.argv), classify(code, out, err, case.expect, lost),
                  code, round(seconds, 2), out, err, lost)


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg) if len(arg) < 80 else shlex.quote(arg[:60] + "...")


# -- the report ---------------------------------------------------------------------------------

def table(results: list[Result]) -> str:
    counts = Counter(r.outcome for r in results)
    rows = [f"| outcome over {len(results)} CLI cases | count |", "|---|---|"]
    rows += [f"| {o} | {counts[o]} |" for o in OUTCOMES]
    return "\n".join(rows)


def problems(results: list[Result], lines: int = 3) -> str:
    out = []
    for r in results:
        if r.outcome in PROBLEMS:
            text = (r.stderr.strip() or r.stdout.strip()).splitlines()
            if r.outcome == "traceback":
                text = text[-lines:]  # the exception is the last line
            out.append(f"[{r.outcome}] {r.id} (exit {r.code}): {r.command}")
            out += [f"    {line[:200]}" for line in text[:lines]]
            if r.lost:
                out.append(f"    changed or gone: {', '.join(r.lost[:5])}")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="Write every case's result here.")
    parser.add_argument("--subprocess", action="store_true", help="Run each case as a `pona` process (slow).")
    parser.add_argument("--compare", action="store_true",
                        help="Run each case both ways; list the cases whose outcome or exit code differ.")
    parser.add_argument("--every", type=int, default=1, help="Only every N-th case of the catalogue.")
    parser.add_argument("--only", default="", help="Only the cases whose id contains this text.")
    parser.add_argument("--timeout", type=int, default=60, help="Seconds a case may run.")
    parser.add_argument("--list", action="store_true", help="Print the catalogue and exit.")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)  # tiny tensors; a benchmark that must not disturb the machine
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])  # holds run-locked/'s lock
    try:
        cases = [c for c in catalogue() if args.only in c.id][:: args.every]
        if args.list:
            print("\n".join(f"{c.id}: pona {' '.join(c.argv)}" for c in cases))
            print(f"{len(cases)} cases")
            return 0
        with tempfile.TemporaryDirectory(prefix="pona-bad-inputs-") as tmp:
            return _run(cases, Path(tmp), args, holder.pid)
    finally:
        holder.kill()
        holder.wait()


def _run(cases: list[Case], tmp: Path, args, holder_pid: int) -> int:
    from pona.train.rundir import LOCK_FILE

    ws, pristine = tmp / "ws", tmp / "pristine"
    t0 = time.perf_counter()
    build_workspace(ws)
    shutil.copytree(ws, pristine, symlinks=True)
    # run-locked/ is held by a live training process (the sleeping child): a second one must be refused
    for root in (ws, pristine):
        shutil.copytree(root / "run", root / "run-locked")
        (root / "run-locked" / LOCK_FILE).write_text(f"{holder_pid}\n")
    print(f"workspace ready in {time.perf_counter() - t0:.1f} s; {len(cases)} cases", file=sys.stderr)
    os.chdir(ws)
    snap = Snapshot(ws)
    before = snap.take()
    ways = ("in-process", "subprocess") if args.compare else ("subprocess" if args.subprocess else "in-process",)
    results, disagree = [], []
    for i, case in enumerate(cases):
        runs = [run_case(case, ws, pristine, snap, before, how, args.timeout) for how in ways]
        results.append(runs[-1] if args.subprocess else runs[0])
        if len(runs) == 2 and (runs[0].outcome, runs[0].code) != (runs[1].outcome, runs[1].code):
            disagree.append(f"{case.id}: in-process {runs[0].outcome} (exit {runs[0].code}), "
                            f"subprocess {runs[1].outcome} (exit {runs[1].code})")
        if (i + 1) % 25 == 0:
            print(f"  {i + 1}/{len(cases)} cases, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    os.chdir(tmp)
    print(table(results))
    print(f"\n{len(results)} cases ({', '.join(ways)}) in {time.perf_counter() - t0:.0f} s")
    listed = problems(results)
    if listed:
        print("\ncases that are not one clear line:\n" + listed)
    if args.compare:
        print(f"\nin-process and subprocess agree on {len(cases) - len(disagree)} of {len(cases)} cases")
        print("\n".join(disagree))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 1 if any(r.outcome in PROBLEMS for r in results) or disagree else 0


if __name__ == "__main__":
    sys.exit(main())
