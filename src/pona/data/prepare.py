"""The raw DeepFashion In-shop download -> the PATN layout, the way the field prepared it.

Raw tree (the In-shop "Img" archive)::

    img/<GENDER>/<Category>/id_<8 digits>/<NN>_<k>_<view>.jpg          256x256
    img_highres/<GENDER>/<Category>/id_<8 digits>/<NN>_<k>_<view>.jpg  750x1101 (W x H)

The field's flat name joins the path parts after ``img/`` behind ``fashion``, removes the ``_`` of
``id_`` and keeps only the first ``_`` of the file name; categories keep theirs::

    img/WOMEN/Blouses_Shirts/id_00003115/01_7_additional.jpg
      -> fashionWOMENBlouses_Shirtsid0000311501_7additional.jpg

The field's split lists (``train.lst``, ``test.lst``: one flat name per line) pick the images.
Each 256x256 frame is centre-cropped to 256x176 (columns 40 to 215). A high-res image is first
resized to height 256 keeping its aspect (750x1101 -> 174x256), centred on a 256-wide frame by
repeating its edge columns (or centre-cropped if wider), then cropped the same way; so a 750x1101
image keeps all its columns, with one repeated column on each side. The 256x256 ``img/`` frames
are what the field used; prefer them for comparable numbers.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import numpy as np
from PIL import Image

from ..errors import DataError
from .layout import SPLITS

log = logging.getLogger(__name__)

FRAME = 256                 # side of the square img/ frames
CROP_X = (40, 216)          # columns kept: 256x256 -> 256x176, as in the field
JPEG_QUALITY = 75           # PIL's default, which the field's preparation script used when saving
GENDERS = ("MEN", "WOMEN")


def flat_name(relative: str | os.PathLike) -> str | None:
    """The field's flat file name of an image path relative to ``img/``; None if not In-shop shaped.

    ``WOMEN/Blouses_Shirts/id_00003115/01_7_additional.jpg`` -> ``fashionWOMENBlouses_Shirtsid0000311501_7additional.jpg``
    """
    parts = PurePath(relative).parts
    if len(parts) != 4:
        return None
    gender, category, ident, fname = parts
    head, sep, rest = fname.partition("_")
    if not ident.startswith("id_") or not sep:
        return None
    return "fashion" + gender + category + ident.replace("_", "") + head + "_" + rest.replace("_", "")


def to_fashion_frame(image: Image.Image) -> Image.Image:
    """One raw In-shop image -> the field's 256x176 (H x W) RGB frame (see the module docstring)."""
    image = image.convert("RGB")
    w, h = image.size
    if (w, h) != (FRAME, FRAME):
        new_w = max(1, round(w * FRAME / h))
        image = image.resize((new_w, FRAME), Image.LANCZOS)
        a = np.asarray(image)  # (256, new_w, 3)
        if new_w < FRAME:
            left = (FRAME - new_w) // 2
            a = np.pad(a, ((0, 0), (left, FRAME - new_w - left), (0, 0)), mode="edge")
        else:
            left = (new_w - FRAME) // 2
            a = a[:, left:left + FRAME]
        image = Image.fromarray(np.ascontiguousarray(a))
    return image.crop((CROP_X[0], 0, CROP_X[1], FRAME))


def find_image_tree(raw: str | os.PathLike, highres: bool = False) -> Path:
    """The ``img/`` (or ``img_highres/``) folder of a raw download, given it or a folder above it."""
    raw = Path(raw)
    sub = "img_highres" if highres else "img"
    for candidate in (raw / sub, raw / "Img" / sub, raw):
        if any((candidate / g).is_dir() for g in GENDERS):
            return candidate
    raise DataError(f"{raw}: no In-shop image tree found: expected {sub}/MEN and {sub}/WOMEN "
                    f"(or MEN/ and WOMEN/ directly) under it")


