"""One photo of the user's: read it upright, find its person, and fit it to the model size.

``fit_to_size`` crops the person, resizes keeping the aspect ratio and pads to exactly (H, W); the
returned :class:`Fit` maps keypoints both ways and pastes a generated image back into the photo.
(A folder of photos to a dataset: :mod:`pona.data.photos`.)

Coordinates are pona's: (y, x) at pixel centres, pixel i spanning [i - 0.5, i + 0.5], -1 missing.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageOps

from ..errors import DataError, PonaError
from ..pose import MISSING, visible
from .dataset import rgb_array

FACE_JOINTS = (0, 14, 15, 16, 17)  # nose, eyes, ears


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


READ_ERRORS = (OSError, ValueError, Image.DecompressionBombError)  # what a bad image file raises


def load_photo(path) -> np.ndarray:
    """:func:`read_photo` raising the decoder's own errors (``READ_ERRORS``), for callers that skip bad files."""
    with Image.open(path) as im:
        return rgb_array(ImageOps.exif_transpose(im))


def read_photo(path: str | os.PathLike) -> np.ndarray:
    """A photo file -> (H, W, 3) uint8 RGB, turned upright by its EXIF orientation (phone photos)."""
    try:
        return load_photo(path)
    except READ_ERRORS as e:
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
