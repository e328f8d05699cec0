"""Keypoint files of other tools, in and out: OpenPose, COCO (and COCO-WholeBody), MediaPipe Pose.

Written from the formats' published descriptions. Each reader turns a parsed file into people, each
an ``(n, 3)`` array of ``(x, y, confidence)`` in its tool's joint order (a :class:`Layout`), and
:func:`to_coco18` maps a person to pona's ``(18, 2)`` ``(y, x)``, -1 missing. Formats:

    openpose   {"people": [{"pose_keypoints_2d": [x, y, c, ...]}]}; 18 joints (COCO-18, pona's own
               order) or 25 (BODY_25: mid-hip and feet dropped); c = 0 is a missing joint.
    coco       17 joints [x, y, v] (COCO-WholeBody: 133, the first 17 are the body): a dataset file
               {"annotations": [...], "images": [...]} (v = 0 missing), or a list of detections
               [{"keypoints": [...], "score": s}] as MMPose, Detectron2 and YOLO-pose write them
               (the third value a score). The neck is the shoulders' midpoint when both are present.
    mediapipe  33 BlazePose landmarks {x, y, z, visibility}, x and y normalised to [0, 1]: a JSON list
               (or {"landmarks": [...]}) or a CSV with x, y, visibility columns, one row per landmark;
               needs the image size.
    pona       pona's keypoints JSON (see :mod:`pona.data.posefile`).

:func:`detect` names the format of a parsed JSON file from its structure.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from ..pose import MISSING, NUM_JOINTS, visible
from .estimators import BLAZEPOSE_SHOULDERS, BLAZEPOSE_TO_COCO18, blazepose_to_coco18
from .posechecks import check_image_size

FORMATS = ("pona", "openpose", "coco", "mediapipe")
WRITE_FORMATS = ("pona", "openpose", "coco", "csv")


@dataclass(frozen=True)
class Layout:
    """A tool's joint order. ``coco18[j]`` is the tool's index of COCO-18 joint j; None for the neck
    when the tool has none (then it is the midpoint of the ``shoulders``)."""
    name: str
    joints: int
    coco18: tuple
    shoulders: tuple[int, int] | None = None


COCO17_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
                "left_knee", "right_knee", "left_ankle", "right_ankle")
_COCO17_TO_18 = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)

OPENPOSE_COCO18 = Layout("OpenPose COCO-18", 18, tuple(range(18)))
OPENPOSE_BODY25 = Layout("OpenPose BODY_25", 25, (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18))
COCO17 = Layout("COCO-17", 17, _COCO17_TO_18, (6, 5))
WHOLEBODY = Layout("COCO-WholeBody", 133, _COCO17_TO_18, (6, 5))  # 17 body, 6 feet, 68 face, 2 x 21 hands
BLAZEPOSE = Layout("MediaPipe BlazePose", 33, BLAZEPOSE_TO_COCO18, BLAZEPOSE_SHOULDERS)
# COCO-18 -> COCO-17 for writing: COCO-17 joint i is COCO-18 joint COCO18_TO_17[i] (the neck has no place).
COCO18_TO_17 = tuple(_COCO17_TO_18.index(i) for i in range(17))

# Confidence under which a joint is missing, when the caller gives none. OpenPose and COCO annotation
# files already mark missing joints with 0; detectors score every joint, and guess hidden ones with
# low scores (0.3: what DWPose draws); MediaPipe's 0.5 is pona's estimator's default.
DEFAULT_THRESHOLD = {"openpose": 0.0, "coco": 0.0, "detections": 0.3, "mediapipe": 0.5}


@dataclass(frozen=True)
class People:
    """A parsed foreign file: its people in their tool's layout, and what the file says of the image."""
    format: str                         # one of FORMATS
    layout: Layout
    people: list                        # of (layout.joints, 3) float arrays (x, y, confidence)
    image_size: tuple[int, int] | None  # (H, W) if the file gives it
    threshold: float                    # the format's default confidence threshold
    normalised: bool = False            # x, y are fractions of the image width and height


# --- detection ---------------------------------------------------------------------------------