def index_raw_images(tree: Path) -> dict[str, Path]:
    """{flat name: path} of every In-shop image under ``tree`` (the ``img/`` folder)."""
    out = {}
    for path in sorted(tree.rglob("*")):
        if path.suffix.lower() in (".jpg", ".jpeg", ".png") and path.is_file():
            name = flat_name(path.relative_to(tree))
            if name is not None:
                out[name] = path
    return out


def read_split_list(path: Path) -> list[str]:
    """A ``train.lst`` / ``test.lst``: one flat name per line, blank lines ignored."""
    if not path.is_file():
        raise DataError(f"{path}: split list not found (the field's train.lst / test.lst)")
    return [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]


@dataclass
class PrepareResult:
    """What :func:`prepare_deepfashion` did."""

    out: Path
    source: Path                                               # the image tree read
    written: dict[str, int] = field(default_factory=dict)       # split -> images written
    kept: dict[str, int] = field(default_factory=dict)          # split -> already there, left alone
    missing: dict[str, list[str]] = field(default_factory=dict)  # split -> listed but not in the raw tree
    copied: list[str] = field(default_factory=list)              # CSV files copied beside the images


def prepare_deepfashion(raw: str | os.PathLike, splits_dir: str | os.PathLike, out: str | os.PathLike,
                        annotations_dir: str | os.PathLike | None = None, highres: bool = False,
                        quality: int = JPEG_QUALITY, overwrite: bool = False) -> PrepareResult:
    """Write ``out/train`` and ``out/test`` (256x176 images named as in the field) from a raw download.

    Args:
        raw: the In-shop download (a folder holding ``img/``, ``Img/img/``, or the image tree itself).
        splits_dir: folder holding the field's ``train.lst`` and ``test.lst``.
        out: the dataset directory to write.
        annotations_dir: if given, its ``*-annotation-<split>.csv`` and ``*-pairs-<split>.csv``
            (the field's ``fasion-...`` files) are copied into ``out``.
        highres: read ``img_highres/`` instead of ``img/``.
        quality: JPEG quality of the written images (75, PIL's default, reproduces the field's files).
        overwrite: rewrite images already in ``out`` (by default they are kept, so a rerun resumes).
    """
    out = Path(out)
    lists = {split: read_split_list(Path(splits_dir) / f"{split}.lst") for split in SPLITS}
    csvs = []
    if annotations_dir is not None:
        adir = Path(annotations_dir)
        csvs = sorted(p for split in SPLITS for kind in ("annotation", "pairs") for p in adir.glob(f"*-{kind}-{split}.csv"))
        if not csvs:
            raise DataError(f"{adir}: no <name>-annotation-<split>.csv or <name>-pairs-<split>.csv files "
                            "(the field's fasion-annotation-train.csv, ...)")
    tree = find_image_tree(raw, highres)
    index = index_raw_images(tree)
    log.info("%s: %d In-shop images", tree, len(index))
    result = PrepareResult(out, tree)
    for split, names in lists.items():
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        result.written[split] = result.kept[split] = 0
        result.missing[split] = [n for n in names if n not in index]
        for i, name in enumerate(n for n in names if n in index):
            dest = folder / name
            if dest.exists() and not overwrite:
                result.kept[split] += 1
                continue
            try:
                with Image.open(index[name]) as im:
                    frame = to_fashion_frame(im)
            except OSError as e:
                raise DataError(f"{index[name]}: cannot read the image: {e}") from None
            tmp = dest.with_name(f".{dest.name}.tmp")  # a crash never leaves a half-written image
            frame.save(tmp, format=Image.registered_extensions().get(dest.suffix.lower(), "JPEG"), quality=quality)
            os.replace(tmp, dest)
            result.written[split] += 1
            if (i + 1) % 5000 == 0:
                log.info("%s: %d / %d", split, i + 1, len(names))
    for p in csvs:
        shutil.copyfile(p, out / p.name)
        result.copied.append(p.name)
    return result
