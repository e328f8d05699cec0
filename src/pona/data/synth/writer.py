"""Write the synthetic people as a PATN-layout dataset, and montages of it.

Layout written under ``root`` (``<split>`` = train, test)::

    <split>/                         PNG images
    synth-annotation-<split>.csv     name:keypoints_y:keypoints_x (pona.data.layout)
    synth-pairs-<split>.csv          from,to: ordered pairs of images of one person
    synth-identities.csv             name,identity,split,camera,view,kind,pose

Identities 1..n_train are the training people, n_train+1..n_train+n_test the test people: no test
person is ever seen in training. Image names carry the identity: ``0007_c3s1_000150_01.png``
(Market-1501 style: person 7, camera 3, sequence 1, frame 150, box 1) for ``market`` and
``id00007_03_front.png`` (person 7, pose 3, view) for ``fashion``.
"""

from __future__ import annotations

import logging
import os
import struct
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ...errors import DataError
from ...fileio import atomic_path
from ...pose import draw_pose
from ..layout import IMAGE_SUFFIXES, SIZES, SPLITS, csv_rows, read_annotations, write_annotations, write_pairs
from .identity import PRESETS, sample_identity
from .scene import example

log = logging.getLogger(__name__)

NAME = "synth"
IDENTITIES_FILE = "synth-identities.csv"
IDENTITIES_HEADER = "name,identity,split,camera,view,kind,pose"
PAIRS_STREAM = 1_000_005
MAX_IDENTITIES = 9999      # four digits in Market-style names


@dataclass(frozen=True)
class SynthSummary:
    """What :func:`write_dataset` wrote."""

    root: Path
    preset: str
    size: tuple[int, int]
    seed: int
    identities: dict[str, int] = field(default_factory=dict)   # split -> number of people
    images: dict[str, int] = field(default_factory=dict)       # split -> number of images
    pairs: dict[str, int] = field(default_factory=dict)        # split -> number of pairs
    seconds: float = 0.0

    def __str__(self) -> str:
        parts = ", ".join(f"{s}: {self.identities[s]} people, {self.images[s]} images, {self.pairs[s]} pairs"
                          for s in SPLITS)
        return f"{self.root}: synth {self.preset} {self.size[0]}x{self.size[1]}, seed {self.seed}; {parts} ({self.seconds:.1f} s)"


def png_bytes(image: np.ndarray, level: int = 1) -> bytes:
    """(H, W, 3) uint8 -> PNG file bytes: 8-bit RGB, every row with the "Sub" filter, zlib ``level``.

    Written from the PNG specification (signature, IHDR, one IDAT, IEND; each chunk is length,
    type, data, CRC-32 of type + data). Pillow's encoder tries several filters per row, which
    costs more than rendering a 128x64 person; this one is about 10x faster at level 0.
    """
    h, w, _ = image.shape
    rows = np.ascontiguousarray(image, dtype=np.uint8).reshape(h, w * 3)
    raw = np.empty((h, 1 + w * 3), np.uint8)
    raw[:, 0] = 1                                            # filter type 1: Sub
    raw[:, 1:4] = rows[:, :3]
    np.subtract(rows[:, 3:], rows[:, :-3], out=raw[:, 4:])   # minus the pixel to the left, mod 256

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)   # 8 bits, colour type 2 (RGB), no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), level)) + chunk(b"IEND", b""))


def image_name(preset: str, identity: int, pose_index: int, camera: int, view: str) -> str:
    if preset == "market":
        return f"{identity:04d}_c{camera}s1_{50 * (pose_index + 1):06d}_01.png"
    return f"id{identity:05d}_{pose_index + 1:02d}_{view}.png"


def identity_pairs(names: list[str], pairs_per_id: int | None, rng: np.random.Generator) -> list[tuple[str, str]]:
    """All ordered pairs of different images of one person, or ``pairs_per_id`` of them at random."""
    pairs = [(a, b) for a in names for b in names if a != b]
    if pairs_per_id is None or pairs_per_id >= len(pairs):
        return pairs
    keep = np.sort(rng.choice(len(pairs), size=pairs_per_id, replace=False))
    return [pairs[i] for i in keep]


