"""Backgrounds and cameras, and one complete dataset image from (seed, identity, pose index).

``market``: street scenes seen by 6 cameras. Each camera has its own look (walls, ground, light,
from ``default_rng([seed, CAMERA_STREAM, camera])``); each image moves the clutter (windows, signs,
poles, passers-by) and adds sensor noise. ``fashion``: a plain light studio backdrop with a soft
floor shadow, as in DeepFashion In-shop; one backdrop per person (all its images share it).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..layout import SIZES
from .identity import Identity, sample_identity
from .posing import P, BodyPose, keypoints, sample_pose
from .raster import Layer
from .render import Painter

# Samples per pixel side. At 128x64 the soft signed-distance edges (a one-pixel coverage ramp) look
# the same as 2x2 supersampling (checked by eye) at a quarter of the cost.
SUPERSAMPLE = {"market": 1, "fashion": 2}
N_CAMERAS = 6
CAMERA_STREAM = 1_000_003      # rng stream ids kept apart from identity indices
IDENTITY_CAMERA_STREAM = 1_000_004
STUDIO_STREAM = 1_000_005      # the studio backdrop: one per person, the same in all its images

WALLS = ((150, 150, 148), (165, 95, 75), (200, 185, 160), (120, 140, 150), (70, 100, 60), (185, 180, 175), (95, 90, 88))
GROUNDS = ((110, 110, 112), (175, 160, 135), (140, 135, 125), (90, 92, 95), (160, 150, 150))
CLUTTER = ((30, 35, 45), (60, 70, 90), (200, 60, 50), (240, 220, 90), (230, 230, 225), (50, 110, 170),
           (120, 90, 60), (40, 40, 40), (150, 180, 200), (90, 140, 80))


def _palette(rng: np.random.Generator, palette, jitter: float = 0.08) -> np.ndarray:
    """A colour of ``palette`` ((N, 3) 0-255) with a random jitter, float32 in [0, 1]."""
    c = np.asarray(palette[rng.integers(len(palette))], np.float32)
    return np.clip(c / 255 + rng.uniform(-jitter, jitter, 3), 0, 1).astype(np.float32)


def _interp_matrix(n: int, g: int) -> np.ndarray:
    """(n, g) weights of linear interpolation from g samples to n (ends aligned)."""
    pos = np.linspace(0, g - 1, n)
    i0 = np.minimum(pos.astype(int), g - 2)
    w = (pos - i0).astype(np.float32)
    m = np.zeros((n, g), np.float32)
    m[np.arange(n), i0], m[np.arange(n), i0 + 1] = 1 - w, w
    return m


def _smooth_field(rng: np.random.Generator, size: tuple[int, int], grid: tuple[int, int], amp: float) -> np.ndarray:
    """Low-frequency colour variation: a (grid) of random values, bilinearly upsampled to (H, W, 3)."""
    (h, w), (gh, gw) = size, grid
    g = rng.uniform(-amp, amp, (gh, gw * 3)).astype(np.float32)
    rows = (_interp_matrix(h, gh) @ g).reshape(h, gw, 3)           # (H, gw, 3)
    return np.matmul(_interp_matrix(w, gw), rows)                   # (H, W, 3): (W, gw) @ (H, gw, 3)


def _blob(img: np.ndarray, cy: float, cx: float, ry: float, rx: float, color, strength: float = 1.0) -> None:
    """Blend a soft elliptic blob (a super-Gaussian of radii ry, rx) into ``img`` in place, on its box."""
    h, w = img.shape[:2]
    y0, y1 = max(int(cy - 2 * ry), 0), min(int(cy + 2 * ry) + 1, h)
    x0, x1 = max(int(cx - 2 * rx), 0), min(int(cx + 2 * rx) + 1, w)
    if y0 >= y1 or x0 >= x1:
        return
    dy = ((np.arange(y0, y1, dtype=np.float32) - cy) / ry)[:, None] ** 2
    dx = ((np.arange(x0, x1, dtype=np.float32) - cx) / rx)[None, :] ** 2
    m = (strength * np.exp(-((dy + dx) ** 2)))[..., None]
    region = img[y0:y1, x0:x1]
    region += (np.asarray(color, np.float32) - region) * m


def plain_background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A light studio backdrop: (H, W, 3) float32 in [0, 1], near white with a faint tint and gradient."""
    h, w = size
    base = rng.uniform(0.9, 0.985) + rng.uniform(-0.015, 0.015, 3)
    grad = np.linspace(0.015, -0.02, h, dtype=np.float32)[:, None, None]
    return np.clip(np.broadcast_to(base.astype(np.float32), (h, w, 3)) + grad, 0, 1).astype(np.float32)