def detect(obj) -> str | None:
    """The format of a parsed JSON file, from its structure; None if it is none of FORMATS."""
    if isinstance(obj, dict):
        if obj.get("format") == "pona-pose" or (_is_pairs(obj.get("keypoints")) and "keypoint_scores" not in obj):
            return "pona"
        if "poses" in obj:
            return "pona"  # a pona pose sequence
        if "people" in obj:
            return "openpose"
        if "annotations" in obj or "instance_info" in obj or "keypoints" in obj:
            return "coco"
        if "landmarks" in obj or "pose_landmarks" in obj:
            return "mediapipe"
    if isinstance(obj, list) and obj and isinstance(obj[0], dict):
        if detect(obj[0]) == "pona":
            return "pona"  # a pona pose sequence
        if "keypoints" in obj[0] or "instances" in obj[0]:
            return "coco"
        if "x" in obj[0] and "y" in obj[0]:
            return "mediapipe"
    return None


def _is_pairs(kp) -> bool:
    """pona's [[y, x], ...] (its length checked by pona's reader); MMPose's [[x, y], ...] comes with
    keypoint_scores, COCO's keypoints are flat."""
    return isinstance(kp, list) and bool(kp) and all(isinstance(p, list) for p in kp)


def parse(obj, where: str, format: str) -> People:
    """A parsed JSON file of ``format`` (not pona) -> its people."""
    readers = {"openpose": _openpose, "coco": _coco, "mediapipe": _mediapipe_json}
    if format not in readers:
        raise DataError(f"{where}: unknown pose format {format!r}; known: {', '.join(FORMATS)}")
    return readers[format](obj, where)


# --- numbers -----------------------------------------------------------------------------------

def _numbers(values, where: str, what: str) -> np.ndarray:
    """A JSON list of numbers -> float64 array; strings, booleans, NaN, huge ints refused."""
    if not isinstance(values, list):
        raise DataError(f"{where}: {what} must be a list of numbers, got {type(values).__name__}")
    out = np.empty(len(values))
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise DataError(f"{where}: {what}[{i}] is {str(v)[:20]!r}, not a number")
        try:
            out[i] = v
        except OverflowError:
            raise DataError(f"{where}: {what}[{i}] is too large a number") from None
        if not math.isfinite(out[i]):
            raise DataError(f"{where}: {what}[{i}] is {v}, not a finite number")
    return out


def _triples(values, where: str, what: str, layouts: tuple[Layout, ...]) -> tuple[np.ndarray, Layout]:
    """A flat [x, y, c, ...] list -> ((n, 3), its layout, told apart by the number of joints)."""
    flat = _numbers(values, where, what)
    for layout in layouts:
        if len(flat) == 3 * layout.joints:
            person = flat.reshape(-1, 3)
            if (person[:, 2] < 0).any():
                j = int(np.flatnonzero(person[:, 2] < 0)[0])
                raise DataError(f"{where}: {what}: joint {j} has a negative confidence ({person[j, 2]:g})")
            return person, layout
    expected = " or ".join(f"{3 * l.joints} ({l.name}: {l.joints} joints x 3)" for l in layouts)
    raise DataError(f"{where}: {what} has {len(flat)} values, expected {expected}")


# --- readers -------------------------------------------------------------------------------------

def _openpose(obj, where: str) -> People:
    people = obj.get("people") if isinstance(obj, dict) else None
    if not isinstance(people, list):
        raise DataError(f"{where}: expected OpenPose JSON, {{\"people\": [{{\"pose_keypoints_2d\": [...]}}]}}")
    if not people:
        raise DataError(f"{where}: 'people' is empty: OpenPose found nobody in this frame")
    out, layouts = [], set()
    for i, p in enumerate(people):
        if not isinstance(p, dict) or "pose_keypoints_2d" not in p:
            raise DataError(f"{where}: people[{i}] has no 'pose_keypoints_2d'")
        person, layout = _triples(p["pose_keypoints_2d"], where, f"people[{i}].pose_keypoints_2d",
                                  (OPENPOSE_COCO18, OPENPOSE_BODY25))
        out.append(person)
        layouts.add(layout)
    if len(layouts) > 1:
        raise DataError(f"{where}: people of both OpenPose models (18 and 25 joints) in one file")
    size = None
    if "canvas_height" in obj or "canvas_width" in obj:  # ControlNet's OpenPose editor writes the canvas
        size = check_image_size([obj.get("canvas_height"), obj.get("canvas_width")], f"{where}: canvas_height/width")
    return People("openpose", layouts.pop(), out, size, DEFAULT_THRESHOLD["openpose"])


