"""Pose files: pona's keypoints JSON, and a pose picked from an annotation CSV (``file.csv:name``).

Keypoints JSON (one pose)::

    {"format": "pona-pose", "image_size": [H, W], "keypoints": [[y, x], ... 18 pairs]}

``-1`` marks a missing joint; ``image_size`` is the size of the image the coordinates refer to.
A pose sequence is a JSON list of such objects (or ``{"poses": [...]}``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..fileio import atomic_path
from ..pose import JOINTS, NUM_JOINTS
from .layout import read_annotations

FORMAT = "pona-pose"


@dataclass(frozen=True)
class Pose:
    keypoints: np.ndarray            # (18, 2) float (y, x), -1 missing
    image_size: tuple[int, int] | None  # (H, W) the coordinates refer to, if known

    def to_json(self) -> dict:
        d = {"format": FORMAT, "keypoints": [[float(y), float(x)] for y, x in self.keypoints], "joints": list(JOINTS)}
        if self.image_size is not None:
            d["image_size"] = list(self.image_size)
        return d


def pose_from_json(obj, where: str) -> Pose:
    """Parse one pose object (see module docstring); ``where`` names the source in errors."""
    if not isinstance(obj, dict) or "keypoints" not in obj:
        raise DataError(f"{where}: expected an object with 'keypoints' (18 [y, x] pairs) and 'image_size'")
    kp = obj["keypoints"]
    try:
        arr = np.asarray(kp, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{where}: 'keypoints' must be 18 [y, x] number pairs") from None
    if arr.shape != (NUM_JOINTS, 2):
        raise DataError(f"{where}: 'keypoints' has shape {list(arr.shape)}, expected [{NUM_JOINTS}, 2] ([y, x] per joint)")
    if not np.isfinite(arr).all() or ((arr < 0) & (arr != -1)).any():
        raise DataError(f"{where}: keypoints must be finite, >= 0, or -1 for a missing joint")
    size = obj.get("image_size")
    if size is not None:
        if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
            raise DataError(f"{where}: 'image_size' must be [height, width] positive integers, got {size!r}")
        size = (int(size[0]), int(size[1]))
    return Pose(arr, size)


def read_pose(spec: str | os.PathLike) -> Pose:
    """A pose from ``pose.json`` or from an annotation CSV row, ``annotations.csv:image_name``."""
    spec = str(spec)
    if ".csv:" in spec:
        path, name = spec.split(".csv:", 1)
        path += ".csv"
        annotations = read_annotations(path)
        if name not in annotations:
            raise DataError(f"{path}: no row for image {name!r}")
        return Pose(annotations[name].astype(np.float64), None)
    path = Path(spec)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: pose file not found") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None
    return pose_from_json(obj, str(path))


def write_pose(path: str | os.PathLike, keypoints, image_size: tuple[int, int] | None) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(Pose(np.asarray(keypoints, dtype=np.float64), image_size).to_json()))
    return path
