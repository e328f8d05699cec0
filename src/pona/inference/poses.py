"""Where inference gets its poses: a pose JSON, an annotation row (``file.csv:name``), or a photo.

A pose spec (``--pose``, ``--source-pose``) is one of:
    pose.json                 a pose file: pona's keypoints JSON, OpenPose, COCO, MediaPipe (see
                              :func:`pona.data.posefile.read_pose`)
    annotations.csv:NAME      the row of image NAME in an annotation CSV
    photo.jpg (.png, ...)     a photo; its pose is extracted by the pose estimator (``pose`` extra)

A pose sequence (``--poses``) is one of:
    poses.json                a JSON list of pose objects, or ``{"poses": [...]}`` (or one pose)
    a folder of *.json        one pose file per frame, in sorted file-name order (an OpenPose
                              ``--write_json`` folder of ``*_keypoints.json``, ...)
    a folder of frames        images in sorted file-name order, poses extracted
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..data.estimators import get_estimator
from ..data.fit import read_photo
from ..data.layout import IMAGE_SUFFIXES
from ..data.poseformats import detect
from ..data.posefile import Pose, pose_from_json, pose_from_obj, read_json, read_pose
from ..errors import DataError

log = logging.getLogger(__name__)

# image (H, W, 3) uint8 -> (18, 2) (y, x) keypoints, -1 missing, or None when no person is found
Estimator = Callable[[np.ndarray], "np.ndarray | None"]


def default_estimator(name: str = "mediapipe") -> Estimator:
    """A registered pose estimator of :mod:`pona.data.estimators` (MediaPipe needs the ``pose`` extra)."""
    return get_estimator(name)


class LazyEstimator:
    """The default estimator, created on first call (MediaPipe loads a model: only pay when used)."""

    def __init__(self, name: str = "mediapipe"):
        self.name, self._estimator = name, None

    def __call__(self, image: np.ndarray):
        if self._estimator is None:
            self._estimator = default_estimator(self.name)
        return self._estimator(image)

    def close(self) -> None:
        if self._estimator is not None and hasattr(self._estimator, "close"):
            self._estimator.close()
        self._estimator = None


def is_image_path(spec: str | os.PathLike) -> bool:
    return Path(str(spec)).suffix.lower() in IMAGE_SUFFIXES


def estimate_pose(image: np.ndarray, estimator: Estimator | None, where: str) -> Pose:
    """The pose of the person in ``image`` ((H, W, 3) uint8), in that image's coordinates."""
    kp = (estimator or LazyEstimator())(image)
    if kp is None:
        raise DataError(f"{where}: the pose estimator found no person; give the pose as a JSON or file.csv:name")
    return Pose(np.asarray(kp, dtype=np.float64), tuple(image.shape[:2]))


def load_pose(spec: str | os.PathLike, estimator: Estimator | None = None, **options) -> Pose:
    """A pose from a pose spec (see the module docstring). ``options`` (format, person, image_size,
    threshold) go to :func:`~pona.data.posefile.read_pose` for pose files."""
    spec = str(spec)
    if ".csv:" not in spec and is_image_path(spec):
        if not Path(spec).is_file():
            raise DataError(f"{spec}: image not found")
        return estimate_pose(read_photo(spec), estimator, spec)
    return read_pose(spec, **options)


def _poses_from_json(path: Path, **options) -> list[Pose]:
    obj = read_json(path, "pose sequence")
    if isinstance(obj, dict) and "poses" in obj:
        obj = obj["poses"]
    if isinstance(obj, list) and not obj:
        raise DataError(f"{path}: expected a non-empty list of poses, or {{\"poses\": [...]}}")
    if isinstance(obj, list) and detect(obj[0]) == "pona":
        return [pose_from_json(p, f"{path}: pose {i}") for i, p in enumerate(obj)]
    return [pose_from_obj(obj, str(path), **options)]  # one pose, in any format


def load_pose_sequence(spec: str | os.PathLike, estimator: Estimator | None = None, **options) -> list[Pose]:
    """A list of poses from a sequence spec (see the module docstring); ``options`` as for
    :func:`load_pose`, applied to each pose file.

    Frames where the estimator finds no person are skipped with a warning; it is an error if
    none is left.
    """
    path = Path(spec)
    if path.is_file():
        return _poses_from_json(path, **options)
    if not path.is_dir():
        raise DataError(f"{path}: pose sequence not found (a JSON file or a folder of pose JSONs or frames)")
    jsons = sorted(p for p in path.iterdir() if p.suffix.lower() == ".json")
    if jsons:
        return [read_pose(p, **options) for p in jsons]
    frames = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not frames:
        raise DataError(f"{path}: no pose JSONs and no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    estimator = estimator or LazyEstimator()
    poses, skipped = [], []
    for frame in frames:
        try:
            poses.append(estimate_pose(read_photo(frame), estimator, str(frame)))
        except DataError:
            skipped.append(frame.name)
    if skipped:
        log.warning("%s: no person found in %d of %d frames, skipped: %s", path, len(skipped), len(frames),
                    ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else ""))
    if not poses:
        raise DataError(f"{path}: the pose estimator found no person in any of the {len(frames)} frames")
    return poses
