"""``PoNA``: a trained generator ready to move a person to new poses.

Frames. The generator works at its training size (``image_size``, the *model frame*). An input
image of another size is brought to the model frame with the same crop/pad/resize as the data
preparation of photos (:func:`pona.data.fit.fit_to_size`); the ``Fit`` it returns maps
keypoints both ways and pastes the output back into the original image (``original_frame=True``).
A model-size image is used as is. A target pose refers to the condition image's frame unless it
carries its own ``image_size`` of another size (a :class:`~pona.data.posefile.Pose` read from a
JSON or extracted from another photo): such poses are fitted on their own (the person framed the
way the data preparation frames people; all poses of one sequence with one crop). ``target_frame``
overrides the rule (:meth:`PoNA.fit_poses`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ..data.dataset import to_tensor, to_uint8
from ..data.fit import fit_to_size, person_box
from ..data.posefile import Pose
from ..errors import DataError, PonaError
from ..models.io import load_generator
from ..pose import NUM_JOINTS, heatmaps
from ..precision import Precision, autocast, check_device, resolve_precision, to_layout
from .panels import animation_frame, as_image, transfer_panel
from .poses import Estimator, LazyEstimator

log = logging.getLogger(__name__)

TARGET_FRAMES = ("auto", "condition", "own")


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


def frame_fit(frame_size: tuple[int, int], size: tuple[int, int], keypoint_sets) -> object:
    """One Fit for poses drawn in a frame of ``frame_size`` (a photo, a video) that has no image here.

    The crop box is the union of the people boxes of all the poses (the data preparation's
    :func:`~pona.data.fit.person_box`), so a sequence keeps one camera: the person moves
    within the frame instead of being re-centred and re-scaled on every pose.
    """
    boxes = np.array([b for kp in keypoint_sets if (b := person_box(kp, frame_size)) is not None])
    box = None if not len(boxes) else (*boxes[:, :2].min(0), *boxes[:, 2:].max(0))
    blank = np.zeros((*frame_size, 3), np.uint8)  # the geometry only: fit_to_size needs an image
    return fit_to_size(blank, size, box=box)[2]


@dataclass
class Transfer:
    """One transfer: everything in the model frame, plus the way back to the input's frame."""

    output: Image.Image           # generated person, model size
    condition: np.ndarray         # (H, W, 3) uint8 condition image, model size
    src_keypoints: np.ndarray     # (18, 2) condition pose, model frame
    dst_keypoints: np.ndarray     # (18, 2) target pose, model frame
    original: np.ndarray | None = None  # the input image when it was not model size
    fit: object | None = None     # pona.data.fit.Fit of the input; None when it was model size
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
        precision: "fp32" (default: outputs as before) | "auto" (bf16 where the device has
            native bf16, see :mod:`pona.precision`) | "bf16" | "fp16" (CUDA), or a resolved
            :class:`~pona.precision.Precision`. The weights stay fp32; outputs are fp32 (uint8
            images) in every precision.
    """

    def __init__(self, generator: torch.nn.Module, device: str | torch.device = "cpu",
                 sigma: float = 6.0, quantize: bool = False, estimator: Estimator | None = None,
                 precision: str | Precision = "fp32"):
        self.device = check_device(device)
        self.precision = precision if isinstance(precision, Precision) else resolve_precision(precision, self.device)
        self.generator = to_layout(generator.to(self.device), self.precision).eval()
        log.info("generator on %s, precision %s", self.device, self.precision)
        self.sigma, self.quantize = sigma, quantize
        self.estimator = estimator or LazyEstimator()

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str | torch.device = "cpu", **kwargs) -> "PoNA":
        """From a ``.safetensors`` checkpoint or a training run directory (kwargs: see the class)."""
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
        return self.run(x, s, d, return_attention=return_attention)

    @torch.inference_mode()
    def run(self, images: torch.Tensor, src_maps: torch.Tensor, dst_maps: torch.Tensor,
            return_attention: bool = False):
        """The generator on ready tensors, in this model's precision: (B, 3, H, W) images in
        [-1, 1], (B, 18, H, W) heat maps (any device) -> (B, 3, H, W) fp32 (and fp32 attention maps)."""
        inputs = [to_layout(t.to(self.device), self.precision) for t in (images, src_maps, dst_maps)]
        with autocast(self.precision, self.device):
            result = self.generator(*inputs, return_attention=return_attention)
        if not return_attention:
            return result.float()
        out, maps = result
        return out.float(), [[None if m is None else m.float() for m in block] for block in maps]

    # -- any frame -----------------------------------------------------------------------------

    def fit_input(self, image, keypoints):
        """Bring an image and its keypoints to the model frame: (image (H, W, 3) uint8, (18, 2), Fit or None)."""
        arr = as_array(image)
        kp = np.asarray(keypoints, dtype=np.float64)
        if arr.shape[:2] == self.image_size:
            return arr, kp, None
        fitted, fitted_kp, fit = fit_to_size(arr, self.image_size, keypoints=kp)
        return np.asarray(fitted), np.asarray(fitted_kp, dtype=np.float64), fit

    def fit_poses(self, poses, frame_size: tuple[int, int], fit, target_frame: str = "auto") -> np.ndarray:
        """Target poses in the model frame: (T, 18, 2).

        ``frame_size`` and ``fit`` are the condition image's size and Fit (None at model size).
        ``target_frame`` says which frame a pose's coordinates refer to:
          - "condition": the condition image's (mapped with its fit);
          - "own": the pose's ``image_size`` (another photo, a video): poses of one frame size get
            one crop together (:func:`frame_fit`); a pose of the model size is used as is;
          - "auto": "condition" for a pose without ``image_size`` or of the condition's size,
            else "own".
        """
        if target_frame not in TARGET_FRAMES:
            raise PonaError(f"target_frame must be one of {TARGET_FRAMES}, got {target_frame!r}")
        poses = [as_pose(p, f"target pose {i}") for i, p in enumerate(poses)]
        out = np.empty((len(poses), NUM_JOINTS, 2))
        groups: dict[tuple[int, int], list[int]] = {}
        for i, pose in enumerate(poses):
            size = None if pose.image_size is None else tuple(pose.image_size)
            if target_frame == "own" and size is None:
                raise DataError(f"target pose {i} has no image_size: its own frame is unknown")
            if target_frame == "condition" or (target_frame == "auto" and size in (None, tuple(frame_size))):
                out[i] = pose.keypoints if fit is None else fit.apply(pose.keypoints)
            elif size == self.image_size:
                out[i] = pose.keypoints
            else:
                groups.setdefault(size, []).append(i)
        for size, idx in groups.items():
            own = frame_fit(size, self.image_size, [poses[i].keypoints for i in idx])
            for i in idx:
                out[i] = own.apply(poses[i].keypoints)
        return out

    def source_pose(self, image, src_pose) -> Pose:
        """``src_pose``, or the pose the estimator finds in ``image`` when it is None."""
        if src_pose is not None:
            return as_pose(src_pose, "condition pose")
        kp = self.estimator(as_array(image))
        if kp is None:
            raise DataError("the pose estimator found no person in the condition image; give its pose")
        return Pose(np.asarray(kp, dtype=np.float64), as_array(image).shape[:2])

    def transfer_detailed(self, image, src_pose, dst_pose, return_attention: bool = False,
                          target_frame: str = "auto") -> Transfer:
        """Like :meth:`transfer`, returning a :class:`Transfer` (model-frame inputs, panel, way back)."""
        arr = as_array(image)
        src = self.source_pose(arr, src_pose)
        if src.image_size is not None and tuple(src.image_size) != arr.shape[:2]:
            raise DataError(f"the condition pose refers to a {src.image_size[1]}x{src.image_size[0]} image "
                            f"but the condition image is {arr.shape[1]}x{arr.shape[0]} (WxH)")
        cond, src_kp, fit = self.fit_input(arr, src.keypoints)
        dst_kp = self.fit_poses([dst_pose], arr.shape[:2], fit, target_frame)[0]
        result = self.generate(cond, src_kp, dst_kp, return_attention)
        out, maps = result if return_attention else (result, None)
        return Transfer(Image.fromarray(to_uint8(out[0])), cond, src_kp, dst_kp,
                        arr if fit is not None else None, fit, maps)

    def transfer(self, image, src_pose, dst_pose, original_frame: bool = False, return_attention: bool = False,
                 target_frame: str = "auto"):
        """The person of ``image`` moved from ``src_pose`` to ``dst_pose``.

        Args:
            image: PIL image or (H, W, 3) uint8 array of any size.
            src_pose: (18, 2) (y, x) keypoints in ``image``'s pixels (-1 missing), a Pose, or None
                to extract it with the pose estimator.
            dst_pose: (18, 2) keypoints in the same frame as ``image``, or a Pose with its own
                ``image_size`` (see the module docstring and ``target_frame``).
            original_frame: paste the output back into the input's frame (else: model size).
            return_attention: also return the per-block attention maps.
            target_frame: "auto" | "condition" | "own", the frame of ``dst_pose`` (:meth:`fit_poses`).

        Returns:
            PIL image (and the maps).
        """
        t = self.transfer_detailed(image, src_pose, dst_pose, return_attention, target_frame)
        out = t.in_original_frame() if original_frame else t.output
        return (out, t.attention) if return_attention else out

    def animate(self, image, src_pose, poses, batch_size: int = 8, original_frame: bool = False,
                skeleton: bool = True, target_frame: str = "auto", progress=None) -> list[Image.Image]:
        """One frame per target pose: skeleton | generated person (or the person alone).

        The condition image and pose go through :meth:`fit_input` once; the target poses are
        fitted with :meth:`fit_poses` (one camera for the whole sequence) and run through the generator ``batch_size`` at a time.
        ``progress``: optional callable(n_done) called after each batch.
        """
        arr = as_array(image)
        src = self.source_pose(arr, src_pose)
        cond, src_kp, fit = self.fit_input(arr, src.keypoints)
        targets = self.fit_poses(poses, arr.shape[:2], fit, target_frame)  # (T, 18, 2)
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
