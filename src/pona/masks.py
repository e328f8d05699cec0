"""The Market-1501 body mask of the field's mask-SSIM / mask-IS protocol (Ma et al. 2018, as used by
Deform, PATN and PoNA), computed from the target's annotated keypoints.

Each segment is filled as a quadrilateral of half-width 4 px around it, each visible joint as a
disc of radius 4, then the mask is closed with a 5x5 square (dilation, then erosion).
"""

from __future__ import annotations

import numpy as np
from skimage.draw import disk, polygon
from skimage.morphology import dilation, erosion

from .pose import visible

# The protocol's segments (joint indices). These are the drawing skeleton's limbs except that the
# ears connect to the neck (1-16, 1-17) rather than to the shoulders, plus four torso/head segments:
# R-hip-L-hip, L-hip-L-shoulder, R-hip-R-shoulder, R-ear-L-ear.
MASK_SEGMENTS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
    (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (1, 16), (1, 17),
    (8, 11), (11, 5), (8, 2), (16, 17),
)
RADIUS = 4
CLOSING = np.ones((5, 5), dtype=bool)


def market_mask(keypoints, height: int, width: int, radius: float = RADIUS) -> np.ndarray:
    """(18, 2) (y, x) keypoints, -1 missing -> (H, W) bool mask of the body."""
    kp = np.asarray(keypoints, dtype=np.float64)
    vis = visible(kp)
    mask = np.zeros((height, width), dtype=bool)
    for a, b in MASK_SEGMENTS:
        if not (vis[a] and vis[b]):
            continue
        d = kp[a] - kp[b]
        length = np.hypot(*d)
        if length == 0:
            continue  # a zero-length segment is covered by its joint's disc
        normal = radius * np.array([-d[1], d[0]]) / length
        corners = np.stack([kp[a] + normal, kp[a] - normal, kp[b] - normal, kp[b] + normal])
        rr, cc = polygon(corners[:, 0], corners[:, 1], shape=(height, width))
        mask[rr, cc] = True
    for y, x in kp[vis]:
        rr, cc = disk((y, x), radius, shape=(height, width))
        mask[rr, cc] = True
    return erosion(dilation(mask, CLOSING), CLOSING)
