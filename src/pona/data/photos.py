"""The user's own photos: fit a photo to the model size, and turn a folder of photos into a dataset.

``fit_to_size`` crops the person, resizes keeping the aspect ratio and pads to exactly (H, W); the
returned :class:`Fit` maps keypoints both ways and pastes a generated image back into the photo.
``from_photos`` runs a pose estimator on every photo of a folder and writes the PATN layout
(``pona.data.layout``): images, annotation CSV, same-person pairs CSV, and a manifest of the fits.

Coordinates are pona's: (y, x) at pixel centres, pixel i spanning [i - 0.5, i + 0.5], -1 missing.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..errors import DataError, PonaError
from ..fileio import atomic_path
from ..pose import MISSING, NUM_JOINTS, visible
from .layout import IMAGE_SUFFIXES, SIZES, SPLITS, Split, write_annotations, write_pairs

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = IMAGE_SUFFIXES + (".tif", ".tiff")
FACE_JOINTS = (0, 14, 15, 16, 17)  # nose, eyes, ears


# ---------------------------------------------------------------------------------------------
# Fitting one photo to the model size


@dataclass(frozen=True)
class Fit:
    """How an original photo became a fitted (model-size) image: crop ``box``, resize the crop to
    ``resized``, paste it at ``pad`` in a canvas of ``size``.

    Per axis, ``fitted = scale * original + offset`` in pixel-centre coordinates.
    """

    original_size: tuple[int, int]    # (H0, W0) of the photo
    size: tuple[int, int]             # (H, W) of the fitted image
    box: tuple[int, int, int, int]    # (top, left, bottom, right) crop of the photo; bottom/right excluded
    resized: tuple[int, int]          # (h, w) the crop is resized to, h <= H and w <= W
    pad: tuple[int, int]              # (top, left) of the resized crop in the fitted image

    @property
    def scale(self) -> np.ndarray:
        """(sy, sx): fitted pixels per original pixel (equal up to rounding of ``resized``)."""
        top, left, bottom, right = self.box
        return np.array([self.resized[0] / (bottom - top), self.resized[1] / (right - left)])

    @property
    def offset(self) -> np.ndarray:
        """(ty, tx). Resizing maps pixel areas, so the photo's pixel centre p (crop corner c) lands
        at (p - c + 0.5) * s - 0.5 in the resized crop, then moves by the padding."""
        corner = np.array(self.box[:2], dtype=np.float64)
        return self.scale * (0.5 - corner) - 0.5 + np.array(self.pad)

    def apply(self, keypoints, drop_outside: bool = True) -> np.ndarray:
        """Original-photo keypoints (..., 2) (y, x) -> fitted-image keypoints; -1 stays -1.

        With ``drop_outside`` a joint that falls outside the fitted image becomes -1 (as in the
        datasets), and one within the outer half pixel is clamped onto the border pixel centre.
        """
        return _affine(keypoints, self.scale, self.offset, self.size if drop_outside else None)

    def invert(self, keypoints, drop_outside: bool = True) -> np.ndarray:
        """Fitted-image keypoints -> original-photo keypoints (the inverse of :meth:`apply`)."""
        return _affine(keypoints, 1 / self.scale, -self.offset / self.scale, self.original_size if drop_outside else None)

    def unfit(self, image, original, resample=Image.Resampling.LANCZOS) -> np.ndarray:
        """Paste a fitted-frame image (e.g. a generated one) back into the original photo.

        Args:
            image: (H, W, C) uint8 array or PIL image of the fitted size.
            original: (H0, W0, C) uint8 array or PIL image, the photo the fit was made from.
        Returns:
            (H0, W0, C) uint8 copy of ``original`` with the crop box replaced by ``image``'s
            un-padded region resized back to the box (the padding is discarded).
        """
        image, original = _array(image), _array(original)
        if image.shape[:2] != tuple(self.size):
            raise DataError(f"image is {image.shape[0]}x{image.shape[1]} (HxW), the fit expects {self.size[0]}x{self.size[1]}")
        if original.shape[:2] != tuple(self.original_size):
            raise DataError(f"original is {original.shape[0]}x{original.shape[1]} (HxW), the fit was made "
                            f"from a {self.original_size[0]}x{self.original_size[1]} photo")
        if image.shape[2:] != original.shape[2:]:
            raise DataError(f"image has {image.shape[2:]} channels, original {original.shape[2:]}")
        (py, px), (h, w) = self.pad, self.resized
        top, left, bottom, right = self.box
        region = image[py:py + h, px:px + w]
        out = original.copy()
        out[top:bottom, left:right] = _resize(region, (bottom - top, right - left), resample)
        return out

    def to_dict(self) -> dict:
        return {k: list(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "Fit":
        return cls(**{k: tuple(int(x) for x in d[k]) for k in ("original_size", "size", "box", "resized", "pad")})


def _affine(keypoints, scale, offset, frame) -> np.ndarray:
    kp = np.array(keypoints, dtype=np.float64)
    if kp.shape[-1:] != (2,):
        raise ValueError(f"keypoints must have shape (..., 2) (y, x), got {kp.shape}")
    present = visible(kp)
    out = kp * scale + offset
    if frame is not None:
        limit = np.array(frame, dtype=np.float64) - 1
        present &= ((out >= -0.5) & (out <= limit + 0.5)).all(-1)
        out = np.clip(out, 0, limit)
    out[~present] = MISSING
    return out


def _array(image) -> np.ndarray:
    """PIL image or (H, W, C) uint8 array -> (H, W, C) uint8 array."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3:
        raise DataError(f"expected an (H, W, 3) uint8 image, got {image.dtype} array of shape {image.shape}")
    return image


