"""Pose-guided attention maps of recent generations, kept server-side and served one row at a time.

A generation at H x W has, per PoNA block, an N x N pose-guided map (N = H/4 * W/4; rows = target
locations, columns = locations of the image code; eqs. (4)-(5)). At 256x176 that is 7.9 M values
per block: too much to send to a page, small enough to keep. Each map is stored as uint8, every
row scaled by its own maximum (the page shows where a location attends, not how peaked it is),
and a hover asks for one row: (n_blocks, H/4, W/4) uint8, sent as small grey PNGs.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict

import numpy as np
import torch


def pose_guided_maps(maps: list[list[torch.Tensor]]) -> list[torch.Tensor | None]:
    """Per block, the pose-guided map (N, N) of the first batch item, or None if the block has none.

    ``Generator(..., return_attention=True)`` gives each block's maps as [self, pose-guided],
    [pose-guided] (no self-attention) or [] (no cross attention, or PATN): the pose-guided map,
    when present, is always the last.
    """
    return [block[-1][0] if block else None for block in maps]


def quantize_rows(m: torch.Tensor) -> np.ndarray:
    """(N, N) float map -> (N, N) uint8, each row divided by its maximum (then 0..255)."""
    m = m.float()
    peak = m.amax(dim=-1, keepdim=True).clamp_min(1e-12)  # (N, 1)
    return (m / peak * 255).round().to(torch.uint8).cpu().numpy()


class AttentionStore:
    """The maps of the last ``max_entries`` generations (and at most ``max_bytes``), by id."""

    def __init__(self, max_entries: int = 8, max_bytes: int = 256 * 2**20):
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._entries: OrderedDict[str, tuple[np.ndarray | None, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, maps: list[torch.Tensor | None]) -> str:
        """Store one generation's per-block (N, N) maps; returns its id."""
        entry = tuple(None if m is None else quantize_rows(m) for m in maps)
        key = secrets.token_urlsafe(9)
        with self._lock:
            self._entries[key] = entry
            while len(self._entries) > self.max_entries or (len(self._entries) > 1 and self._bytes() > self.max_bytes):
                self._entries.popitem(last=False)  # oldest first
        return key

    def _bytes(self) -> int:
        return sum(m.nbytes for e in self._entries.values() for m in e if m is not None)

    def row(self, key: str, index: int) -> list[np.ndarray | None]:
        """Row ``index`` of each block's map, flat (N,) uint8; KeyError for an unknown or expired id."""
        with self._lock:
            entry = self._entries[key]
            self._entries.move_to_end(key)
        return [None if m is None else m[index] for m in entry]
