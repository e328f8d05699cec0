"""Validate a PATN-layout dataset before anything trains or evaluates on it.

``validate`` reads every CSV row and every image header and last KiB (whether the file was cut
short; not the pixels, so 50k images take seconds; ``deep=True`` decodes them all) and collects *all* problems, each as a typed record naming ``file:line``; it never stops
at the first. ``check_dataset`` raises :class:`InvalidDatasetError` with the formatted report when
there is any error; training and evaluation call it first, ``pona data check`` prints the report.

Kinds of problems (``KINDS``): all are errors except ``unannotated_image``, a warning (an image in
the folder that no annotation row names is simply never used).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import DataError
from ..pose import JOINTS
from .layout import (ANNOTATION_HEADER, MAX_COORD, PAIRS_HEADER, SPLITS, csv_rows, keypoint_faults, list_images,
                     parse_annotation_values, parse_pair_row)

log = logging.getLogger(__name__)

# kind -> (is an error, what it means); the order is the report's order.
KINDS = {
    "layout": (True, "a dataset file or folder is missing or ambiguous"),
    "bad_header": (True, "a CSV's first line is not its header"),
    "malformed_row": (True, "a CSV row cannot be parsed"),
    "duplicate_name": (True, "an image is annotated twice"),
    "empty": (True, "a split has no annotation rows or no pairs"),
    "missing_image": (True, "an annotated image has no file"),
    "unknown_image": (True, "a pair names an image that has no annotation row"),
    "unreadable_image": (True, "an image file cannot be opened"),
    "wrong_size": (True, "an image's size differs from the dataset's"),
    "bad_keypoint": (True, "a keypoint is negative but not -1, half-missing (-1 in one coordinate only) "
                     "or not a whole pixel"),
    "out_of_range": (True, "a keypoint lies outside its image"),
    "unannotated_image": (False, "an image in the folder has no annotation row, so it is never used"),
}


@dataclass(frozen=True)
class Problem:
    """One problem: ``kind`` (a key of KINDS), the file it is in, its line (1-based; None for an
    image or a folder) and a message saying what is wrong."""

    kind: str
    file: str
    line: int | None
    message: str

    @property
    def is_error(self) -> bool:
        return KINDS[self.kind][0]

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"


@dataclass
class SplitCounts:
    """What one split holds: image files, well-formed annotation rows and pair rows."""

    name: str | None = None  # the CSVs' dataset prefix: market, fasion, synth, ...
    images: int = 0
    annotations: int = 0
    pairs: int = 0


@dataclass
class Report:
    """The result of :func:`validate`."""

    root: Path
    splits: dict[str, SplitCounts]
    image_size: tuple[int, int] | None       # (H, W) expected; None if no image could be read
    image_size_inferred: bool                # True: the most common size, not given by the user
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]

    @property
    def ok(self) -> bool:
        return not self.errors

    def count(self, kind: str) -> int:
        return sum(p.kind == kind for p in self.problems)

    def format(self, max_per_kind: int = 10) -> str:
        """A summary table, then the first ``max_per_kind`` problems of each kind."""
        names = sorted({c.name for c in self.splits.values() if c.name})
        lines = [f"dataset {self.root}" + (f" ({', '.join(names)})" if names else "")]
        if self.image_size is not None:
            how = "most common" if self.image_size_inferred else "expected"
            lines[0] += f", image size {self.image_size[0]}x{self.image_size[1]} ({how})"
        lines += ["", f"{'split':<8}{'images':>9}{'annotated':>11}{'pairs':>9}"]
        for split, c in self.splits.items():
            lines.append(f"{split:<8}{c.images:>9}{c.annotations:>11}{c.pairs:>9}")
        for kind, (is_error, meaning) in KINDS.items():
            found = [p for p in self.problems if p.kind == kind]
            if not found:
                continue
            noun = "error" if is_error else "warning"
            lines += ["", f"{kind}: {len(found)} {noun}{'s' * (len(found) != 1)} ({meaning})"]
            lines += [f"  {p}" for p in found[:max_per_kind]]
            if len(found) > max_per_kind:
                lines.append(f"  ... and {len(found) - max_per_kind} more")
        n_err, n_warn = len(self.errors), len(self.warnings)
        verdict = "OK" if self.ok else f"NOT OK: {n_err} error{'s' * (n_err != 1)}"
        lines += ["", verdict + (f", {n_warn} warning{'s' * (n_warn != 1)}" if n_warn else "")]
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "root": str(self.root), "ok": self.ok,
            "image_size": list(self.image_size) if self.image_size else None,
            "image_size_inferred": self.image_size_inferred,
            "splits": {s: vars(c) for s, c in self.splits.items()},
            "errors": len(self.errors), "warnings": len(self.warnings),
            "problems": [{"kind": p.kind, "severity": "error" if p.is_error else "warning",
                          "file": p.file, "line": p.line, "message": p.message} for p in self.problems],
        }


class InvalidDatasetError(DataError):
    """A dataset failed validation; ``.report`` holds the :class:`Report`."""

    def __init__(self, report: Report, max_per_kind: int = 10):
        self.report = report
        n = len(report.errors)
        super().__init__(f"{report.root}: the dataset has {n} error{'s' * (n != 1)}; nothing was run. "
                         f"Fix them (`pona data check {report.root}` lists them all):\n"
                         + report.format(max_per_kind))


@dataclass
class _Split:
    """What the CSVs of one split say, before images are looked at."""

    name: str | None = None
    annotation_file: Path | None = None
    image_dir: Path | None = None
    annotations: dict[str, tuple[int, np.ndarray]] = field(default_factory=dict)  # name -> (line, raw kp)
    malformed: set[str] = field(default_factory=set)  # names of malformed rows, already reported
    pairs: list[tuple[int, str, str]] = field(default_factory=list)  # (line, from, to)
    images: set[str] = field(default_factory=set)
    pairs_file: Path | None = None


def _csv_lines(path: Path, header: str, what: str, problems: list[Problem]):
    """:func:`csv_rows` of ``path``, each fault one more problem."""
    def problem(kind: str, lineno: int, message: str) -> None:
        problems.append(Problem(kind, str(path), lineno, message))

    return csv_rows(path, header, what, problem)


def _find_csv(root: Path, kind: str, split: str, problems: list[Problem]) -> Path | None:
    found = sorted(p for p in root.glob(f"*-{kind}-{split}.csv") if p.is_file())
    if len(found) == 1:
        return found[0]
    why = f"no <name>-{kind}-{split}.csv file" if not found else \
        f"several {kind} files for {split}: {[p.name for p in found]}; keep one dataset per directory"
    problems.append(Problem("layout", str(root), None, why))
    return None


def _read_split(root: Path, split: str, problems: list[Problem]) -> _Split:
    s = _Split()
    s.annotation_file = _find_csv(root, "annotation", split, problems)
    if s.annotation_file is not None:
        s.name = s.annotation_file.name[: -len(f"-annotation-{split}.csv")]
        first_line: dict[str, int] = {}
        for lineno, text in _csv_lines(s.annotation_file, ANNOTATION_HEADER, "annotation file", problems):
            where = f"{s.annotation_file}:{lineno}"
            try:
                name, kp = parse_annotation_values(text, where)  # judged per joint below
            except DataError as e:
                problems.append(Problem("malformed_row", str(s.annotation_file), lineno,
                                        str(e).removeprefix(where + ": ")))
                s.malformed.add(text.split(":", 1)[0].strip())  # so pairs naming it are not reported again
                continue
            if name in first_line:
                problems.append(Problem("duplicate_name", str(s.annotation_file), lineno,
                                        f"{name} is annotated again (first at line {first_line[name]})"))
                continue
            first_line[name] = lineno
            s.annotations[name] = (lineno, kp)
            for fault in keypoint_faults(kp):  # one line per joint: file:line: image: joint (y, x): why
                problems.append(Problem("bad_keypoint", str(s.annotation_file), lineno, f"{name}: {fault}"))
        if not s.annotations:
            problems.append(Problem("empty", str(s.annotation_file), None, "no annotation rows"))

    # The pairs file shares the annotation file's prefix; without one, look for any pairs file.
    pairs = root / f"{s.name}-pairs-{split}.csv" if s.name else None
    s.pairs_file = pairs if pairs is not None and pairs.is_file() else _find_csv(root, "pairs", split, problems)
    if s.pairs_file is not None:
        for lineno, text in _csv_lines(s.pairs_file, PAIRS_HEADER, "pairs file", problems):
            where = f"{s.pairs_file}:{lineno}"
            try:
                a, b = parse_pair_row(text, where)
            except DataError as e:
                problems.append(Problem("malformed_row", str(s.pairs_file), lineno, str(e).removeprefix(where + ": ")))
                continue
            s.pairs.append((lineno, a, b))
        if not s.pairs:
            problems.append(Problem("empty", str(s.pairs_file), None, "no pairs"))

    s.image_dir = root / split
    if s.image_dir.is_dir():
        s.images = set(list_images(s.image_dir))
    else:
        problems.append(Problem("layout", str(s.image_dir), None, f"image folder {split}/ not found"))
        s.image_dir = None
    return s


PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk every whole PNG ends with
JPEG_END = b"\xff\xd9"  # EOI; some writers pad after it, hence a search of the last KiB
TAIL_BYTES = 1024


def _truncated(path: Path, fmt: str | None) -> bool:
    """A PNG or JPEG file cut short (an interrupted copy or download), told from its last bytes
    alone: the header still gives the full size, and only decoding would notice otherwise."""
    if fmt not in ("PNG", "JPEG"):
        return False
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - TAIL_BYTES))
        tail = f.read()
    return not tail.endswith(PNG_END) if fmt == "PNG" else JPEG_END not in tail


def _image_size(path: Path, deep: bool = False) -> tuple[int, int] | str:
    """(H, W) from the file's header and its last bytes (``deep``: every pixel decoded), or the
    reason it cannot be read."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            if _truncated(path, im.format):
                return f"the file is cut short (no {im.format} end marker): re-copy it"
            if deep:
                im.load()
        return h, w
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        return str(e) or type(e).__name__