def _resize(image: np.ndarray, size: tuple[int, int], resample) -> np.ndarray:
    """(h, w, C) uint8 -> (H, W, C), with PIL (which maps pixel centres as ``_affine`` does)."""
    if image.shape[:2] == tuple(size):
        return image.copy()
    if image.shape[2] not in (1, 3, 4):
        raise DataError(f"cannot resize an image with {image.shape[2]} channels")
    pil = Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
    return np.asarray(pil.resize((size[1], size[0]), resample)).reshape(size + image.shape[2:])


def person_box(keypoints, image_size: tuple[int, int], margin: float = 0.15) -> tuple[float, float, float, float] | None:
    """A box around the person: the visible keypoints' bounding box grown by ``margin`` times its
    longer side on every side, and on top by at least 1.2 face widths (the largest distance between
    nose, eyes and ears) above the highest joint, since no joint marks the top of the head.

    Returns (top, left, bottom, right) in pixel-edge coordinates, clipped to the image, or None when
    fewer than two joints are visible.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    vis = visible(kp)
    if vis.sum() < 2:
        return None
    pts = kp[vis]
    (y0, x0), (y1, x1) = pts.min(0) - 0.5, pts.max(0) + 0.5  # pixel centres -> edges
    grow = margin * max(y1 - y0, x1 - x0)
    face = kp[list(FACE_JOINTS)][vis[list(FACE_JOINTS)]]
    face_width = max((np.linalg.norm(a - b) for a, b in itertools.combinations(face, 2)), default=0.0)
    top = y0 - max(grow, 1.2 * face_width)
    h, w = image_size
    return max(top, 0.0), max(x0 - grow, 0.0), min(y1 + grow, float(h)), min(x1 + grow, float(w))


def _expand_to_aspect(box, aspect: float, image_size: tuple[int, int]) -> tuple[float, float, float, float]:
    """Grow the box's short side about its centre to height/width = ``aspect``, shift it inside the
    image, clip: real pixels around the person instead of padding, where the photo has them."""
    top, left, bottom, right = box
    h, w = bottom - top, right - left
    if h / w < aspect:
        top, bottom = top - (w * aspect - h) / 2, bottom + (w * aspect - h) / 2
    else:
        left, right = left - (h / aspect - w) / 2, right + (h / aspect - w) / 2
    H, W = image_size
    dy = -top if top < 0 else min(0.0, H - bottom)
    dx = -left if left < 0 else min(0.0, W - right)
    return max(top + dy, 0.0), max(left + dx, 0.0), min(bottom + dy, float(H)), min(right + dx, float(W))


def _pad_color(crop: np.ndarray, pad) -> np.ndarray:
    if isinstance(pad, str):
        if pad == "edge":  # the median colour of the crop's border: a plain background like the photo's
            border = np.concatenate([crop[0], crop[-1], crop[:, 0], crop[:, -1]])
            return np.median(border, axis=0).round().astype(np.uint8)
        if pad in ("white", "black"):
            return np.full(crop.shape[2], 255 if pad == "white" else 0, dtype=np.uint8)
        raise PonaError(f"pad must be 'edge', 'white', 'black' or an RGB triple, got {pad!r}")
    try:
        return np.broadcast_to(np.asarray(pad, dtype=np.uint8), crop.shape[2:]).copy()
    except ValueError:
        raise PonaError(f"pad colour {pad!r} does not fit an image with {crop.shape[2]} channels") from None


def plan_fit(image_size: tuple[int, int], size: tuple[int, int], keypoints=None,
             box: tuple[float, float, float, float] | None = None, margin: float = 0.15,
             expand: bool = True) -> Fit:
    """The :class:`Fit` :func:`fit_to_size` makes of an image of ``image_size`` (H0, W0), from the
    sizes and keypoints alone: no pixels, so a pose of any frame is cheap to bring to the model's."""
    H, W = size
    if H < 1 or W < 1:
        raise PonaError(f"size must be positive, got {size}")
    h0, w0 = image_size
    if box is not None:
        t, l, b, r = (float(v) for v in box)
        if not (t < b and l < r and b > 0 and r > 0 and t < h0 and l < w0):
            raise PonaError(f"box {tuple(box)} (top, left, bottom, right) is empty or outside the {h0}x{w0} image")
        box = (max(t, 0.0), max(l, 0.0), min(b, float(h0)), min(r, float(w0)))
    elif keypoints is not None:
        box = person_box(keypoints, (h0, w0), margin)
    if box is None:
        box = (0.0, 0.0, float(h0), float(w0))
    if expand:
        box = _expand_to_aspect(box, H / W, (h0, w0))
    top, left = int(np.floor(box[0])), int(np.floor(box[1]))
    bottom, right = int(np.ceil(box[2])), int(np.ceil(box[3]))
    top, left = min(max(top, 0), h0 - 1), min(max(left, 0), w0 - 1)
    bottom, right = min(max(bottom, top + 1), h0), min(max(right, left + 1), w0)

    s = min(H / (bottom - top), W / (right - left))
    h = min(H, max(1, round((bottom - top) * s)))
    w = min(W, max(1, round((right - left) * s)))
    # A one-pixel gap (from rounding the box to whole pixels) is stretched over, not padded: a
    # line of padding would look like a border. At 50 px or more that distorts by 2% at most;
    # the Fit keeps each axis's exact scale.
    h = H if H - h == 1 and h >= 50 else h
    w = W if W - w == 1 and w >= 50 else w
    py, px = (H - h) // 2, (W - w) // 2
    return Fit((h0, w0), (H, W), (top, left, bottom, right), (h, w), (py, px))


