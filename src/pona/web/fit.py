"""Bring an uploaded photo (and its pose) to the model's image size.

TODO(photos): use ``pona.data.photos.fit_to_size`` once the photos work is merged; this is the
minimal stand-in with the same signature (scale to fit, centre, pad by repeating the edge pixels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..pose import visible


@dataclass(frozen=True)
class Fit:
    """How an image of ``source_size`` was placed in ``size``: ``y' = y * scale + top``."""

    source_size: tuple[int, int]  # (H, W) before
    size: tuple[int, int]         # (H, W) after
    scale: float
    top: int
    left: int

    def apply(self, kp) -> np.ndarray:
        """(18, 2) (y, x) in the source image -> in the fitted image; -1 stays -1."""
        kp = np.asarray(kp, dtype=np.float64)
        out = kp * self.scale + np.array([self.top, self.left], dtype=np.float64)
        return np.where(visible(kp)[:, None], out, -1.0)


def plan_fit(source_size: tuple[int, int], size: tuple[int, int]) -> Fit:
    """The largest centred scaling of ``source_size`` (H, W) inside ``size`` (H, W)."""
    (h, w), (H, W) = source_size, size
    scale = min(H / h, W / w)
    nh, nw = min(H, max(1, round(h * scale))), min(W, max(1, round(w * scale)))
    return Fit((h, w), (H, W), scale, (H - nh) // 2, (W - nw) // 2)


def fit_to_size(image: np.ndarray, size: tuple[int, int], keypoints=None):
    """(h, w, 3) uint8 -> ((H, W, 3) uint8, keypoints in the new frame or None, Fit)."""
    fit = plan_fit(image.shape[:2], size)
    if image.shape[:2] == tuple(size):
        out = image
    else:
        nh, nw = round(image.shape[0] * fit.scale), round(image.shape[1] * fit.scale)
        nh, nw = min(size[0], max(1, nh)), min(size[1], max(1, nw))
        resized = np.asarray(Image.fromarray(image).resize((nw, nh), Image.Resampling.LANCZOS))
        pad = ((fit.top, size[0] - nh - fit.top), (fit.left, size[1] - nw - fit.left), (0, 0))
        out = np.pad(resized, pad, mode="edge")
    return out, (None if keypoints is None else fit.apply(keypoints)), fit
