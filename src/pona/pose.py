"""The 18-keypoint pose: names, skeleton, flips, heat maps and drawing.

Conventions used everywhere in pona (and by every PATN-layout dataset):
- 18 joints in COCO-18 / OpenPose order (``JOINTS``);
- a keypoint is ``(y, x)`` in pixels, row first; ``-1`` in either coordinate marks a missing joint;
- a pose is an array of shape ``(18, 2)``; batches are ``(..., 18, 2)``.

Pure functions, no file I/O.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

JOINTS = (
    "nose", "neck",
    "r_shoulder", "r_elbow", "r_wrist",
    "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle",
    "l_hip", "l_knee", "l_ankle",
    "r_eye", "l_eye", "r_ear", "l_ear",
)
NUM_JOINTS = len(JOINTS)
MISSING = -1

# The 19 limbs of the OpenPose COCO-18 skeleton (joint index pairs), used for drawing and masks.
LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7),
    (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
    (2, 16), (5, 17),
)

# FLIP_PERM[i] is the joint that joint i becomes after a horizontal flip (right <-> left).
FLIP_PERM = (0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 15, 14, 17, 16)

# Head joints, used by PCKh's head box: nose, neck, eyes, ears.
HEAD_JOINTS = (0, 1, 14, 15, 16, 17)

# One colour per joint (hue wheel, right side warm, left side cool) for drawing.
JOINT_COLORS = (
    (255, 0, 0), (255, 85, 0),
    (255, 170, 0), (255, 255, 0), (170, 255, 0),
    (85, 255, 0), (0, 255, 0), (0, 255, 85),
    (0, 255, 170), (0, 255, 255), (0, 170, 255),
    (0, 85, 255), (0, 0, 255), (85, 0, 255),
    (170, 0, 255), (255, 0, 255), (255, 0, 170),
    (255, 0, 85),
)


def visible(keypoints) -> np.ndarray | torch.Tensor:
    """Boolean mask (..., 18): True where the joint is present (neither coordinate is -1)."""
    return (keypoints[..., 0] != MISSING) & (keypoints[..., 1] != MISSING)


def heatmaps(
    keypoints,
    height: int,
    width: int,
    sigma: float = 6.0,
    quantize: bool = False,
) -> torch.Tensor:
    """Gaussian heat maps of a pose, one channel per joint.

    ``P_i(y, x) = exp(-((y - y_i)^2 + (x - x_i)^2) / (2 sigma^2))``.

    This follows the released PATN/PoNA code (``cords_to_map``), whose denominator is
    ``2 sigma^2``; the paper's eq. (1) writes ``sigma^2``. Released models were trained on the
    code's maps, so the code wins. A missing joint gives an all-zero channel.

    Args:
        keypoints: (..., 18, 2) tensor or array of (y, x) pixel coordinates, -1 for missing.
            A tensor's device is kept: maps are computed where the keypoints live.
        height, width: size of the maps.
        sigma: Gaussian width in pixels (6 in the paper and in the field).
        quantize: reproduce the field's DeepFashion preprocessing, which stored the maps as
            uint8 and so kept only the value 1 exactly at integer joint locations (a 1-pixel peak).

    Returns:
        float32 tensor (..., 18, H, W) in [0, 1].
    """
    kp = torch.as_tensor(keypoints)
    if kp.shape[-2:] != (NUM_JOINTS, 2):
        raise ValueError(f"keypoints must have shape (..., {NUM_JOINTS}, 2), got {tuple(kp.shape)}")
    kp = kp.to(torch.float32)
    ys = torch.arange(height, dtype=torch.float32, device=kp.device)
    xs = torch.arange(width, dtype=torch.float32, device=kp.device)
    # The Gaussian is separable: exp(-(dy^2 + dx^2)/2s^2) = exp(-dy^2/2s^2) * exp(-dx^2/2s^2).
    gy = torch.exp(-((ys - kp[..., 0:1]) ** 2) / (2 * sigma**2))  # (..., 18, H)
    gx = torch.exp(-((xs - kp[..., 1:2]) ** 2) / (2 * sigma**2))  # (..., 18, W)
    maps = gy.unsqueeze(-1) * gx.unsqueeze(-2)  # (..., 18, H, W)
    maps = maps * visible(kp)[..., None, None]
    if quantize:
        maps = torch.floor(maps)  # uint8 truncation: 1 at an integer joint location, 0 elsewhere
    return maps


def flip_keypoints(keypoints: np.ndarray, width: int) -> np.ndarray:
    """Mirror a pose horizontally in an image of ``width`` pixels and swap left/right joints.

    The field's original data loaders mirrored the image and heat maps but forgot the swap, which
    teaches the model that a person's right arm may be on either side.
    """
    kp = np.array(keypoints, copy=True)
    vis = visible(kp)
    kp[..., 1] = np.where(vis, width - 1 - kp[..., 1], kp[..., 1])
    return kp[..., FLIP_PERM, :]


def draw_pose(
    image: Image.Image | np.ndarray | None,
    keypoints,
    size: tuple[int, int] | None = None,
    radius: int | None = None,
    width: int | None = None,
) -> Image.Image:
    """Draw a pose (coloured limbs, then joints) over ``image``, or on black if image is None.

    Args:
        image: PIL image or (H, W, 3) uint8 array; None draws on a black canvas of ``size``.
        keypoints: (18, 2) (y, x), -1 for missing.
        size: (height, width) of the canvas when image is None.
        radius, width: joint radius and limb width; by default scaled to the image height.
    """
    if image is None:
        if size is None:
            raise ValueError("draw_pose needs an image or a size")
        canvas = Image.new("RGB", (size[1], size[0]))
    elif isinstance(image, np.ndarray):
        canvas = Image.fromarray(image).convert("RGB")
    else:
        canvas = image.convert("RGB").copy()
    kp = np.asarray(keypoints, dtype=np.float64)
    vis = visible(kp)
    scale = canvas.height / 128
    radius = radius if radius is not None else max(1, round(2 * scale))
    width = width if width is not None else max(1, round(1.5 * scale))
    draw = ImageDraw.Draw(canvas)
    for a, b in LIMBS:
        if vis[a] and vis[b]:
            color = tuple((np.array(JOINT_COLORS[a]) + JOINT_COLORS[b]) // 2)
            draw.line([(kp[a, 1], kp[a, 0]), (kp[b, 1], kp[b, 0])], fill=color, width=width)
    for j in np.flatnonzero(vis):
        y, x = kp[j]
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=JOINT_COLORS[j])
    return canvas


def heatmaps_to_image(maps: torch.Tensor) -> np.ndarray:
    """(18, H, W) heat maps -> (H, W, 3) uint8 picture, each joint in its colour (max over joints)."""
    colors = torch.tensor(JOINT_COLORS, dtype=torch.float32, device=maps.device)  # (18, 3)
    rgb = (maps.float()[..., None] * colors[:, None, None, :]).amax(dim=0)  # (H, W, 3)
    return rgb.clamp(0, 255).round().to(torch.uint8).cpu().numpy()


def interpolate(start, end, steps: int) -> np.ndarray:
    """``steps`` poses from ``start`` to ``end`` (both included), linear in each coordinate.

    A joint present in both poses moves on a straight line; a joint present in only one of them
    is shown (at its only position) on that pose's half of the sequence and missing on the other.

    Args:
        start, end: (18, 2) (y, x), -1 missing.
        steps: number of poses, >= 2.

    Returns:
        (steps, 18, 2) float64.
    """
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}")
    a, b = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    t = np.linspace(0.0, 1.0, steps)[:, None, None]  # (steps, 1, 1)
    line = (1 - t) * a + t * b  # (steps, 18, 2)
    va, vb = visible(a)[:, None], visible(b)[:, None]  # (18, 1)
    first_half = t <= 0.5  # (steps, 1, 1)
    only_a = np.where(first_half, a, MISSING)  # (steps, 18, 2)
    only_b = np.where(first_half, MISSING, b)
    return np.where(va & vb, line, np.where(va, only_a, np.where(vb, only_b, MISSING))).astype(np.float64)