def fit_to_size(
    image,
    size: tuple[int, int],
    keypoints=None,
    box: tuple[float, float, float, float] | None = None,
    margin: float = 0.15,
    expand: bool = True,
    pad="edge",
    resample=Image.Resampling.LANCZOS,
) -> tuple[np.ndarray, np.ndarray | None, Fit]:
    """Crop the person out of a photo, resize keeping the aspect ratio and pad to exactly ``size``.

    Args:
        image: (H0, W0, 3) uint8 array or PIL image.
        size: (H, W) of the output, e.g. ``layout.SIZES["market"]`` = (128, 64).
        keypoints: (18, 2) (y, x) in the photo, -1 missing: the crop is :func:`person_box`.
        box: (top, left, bottom, right) crop in pixel edges instead (wins over keypoints);
            with neither, the whole photo.
        margin: see :func:`person_box`.
        expand: grow the crop to the output's aspect ratio with the photo's own pixels where it
            has them, so that less padding is needed (False: crop exactly ``box``).
        pad: fill of the padding: "edge" (median colour of the crop's border), "white",
            "black" or an RGB triple.
        resample: PIL filter (LANCZOS; NEAREST gives exact pixel copies, used by the tests).

    The crop keeps its aspect ratio, except that a gap of a single pixel left by rounding is
    stretched over rather than padded when the side is 50 px or more (the :class:`Fit` records
    each axis's scale exactly).

    Returns:
        (fitted (H, W, 3) uint8, fitted keypoints (18, 2) or None, the :class:`Fit`).
    """
    image = _array(image)
    fit = plan_fit(image.shape[:2], size, keypoints, box, margin, expand)
    (top, left, bottom, right), (h, w), (py, px) = fit.box, fit.resized, fit.pad
    crop = image[top:bottom, left:right]
    out = np.empty(tuple(size) + image.shape[2:], dtype=np.uint8)
    out[...] = _pad_color(crop, pad)
    out[py:py + h, px:px + w] = _resize(crop, (h, w), resample)
    fitted_kp = None if keypoints is None else fit.apply(keypoints)
    return out, fitted_kp, fit


_READ_ERRORS = (OSError, ValueError, Image.DecompressionBombError)


def _load_photo(path) -> np.ndarray:
    from .dataset import rgb_array

    with Image.open(path) as im:
        return rgb_array(ImageOps.exif_transpose(im))


def read_photo(path: str | os.PathLike) -> np.ndarray:
    """A photo file -> (H, W, 3) uint8 RGB, turned upright by its EXIF orientation (phone photos)."""
    try:
        return _load_photo(path)
    except _READ_ERRORS as e:
        raise DataError(f"{path}: cannot read image: {e}") from None


def estimate_photo_pose(path: str | os.PathLike, estimator) -> tuple[np.ndarray, np.ndarray]:
    """Read a photo and estimate its pose: ((H, W, 3) uint8 photo, (18, 2) keypoints).

    Raises DataError if the photo cannot be read or shows no person.
    """
    image = read_photo(path)
    keypoints = estimator(image)
    if keypoints is None or not visible(np.asarray(keypoints)).any():
        raise DataError(f"{path}: no person found")
    return image, np.asarray(keypoints, dtype=np.float64)


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
    from .estimators import get_estimator  # MediaPipe is imported only when no estimator is given

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
    if own_estimator:
        estimator = get_estimator("mediapipe")
    summary = PhotosSummary(Split(out, name, split), size)
    annotations, manifest, used = {}, [], set()
    try:
        from tqdm import tqdm

        for path, person in tqdm(photos, desc="photos", unit="photo", disable=not progress):
            rel = str(path.relative_to(input_dir))
            try:
                image = _load_photo(path)
            except _READ_ERRORS as e:
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
        from .posefile import read_pose

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
