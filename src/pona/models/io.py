"""pona's checkpoints of a model: one ``.safetensors`` file, weights plus the JSON config in its header.

The header's metadata holds ``format`` (``pona-generator``, ``pona-reid``: a :class:`CheckpointKind`),
``config`` (the model's config as JSON) and any extra string fields (``version``, training
iteration, dataset, ...), so a checkpoint rebuilds its model with no flags retyped. Loading is strict.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ..errors import CheckpointError
from ..fileio import atomic_path
from ..weights import match_state_dict
from .config import GeneratorConfig, StoredConfig

VERSION = "1"
RUN_DIR_FILE = "generator.safetensors"  # what a training run directory exports


@dataclass(frozen=True)
class CheckpointKind:
    """What tells one kind of checkpoint apart: its header's format and the config it rebuilds."""

    format: str                 # the header's "format" field
    config: type[StoredConfig]  # rebuilt from the header's "config"; its ``what`` names the model in messages
    saver: str                  # the function that writes one, named where a header lacks the config
    not_safetensors_hint: str = ""  # added where the file is no safetensors at all


GENERATOR = CheckpointKind("pona-generator", GeneratorConfig, "save_generator",
                           ". A released .pth? Run `pona convert-checkpoint` first.")


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    model = getattr(model, "module", model)  # DistributedDataParallel
    return getattr(model, "_orig_mod", model)  # torch.compile


def save_checkpoint(model: torch.nn.Module, path: str | os.PathLike, kind: CheckpointKind,
                    metadata: dict | None = None) -> Path:
    """Write ``model`` (weights + ``model.config``) atomically to ``path`` (.safetensors), with
    ``metadata`` as extra string fields of the header."""
    model = _unwrap(model)
    meta = {"format": kind.format, "config": json.dumps(model.config.to_dict())}
    meta.update({k: str(v) for k, v in (metadata or {}).items()})
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def read_header(path: Path, kind: CheckpointKind) -> dict:
    """The header metadata of a checkpoint file of ``kind`` (config parsed from JSON, not yet checked)."""
    what = kind.config.what
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
    except Exception as e:
        raise CheckpointError(f"{path}: not a safetensors file ({e}){kind.not_safetensors_hint}") from e
    if meta.get("format") != kind.format:
        raise CheckpointError(f"{path}: not a pona {what} checkpoint (format={meta.get('format')!r})")
    if "config" not in meta:
        raise CheckpointError(f"{path}: the header has no {what} config; re-save it with pona ({kind.saver})")
    try:
        meta["config"] = json.loads(meta["config"])
    except ValueError as e:
        raise CheckpointError(f"{path}: the {what} config in the header is not JSON ({e})") from None
    if not isinstance(meta["config"], dict):
        raise CheckpointError(f"{path}: the {what} config in the header is not a JSON object")
    return meta


def load_checkpoint(path: Path, kind: CheckpointKind, build: Callable[[StoredConfig], torch.nn.Module]) -> torch.nn.Module:
    """``build(config)`` for the config in the header of ``path``, its weights loaded strictly."""
    meta = read_header(path, kind)
    try:
        config = kind.config.from_dict(meta["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: invalid config in checkpoint: {e}") from None
    model = build(config)
    load_strict(model, load_file(str(path)), str(path))
    return model


def save_generator(generator: torch.nn.Module, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write ``generator`` (weights + config) atomically to ``path`` (.safetensors)."""
    return save_checkpoint(generator, path, GENERATOR, {"version": VERSION, **(metadata or {})})


def read_metadata(path: str | os.PathLike) -> dict:
    """The header metadata of a pona generator checkpoint (config parsed from JSON)."""
    return read_header(resolve_checkpoint(path), GENERATOR)


def parameter_count(config: GeneratorConfig) -> int:
    """Parameters of the generator ``config`` describes, counted without allocating them."""
    from . import build_generator  # not at the top: pona.models imports this module before defining it

    with torch.device("meta"):  # shapes only: a config asking for terabytes costs nothing here
        return sum(p.numel() for p in build_generator(config).parameters())


def physical_memory() -> int | None:
    """Bytes of RAM on this machine, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_fits(config: GeneratorConfig, source: str) -> None:
    """Refuse, before allocating, a generator whose fp32 weights alone exceed this machine's RAM."""
    need = 4 * parameter_count(config)
    have = physical_memory()
    if have is not None and need > have:
        raise CheckpointError(f"{source}: the generator (ngf={config.ngf}, n_blocks={config.n_blocks}) needs "
                              f"{need / 2**30:,.1f} GiB for its weights alone, more than this machine's "
                              f"{have / 2**30:,.1f} GiB of memory")


# The checkpoints packaged with pona (pona/assets, made by benchmarks/pretrain.py), by the name that
# selects them wherever a checkpoint is taken; "pretrained" is the studio model, the demo's default.
# packaged name -> file stem, which is the name of the preset that trained it
PRETRAINED = {"pretrained": "synth-studio", "pretrained-studio": "synth-studio", "pretrained-market": "synth-market",
              "pretrained-studio-256": "synth-studio-256"}


def pretrained_checkpoint(name: str = "pretrained") -> Path:
    """A packaged generator trained on pona's synthetic people (see docs/guide/demo-and-web.md); its
    training log is beside it (``<stem>.metrics.jsonl``)."""
    from importlib import resources

    if name not in PRETRAINED:
        raise CheckpointError(f"unknown packaged checkpoint {name!r}: choose one of {', '.join(PRETRAINED)}")
    path = Path(str(resources.files("pona").joinpath("assets", PRETRAINED[name] + ".safetensors")))
    if not path.is_file():
        raise CheckpointError(f"this pona build ships no {name} checkpoint ({path}); train one "
                              "(`pona demo`) or make it with `python benchmarks/pretrain.py`")
    return path


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file, a training run directory holding ``generator.safetensors``, or one of
    the names of ``PRETRAINED`` for a checkpoint packaged with pona."""
    if str(path) in PRETRAINED and not Path(path).exists():
        return pretrained_checkpoint(str(path))
    path = Path(path)
    if path.is_dir():
        path = path / RUN_DIR_FILE
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    return path


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu"):
    """Rebuild the generator stored at ``path`` (file or run directory), in eval mode on ``device``."""
    from . import build_generator  # not at the top: pona.models imports this module before defining it

    path = resolve_checkpoint(path)

    def build(config: GeneratorConfig) -> torch.nn.Module:
        check_fits(config, str(path))
        return build_generator(config)

    return load_checkpoint(path, GENERATOR, build).to(device).eval()


def load_strict(model: torch.nn.Module, state_dict: dict, source: str) -> None:
    """load_state_dict that names the missing, unexpected and mis-shaped keys in one error
    (``pona.weights.match_state_dict``)."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    # not strict: only BatchNorm counters may be absent, everything else was checked above
    model.load_state_dict(match_state_dict(state_dict, expected, source), strict=False)
