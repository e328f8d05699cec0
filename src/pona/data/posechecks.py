"""Sanity checks of a pose read from a file: the classic mistakes of keypoint files, in one line each.

A file that cannot be a usable pose raises :class:`DataError` (nothing visible, every joint outside
the image, coordinates normalised to [0, 1], x and y swapped); a pose that is probably wrong but
could be right (lying down, left and right mirrored) gives warnings for the caller to log.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..pose import JOINTS, visible

MAX_SIDE = 100_000  # pixels; larger sides (or coordinates) are typos or overflow, not photos

_J = {name: i for i, name in enumerate(JOINTS)}
HEAD = tuple(_J[n] for n in ("nose", "r_eye", "l_eye", "r_ear", "l_ear"))
FEET = tuple(_J[n] for n in ("r_ankle", "l_ankle", "r_knee", "l_knee"))


def check_image_size(size, what: str) -> tuple[int, int]:
    """``[H, W]`` of JSON or an argument -> (H, W), or DataError. ``what`` names the file and field,
    e.g. ``"pose.json: 'image_size'"``. Booleans are not sizes."""
    if not (isinstance(size, (list, tuple)) and len(size) == 2
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in size)):
        raise DataError(f"{what} must be [height, width] positive integers, got {str(size)[:60]}")
    h, w = size
    if not (0 < h <= MAX_SIDE and 0 < w <= MAX_SIDE):
        raise DataError(f"{what} must be [height, width] positive integers up to {MAX_SIDE}, got {h}x{w}")
    return int(h), int(w)


def check_pose(keypoints: np.ndarray, image_size: tuple[int, int] | None, where: str) -> list[str]:
    """Refuse an unusable pose; return warnings about a suspicious one.

    Args:
        keypoints: (18, 2) (y, x) pixels, -1 missing; finite and >= 0 where present (the readers
            make sure of that).
        image_size: (H, W) the coordinates refer to, or None when unknown (fewer checks).
        where: the file (and person) named in messages.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    vis = visible(kp)
    pts = kp[vis]  # (n, 2) (y, x)
    if len(pts) == 0:
        raise DataError(f"{where}: every joint is missing (no keypoint above the confidence threshold)")
    if pts.max() > MAX_SIDE:
        raise DataError(f"{where}: a coordinate is {pts.max():.3g}, beyond any image ({MAX_SIDE} px)")
    # One pixel cannot hold a person: all coordinates in [0, 1] are fractions of the image size.
    if len(pts) >= 2 and pts.max() <= 1 and (image_size is None or min(image_size) > 2):
        raise DataError(f"{where}: every coordinate is within [0, 1]: they look normalised to the image size; "
                        "give pixels (or read the file as MediaPipe landmarks with the image size)")
    if image_size is not None:
        h, w = image_size
        inside = (pts[:, 0] < h) & (pts[:, 1] < w)
        inside_transposed = (pts[:, 0] < w) & (pts[:, 1] < h)
        # A real pose may reach out of its frame, but hardly fits the transposed frame so well.
        if h != w and not inside.all() and inside_transposed.all():
            raise DataError(f"{where}: {(~inside).sum()} of {len(pts)} joints are outside the {h}x{w} image (HxW) "
                            f"but all are inside a {w}x{h} one: x and y look swapped")
        if not inside.any():
            raise DataError(f"{where}: every joint is outside the {h}x{w} image (HxW) the coordinates refer to")
    warnings = []
    head, feet = [kp[list(js)][vis[list(js)]] for js in (HEAD, FEET)]
    if len(head) and len(feet):
        dy, dx = np.abs(feet.mean(0) - head.mean(0))
        if dx > 2 * dy:
            warnings.append(f"{where}: the head is beside the feet, not above them: is the person lying down, "
                            "or are x and y swapped?")
    mirror = _mirrored(kp, vis)
    if mirror:
        warnings.append(f"{where}: {mirror}")
    return warnings


def _mirrored(kp: np.ndarray, vis: np.ndarray) -> str | None:
    """Why left and right look mirrored, or None.

    Facing the camera, the person's right eye and shoulder are on the image's left (smaller x) of
    their left ones; seen from behind, both orders flip together and the face is hidden. A visible
    face with both orders flipped, or a face and torso that disagree, means a file that labels
    sides by the image rather than by the person (or a flip that forgot to swap the joints).
    """
    height = np.ptp(kp[vis][:, 0]) if vis.any() else 0.0
    tolerance = 0.05 * height  # a side view puts the two joints of a pair on top of each other

    def order(right: str, left: str) -> int | None:  # +1: right joint on the image's left
        r, l = _J[right], _J[left]
        if not (vis[r] and vis[l]) or abs(kp[r, 1] - kp[l, 1]) <= tolerance:
            return None
        return 1 if kp[r, 1] < kp[l, 1] else -1

    eyes, shoulders, hips = order("r_eye", "l_eye"), order("r_shoulder", "l_shoulder"), order("r_hip", "l_hip")
    if eyes == -1 and vis[_J["nose"]] and shoulders == -1:
        return ("left and right look mirrored: the face is visible yet the right eye and shoulder are on the "
                "image's right of the left ones (sides labelled by the image, not the person?)")
    if eyes is not None and shoulders is not None and eyes != shoulders:
        return "left and right look mixed up: the eyes and the shoulders are in opposite left/right order"
    if shoulders is not None and hips is not None and shoulders != hips:
        return "left and right look mixed up: the shoulders and the hips are in opposite left/right order"
    return None