def _render_people(job) -> list[tuple]:
    """Worker: render and save every pose of some people; returns their rows (see write_dataset)."""
    folder, preset, seed, split, identities, poses_per_id, size, png_level, supersample = job
    rows = []
    for identity in identities:
        person = sample_identity(np.random.default_rng([seed, identity]), preset, identity)
        for k in range(poses_per_id):
            ex = example(seed, identity, k, preset, size, supersample, person=person)
            view = ex.pose.view()
            name = image_name(preset, identity, k, ex.camera, view)
            (Path(folder) / name).write_bytes(png_bytes(ex.image, png_level))
            rows.append((name, ex.keypoints, identity, split, ex.camera, view, ex.pose.kind, k))
    return rows


def _prepare(root: Path, overwrite: bool) -> None:
    """Refuse to mix with another dataset or a previous run unless ``overwrite``; then clear ours."""
    if not root.exists():
        return
    if not root.is_dir():
        raise DataError(f"{root}: exists and is not a directory")
    others = sorted(p.name for p in root.glob("*-annotation-*.csv") if not p.name.startswith(f"{NAME}-"))
    if others:
        raise DataError(f"{root}: holds another dataset ({others[0]}); write the synthetic set to its own directory")
    ours = [p for s in SPLITS if (root / s).is_dir() for p in (root / s).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    csvs = [p for p in root.glob(f"{NAME}-*.csv")]
    if (ours or csvs) and not overwrite:
        raise DataError(f"{root}: already holds a dataset ({len(ours)} images); pass --overwrite to replace it")
    for p in ours + csvs:
        p.unlink()


def write_dataset(root: str | os.PathLike, preset: str = "market", n_train_ids: int = 100, n_test_ids: int = 20,
                  poses_per_id: int = 6, seed: int = 0, pairs_per_id: int | None = None,
                  size: tuple[int, int] | None = None, workers: int = 1, overwrite: bool = False,
                  png_level: int = 1, supersample: int | None = None) -> SynthSummary:
    """Render the synthetic people and write them in the PATN layout (see the module docstring).

    Args:
        root: output directory (created).
        preset: ``market`` (128x64, street scenes, 6 cameras) or ``fashion`` (256x176, studio).
        n_train_ids, n_test_ids: number of people in each split (disjoint).
        poses_per_id: images per person (>= 2, so that each person has pairs).
        seed: everything is a function of (seed, identity, pose index): the same person looks the
            same in any run, with any ``workers``.
        pairs_per_id: ordered pairs per person; None = all ``K (K - 1)``.
        size: (H, W) to render at instead of the preset's size (the framing follows the preset).
        workers: processes rendering in parallel.
        overwrite: replace a synthetic set already in ``root``.
        png_level: zlib level of the PNG files, 0 (stored: fastest, ~25 KB per 128x64 image) to 9;
            1 saves a fifth of the space.
        supersample: samples per pixel side; default 1 for market (soft-edged shapes are already
            anti-aliased at 128x64), 2 for fashion (finer face details).
    """
    if preset not in PRESETS:
        raise DataError(f"preset must be one of {PRESETS}, got {preset!r}")
    if n_train_ids < 1 or n_test_ids < 0 or n_train_ids + n_test_ids > MAX_IDENTITIES:
        raise DataError(f"need 1 <= train people and 0 <= test people, at most {MAX_IDENTITIES} in all; "
                        f"got {n_train_ids} and {n_test_ids}")
    if poses_per_id < 2:
        raise DataError(f"poses per person must be >= 2 (pairs need two images), got {poses_per_id}")
    if pairs_per_id is not None and pairs_per_id < 1:
        raise DataError(f"pairs per person must be >= 1, got {pairs_per_id}")
    root = Path(root)
    size = tuple(size or SIZES[preset])
    start = time.perf_counter()
    _prepare(root, overwrite)
    ids = {"train": list(range(1, n_train_ids + 1)),
           "test": list(range(n_train_ids + 1, n_train_ids + n_test_ids + 1))}
    jobs = []
    chunk = 8
    for split in SPLITS:
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(0, len(ids[split]), chunk):
            jobs.append((str(root / split), preset, seed, split, ids[split][i:i + chunk], poses_per_id, size, png_level, supersample))
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_render_people, jobs))
    else:
        results = [_render_people(job) for job in jobs]
    rows = [row for result in results for row in result]

    images, pairs = {}, {}
    with atomic_path(root / IDENTITIES_FILE) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(IDENTITIES_HEADER + "\n")
        for name, _, identity, split, camera, view, kind, k in rows:
            f.write(f"{name},{identity},{split},{camera},{view},{kind},{k}\n")
    for split in SPLITS:
        split_rows = [r for r in rows if r[3] == split]
        write_annotations(root / f"{NAME}-annotation-{split}.csv", {r[0]: r[1] for r in split_rows})
        split_pairs = []
        for identity in ids[split]:
            names = [r[0] for r in split_rows if r[2] == identity]
            rng = np.random.default_rng([seed, PAIRS_STREAM, identity])
            split_pairs += identity_pairs(names, pairs_per_id, rng)
        write_pairs(root / f"{NAME}-pairs-{split}.csv", split_pairs)
        images[split], pairs[split] = len(split_rows), len(split_pairs)
    summary = SynthSummary(root, preset, size, seed, {s: len(ids[s]) for s in SPLITS}, images, pairs,
                           time.perf_counter() - start)
    log.debug("%s", summary)
    return summary