@dataclass(frozen=True)
class CameraStyle:
    """The look of one street camera."""
    wall: np.ndarray
    ground: np.ndarray
    horizon: float        # fraction of the height where the ground starts
    light: float          # overall brightness factor
    noise: float          # sensor noise std (0-1 scale)


@functools.lru_cache(maxsize=64)
def camera_style(seed: int, camera: int) -> CameraStyle:
    rng = np.random.default_rng([seed, CAMERA_STREAM, camera])
    return CameraStyle(wall=_palette(rng, WALLS), ground=_palette(rng, GROUNDS, 0.05),
                       horizon=float(rng.uniform(0.5, 0.8)), light=float(rng.uniform(0.8, 1.08)),
                       noise=float(rng.uniform(0.012, 0.035)))


def street_background(rng: np.random.Generator, size: tuple[int, int], style: CameraStyle) -> np.ndarray:
    """A cluttered street scene of ``style``: (H, W, 3) float32 in [0, 1]."""
    h, w = size
    img = np.empty((h, w, 3), np.float32)
    hz = int(h * np.clip(style.horizon + rng.uniform(-0.05, 0.05), 0.3, 0.95))
    img[:hz] = style.wall
    clutter = np.asarray(CLUTTER, np.float32)
    img[hz:] = style.ground
    img[hz:] *= np.linspace(0.95, 1.08, h - hz, dtype=np.float32)[:, None, None]   # nearer ground, lighter
    img += _smooth_field(rng, size, (4, 3), 0.08)
    # Clutter on the wall: windows, doors, shop signs (rectangles, blended with the wall: shop
    # fronts, not paint swatches) and poles (thin, full height). Random numbers drawn in blocks.
    n = int(rng.integers(2, 7))
    u = rng.random((n, 5))
    colors = clutter[rng.integers(len(clutter), size=n)] / 255 + rng.uniform(-0.1, 0.1, (n, 3)).astype(np.float32)
    for (fy, fx, fh, fw, fm), color in zip(u.tolist(), np.clip(colors, 0, 1)):
        y0, x0 = int((-0.1 + 0.9 * fy) * hz), int((-0.2 + 1.1 * fx) * w)
        y1, x1 = min(y0 + int((0.08 + 0.37 * fh) * h), hz), x0 + int((0.1 + 0.5 * fw) * w)
        mix = 0.35 + 0.45 * fm
        img[max(y0, 0): max(y1, 0), max(x0, 0): max(x1, 0)] = mix * color + (1 - mix) * style.wall
    for fx, width, c in zip(rng.random(int(rng.integers(0, 3))).tolist(), rng.integers(1, 4, 2).tolist(),
                            rng.integers(3, size=2).tolist()):
        x0 = int(fx * w)
        img[: hz + int(0.1 * h), x0: x0 + width] = clutter[[0, 1, 7][c]] / 255
    # Passers-by at the edges: soft upright blobs.
    for side, fx, fy, c in zip(rng.integers(2, size=2).tolist(), rng.random(2).tolist(), rng.random(2).tolist(),
                               rng.integers(len(clutter), size=int(rng.integers(0, 3))).tolist()):
        cx = (-0.15 + 0.25 * fx if side == 0 else 0.9 + 0.25 * fx) * w
        _blob(img, (0.3 + 0.4 * fy) * h, cx, 0.35 * h, 0.12 * w, clutter[c] / 255)
    img *= style.light
    return img


