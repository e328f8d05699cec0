"""Vectorised 2-D rasterisation: shapes as signed distances on a supersampled grid.

A shape is evaluated only on the samples of its bounding box (a :class:`Window`), as a signed
distance ``d`` in pixels (negative inside) plus the shape's own local coordinates, from which the
caller computes a colour (patterns are functions of those local coordinates, so they move with the
body part). Coverage is ``clip(0.5 - d * ss, 0, 1)`` (one sample of soft edge), and the layer is
box-filtered down to the output size: anti-aliased edges at a few operations per sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Window:
    """The samples of a box: ``ys`` (n, 1) and ``xs`` (1, m) in output pixels, their slices."""

    sl: tuple[slice, slice]
    ys: np.ndarray
    xs: np.ndarray


class Layer:
    """A premultiplied RGBA layer of ``size`` (H, W) pixels, ``ss`` x ``ss`` samples per pixel.

    Sample (i, j) sits at output pixel coordinates ((i + 0.5) / ss - 0.5, (j + 0.5) / ss - 0.5),
    so an integer coordinate is a pixel centre, as keypoints are.
    """

    def __init__(self, size: tuple[int, int], ss: int = 2):
        h, w = size
        self.size, self.ss = (h, w), ss
        self.px = 1.0 / ss                               # one sample, in output pixels
        self.rgb = np.zeros((h * ss, w * ss, 3), np.float32)
        self.alpha = np.zeros((h * ss, w * ss), np.float32)
        self._ys = ((np.arange(h * ss, dtype=np.float32) + 0.5) / ss - 0.5)[:, None]
        self._xs = ((np.arange(w * ss, dtype=np.float32) + 0.5) / ss - 0.5)[None, :]

    def window(self, y0: float, x0: float, y1: float, x1: float) -> Window | None:
        """Samples inside the box [y0, y1] x [x0, x1] (output pixels), None if it misses the layer."""
        ss, (h, w) = self.ss, self.size
        i0, i1 = max(int((y0 + 0.5) * ss), 0), min(math.ceil((y1 + 0.5) * ss) + 1, h * ss)
        j0, j1 = max(int((x0 + 0.5) * ss), 0), min(math.ceil((x1 + 0.5) * ss) + 1, w * ss)
        if i0 >= i1 or j0 >= j1:
            return None
        return Window((slice(i0, i1), slice(j0, j1)), self._ys[i0:i1], self._xs[:, j0:j1])

    def coverage(self, d: np.ndarray) -> np.ndarray:
        """Signed distance (pixels, negative inside) -> coverage in [0, 1] with a one-sample ramp."""
        # minimum/maximum: np.clip's Python-level dispatch costs more than the work on small boxes
        return np.minimum(np.maximum(d * -self.ss + 0.5, 0.0), 1.0)

    def paint(self, win: Window, alpha: np.ndarray, color: np.ndarray) -> None:
        """Composite ``color`` ((n, m, 3) or (3,)) with coverage ``alpha`` (n, m) over the layer."""
        rgb = self.rgb[win.sl]
        rgb += (color - rgb) * alpha[..., None]
        cov = self.alpha[win.sl]
        cov += (1 - cov) * alpha

    def resolve(self) -> tuple[np.ndarray, np.ndarray]:
        """Box-filter to the output size: premultiplied rgb (H, W, 3) and alpha (H, W), float32."""
        (h, w), ss = self.size, self.ss
        rgb = self.rgb.reshape(h, ss, w, ss, 3).mean(axis=(1, 3))
        alpha = self.alpha.reshape(h, ss, w, ss).mean(axis=(1, 3))
        return rgb, alpha


def segment_frame(win: Window, p0, p1):
    """Local coordinates of the samples along the segment p0 -> p1 ((y, x) pixels).

    Returns ``t`` (position along the segment, 0 at p0, 1 at p1, unclipped), ``v`` (signed distance
    from the line in pixels, positive on the image-right side when the segment points down) and
    the segment's length in pixels.
    """
    # Python floats keep the sample grids' float32 (a NumPy float64 scalar would promote them).
    y0, x0 = float(p0[0]), float(p0[1])
    ey, ex = float(p1[0]) - y0, float(p1[1]) - x0
    length = math.hypot(ey, ex)
    if length < 1e-6:                       # a limb pointing at the camera: a disc
        ey, ex, length = 1.0, 0.0, 1e-6
    dy, dx = win.ys - y0, win.xs - x0         # (n, 1) and (1, m): cheap; the sums broadcast
    l2 = length * length
    t = dy * (ey / l2) + dx * (ex / l2)
    v = dx * (ey / length) - dy * (ex / length)
    return t, v, length


def capsule(win: Window, p0, p1, r0: float, r1: float):
    """A tapered capsule from p0 (radius r0) to p1 (radius r1), pixels.

    Returns ``d`` (signed distance, pixels), ``t`` (clipped to [0, 1]) and ``v`` (see segment_frame).
    """
    t, v, length = segment_frame(win, p0, p1)
    tc = np.minimum(np.maximum(t, 0.0), 1.0)
    d = np.hypot((t - tc) * length, v)
    d -= tc * float(r1 - r0) + float(r0)
    return d, tc, v


def box_of(points, pad: float) -> tuple[float, float, float, float]:
    """Bounding box (y0, x0, y1, x1) of (y, x) points, grown by ``pad`` pixels."""
    ys = [float(p[0]) for p in points]
    xs = [float(p[1]) for p in points]
    return min(ys) - pad, min(xs) - pad, max(ys) + pad, max(xs) + pad


def polygon(win: Window, corners) -> np.ndarray:
    """Signed distance (approximate outside, exact on edges) to a convex polygon of (y, x) corners
    given in either winding order."""
    c = np.asarray(corners, dtype=np.float64)
    area = np.sum(c[:, 1] * np.roll(c[:, 0], -1) - np.roll(c[:, 1], -1) * c[:, 0])
    sign = -1.0 if area > 0 else 1.0
    d = None
    for (y0, x0), (y1, x1) in zip(c.tolist(), np.roll(c, -1, axis=0).tolist()):
        ey, ex = y1 - y0, x1 - x0
        n = float(np.hypot(ey, ex)) + 1e-9
        e = ((win.ys - y0) * (sign * ex / n) - (win.xs - x0) * (sign * ey / n))
        d = e if d is None else np.maximum(d, e)
    return d


# Patterns: mix factors in [0, 1] with soft (anti-aliased) edges; ``px`` is one sample in the
# pattern's units, so an edge ramps over one sample whatever the body's scale.

def stripes(x: np.ndarray, period: float, duty: float, px: float) -> np.ndarray:
    """1 on stripes of width ``duty * period`` centred on multiples of ``period``."""
    f = x / period
    d = np.abs(f - np.round(f)) * period - duty * period / 2
    return np.clip(0.5 - d / px, 0.0, 1.0)


def checks(x: np.ndarray, y: np.ndarray, period: float, px: float) -> np.ndarray:
    a, b = stripes(x, period, 0.5, px), stripes(y, period, 0.5, px)
    return a + b - 2 * a * b


def dots(x: np.ndarray, y: np.ndarray, period: float, radius: float, px: float) -> np.ndarray:
    fy = y / period
    row = np.round(fy)
    fx = x / period + 0.5 * (row % 2)      # staggered rows
    d = np.hypot(fx - np.round(fx), fy - row) * period - radius
    return np.clip(0.5 - d / px, 0.0, 1.0)
