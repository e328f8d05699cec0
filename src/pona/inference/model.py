"""``PoNA``: a trained generator ready to move a person to new poses.

Frames. The generator works at its training size (``image_size``, the *model frame*). An input
image of another size is brought to the model frame with the same crop/pad/resize as the data
preparation of photos (:func:`pona.data.photos.fit_to_size`); the ``Fit`` it returns maps
keypoints both ways and pastes the output back into the original image (``original_frame=True``).
A model-size image is used as is. A pose refers to the condition image's frame unless it carries
its own ``image_size`` (a :class:`~pona.data.posefile.Pose` read from a JSON or extracted from
another photo); a pose of yet another frame is fitted on its own (the target person is framed the
way the data preparation frames people).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ..data.dataset import to_tensor, to_uint8
from ..data.posefile import Pose
from ..errors import DataError
from ..models.io import load_generator
from ..pose import NUM_JOINTS, heatmaps
from .panels import animation_frame, as_image, transfer_panel
from .poses import Estimator, LazyEstimator


def as_pose(pose, what: str = "pose") -> Pose:
    """A :class:`Pose`, or an (18, 2) array-like of (y, x) (frame unknown) -> Pose."""
    if isinstance(pose, Pose):
        return pose
    kp = np.asarray(pose, dtype=np.float64)
    if kp.shape != (NUM_JOINTS, 2):
        raise DataError(f"{what} has shape {list(kp.shape)}, expected [{NUM_JOINTS}, 2] ((y, x) per joint, -1 missing)")
    return Pose(kp, None)


def as_array(image) -> np.ndarray:
    """PIL image or (H, W, 3) uint8 array -> (H, W, 3) uint8 array."""
    arr = np.array(image.convert("RGB")) if isinstance(image, Image.Image) else np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise DataError(f"image must be RGB (H, W, 3) uint8, got shape {arr.shape} dtype {arr.dtype}")
    return arr


def _fit_to_size(image: np.ndarray, size: tuple[int, int], keypoints=None):
    from ..data.photos import fit_to_size

    return fit_to_size(image, size, keypoints=keypoints)


@dataclass
class Transfer:
    """One transfer: everything in the model frame, plus the way back to the input's frame."""

    output: Image.Image           # generated person, model size
    condition: np.ndarray         # (H, W, 3) uint8 condition image, model size
    src_keypoints: np.ndarray     # (18, 2) condition pose, model frame
    dst_keypoints: np.ndarray     # (18, 2) target pose, model frame
    original: np.ndarray | None = None  # the input image when it was not model size
    fit: object | None = None     # pona.data.photos.Fit of the input; None when it was model size
    attention: list | None = None  # per block [self map, pose-guided map], (1, N, N), if asked

    def in_original_frame(self) -> Image.Image:
        """The output pasted back into the input image's frame (the output itself for model-size inputs)."""
        if self.fit is None:
            return self.output
        return as_image(self.fit.unfit(np.asarray(self.output), self.original))

    def panel(self) -> Image.Image:
        """condition | condition pose | target pose | output (model size each, 4W x H)."""
        return transfer_panel(self.condition, self.src_keypoints, self.dst_keypoints, self.output)


