"""The paper's re-ID augmentation (Sec. IV-D): reduce a Market-1501 training set to a portion p,
then regenerate every dropped image with PoNA from a kept image of the same person and the dropped
image's pose. The augmented set has the original identities, image counts and poses.

Output (``out``)::

    reduced/bounding_box_train/     the kept real images (copies)
    augmented/bounding_box_train/   the kept real images + one generated image per dropped image,
                                    named as the dropped image (identity and camera parse)
    {reduced,augmented}/query, bounding_box_test   links to the source's, when it has them
    manifest.json, manifest.csv     every image of the augmented set: kept or generated, from what
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.dataset import load_image, to_tensor, to_uint8
from ..data.layout import find_split, read_annotations
from ..errors import DataError, PonaError
from ..fileio import atomic_path
from ..inference import PoNA
from ..pose import heatmaps
from .market import GALLERY_DIR, QUERY_DIR, TRAIN_DIR, group_by_identity, parse_market_name, select_portion

log = logging.getLogger(__name__)

MANIFEST_FORMAT = "pona-reid-augment"
MANIFEST_FIELDS = ("name", "identity", "camera", "kind", "source")


@dataclass(frozen=True)
class AugmentResult:
    out: Path
    identities: int
    original: int       # training images of the source (with a real identity)
    kept: int           # in the reduced set
    generated: int      # added to make the augmented set
    seconds: float


def _link_or_copy_dir(src: Path, dst: Path) -> str:
    """A symlink to ``src`` at ``dst`` (absolute, so the output can be read from anywhere); a copy
    where symlinks are not allowed."""
    try:
        os.symlink(src.resolve(), dst, target_is_directory=True)
        return "linked"
    except OSError:
        shutil.copytree(src, dst)
        return "copied"


def _save_image(array: np.ndarray, path: Path) -> None:
    """(H, W, 3) uint8 -> file; JPEG at quality 95 without chroma subsampling for .jpg names
    (Market's format; 4:2:0 subsampling would blur colours at 128x64), else lossless."""
    im = Image.fromarray(array)
    with atomic_path(path) as tmp:
        if path.suffix.lower() in (".jpg", ".jpeg"):
            im.save(tmp, format="JPEG", quality=95, subsampling=0)
        else:
            im.save(tmp, format=Image.registered_extensions()[path.suffix.lower()])


def read_training_set(data: str | os.PathLike) -> tuple[Path, dict[str, np.ndarray]]:
    """The training images of a PATN-layout Market dataset: (image folder, {name: (18, 2) pose}).

    The set is the annotation file's rows (a dropped image needs its pose); junk and distractor
    rows are left out (they are not people to learn), images without a row are not used.
    """
    split = find_split(data, "train")
    annotations = read_annotations(split.annotations)
    poses = {}
    for name, kp in annotations.items():
        if parse_market_name(name, f"{split.annotations}: row {name}").is_junk:
            continue
        if not (split.images / name).is_file():
            raise DataError(f"{split.annotations}: image {name} has a row but no file in {split.images}")
        poses[name] = kp
    if not poses:
        raise DataError(f"{split.annotations}: no training image with a real identity")
    skipped = len(annotations) - len(poses)
    if skipped:
        log.warning("%d junk/distractor rows of %s left out", skipped, split.annotations)
    return split.images, poses


@torch.inference_mode()
def augment_market(data: str | os.PathLike, portion: float, checkpoint: str | os.PathLike,
                   out: str | os.PathLike, seed: int = 0, batch_size: int = 16,
                   device: str | torch.device = "cpu", test_from: str | os.PathLike | None = None,
                   sigma: float = 6.0) -> AugmentResult:
    """Write the reduced and the augmented training sets of portion ``portion`` (see module doc).

    Args:
        data: PATN-layout Market dataset (``train/``, ``<name>-annotation-train.csv``), image names
            in Market-1501 convention.
        portion: p in (0, 1]; per identity ``max(1, round_half_up(p * n))`` images are kept
            (:func:`pona.reid.market.select_portion`, seeded by ``seed``).
        checkpoint: a PoNA generator trained at the dataset's image size.
        test_from: where ``query/`` and ``bounding_box_test/`` are (default: ``data``); linked
            into both outputs when present.
        sigma: heat-map width of the poses given to the generator (the model's training value).
    """
    t0 = time.perf_counter()
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise PonaError(f"{out} exists and is not empty; choose a new output directory")
    images, poses = read_training_set(data)
    kept, replacements = select_portion(group_by_identity(list(poses)), portion, seed)
    model = PoNA.from_checkpoint(checkpoint, device)
    h, w = model.image_size

    reduced_dir, augmented_dir = out / "reduced" / TRAIN_DIR, out / "augmented" / TRAIN_DIR
    reduced_dir.mkdir(parents=True)
    augmented_dir.mkdir(parents=True)
    for name in kept:
        shutil.copy2(images / name, reduced_dir / name)
        shutil.copy2(images / name, augmented_dir / name)

    for start in range(0, len(replacements), batch_size):
        batch = replacements[start:start + batch_size]
        arrays = [load_image(images / r.source) for r in batch]
        for r, a in zip(batch, arrays):
            if a.shape != (h, w, 3):
                raise DataError(f"{images / r.source}: image is {a.shape[1]}x{a.shape[0]} (WxH), "
                                f"the generator was trained at {w}x{h}")
        x = torch.stack([to_tensor(a) for a in arrays]).to(model.device)                   # (B, 3, H, W)
        src_kp = torch.from_numpy(np.stack([poses[r.source] for r in batch])).to(model.device)  # (B, 18, 2)
        dst_kp = torch.from_numpy(np.stack([poses[r.target] for r in batch])).to(model.device)
        fake = model.generator(x, heatmaps(src_kp, h, w, sigma), heatmaps(dst_kp, h, w, sigma))  # (B, 3, H, W)
        for r, img in zip(batch, fake):
            _save_image(to_uint8(img), augmented_dir / r.target)
        log.info("generated %d/%d images", start + len(batch), len(replacements))

    test_root = Path(test_from) if test_from is not None else Path(data)
    for sub in (QUERY_DIR, GALLERY_DIR):
        if (test_root / sub).is_dir():
            for variant in ("reduced", "augmented"):
                how = _link_or_copy_dir(test_root / sub, out / variant / sub)
            log.info("%s %s/ from %s", how, sub, test_root)
        else:
            log.warning("%s has no %s/: add one to evaluate on %s", test_root, sub, out)

    source_of = {r.target: r.source for r in replacements}
    rows = []
    for name in sorted(poses):  # every training image is either kept or a replacement's target
        parsed = parse_market_name(name)
        rows.append({"name": name, "identity": parsed.identity, "camera": parsed.camera,
                     "kind": "generated" if name in source_of else "kept", "source": source_of.get(name, ""),
                     "keypoints": poses[name].tolist()})
    groups = {parse_market_name(n).identity for n in poses}
    result = AugmentResult(out, len(groups), len(poses), len(kept), len(replacements), time.perf_counter() - t0)
    write_manifest(out, rows, {"data": str(Path(data).resolve()), "checkpoint": str(Path(checkpoint).resolve()),
                               "portion": portion, "seed": seed, "sigma": sigma,
                               "counts": {"identities": result.identities, "original": result.original,
                                          "kept": result.kept, "generated": result.generated}})
    return result


def write_manifest(out: Path, rows: list[dict], header: dict) -> None:
    """``manifest.json`` (header + rows with keypoints (y, x), -1 missing) and ``manifest.csv``
    (``name,identity,camera,kind,source``; source empty for kept images)."""
    with atomic_path(out / "manifest.json") as tmp:
        tmp.write_text(json.dumps({"format": MANIFEST_FORMAT, "version": 1, **header, "images": rows}) + "\n")
    with atomic_path(out / "manifest.csv") as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def read_manifest(out: str | os.PathLike) -> dict:
    """The ``manifest.json`` of an augmentation output."""
    path = Path(out) / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: cannot read manifest: {e}") from None
    if manifest.get("format") != MANIFEST_FORMAT:
        raise DataError(f"{path}: not a pona re-ID manifest (format={manifest.get('format')!r})")
    return manifest
