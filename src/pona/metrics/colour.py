"""Colour transfer: does the generated person wear the condition person's clothes colours?

pona's own diagnostic, not a metric of the field or of the PoNA paper: SSIM, PSNR and L1 reward a
blurred, averaged person nearly as much as one in the right colours. Here the target pose gives two
garment regions, the torso (the shoulder-hip quadrilateral) and the legs (hip-knee-ankle lines);
each region's mean CIELAB colour in the target image is compared with the same region's in the
generated image (CIE76: Euclidean distance in L*a*b*), and a pair scores the worse of the two.
The target is the reference, so a pair is right when the generated image has the ground truth's
clothes colours where the target pose puts the clothes.
"""

from __future__ import annotations

import math

import numpy as np
from skimage.color import rgb2lab
from skimage.draw import line, polygon
from skimage.morphology import dilation, disk

from ..pose import visible

# A pair counts as "colours right" below this CIE76 distance. pona's threshold, not the field's:
# a CIE76 distance of about 10-15 is a visible shade difference within the same colour (a lighter
# or duller blue), above about 20 it reads as another colour (blue against purple or grey).
COLOUR_RIGHT = 15.0
MIN_PIXELS = 4  # a region smaller than this (joints at the border, a foreshortened torso) is dropped
TORSO = (2, 5, 11, 8)  # R-shoulder, L-shoulder, L-hip, R-hip: the polygon's corners, in order
LEGS = ((8, 9), (9, 10), (11, 12), (12, 13))  # R-hip-R-knee-R-ankle, L-hip-L-knee-L-ankle


def leg_radius(height: int) -> int:
    """Half-width in pixels of the legs' lines: 0 (1 px lines) up to 127 px of height, 1 (3 px) at
    128-383 px, 2 (5 px) from 384 px; thin enough to stay inside a leg."""
    return max(0, math.floor(height / 256 + 0.5))


def region_masks(keypoints, height: int, width: int) -> dict[str, np.ndarray]:
    """Garment regions of one pose: {"torso", "legs"} -> (H, W) bool, each only if it has >= MIN_PIXELS.

    keypoints: (18, 2) (y, x) in pixels, COCO-18 order, -1 = missing. "torso": the filled polygon
    R-shoulder, L-shoulder, L-hip, R-hip (all four needed); "legs": the hip-knee and knee-ankle
    segments whose two joints are present, ``leg_radius(height)`` px either side; clipped to the image.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    vis = visible(kp)
    masks = {}
    torso = np.zeros((height, width), dtype=bool)
    if vis[list(TORSO)].all():
        rr, cc = polygon(kp[list(TORSO), 0], kp[list(TORSO), 1], shape=(height, width))
        torso[rr, cc] = True
    masks["torso"] = torso
    legs = np.zeros((height, width), dtype=bool)
    for a, b in LEGS:
        if vis[a] and vis[b]:
            (y0, x0), (y1, x1) = np.rint(kp[[a, b]]).astype(int)
            rr, cc = line(y0, x0, y1, x1)
            inside = (rr >= 0) & (rr < height) & (cc >= 0) & (cc < width)
            legs[rr[inside], cc[inside]] = True
    r = leg_radius(height)
    masks["legs"] = dilation(legs, disk(r)) if r > 0 else legs
    return {name: m for name, m in masks.items() if m.sum() >= MIN_PIXELS}


def colour_error(target: np.ndarray, generated: np.ndarray, keypoints) -> float:
    """CIE76 distance between the mean CIELAB colours of target and generated, worst of the regions.

    target, generated: (H, W, 3) uint8 RGB of one size; keypoints: the target pose, (18, 2) (y, x).
    Returns the max over ``region_masks`` of ||mean Lab(target) - mean Lab(generated)||, in CIELAB
    units (0 = same mean colours; NaN when the pose gives no region).
    """
    if target.shape != generated.shape:
        raise ValueError(f"target is {target.shape}, generated {generated.shape}: the images must be of one size")
    regions = region_masks(keypoints, *target.shape[:2])
    if not regions:
        return math.nan
    lab_t, lab_g = rgb2lab(target), rgb2lab(generated)  # (H, W, 3): L* in [0, 100], a*, b* about [-128, 127]
    return max(float(np.linalg.norm(lab_t[m].mean(0) - lab_g[m].mean(0))) for m in regions.values())


def colour_summary(errors) -> dict:
    """Per-pair ``colour_error`` values -> {"colour_de": median, "colour_right": share below
    COLOUR_RIGHT, "right": that count, "pairs": pairs used}; pairs without a region (NaN) are left out."""
    e = np.asarray(list(errors), dtype=np.float64)
    e = e[~np.isnan(e)]
    if not len(e):
        return {"colour_de": math.nan, "colour_right": math.nan, "right": 0, "pairs": 0}
    right = int((e < COLOUR_RIGHT).sum())
    return {"colour_de": float(np.median(e)), "colour_right": right / len(e), "right": right, "pairs": len(e)}