def _instance_keypoints(inst, where: str, what: str) -> np.ndarray:
    """One detection's keypoints, in any of the shapes detectors write, -> (n, 3) (x, y, score)."""
    kp = inst.get("keypoints")
    if isinstance(kp, dict):  # Ultralytics: {"x": [...], "y": [...], "visible": [...]}
        cols = [_numbers(kp.get(k), where, f"{what}.keypoints.{k}") for k in ("x", "y")]
        conf = kp.get("visible", kp.get("score", [1.0] * len(cols[0])))
        cols.append(_numbers(conf, where, f"{what}.keypoints.visible"))
        if len({len(c) for c in cols}) != 1:
            raise DataError(f"{where}: {what}.keypoints: x, y and visible have different lengths")
        return np.stack(cols, 1)
    if isinstance(kp, list) and kp and isinstance(kp[0], list):  # MMPose: [[x, y], ...] + keypoint_scores
        rows = [_numbers(p, where, f"{what}.keypoints[{i}]") for i, p in enumerate(kp)]
        if any(len(r) not in (2, 3) for r in rows):
            raise DataError(f"{where}: {what}.keypoints: each joint must be [x, y] or [x, y, score]")
        xy = np.array([r[:2] for r in rows])
        if "keypoint_scores" in inst:
            scores = _numbers(inst["keypoint_scores"], where, f"{what}.keypoint_scores")
            if len(scores) != len(xy):
                raise DataError(f"{where}: {what}: {len(xy)} keypoints but {len(scores)} keypoint_scores")
        else:
            scores = np.array([r[2] if len(r) == 3 else 1.0 for r in rows])
        return np.concatenate([xy, scores[:, None]], 1)
    return _numbers(kp, where, f"{what}.keypoints")  # COCO: flat [x, y, v, ...]; _coco_person checks the length


def _coco_person(values: np.ndarray, where: str, what: str) -> tuple[np.ndarray, Layout]:
    values = values.reshape(-1, 3) if values.ndim == 1 and len(values) % 3 == 0 else values
    for layout in (COCO17, WHOLEBODY):
        if values.ndim == 2 and len(values) == layout.joints:
            if (values[:, 2] < 0).any():
                j = int(np.flatnonzero(values[:, 2] < 0)[0])
                raise DataError(f"{where}: {what}: joint {j} has a negative confidence ({values[j, 2]:g})")
            return values, layout
    n = len(values) if values.ndim == 2 else f"{len(values)} values, not"
    raise DataError(f"{where}: {what} has {n} joints, expected 17 (COCO) or 133 (COCO-WholeBody), [x, y, v] each")


def _coco(obj, where: str) -> People:
    threshold, size = DEFAULT_THRESHOLD["coco"], None
    if isinstance(obj, dict) and "annotations" in obj:  # a dataset file: v in {0, 1, 2}
        instances, key = obj["annotations"], "annotations"
        sizes = {}
        for im in obj.get("images") or []:
            if isinstance(im, dict) and "id" in im and "height" in im and "width" in im:
                sizes[im["id"]] = (im["height"], im["width"])
    else:
        sizes = {}
        if isinstance(obj, dict) and "instance_info" in obj:  # MMPose's saved predictions
            obj = obj["instance_info"]
        if isinstance(obj, list) and obj and isinstance(obj[0], dict) and "instances" in obj[0]:
            obj = obj[0]["instances"]  # MMPose per-frame list: the first frame
        instances, key = (obj if isinstance(obj, list) else [obj]), "detections"
        threshold = DEFAULT_THRESHOLD["detections"]
    if not isinstance(instances, list):
        raise DataError(f"{where}: '{key}' must be a list")
    people, layouts, image_ids = [], set(), []
    for i, inst in enumerate(instances):
        what = f"{key}[{i}]"
        if not isinstance(inst, dict) or "keypoints" not in inst:
            if key == "annotations" and isinstance(inst, dict):
                continue  # a dataset file may hold non-person annotations
            raise DataError(f"{where}: {what} has no 'keypoints'")
        if isinstance(inst.get("score"), (int, float)) and inst["score"] < 0:
            raise DataError(f"{where}: {what}: negative score {inst['score']:g}")
        person, layout = _coco_person(_instance_keypoints(inst, where, what), where, what)
        people.append(person)
        layouts.add(layout)
        image_ids.append(inst.get("image_id"))
    if not people:
        raise DataError(f"{where}: no person with keypoints in '{key}'")
    if len(layouts) > 1:
        raise DataError(f"{where}: COCO-17 and COCO-WholeBody people in one file")
    if sizes and len(set(image_ids)) == 1 and image_ids[0] in sizes:
        size = check_image_size(list(sizes[image_ids[0]]), f"{where}: images[id={image_ids[0]}] height/width")
    return People("coco", layouts.pop(), people, size, threshold)


