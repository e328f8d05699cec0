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

from .errors import WeightsNotFoundError

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
