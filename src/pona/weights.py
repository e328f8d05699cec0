"""Finding pretrained weights (VGG-19, Inception, LPIPS, ResNet) offline first.

Order: an explicit path; a file of the expected name in ``weights_dir``; the torch hub cache
(``$TORCH_HOME/hub/checkpoints``), where torchvision and pytorch-fid put them; a download into that
cache when online. Offline with none of these: a :class:`WeightsNotFoundError` that names the file,
its URL and where to put it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from .errors import CheckpointError, WeightsNotFoundError

log = logging.getLogger(__name__)


def hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_weights(filename: str, url: str, path: str | os.PathLike | None = None,
                 weights_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Return a local path to ``filename``, downloading it from ``url`` into the hub cache if needed."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise WeightsNotFoundError(f"weights file {p} does not exist")
        return p
    candidates = ([Path(weights_dir) / filename] if weights_dir else []) + [hub_checkpoint_dir() / filename]
    for p in candidates:
        if p.is_file():
            return p
    if download:
        target = hub_checkpoint_dir() / filename
        try:
            log.info("downloading %s to %s", url, target)
            target.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(url, str(target), progress=False)
            return target
        except Exception as e:  # offline: URLError, socket errors, HTTP errors
            reason = f" (download failed: {type(e).__name__}: {e})"
    else:
        reason = ""
    where = " or ".join(str(c.parent) for c in candidates)
    raise WeightsNotFoundError(
        f"{filename} is needed and not found{reason}. Download {url} and put it in {where}, "
        f"or pass its path explicitly."
    )


def load_state_dict(path: str | os.PathLike) -> dict:
    """Load a state dict from .pth/.pt (tensors only, no code executed) or .safetensors."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    sd = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    return sd


def _is_counter(key: str) -> bool:
    return key.endswith("num_batches_tracked")


def match_state_dict(state_dict: dict, expected: dict[str, tuple[int, ...]], source: str) -> dict:
    """``state_dict`` after checking that its keys and shapes are exactly ``expected`` (key -> shape);
    otherwise CheckpointError naming ``source`` and the first differences of each kind. Every weight
    file pona reads goes through this: its own checkpoints (expected = the model's state) and the
    published ones (expected = the key list written down in the network's module).

    BatchNorm's ``num_batches_tracked`` counters are never required (files saved before PyTorch 0.4.1
    lack them, and they change no output at the momentum every network here uses); they are kept
    where ``expected`` has them and dropped where it does not."""
    tensors = {k: v for k, v in state_dict.items() if not _is_counter(k) or k in expected}
    missing = [k for k in expected if k not in tensors and not _is_counter(k)]
    unexpected = [k for k in tensors if k not in expected]
    wrong = [f"{k} {tuple(tensors[k].shape)} (expected {tuple(expected[k])})"
             for k in expected if k in tensors and tuple(tensors[k].shape) != tuple(expected[k])]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s), e.g. {missing[:3]}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[:3]}")
    if wrong:
        problems.append(f"{len(wrong)} tensor(s) of the wrong shape, e.g. {wrong[:3]}")
    if problems:
        raise CheckpointError(f"{source}: not the expected weights: " + "; ".join(problems))
    return tensors