def _mediapipe_size(obj, where: str) -> tuple[int, int] | None:
    if not isinstance(obj, dict):
        return None
    if "image_size" in obj:
        return check_image_size(obj["image_size"], f"{where}: image_size")
    for h, w in (("image_height", "image_width"), ("height", "width")):
        if h in obj or w in obj:
            return check_image_size([obj.get(h), obj.get(w)], f"{where}: {h}/{w}")
    return None


def _mediapipe_json(obj, where: str) -> People:
    marks = obj
    if isinstance(obj, dict):
        marks = obj.get("landmarks", obj.get("pose_landmarks"))
    if not isinstance(marks, list) or not marks:
        raise DataError(f"{where}: expected MediaPipe landmarks, a list of 33 {{x, y, z, visibility}}")
    people = marks if isinstance(marks[0], list) else [marks]  # the Tasks API: one list per person
    out = []
    for k, person in enumerate(people):
        what = "landmarks" if len(people) == 1 else f"landmarks[{k}]"
        if not isinstance(person, list) or len(person) != BLAZEPOSE.joints:
            n = len(person) if isinstance(person, list) else type(person).__name__
            raise DataError(f"{where}: {what} has {n} landmarks, expected 33 (MediaPipe Pose)")
        rows = []
        for i, m in enumerate(person):
            if not isinstance(m, dict) or "x" not in m or "y" not in m:
                raise DataError(f"{where}: {what}[{i}] must be an object with x, y (and visibility)")
            rows.append(_numbers([m["x"], m["y"], m.get("visibility", 1.0)], where, f"{what}[{i}] x, y, visibility"))
        out.append(_landmarks(np.array(rows), where, what))
    return People("mediapipe", BLAZEPOSE, out, _mediapipe_size(obj, where), DEFAULT_THRESHOLD["mediapipe"], True)


def _landmarks(person: np.ndarray, where: str, what: str) -> np.ndarray:
    if (person[:, 2] < 0).any() or (person[:, 2] > 1).any():
        j = int(np.flatnonzero((person[:, 2] < 0) | (person[:, 2] > 1))[0])
        raise DataError(f"{where}: {what}[{j}]: visibility {person[j, 2]:g} is outside [0, 1]")
    return person