class PoNA:
    """A generator ready for inference (eval mode, no gradients) on ``device``.

    Args:
        generator: a PoNA (or PATN) generator.
        sigma, quantize: heat-map options (:func:`pona.pose.heatmaps`); ``quantize=True`` for the
            authors' released DeepFashion model, trained on uint8 maps.
        estimator: pose estimator used when a condition pose is not given (default: MediaPipe
            from the ``pose`` extra, created on first use).
    """

    def __init__(self, generator: torch.nn.Module, device: str | torch.device = "cpu",
                 sigma: float = 6.0, quantize: bool = False, estimator: Estimator | None = None):
        self.device = torch.device(device)
        self.generator = generator.to(self.device).eval()
        self.sigma, self.quantize = sigma, quantize
        self.estimator = estimator or LazyEstimator()

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str | torch.device = "cpu", **kwargs) -> "PoNA":
        """From a ``.safetensors`` checkpoint or a training run directory."""
        return cls(load_generator(path), device, **kwargs)

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) the model was trained at."""
        return tuple(self.generator.config.image_size)

    # -- the model frame ---------------------------------------------------------------------

    def maps(self, keypoints) -> torch.Tensor:
        """(..., 18, 2) keypoints in the model frame -> (..., 18, H, W) heat maps on the device."""
        kp = torch.as_tensor(np.array(keypoints, dtype=np.float32), device=self.device)  # a copy: inputs may be views
        return heatmaps(kp, *self.image_size, sigma=self.sigma, quantize=self.quantize)

    @torch.inference_mode()
    def generate(self, images, src_keypoints, dst_keypoints, return_attention: bool = False):
        """The batched forward pass, everything in the model frame.

        Args:
            images: (B, H, W, 3) uint8 condition images (or (H, W, 3), broadcast to the batch).
            src_keypoints, dst_keypoints: (B, 18, 2) or (18, 2) (broadcast) keypoints.

        Returns:
            (B, 3, H, W) float tensor in [-1, 1] (and the attention maps if asked).
        """
        images = np.array(images, dtype=np.uint8)  # a writable copy for torch.from_numpy
        src, dst = np.asarray(src_keypoints), np.asarray(dst_keypoints)
        B = max(len(a) if a.ndim == n else 1 for a, n in ((images, 4), (src, 3), (dst, 3)))
        x = torch.stack([to_tensor(im) for im in images.reshape(-1, *images.shape[-3:])])  # (B or 1, 3, H, W)
        x = x.expand(B, -1, -1, -1)
        s = self.maps(np.broadcast_to(src, (B, NUM_JOINTS, 2)))
        d = self.maps(np.broadcast_to(dst, (B, NUM_JOINTS, 2)))
        return self.generator(x.to(self.device), s, d, return_attention=return_attention)

    # -- any frame -----------------------------------------------------------------------------

    def fit_input(self, image, keypoints):
        """Bring an image and its keypoints to the model frame: (image (H, W, 3) uint8, (18, 2), Fit or None)."""
        arr = as_array(image)
        kp = np.asarray(keypoints, dtype=np.float64)
        if arr.shape[:2] == self.image_size:
            return arr, kp, None
        fitted, fitted_kp, fit = _fit_to_size(arr, self.image_size, keypoints=kp)
        return np.asarray(fitted), np.asarray(fitted_kp, dtype=np.float64), fit

    def fit_pose(self, pose, frame_size: tuple[int, int], fit) -> np.ndarray:
        """A target pose in the model frame. ``frame_size``, ``fit``: the condition image's size and Fit."""
        pose = as_pose(pose, "target pose")
        size = pose.image_size
        if size is None or tuple(size) == tuple(frame_size):
            return pose.keypoints if fit is None else np.asarray(fit.apply(pose.keypoints), dtype=np.float64)
        if tuple(size) == self.image_size:
            return pose.keypoints
        # A pose from another frame (another photo): frame its person the way the data preparation does.
        blank = np.zeros((*size, 3), np.uint8)
        return np.asarray(_fit_to_size(blank, self.image_size, keypoints=pose.keypoints)[1], dtype=np.float64)

    def source_pose(self, image, src_pose) -> Pose:
        """``src_pose``, or the pose the estimator finds in ``image`` when it is None."""
        if src_pose is not None:
            return as_pose(src_pose, "condition pose")
        kp = self.estimator(as_array(image))
        if kp is None:
            raise DataError("the pose estimator found no person in the condition image; give its pose")
        return Pose(np.asarray(kp, dtype=np.float64), as_array(image).shape[:2])

    def transfer_detailed(self, image, src_pose, dst_pose, return_attention: bool = False) -> Transfer:
        """Like :meth:`transfer`, returning a :class:`Transfer` (model-frame inputs, panel, way back)."""
        arr = as_array(image)
        src = self.source_pose(arr, src_pose)
        if src.image_size is not None and tuple(src.image_size) != arr.shape[:2]:
            raise DataError(f"the condition pose refers to a {src.image_size[1]}x{src.image_size[0]} image "
                            f"but the condition image is {arr.shape[1]}x{arr.shape[0]} (WxH)")
        cond, src_kp, fit = self.fit_input(arr, src.keypoints)
        dst_kp = self.fit_pose(dst_pose, arr.shape[:2], fit)
        result = self.generate(cond, src_kp, dst_kp, return_attention)
        out, maps = result if return_attention else (result, None)
        return Transfer(Image.fromarray(to_uint8(out[0])), cond, src_kp, dst_kp,
                        arr if fit is not None else None, fit, maps)

    def transfer(self, image, src_pose, dst_pose, original_frame: bool = False, return_attention: bool = False):
        """The person of ``image`` moved from ``src_pose`` to ``dst_pose``.

        Args:
            image: PIL image or (H, W, 3) uint8 array of any size.
            src_pose: (18, 2) (y, x) keypoints in ``image``'s pixels (-1 missing), a Pose, or None
                to extract it with the pose estimator.
            dst_pose: (18, 2) keypoints in the same frame as ``image``, or a Pose with its own
                ``image_size`` (see the module docstring).
            original_frame: paste the output back into the input's frame (else: model size).
            return_attention: also return the per-block attention maps.

        Returns:
            PIL image (and the maps).
        """
        t = self.transfer_detailed(image, src_pose, dst_pose, return_attention)
        out = t.in_original_frame() if original_frame else t.output
        return (out, t.attention) if return_attention else out

    def animate(self, image, src_pose, poses, batch_size: int = 8, original_frame: bool = False,
                skeleton: bool = True, progress=None) -> list[Image.Image]:
        """One frame per target pose: skeleton | generated person (or the person alone).

        The condition image and pose go through :meth:`fit_input` once; the target poses are
        fitted with :meth:`fit_pose` and run through the generator ``batch_size`` at a time.
        ``progress``: optional callable(n_done) called after each batch.
        """
        arr = as_array(image)
        src = self.source_pose(arr, src_pose)
        cond, src_kp, fit = self.fit_input(arr, src.keypoints)
        targets = np.stack([self.fit_pose(p, arr.shape[:2], fit) for p in poses])  # (T, 18, 2)
        frames = []
        for s in range(0, len(targets), batch_size):
            out = self.generate(cond, src_kp, targets[s:s + batch_size])
            for kp, o in zip(targets[s:s + batch_size], out):
                person = Image.fromarray(to_uint8(o))
                if original_frame and fit is not None:
                    person = as_image(fit.unfit(np.asarray(person), arr))
                    kp = np.asarray(fit.invert(kp), dtype=np.float64)
                frames.append(animation_frame(kp, person) if skeleton else person)
            if progress is not None:
                progress(len(frames))
        return frames
