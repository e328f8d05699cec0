"""Training-state checkpoints: atomic writes, keep the last K (plus the best), resume with RNG states.

A training state is one ``torch.save`` file, ``<run>/checkpoints/state-<iteration:08d>.pt``, holding
plain tensors and containers only (it loads with ``weights_only=True``, no code is unpickled)::

    format, version      "pona-train-state", 1
    iteration            iterations completed
    config               the TrainConfig as a dict
    models               {"generator", "appearance_d", "pose_d"}: state dicts
    ema                  the generator's weight average (optim.ema_half_life), or None
    optimizers           {same keys}: Adam state dicts
    schedulers           {same keys}: LambdaLR state dicts
    scaler               GradScaler state dict (fp16) or {}
    ranks                one entry per process: {"rng": torch/cuda/numpy/python states,
                         "pools": image pools (tensors + their generator)}
    best                 {"metric", "value", "iteration"} of the best validation so far, or {}

The data order needs no entry of its own: it is a pure function of (seed, epoch) and the
iteration (see ``pona.train.seeding.epoch_order``). Inference weights are exported apart from these
files (``generator.safetensors``), as the style guide asks.
"""

from __future__ import annotations

import logging
import os
import random
import re
from pathlib import Path

import numpy as np
import torch

from ..errors import CheckpointError
from ..fileio import atomic_path

log = logging.getLogger(__name__)

FORMAT = "pona-train-state"
VERSION = 1
STATE_RE = re.compile(r"state-(\d+)\.pt")
# what Trainer._load reads; a state without one of them is treated like a damaged file
REQUIRED_KEYS = ("iteration", "config", "models", "optimizers", "schedulers", "scaler", "ranks", "best")
MODEL_KEYS = ("generator", "appearance_d", "pose_d")


def state_path(directory: str | os.PathLike, iteration: int) -> Path:
    return Path(directory) / f"state-{iteration:08d}.pt"


def list_states(directory: str | os.PathLike) -> list[tuple[int, Path]]:
    """[(iteration, path)] of the complete state files in ``directory``, oldest first.

    Temporary files of an interrupted write (``.state-*.tmp``) never match.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := STATE_RE.fullmatch(p.name))]
    return sorted(found)


def save_state(directory: str | os.PathLike, state: dict) -> Path:
    """Write ``state`` atomically (temp file + fsync + rename): a crash leaves the old files intact."""
    path = state_path(directory, state["iteration"])
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "version": VERSION, **state}, tmp)
    return path


def prune(directory: str | os.PathLike, keep_last: int, keep: set[int] = frozenset()) -> list[Path]:
    """Delete all but the newest ``keep_last`` state files and those whose iteration is in ``keep``."""
    states = list_states(directory)
    removed = []
    for iteration, path in states[:-keep_last] if keep_last > 0 else states:
        if iteration not in keep:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def load_state(path: str | os.PathLike) -> dict:
    """Read one state file; CheckpointError if it is not a complete pona training state."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0]  # torch's messages run to many lines
        raise CheckpointError(f"{path}: cannot read training state ({type(e).__name__}: {first})") from e
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a pona training state")
    if state.get("version") != VERSION:
        raise CheckpointError(f"{path}: training state version {state.get('version')}, this pona reads {VERSION}")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{path}: incomplete training state, missing {', '.join(missing)}")
    if not isinstance(state["models"], dict) or not all(k in state["models"] for k in MODEL_KEYS):
        raise CheckpointError(f"{path}: incomplete training state, models must hold {', '.join(MODEL_KEYS)}")
    return state


def load_latest(directory: str | os.PathLike) -> dict | None:
    """The newest readable state in ``directory`` (a damaged newest file falls back to the one
    before, with a warning); None if there is none at all."""
    states = list_states(directory)
    errors = []
    for _, path in reversed(states):
        try:
            state = load_state(path)
        except CheckpointError as e:
            errors.append(str(e))
            continue
        for error in errors:  # warned only when there is a good one to fall back to: else one error line
            log.warning("skipping damaged checkpoint: %s", error)
        return state
    if errors:
        raise CheckpointError(f"{directory}: no readable training state ({len(errors)} file(s) damaged); "
                              f"newest: {errors[0]}")
    return None


# -- random number generators -----------------------------------------------------------------

def rng_state() -> dict:
    """The global RNG states of torch (CPU and CUDA), numpy and python, as tensors and ints."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": random.getstate(),
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