def parse_mediapipe_csv(text: str, where: str) -> People:
    """A MediaPipe landmarks CSV: a header naming x, y and visibility columns (others, such as
    landmark or z, ignored), then the 33 landmarks in order, one per row."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise DataError(f"{where}: empty CSV")
    header = [h.strip().lower() for h in rows[0]]
    if "x" not in header or "y" not in header:
        raise DataError(f"{where}:1: expected a header with x, y and visibility columns (MediaPipe landmarks)")
    cols = [header.index("x"), header.index("y"), header.index("visibility") if "visibility" in header else None]
    body = [(n, r) for n, r in enumerate(rows[1:], start=2) if any(c.strip() for c in r)]
    if len(body) != BLAZEPOSE.joints:
        raise DataError(f"{where}: {len(body)} landmark rows, expected 33 (MediaPipe Pose)")
    person = np.ones((BLAZEPOSE.joints, 3))
    for i, (n, r) in enumerate(body):
        for k, c in enumerate(cols):
            if c is None:
                continue
            try:
                person[i, k] = float(r[c])
            except (IndexError, ValueError):
                raise DataError(f"{where}:{n}: column {header[c]!r} is not a number") from None
            if not math.isfinite(person[i, k]):
                raise DataError(f"{where}:{n}: column {header[c]!r} is not a finite number")
    return People("mediapipe", BLAZEPOSE, [_landmarks(person, where, "landmarks")], None,
                  DEFAULT_THRESHOLD["mediapipe"], True)


# --- to COCO-18 -----------------------------------------------------------------------------------

def to_coco18(person: np.ndarray, layout: Layout, threshold: float,
              normalised: bool = False, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """(n, 3) (x, y, confidence) of ``layout`` -> (18, 2) (y, x) pixels, -1 missing.

    A joint is present when its confidence is > 0 and >= ``threshold``, and its coordinates are
    not negative (a detector's guess beyond the image's top or left edge). Normalised landmarks
    need ``image_size`` (H, W).
    """
    yx, conf = person[:, 1::-1], person[:, 2]
    if normalised:  # MediaPipe: one home for its conversion, the estimator's
        return blazepose_to_coco18(yx, np.where(conf > 0, conf, -1.0), image_size, threshold)
    keep = (conf > 0) & (conf >= threshold) & (yx >= 0).all(1)
    out = np.full((NUM_JOINTS, 2), float(MISSING))
    for j, k in enumerate(layout.coco18):
        if k is not None and keep[k]:
            out[j] = yx[k]
    if layout.shoulders is not None:
        r, l = layout.shoulders
        if keep[r] and keep[l]:
            out[1] = (yx[r] + yx[l]) / 2
    return out


def largest(poses: list[np.ndarray]) -> int:
    """Index of the pose whose visible joints span the largest box (the first on ties)."""
    def area(kp):
        pts = kp[visible(kp)]
        with np.errstate(over="ignore"):  # absurd coordinates are refused later, by the checks
            return float(np.prod(np.ptp(pts, axis=0) + 1)) if len(pts) else -1.0
    return max(range(len(poses)), key=lambda i: area(poses[i]))


# --- writers --------------------------------------------------------------------------------------

def to_openpose(keypoints: np.ndarray, image_size: tuple[int, int] | None) -> dict:
    """OpenPose JSON (COCO-18 model) of one person; a missing joint is (0, 0, 0), a present one has c = 1."""
    flat = []
    for present, (y, x) in zip(visible(keypoints), keypoints):
        flat += [float(x), float(y), 1.0] if present else [0.0, 0.0, 0.0]
    out = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": flat, "face_keypoints_2d": [],
                                       "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": []}]}
    if image_size is not None:  # not OpenPose's, ControlNet's: other readers ignore unknown keys
        out["canvas_height"], out["canvas_width"] = int(image_size[0]), int(image_size[1])
    return out


def to_coco(keypoints: np.ndarray, image_size: tuple[int, int] | None, file_name: str = "image.jpg") -> dict:
    """A COCO keypoint dataset file of one person (17 joints, v = 2 present, 0 missing); the neck,
    which COCO lacks, is dropped."""
    vis = visible(keypoints)
    flat = []
    for j in COCO18_TO_17:
        y, x = keypoints[j]
        flat += [float(x), float(y), 2] if vis[j] else [0, 0, 0]
    pts = keypoints[[j for j in COCO18_TO_17 if vis[j]]]
    box = [0.0, 0.0, 0.0, 0.0]
    if len(pts):
        (y0, x0), (y1, x1) = pts.min(0), pts.max(0)
        box = [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]
    ann = {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "keypoints": flat,
           "num_keypoints": int(len(pts)), "bbox": box, "area": box[2] * box[3]}
    out = {"annotations": [ann], "categories": [{"id": 1, "name": "person", "supercategory": "person",
                                                 "keypoints": list(COCO17_NAMES)}]}
    if image_size is not None:
        out["images"] = [{"id": 1, "file_name": file_name, "height": int(image_size[0]), "width": int(image_size[1])}]
    return out