def _keypoint_problems(kp: np.ndarray, height: int, width: int) -> list[str]:
    """Joints outside [0, H) x [0, W). A missing joint (-1, -1) is fine; one that is negative,
    half-missing or fractional is a ``bad_keypoint``, reported once, not here again."""
    bad = []
    for j, (y, x) in enumerate(kp.tolist()):
        if y < 0 or x < 0 or not (y.is_integer() and x.is_integer()) or max(y, x) > MAX_COORD:
            continue  # missing, or reported as a bad_keypoint
        if not (y < height and x < width):
            bad.append(f"{JOINTS[j]} (y={int(y)}, x={int(x)})")
    return bad


def validate(root: str | os.PathLike, splits=SPLITS, image_size: tuple[int, int] | None = None,
             deep: bool = False) -> Report:
    """Check a PATN-layout dataset and return every problem found (see the module docstring).

    Args:
        root: the dataset directory (``train/``, ``test/``, ``<name>-annotation-<split>.csv``, ...).
        splits: which splits to check, a subset of ("train", "test").
        image_size: (H, W) every image must have; None infers it as the most common size.
        deep: decode every image (slow); by default only headers and end markers are read.
    """
    root = Path(root)
    splits = (splits,) if isinstance(splits, str) else tuple(splits)
    unknown = [s for s in splits if s not in SPLITS]
    if unknown or not splits:
        raise DataError(f"splits must be among {SPLITS}, got {list(splits)}")
    problems: list[Problem] = []
    if not root.is_dir():
        problems.append(Problem("layout", str(root), None, "dataset directory not found"))
        return Report(root, {s: SplitCounts() for s in splits}, image_size, False, problems)

    scans = {split: _read_split(root, split, problems) for split in splits}

    # Image headers of the annotated images that exist: the only images anything will read.
    sizes: dict[tuple[str, str], tuple[int, int] | str] = {}
    for split, s in scans.items():
        if s.image_dir is not None:
            for name in s.annotations:
                if name in s.images:
                    sizes[split, name] = _image_size(s.image_dir / name, deep)
    inferred = image_size is None
    if inferred:
        common = Counter(v for v in sizes.values() if isinstance(v, tuple)).most_common(1)
        image_size = common[0][0] if common else None

    for split, s in scans.items():
        for name, (lineno, kp) in s.annotations.items():
            size = image_size
            if s.image_dir is not None and name not in s.images:
                problems.append(Problem("missing_image", str(s.annotation_file), lineno,
                                        f"{name}: no such file in {split}/"))
            elif s.image_dir is not None:
                size = sizes[split, name]
                path = str(s.image_dir / name)
                if isinstance(size, str):
                    problems.append(Problem("unreadable_image", path, None, f"cannot read the image: {size}"))
                    size = image_size
                elif image_size is not None and size != image_size:
                    problems.append(Problem("wrong_size", path, None, f"is {size[0]}x{size[1]} (HxW), "
                                            f"expected {image_size[0]}x{image_size[1]}"))
            # Coordinates are checked against the image they annotate (the expected size if none).
            if size is not None:
                bad = _keypoint_problems(kp, *size)
                if bad:
                    joints = ", ".join(bad) if len(bad) <= 3 else f"{len(bad)} joints, e.g. {', '.join(bad[:3])},"
                    problems.append(Problem("out_of_range", str(s.annotation_file), lineno,
                                            f"{name}: {joints} outside the {size[0]}x{size[1]} image "
                                            f"(0 <= y < {size[0]}, 0 <= x < {size[1]}, or -1, -1 for missing)"))
        for lineno, a, b in s.pairs:
            for n in dict.fromkeys((a, b)):
                if n not in s.annotations and n not in s.malformed:
                    extra = " (no image file either)" if s.image_dir is not None and n not in s.images else ""
                    problems.append(Problem("unknown_image", str(s.pairs_file), lineno,
                                            f"{n} has no row in the annotation file{extra}"))
        for name in sorted(s.images - s.annotations.keys() - s.malformed):
            problems.append(Problem("unannotated_image", str(s.image_dir / name), None, "no annotation row"))

    counts = {split: SplitCounts(s.name, len(s.images), len(s.annotations), len(s.pairs))
              for split, s in scans.items()}
    order = list(KINDS)
    problems.sort(key=lambda p: order.index(p.kind))  # stable: file order within a kind
    return Report(root, counts, image_size, inferred, problems)


def check_dataset(root: str | os.PathLike, splits=SPLITS, image_size: tuple[int, int] | None = None) -> Report:
    """:func:`validate`, raising :class:`InvalidDatasetError` (a DataError) if there is any error.

    Training and evaluation call this before doing anything, so bad data is refused up front with
    the full report instead of a crash in the middle of a run. Warnings are logged.
    """
    report = validate(root, splits, image_size)
    if not report.ok:
        raise InvalidDatasetError(report)
    if report.warnings:
        log.warning("%s: %d warning(s), e.g. %s", report.root, len(report.warnings), report.warnings[0])
    return report
