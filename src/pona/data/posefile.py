"""Pose files: the one reader and writer of a single pose, in pona's JSON or another tool's format.

pona's keypoints JSON (one pose)::

    {"format": "pona-pose", "image_size": [H, W], "keypoints": [[y, x], ... 18 pairs]}

``-1`` marks a missing joint; ``image_size`` is the size of the image the coordinates refer to.
A pose sequence is a JSON list of such objects (or ``{"poses": [...]}``).

:func:`read_pose` also reads a row of a PATN annotation CSV (``file.csv:name``) and the files of
OpenPose, COCO / COCO-WholeBody (MMPose, Detectron2, YOLO-pose, DWPose) and MediaPipe, detected by
their structure (:mod:`pona.data.poseformats`), and checks the result (:mod:`pona.data.posechecks`).
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..fileio import atomic_path
from ..pose import JOINTS, NUM_JOINTS
from . import poseformats
from .layout import read_annotations, write_annotations
from .posechecks import check_image_size, check_pose

log = logging.getLogger(__name__)

FORMAT = "pona-pose"
READ_FORMATS = poseformats.FORMATS + ("csv",)  # csv: a PATN annotation row, file.csv:NAME
WRITE_FORMATS = poseformats.WRITE_FORMATS


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
    """Parse one pona pose object (see module docstring); ``where`` names the source in errors."""
    if not isinstance(obj, dict) or "keypoints" not in obj:
        raise DataError(f"{where}: expected an object with 'keypoints' (18 [y, x] pairs) and 'image_size'")
    kp = obj["keypoints"]
    # np.asarray would take "12" and true for numbers: look at each value first
    if not (isinstance(kp, list) and all(isinstance(p, list) for p in kp)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for p in kp for v in p)):
        raise DataError(f"{where}: 'keypoints' must be {NUM_JOINTS} [y, x] number pairs")
    try:
        arr = np.asarray(kp, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{where}: 'keypoints' must be {NUM_JOINTS} [y, x] number pairs") from None
    if arr.shape != (NUM_JOINTS, 2):
        raise DataError(f"{where}: 'keypoints' has shape {list(arr.shape)}, expected [{NUM_JOINTS}, 2] ([y, x] per joint)")
    if not np.isfinite(arr).all() or ((arr < 0) & (arr != -1)).any():
        raise DataError(f"{where}: keypoints must be finite, >= 0, or -1 for a missing joint")
    # -1 in one coordinate only is a lost value, not a missing joint: guessing which was meant
    # would put a limb at the image's edge or drop a joint the user placed
    half = np.flatnonzero((arr[:, 0] == -1) != (arr[:, 1] == -1))
    if len(half):
        j = int(half[0])
        raise DataError(f"{where}: joint {j} ({JOINTS[j]}) is [{arr[j, 0]:g}, {arr[j, 1]:g}]: -1 in one coordinate "
                        "only; a missing joint is [-1, -1]")
    size = obj.get("image_size")
    if size is not None:
        size = check_image_size(size, f"{where}: 'image_size'")
    return Pose(arr, size)


def read_json(path: str | os.PathLike, what: str = "pose file"):
    """A JSON file -> its object, or one DataError line for anything that is not JSON text."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder, expected a {what}")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: {what} not found") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read the {what}: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                        f"expected a JSON {what}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply to be a {what}") from None
    except ValueError as e:  # an integer of thousands of digits (Python's int parsing limit)
        raise DataError(f"{path}: a number in the JSON is too long ({str(e).split(';')[0]})") from None


def pose_from_obj(obj, where: str, format: str | None = None, person: int | None = None,
                  image_size: tuple[int, int] | None = None, threshold: float | None = None) -> Pose:
    """A parsed JSON pose file of any format (see :func:`read_pose`) -> the checked Pose."""
    fmt = format or poseformats.detect(obj)
    if fmt is None:
        raise DataError(f"{where}: not a pose file pona knows: expected pona JSON {{\"keypoints\": ...}}, OpenPose "
                        "{\"people\": ...}, COCO {\"annotations\": ...} or [{\"keypoints\": ...}], or MediaPipe landmarks")
    if fmt == "pona":
        if isinstance(obj, list) or (isinstance(obj, dict) and "poses" in obj):
            raise DataError(f"{where}: holds a pose sequence, expected one pose")
        if person:
            raise DataError(f"{where}: person {person} asked, a pona pose file holds one (person 0)")
        pose = pose_from_json(obj, where)
        if pose.image_size is None and image_size is not None:
            pose = Pose(pose.keypoints, image_size)
        return _checked(pose, where)
    found = poseformats.parse(obj, where, fmt)
    return _choose(found, where, person, image_size, threshold)