def _shadow(bg: np.ndarray, feet: np.ndarray, k: float, strength: float) -> None:
    """A soft contact shadow on the floor under ``feet`` ((N, 2) pixels; ``k`` pixels per body
    height), drawn into the background in place."""
    _blob(bg, feet[:, 0].max() + 0.02 * k, feet[:, 1].mean(), 0.03 * k, 0.17 * k, (0, 0, 0), strength)


def compose(ident: Identity, pose: BodyPose, background: np.ndarray, supersample: int = 2,
            shadow: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Person over a float (H, W, 3) background (not modified), with a contact shadow:
    image (H, W, 3) float32 and keypoints (18, 2)."""
    size = background.shape[:2]
    painter = Painter(ident, pose, size, supersample)   # for its skeleton; draws on the background
    background = background.copy()
    if shadow > 0:
        feet = painter.px[[P["r_ankle"], P["l_ankle"], P["r_toe"], P["l_toe"]]]
        _shadow(background, feet, painter.k, shadow)
    painter.layer = Layer(size, supersample, background)
    image, _ = painter.draw()
    return image, keypoints(painter.px, pose, size)


@dataclass(frozen=True)
class Example:
    """One dataset image and what it shows."""
    image: np.ndarray        # (H, W, 3) uint8
    keypoints: np.ndarray    # (18, 2) int64 (y, x), -1 missing
    identity: int
    pose_index: int
    camera: int              # 1..6 (market); 1 (fashion)
    pose: BodyPose


@functools.lru_cache(maxsize=4096)
def identity_cameras(seed: int, identity: int) -> tuple[int, int]:
    """(first camera, step): pose k is seen by camera ``(first + k * step) % 6 + 1``, so consecutive
    poses of a person come from different cameras (what re-identification needs)."""
    rng = np.random.default_rng([seed, IDENTITY_CAMERA_STREAM, identity])
    return int(rng.integers(N_CAMERAS)), int(rng.choice([1, 2, 3, 4, 5]))


def example(seed: int, identity: int, pose_index: int, preset: str = "market",
            size: tuple[int, int] | None = None, supersample: int | None = None,
            person: Identity | None = None) -> Example:
    """The image of ``identity`` in its ``pose_index``-th pose, exactly reproducible.

    The identity comes from ``default_rng([seed, identity])``; the pose, background and noise from
    ``default_rng([seed, identity, pose_index])``: the same image whatever else is generated.
    ``person`` may pass that identity in, already sampled (it must be the same one).
    """
    size = size or SIZES[preset]
    supersample = supersample or SUPERSAMPLE[preset]
    ident = person or sample_identity(np.random.default_rng([seed, identity]), preset, identity)
    rng = np.random.default_rng([seed, identity, pose_index])
    pose = sample_pose(rng, preset)
    if preset == "market":
        first, step = identity_cameras(seed, identity)
        camera = (first + pose_index * step) % N_CAMERAS + 1
        style = camera_style(seed, camera)
        image, kp = compose(ident, pose, street_background(rng, size, style), supersample, 0.2)
        image += rng.standard_normal(image.shape, dtype=np.float32) * style.noise
    else:
        # one backdrop per person, as one photo session in DeepFashion In-shop: the condition
        # image shows the target's background exactly, so the generator can learn it all
        camera = 1
        backdrop = plain_background(np.random.default_rng([seed, STUDIO_STREAM, identity]), size)
        image, kp = compose(ident, pose, backdrop, supersample, 0.25)
    image = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    return Example(image, kp, identity, pose_index, camera, pose)
