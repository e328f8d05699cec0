"""A folder of the user's photos -> a PATN-layout dataset.

``from_photos`` runs a pose estimator on every photo of a folder, fits each to the model size
(:mod:`pona.data.fit`) and writes the PATN layout (``pona.data.layout``): images, annotation CSV,
same-person pairs CSV, and a manifest of the fits.

Coordinates are pona's: (y, x) at pixel centres, pixel i spanning [i - 0.5, i + 0.5], -1 missing.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import DataError, PonaError
from ..fileio import atomic_path
from ..pose import NUM_JOINTS, visible
from .estimators import get_estimator
from .fit import READ_ERRORS, fit_to_size, load_photo
from .layout import IMAGE_SUFFIXES, SIZES, SPLITS, Split, write_annotations, write_pairs
from .posefile import read_pose

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = IMAGE_SUFFIXES + (".tif", ".tiff")


# ---------------------------------------------------------------------------------------------
# A folder of photos -> a PATN-layout dataset


def find_photos(input_dir: str | os.PathLike, person_sep: str | None = None) -> list[tuple[Path, str]]:
    """The photos of a folder and the person each shows, sorted.

    - a photo in a sub-folder (at any depth) belongs to the person named by its top sub-folder;
    - a photo directly in ``input_dir`` is its own person (its file stem), unless ``person_sep`` is
      given: then the person is the stem up to the first ``person_sep`` (``alice_1.jpg``,
      ``alice_2.jpg`` -> ``alice`` with ``person_sep="_"``).
    Hidden files and folders and files without an image suffix are ignored.
    """
    root = Path(input_dir)
    if not root.is_dir():
        raise DataError(f"{root}: photo folder not found")
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.suffix.lower() not in PHOTO_SUFFIXES:
            log.debug("ignoring %s: not an image suffix", rel)
            continue
        if len(rel.parts) > 1:
            person = rel.parts[0]
        elif person_sep:
            person = path.stem.split(person_sep, 1)[0]
        else:
            person = path.stem
        found.append((path, person))
    return found


def _safe_name(text: str) -> str:
    # Names go into ':'-separated annotation and ','-separated pair files: keep them plain.
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "photo"


def make_pairs(people: dict[str, list[str]], pairs: str) -> list[tuple[str, str]]:
    """Ordered (condition, target) pairs: "same-person" (every two different photos of one person),
    "all" (every two different photos) or "none"."""
    if pairs == "same-person":
        return [(a, b) for names in people.values() for a, b in itertools.permutations(names, 2)]
    if pairs == "all":
        return list(itertools.permutations([n for names in people.values() for n in names], 2))
    if pairs == "none":
        return []
    raise PonaError(f"pairs must be 'same-person', 'all' or 'none', got {pairs!r}")


@dataclass
class PhotosSummary:
    """What :func:`from_photos` wrote and what it skipped."""

    split: Split
    size: tuple[int, int]
    people: dict[str, list[str]] = field(default_factory=dict)   # person -> image names written
    pairs: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (photo, reason)

    @property
    def images(self) -> int:
        return sum(len(v) for v in self.people.values())

    @property
    def manifest(self) -> Path:
        return self.split.root / f"{self.split.name}-sources-{self.split.split}.json"


def _check_out_dir(input_dir: Path, out: Path, name: str, split: str) -> None:
    """Refuse an output folder that would spoil a dataset or the photos: the photo folder itself
    (its split folder would be read as one more person next time), or one holding another dataset's
    annotations for this split (two annotation files: the layout is ambiguous)."""
    if out.resolve() == input_dir.resolve():
        raise PonaError(f"{out}: the output folder is the photo folder; its {split}/ folder would be read as one "
                        "more person next time: choose another folder")
    others = sorted(p.name for p in out.glob(f"*-annotation-{split}.csv") if p.name != f"{name}-annotation-{split}.csv")
    if others:
        raise PonaError(f"{out} already holds a dataset ({', '.join(others)}): choose an empty folder, "
                        f"or --name {others[0].split('-annotation-')[0]} to rewrite that one")


def from_photos(
    input_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    preset: str | tuple[int, int] = "market",
    estimator=None,
    split: str = "test",
    pairs: str = "same-person",
    person_sep: str | None = None,
    name: str = "photos",
    margin: float = 0.15,
    pad="edge",
    progress: bool = False,
    poses: str | os.PathLike | None = None,
) -> PhotosSummary:
    """A folder of photos -> a PATN-layout dataset of fitted person images with estimated keypoints.

    For each photo (see :func:`find_photos` for who is who): read it (EXIF-upright), estimate the
    pose on the full-resolution photo, crop and fit the person to the preset size
    (:func:`fit_to_size` with the keypoints), and map the keypoints with the same :class:`Fit`.
    Writes, under ``out_dir``:

        <split>/<image>.png                 fitted images; <image> = <person>_<stem> for photos in
                                            a person's sub-folder, <stem> otherwise
        <name>-annotation-<split>.csv       keypoints (pona.data.layout format)
        <name>-pairs-<split>.csv            pairs, see :func:`make_pairs`
        <name>-sources-<split>.json         manifest: source photo, person and Fit of every image,
                                            and the skipped photos with the reason

    A photo that cannot be read, where no person is found or where the estimator fails is skipped
    and reported in the summary (and the log), never fatal; a folder where no photo is usable is a
    DataError.

    Args:
        preset: "market" (128x64), "fashion" (256x176) or an (H, W) size.
        estimator: a :class:`~pona.data.estimators.PoseEstimator`; default MediaPipe (created here
            and closed at the end).
        poses: a folder of existing pose files (any format :func:`~pona.data.posefile.read_pose`
            reads) to use instead of the estimator: for ``INPUT/a/b.jpg``, ``POSES/a/b.json`` or
            ``POSES/a/b_keypoints.json`` (OpenPose's name); a photo without one is skipped.
    """
    size = SIZES.get(preset) if isinstance(preset, str) else tuple(preset)
    if size is None:
        raise PonaError(f"unknown preset {preset!r}; use one of {sorted(SIZES)} or a (height, width) size")
    if split not in SPLITS:
        raise PonaError(f"split must be one of {SPLITS}, got {split!r}")
    if not re.fullmatch(r"[A-Za-z0-9_.]+", name):
        raise PonaError(f"dataset name must be letters, digits, '_' or '.', got {name!r}")
    input_dir, out = Path(input_dir), Path(out_dir)
    _check_out_dir(input_dir, out, name, split)
    # an output folder inside the photo folder: its images (of an earlier run) are no photos
    photos = [(p, who) for p, who in find_photos(input_dir, person_sep) if out.resolve() not in p.resolve().parents]
    if not photos:
        raise DataError(f"{input_dir}: no photos ({', '.join(PHOTO_SUFFIXES)}) found")
    make_pairs({}, pairs)  # reject a bad pairs option before the slow part

    pose_files = None if poses is None else _PoseFiles(Path(poses))
    own_estimator = estimator is None and pose_files is None
    if own_estimator:  # MediaPipe is imported only here, when no estimator is given
        estimator = get_estimator("mediapipe")
    summary = PhotosSummary(Split(out, name, split), size)
    annotations, manifest, used = {}, [], set()
    try:
        from tqdm import tqdm

        for path, person in tqdm(photos, desc="photos", unit="photo", disable=not progress):
            rel = str(path.relative_to(input_dir))
            try:
                image = load_photo(path)
            except READ_ERRORS as e:
                summary.skipped.append((rel, f"cannot read image: {e}"))
                continue
            try:
                keypoints = pose_files.read(path.relative_to(input_dir), image) if pose_files else estimator(image)
            except DataError as e:  # a pose file's problem, one line naming it
                summary.skipped.append((rel, str(e)))
                continue
            except Exception as e:  # one bad photo must not stop a folder; the reason is reported
                summary.skipped.append((rel, f"pose estimator failed: {type(e).__name__}: {e}"))
                continue
            if keypoints is None or not visible(np.asarray(keypoints)).any():
                summary.skipped.append((rel, "no person found"))
                continue
            keypoints = np.asarray(keypoints, dtype=np.float64)
            if keypoints.shape != (NUM_JOINTS, 2):
                raise PonaError(f"the pose estimator returned shape {keypoints.shape} for {rel}, expected ({NUM_JOINTS}, 2)")
            fitted, fitted_kp, fit = fit_to_size(image, size, keypoints, margin=margin, pad=pad)

            stem = _safe_name(f"{person}_{path.stem}" if len(path.relative_to(input_dir).parts) > 1 else path.stem)
            image_name, k = f"{stem}.png", 1
            while image_name in used:  # e.g. a.jpg and a.png
                k += 1
                image_name = f"{stem}-{k}.png"
            used.add(image_name)
            with atomic_path(summary.split.images / image_name) as tmp:
                Image.fromarray(fitted).save(tmp, format="PNG")
            annotations[image_name] = fitted_kp
            summary.people.setdefault(person, []).append(image_name)
            manifest.append({"name": image_name, "source": rel, "person": person, "fit": fit.to_dict()})
    finally:
        if own_estimator:
            estimator.close()

    for rel, reason in summary.skipped:
        log.warning("skipped %s: %s", rel, reason)
    if not annotations:
        reasons = "; ".join(f"{rel}: {reason}" for rel, reason in summary.skipped[:5])
        raise DataError(f"{input_dir}: no usable photo among {len(photos)} ({reasons})")
    pair_list = make_pairs(summary.people, pairs)
    summary.pairs = len(pair_list)
    write_annotations(summary.split.annotations, annotations)
    write_pairs(summary.split.pairs, pair_list)
    skipped = [{"source": rel, "reason": reason} for rel, reason in summary.skipped]
    with atomic_path(summary.manifest) as tmp:
        tmp.write_text(_manifest_json(size, input_dir, manifest, skipped))
    return summary


class _PoseFiles:
    """The ``poses`` folder of :func:`from_photos`: a photo's pose from its file, not an estimator."""

    def __init__(self, root: Path):
        if not root.is_dir():
            raise DataError(f"{root}: pose folder not found")
        self.root = root

    def read(self, rel: Path, image: np.ndarray) -> np.ndarray:
        base = self.root / rel.parent
        for candidate in (base / f"{rel.stem}.json", base / f"{rel.stem}_keypoints.json"):
            if candidate.is_file():
                pose = read_pose(candidate, image_size=image.shape[:2])
                if pose.image_size != tuple(image.shape[:2]):
                    raise DataError(f"{candidate}: the pose refers to a {pose.image_size[0]}x{pose.image_size[1]} "
                                    f"image, the photo is {image.shape[0]}x{image.shape[1]}")
                return pose.keypoints
        raise DataError(f"no pose file {rel.stem}.json or {rel.stem}_keypoints.json in {base}")


def _manifest_json(size, input_dir, photos: list[dict], skipped: list[dict]) -> str:
    # One photo per line: readable and diffable, unlike one line or json's indent of every number.
    rows = lambda items: ",\n".join(f"  {json.dumps(item)}" for item in items)  # noqa: E731
    return (f'{{"format": "pona-photo-sources", "size": {json.dumps(list(size))}, "input": {json.dumps(str(input_dir))},\n'
            f' "photos": [\n{rows(photos)}\n ],\n "skipped": [\n{rows(skipped)}\n ]}}\n')
