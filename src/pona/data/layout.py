"""The PATN dataset layout that every pose-transfer paper since 2019 uses.

A dataset root holds, for ``split`` in ``train``/``test``:

    <split>/                          images (Market-1501: 128x64, DeepFashion: 256x176)
    <name>-annotation-<split>.csv     ``name:keypoints_y:keypoints_x``, one row per image;
                                      each keypoint field a JSON-style list of 18 integers
    <name>-pairs-<split>.csv          ``from,to``, one (condition, target) pair per row
    <split>K/                         optional precomputed heat maps (.npy, H x W x 18); unused here

``<name>`` is ``market``, ``fasion`` (sic, the field's DeepFashion files), ``synth``, ...
Readers return typed records and raise :class:`DataError` naming ``file:line`` and the problem.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..fileio import atomic_path
from ..pose import JOINTS, NUM_JOINTS

ANNOTATION_HEADER = "name:keypoints_y:keypoints_x"
PAIRS_HEADER = "from,to"
SPLITS = ("train", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
# (H, W) of the field's two datasets in this layout; pona's synthetic presets and the released
# models are named after them, so every module that needs a dataset's size reads it here.
SIZES = {"market": (128, 64), "fashion": (256, 176)}


def _parse_coords(field: str, what: str, where: str) -> list[float]:
    try:
        values = json.loads(field)
    except (json.JSONDecodeError, RecursionError):
        raise DataError(f"{where}: {what} is not a list of integers: {field.strip()[:60]!r}") from None
    except ValueError as e:  # an integer of thousands of digits (Python's int parsing limit)
        raise DataError(f"{where}: {what} has a number too long to be a coordinate ({str(e).split(';')[0]})") from None
    if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise DataError(f"{where}: {what} is not a list of numbers: {field.strip()[:60]!r}")
    if len(values) != NUM_JOINTS:
        raise DataError(f"{where}: {what} has {len(values)} values, expected {NUM_JOINTS}")
    try:
        values = [float(v) for v in values]
    except OverflowError:  # an integer beyond float range
        raise DataError(f"{where}: {what} has a number too large to be a coordinate: {field.strip()[:60]!r}") from None
    if not all(math.isfinite(v) for v in values):  # json reads NaN and Infinity
        raise DataError(f"{where}: {what} has a value that is not a finite number: {field.strip()[:60]!r}")
    return values


def parse_annotation_values(line: str, where: str) -> tuple[str, np.ndarray]:
    """One ``name:[y...]:[x...]`` row -> (name, (18, 2) float64 (y, x) exactly as written).

    Raises DataError naming ``where`` if the row cannot be parsed; the values are not judged here
    (see :func:`keypoint_faults`), so that the validator can report them per joint.
    """
    parts = line.rstrip("\r\n").split(":")
    if len(parts) != 3:
        raise DataError(f"{where}: expected 3 fields separated by ':' (name:keypoints_y:keypoints_x), got {len(parts)}")
    name = parts[0].strip()
    if not name:
        raise DataError(f"{where}: empty image name")
    ys = _parse_coords(parts[1], "keypoints_y", where)
    xs = _parse_coords(parts[2], "keypoints_x", where)
    return name, np.stack([ys, xs], axis=1)


MAX_COORD = 2**31 - 1  # no image is this large; a bigger value is no pixel position (nor an int64 risk)


def _num(v: float) -> str:
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


def keypoint_faults(kp: np.ndarray) -> list[str]:
    """The joints of a raw (18, 2) (y, x) row that no PATN annotation holds, each as
    ``"joint (y=.., x=..): why"``. PATN's files (and pona's) store whole pixels and write a missing
    joint as -1 in *both* coordinates; so a joint is wrong when it is negative other than -1,
    half-missing (-1 in one coordinate only: a lost value, not a missing joint) or fractional
    (these files are written as integers, so a fraction means they were made or edited by other means).
    """
    faults = []
    for j, (y, x) in enumerate(kp.tolist()):
        if (y < 0 and y != -1) or (x < 0 and x != -1):
            why = "negative (only -1 in both coordinates means missing)"
        elif (y == -1) != (x == -1):
            why = "half-missing (-1 in one coordinate only; a missing joint is -1 in both)"
        elif not (y.is_integer() and x.is_integer()):
            why = "not a whole pixel (PATN coordinates are integers)"
        elif max(y, x) > MAX_COORD:
            why = "too large to be a pixel coordinate"
        else:
            continue
        faults.append(f"{JOINTS[j]} (y={_num(y)}, x={_num(x)}): {why}")
    return faults


def parse_annotation_row(line: str, where: str) -> tuple[str, np.ndarray]:
    """One ``name:[y...]:[x...]`` row -> (name, (18, 2) int64 array of (y, x), -1 missing).

    Raises DataError naming ``where`` on a row that cannot be parsed or a joint
    :func:`keypoint_faults` refuses (negative, half-missing, fractional).
    """
    name, kp = parse_annotation_values(line, where)
    faults = keypoint_faults(kp)
    if faults:
        more = f" (and {len(faults) - 1} more; `pona data check` lists all)" if len(faults) > 1 else ""
        raise DataError(f"{where}: {name}: {faults[0]}{more}")
    return name, kp.astype(np.int64)


def csv_rows(path: str | os.PathLike, header: str, what: str, problem=None):
    """(line number, text) of each non-blank row of a one-header CSV (annotations, pairs,
    identities), in file order; a byte-order mark is dropped and lines end at \\n, \\r\\n or \\r.

    Without ``problem``, a fault raises DataError naming ``file:line``: the header, or any byte
    that is not UTF-8 (found before the first row is returned). The validator passes
    ``problem(kind, line, message)``, told each fault while reading goes on: it decodes line by
    line so that one bad byte is one malformed row, not a lost file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read the {what}: {e.strerror or e}") from None

    def fault(kind: str, lineno: int, message: str) -> None:
        if problem is None:
            raise DataError(f"{path}:{lineno}: {message}")
        problem(kind, lineno, message)

    lines, not_utf8 = [], {}  # not_utf8: line number -> message
    for lineno, data in enumerate(raw.removeprefix(b"\xef\xbb\xbf").splitlines(), start=1):  # a BOM, as some editors write
        try:
            lines.append(data.decode("utf-8"))
        except UnicodeDecodeError as e:
            lines.append(data.decode("utf-8", errors="replace"))
            not_utf8[lineno] = f"not UTF-8 text (byte 0x{data[e.start]:02x}); save the {what} as UTF-8"
    if problem is None and not_utf8:  # the first bad byte, before the header and any row
        fault("malformed_row", *next(iter(not_utf8.items())))
    first = lines[0].strip() if lines else ""
    if first.replace(" ", "") != header:
        fault("bad_header", 1, f"header must be {header!r}, got {repr(first[:60]) if first else 'an empty line'}")
    for lineno, text in enumerate(lines[1:], start=2):
        if lineno in not_utf8:
            fault("malformed_row", lineno, not_utf8[lineno])
        elif text.strip():
            yield lineno, text