@dataclass(frozen=True)
class IdentityRow:
    """One row of ``synth-identities.csv``."""
    name: str
    identity: int
    split: str
    camera: int
    view: str
    kind: str
    pose: int


def read_identities(path: str | os.PathLike) -> list[IdentityRow]:
    """``synth-identities.csv`` -> rows, in file order; DataError naming file:line on a bad row."""
    rows = []
    for lineno, line in csv_rows(path, IDENTITIES_HEADER, "identities file"):
        parts = line.strip().split(",")
        try:
            name, identity, split, camera, view, kind, pose = parts
            rows.append(IdentityRow(name, int(identity), split, int(camera), view, kind, int(pose)))
        except ValueError:
            raise DataError(f"{path}:{lineno}: expected {IDENTITIES_HEADER}, got {line.strip()[:80]!r}") from None
    return rows


def montage(source, rows: int = 4, cols: int = 4, split: str = "train", skeleton: bool = False,
            pad: int = 2, scale: int = 1) -> Image.Image:
    """A grid of images: ``rows`` people x ``cols`` images each from a synthetic dataset directory
    (``source`` = its root), or the images of a list (``source`` = arrays / PIL images, ``cols`` per
    row). ``skeleton`` draws each image's annotated pose over it (dataset directories only)."""
    if isinstance(source, (str, os.PathLike)):
        root = Path(source)
        by_person: dict[int, list[str]] = {}
        for r in read_identities(root / IDENTITIES_FILE):
            if r.split == split:
                by_person.setdefault(r.identity, []).append(r.name)
        if not by_person:
            raise DataError(f"{root / IDENTITIES_FILE}: no {split} images")
        ann = read_annotations(root / f"{NAME}-annotation-{split}.csv") if skeleton else {}
        images = []
        for names in list(by_person.values())[:rows]:
            for name in names[:cols]:
                im = Image.open(root / split / name).convert("RGB")
                images.append(draw_pose(im, ann[name]) if skeleton else im)
            images += [None] * (cols - min(cols, len(names)))
    else:
        images = [im if isinstance(im, Image.Image) or im is None else Image.fromarray(np.asarray(im)) for im in source]
        rows = (len(images) + cols - 1) // cols
    real = [im for im in images if im is not None]
    if not real:
        raise DataError("montage: no images")
    w, h = max(im.width for im in real), max(im.height for im in real)
    sheet = Image.new("RGB", (cols * (w + pad) + pad, rows * (h + pad) + pad), (255, 255, 255))
    for i, im in enumerate(images[: rows * cols]):
        if im is not None:
            sheet.paste(im, (pad + (i % cols) * (w + pad), pad + (i // cols) * (h + pad)))
    if scale > 1:
        sheet = sheet.resize((sheet.width * scale, sheet.height * scale), Image.NEAREST)
    return sheet