def _choose(found: poseformats.People, where: str, person: int | None, image_size, threshold) -> Pose:
    size = found.image_size or image_size
    if found.normalised and size is None:
        raise DataError(f"{where}: {found.layout.name} coordinates are fractions of the image: give the image "
                        "size (image_size=(H, W); on the command line --image-size HxW)")
    if threshold is None:
        threshold = found.threshold
    poses = [poseformats.to_coco18(p, found.layout, threshold, found.normalised, size) for p in found.people]
    if person is None:
        i = poseformats.largest(poses)
    elif not 0 <= person < len(poses):
        raise DataError(f"{where}: person {person} asked, the file has {len(poses)} (0 to {len(poses) - 1})")
    else:
        i = person
    return _checked(Pose(poses[i], size), where if len(poses) == 1 else f"{where}: person {i}")


def _checked(pose: Pose, where: str) -> Pose:
    for warning in check_pose(pose.keypoints, pose.image_size, where):
        log.warning("%s", warning)
    return pose


def split_pose_spec(spec: str | os.PathLike) -> tuple[str, str | None]:
    """``annotations.csv:NAME`` -> (``annotations.csv``, NAME); any other spec -> (spec, None)."""
    spec = str(spec)
    if ".csv:" not in spec:
        return spec, None
    path, name = spec.split(".csv:", 1)
    return path + ".csv", name


def read_pose(spec: str | os.PathLike, format: str | None = None, person: int | None = None,
              image_size: tuple[int, int] | None = None, threshold: float | None = None) -> Pose:
    """One pose from a file of any known format, checked.

    Args:
        spec: a JSON file (pona, OpenPose, COCO, MediaPipe), a MediaPipe landmarks ``.csv``, or a
            PATN annotation row ``annotations.csv:image_name``.
        format: force one of ``READ_FORMATS`` instead of detecting it from the file's structure.
        person: which person of a file with several (0-based, file order); default the largest
            (bounding box of its visible joints).
        image_size: (H, W) the coordinates refer to, when the file does not say (MediaPipe's
            normalised landmarks need it); also enables the checks against the image.
        threshold: confidence under which a joint is missing (default per format, see
            :data:`pona.data.poseformats.DEFAULT_THRESHOLD`).

    Raises DataError naming the file, and where in it, on the first problem.
    """
    spec = str(spec)
    if format is not None and format not in READ_FORMATS:
        raise DataError(f"{spec}: unknown pose format {format!r}; known: {', '.join(READ_FORMATS)}")
    if image_size is not None:
        image_size = check_image_size(list(image_size), f"{spec}: the image size given")
    if threshold is not None and not (math.isfinite(threshold) and threshold >= 0):
        raise DataError(f"{spec}: confidence threshold must be a number >= 0, got {threshold}")
    if ".csv:" in spec and format in (None, "csv"):
        path, name = split_pose_spec(spec)
        annotations = read_annotations(path)
        if name not in annotations:
            raise DataError(f"{path}: no row for image {name!r}")
        return _checked(Pose(annotations[name].astype(np.float64), image_size), spec)
    path = Path(spec)
    if format == "csv":
        raise DataError(f"{path}: a PATN annotation CSV holds many poses: name one, {path}:IMAGE_NAME")
    if path.suffix.lower() == ".csv" and format in (None, "mediapipe"):
        if not path.is_file():
            raise DataError(f"{path}: pose file not found")
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise DataError(f"{path}: not UTF-8 text; expected a MediaPipe landmarks CSV") from None
        return _choose(poseformats.parse_mediapipe_csv(text, str(path)), str(path), person, image_size, threshold)
    return pose_from_obj(read_json(path), str(path), format, person, image_size, threshold)


def write_pose(path: str | os.PathLike, keypoints, image_size: tuple[int, int] | None = None,
               format: str = "pona", name: str | None = None) -> Path:
    """Write one pose, atomically, as ``format``: pona JSON, OpenPose JSON (COCO-18 model), a COCO
    keypoint file (17 joints: the neck is dropped), or a PATN annotation CSV (one row ``name``,
    default the file's stem + ``.jpg``; coordinates rounded to whole pixels, as the layout has them)."""
    path = Path(path)
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.shape != (NUM_JOINTS, 2):
        raise ValueError(f"keypoints must have shape ({NUM_JOINTS}, 2), got {kp.shape}")
    if format == "csv":
        return write_annotations(path, {name or f"{path.stem}.jpg": kp})
    if format == "pona":
        obj = Pose(kp, image_size).to_json()
    elif format == "openpose":
        obj = poseformats.to_openpose(kp, image_size)
    elif format == "coco":
        obj = poseformats.to_coco(kp, image_size, file_name=name or "image.jpg")
    else:
        raise DataError(f"{path}: cannot write pose format {format!r}; choose from {', '.join(WRITE_FORMATS)}")
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj))
    return path