def read_annotations(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Annotation CSV -> {image name: (18, 2) int64 keypoints (y, x), -1 missing}, in file order."""
    path = Path(path)
    out: dict[str, np.ndarray] = {}
    for lineno, line in csv_rows(path, ANNOTATION_HEADER, "annotation file"):
        name, kp = parse_annotation_row(line, f"{path}:{lineno}")
        if name in out:
            raise DataError(f"{path}:{lineno}: duplicate image name {name}")
        out[name] = kp
    return out


def format_annotation_row(name: str, keypoints) -> str:
    kp = np.asarray(keypoints)
    if kp.shape != (NUM_JOINTS, 2):
        raise ValueError(f"keypoints of {name} have shape {kp.shape}, expected ({NUM_JOINTS}, 2)")
    ys = [int(round(v)) for v in kp[:, 0]]
    xs = [int(round(v)) for v in kp[:, 1]]
    return f"{name}:{json.dumps(ys)}:{json.dumps(xs)}"


def write_annotations(path: str | os.PathLike, annotations: dict) -> Path:
    """Write {name: (18, 2) keypoints} as an annotation CSV (atomically)."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(ANNOTATION_HEADER + "\n")
        for name, kp in annotations.items():
            f.write(format_annotation_row(name, kp) + "\n")
    return path


def read_pairs(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Pairs CSV -> [(condition name, target name)], in file order."""
    return [parse_pair_row(line, f"{path}:{lineno}") for lineno, line in csv_rows(path, PAIRS_HEADER, "pairs file")]


def parse_pair_row(line: str, where: str) -> tuple[str, str]:
    """One ``from,to`` row -> (condition name, target name); DataError naming ``where`` otherwise."""
    parts = [p.strip() for p in line.strip().split(",")]
    if len(parts) != 2 or not all(parts):
        raise DataError(f"{where}: expected 'from,to' (two image names), got {line.strip()[:80]!r}")
    return parts[0], parts[1]


# The field's name for a pair's outputs (PATN's and PoNA's test images): ``<from>___<to>``.
PAIR_SEPARATOR = "___"


def pair_stem(source: str, target: str) -> str:
    """File name, without suffix, of what is made for pair (source, target): ``<source>___<target>``."""
    return f"{source}{PAIR_SEPARATOR}{target}"


def generated_name(source: str, target: str) -> str:
    """File name of the generated image of pair (source, target): ``<source>___<target>.png``."""
    return f"{pair_stem(source, target)}.png"


def write_pairs(path: str | os.PathLike, pairs) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(PAIRS_HEADER + "\n")
        for a, b in pairs:
            f.write(f"{a},{b}\n")
    return path


@dataclass(frozen=True)
class Split:
    """Where one split of a PATN-layout dataset lives."""

    root: Path
    name: str          # dataset name prefix of the CSVs: market, fasion, synth, ...
    split: str         # train | test

    @property
    def images(self) -> Path:
        return self.root / self.split

    @property
    def annotations(self) -> Path:
        return self.root / f"{self.name}-annotation-{self.split}.csv"

    @property
    def pairs(self) -> Path:
        return self.root / f"{self.name}-pairs-{self.split}.csv"


def find_split(root: str | os.PathLike, split: str) -> Split:
    """Locate ``<name>-annotation-<split>.csv`` under ``root``; the name is inferred."""
    root = Path(root)
    if split not in SPLITS:
        raise DataError(f"split must be one of {SPLITS}, got {split!r}")
    if not root.is_dir():
        raise DataError(f"{root}: dataset directory not found")
    names = sorted(m.group(1) for p in root.iterdir()
                   if (m := re.fullmatch(rf"(.+)-annotation-{split}\.csv", p.name)))
    if not names:
        raise DataError(f"{root}: no <name>-annotation-{split}.csv file (PATN layout expected)")
    if len(names) > 1:
        raise DataError(f"{root}: several annotation files for {split}: {names}; keep one dataset per directory")
    return Split(root, names[0], split)


def list_images(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
