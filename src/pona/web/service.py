"""What the web app does, without HTTP: conditions, poses, transfers, animations, attention.

Every pose handed to the generator is in the model's frame (its ``image_size``); images and poses
of other sizes are brought there by ``pona.data.fit.fit_to_size``, as ``pona transfer`` does.
The model is shared by all requests: it runs in eval mode under ``torch.inference_mode`` and one
lock lets one forward pass run at a time (on a CPU, parallel passes only fight for the cores).
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .. import pose as posemod
from ..data.dataset import to_tensor, to_uint8
from ..data.estimators import PoseEstimator, get_estimator
from ..data.fit import Fit, fit_to_size, plan_fit
from ..data.poseformats import detect
from ..data.posefile import Pose, pose_from_json, pose_from_obj
from ..errors import PonaError
from ..inference import PoNA
from .attention import AttentionStore, pose_guided_maps
from .dataset import DatasetIndex
from .uploads import ClientError, DecodeSlots, Upload, UploadLimits, decode_upload

Estimator = PoseEstimator  # (H, W, 3) uint8 -> (18, 2) (y, x) keypoints, or None when nobody is found

# A person standing, facing the camera, as fractions (y / H, x / W) of the frame.
DEFAULT_POSE = (
    (0.120, 0.50), (0.220, 0.50),
    (0.230, 0.36), (0.380, 0.32), (0.520, 0.30),
    (0.230, 0.64), (0.380, 0.68), (0.520, 0.70),
    (0.520, 0.42), (0.700, 0.41), (0.880, 0.40),
    (0.520, 0.58), (0.700, 0.59), (0.880, 0.60),
    (0.105, 0.47), (0.105, 0.53), (0.115, 0.43), (0.115, 0.57),
)
MAX_FRAMES = 24


def png_bytes(image: np.ndarray | Image.Image) -> bytes:
    buf = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(buf, format="PNG")
    return buf.getvalue()


def load_default_estimator() -> tuple[Estimator | None, str]:
    """MediaPipe BlazePose (``pona.data.estimators``) if the pose extra is installed, else (None, the fix)."""
    try:
        return get_estimator("mediapipe"), ""
    except PonaError as e:
        return None, str(e)


@dataclass
class Condition:
    """A condition image fitted to the model's frame, and its pose there."""

    image: np.ndarray              # (H, W, 3) uint8, the model's size
    keypoints: np.ndarray          # (18, 2) (y, x) in the model's frame
    frame: tuple[int, int]         # (h, w) of the image as received
    fit: Fit | None                # decoded frame -> model frame; None: decoded at the model's size
    upload: Upload | None = None   # received frame -> decoded frame (uploads are decoded shrunk)

    def to_model(self, keypoints) -> np.ndarray:
        """Keypoints in the received image's frame -> the model's frame."""
        kp = np.asarray(keypoints, dtype=np.float64) if self.upload is None else self.upload.to_decoded(keypoints)
        return kp if self.fit is None else np.asarray(self.fit.apply(kp), dtype=np.float64)


class WebService:
    """The model, the dataset, the pose estimator and the attention store of one app.

    Frames, as in ``pona transfer``: a pose without ``image_size`` refers to the condition image
    as received; a pose with the model's size is in the model's frame; a pose of another size
    (another photo, another dataset) is fitted on its own.
    """

    def __init__(self, model: PoNA, dataset: DatasetIndex | None = None, estimator: Estimator | None = None,
                 estimator_message: str = "", limits: UploadLimits = UploadLimits()):
        self.model, self.dataset, self.limits = model, dataset, limits
        self.estimator = estimator
        self.estimator_message = "" if estimator else (estimator_message or "no pose estimator configured")
        self.size = model.image_size  # (H, W)
        self.attention = AttentionStore()
        self.decode_slots = DecodeSlots(limits.decode_slots, limits.decode_queue)
        self._model_lock = threading.Lock()
        self._estimator_lock = threading.Lock()  # MediaPipe graphs are not safe to share between threads

    # --- poses -------------------------------------------------------------------------------
    def default_pose(self) -> np.ndarray:
        h, w = self.size
        return np.array(DEFAULT_POSE) * np.array([h, w])

    def fit(self, image: np.ndarray, keypoints=None):
        """(image, keypoints, Fit) in the model's frame, as the data preparation of photos fits them
        (``pona.data.fit.fit_to_size``: the person cropped, resized, padded); a model-size image
        is used as is (Fit None), as by ``pona transfer``."""
        kp = None if keypoints is None else np.asarray(keypoints, dtype=np.float64)
        if tuple(image.shape[:2]) == self.size:
            return image, kp, None
        fitted, kp, fit = fit_to_size(image, self.size, keypoints=kp)
        return fitted, (None if kp is None else np.asarray(kp, dtype=np.float64)), fit

    def other_frame(self, keypoints, size: tuple[int, int]) -> np.ndarray:
        """Keypoints of an image of ``size`` (H, W), framed on their own in the model's frame (as
        ``fit`` would frame them with the image; from the sizes alone, whatever ``size`` is)."""
        kp = np.asarray(keypoints, dtype=np.float64)
        if tuple(size) == self.size:
            return kp
        return np.asarray(plan_fit(tuple(size), self.size, keypoints=kp).apply(kp), dtype=np.float64)

    def target_pose(self, cond: Condition, pose: Pose) -> np.ndarray:
        """A target (or start) pose in the model's frame, for the condition ``cond``."""
        kp = np.asarray(pose.keypoints, dtype=np.float64)
        if pose.image_size is None or tuple(pose.image_size) == cond.frame:
            return cond.to_model(kp)
        return self.other_frame(kp, pose.image_size)

    @staticmethod
    def parse_pose(text: str, what: str) -> Pose:
        """A form field holding pose JSON -> Pose, or a 422 naming the field and the problem."""
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise ClientError(422, f"{what} is not valid JSON ({e.msg} at character {e.pos})") from None
        except (RecursionError, ValueError):  # deep nesting; an integer of thousands of digits
            raise ClientError(422, f"{what} is not a pose: JSON nested too deeply or a number too long") from None
        try:
            if detect(obj) not in (None, "pona"):  # OpenPose, COCO, MediaPipe: read like pose files
                return pose_from_obj(obj, what)
            return pose_from_json(obj, what)
        except PonaError as e:
            raise ClientError(422, str(e)) from None

    def estimate(self, image: np.ndarray, what: str = "upload") -> np.ndarray:
        """(18, 2) keypoints of the person in ``image`` (its own frame); 501 without an estimator."""
        if self.estimator is None:
            raise ClientError(501, f"pose estimation is unavailable: {self.estimator_message}")
        with self._estimator_lock:
            kp = self.estimator(image)
        if kp is None:
            raise ClientError(422, f"no person found in {what}")
        return np.asarray(kp, dtype=np.float64)

    # --- conditions --------------------------------------------------------------------------
    def decode(self, data: bytes, what: str) -> Upload:
        """An upload decoded to what the model needs (``uploads.decode_upload``), a few at a time."""
        with self.decode_slots(what):
            return decode_upload(data, self.limits, what, model_size=self.size)

    def dataset_item(self, name: str):
        if self.dataset is None:
            raise ClientError(404, "no dataset: start the server with --data DIR (a PATN-layout directory)")
        try:
            return self.dataset.get(name)
        except KeyError:
            raise ClientError(404, f"no image named {name!r} in the dataset's {self.dataset.split.split} split") from None

    def dataset_file(self, name: str):
        """The path of a dataset image; 404 when it is gone from the folder since the server started."""
        item = self.dataset_item(name)
        if not item.path.is_file():
            raise ClientError(404, f"dataset image {name!r} is in the annotations but no longer in the "
                                   f"{self.dataset.split.split} image folder")
        return item.path

    def dataset_image(self, name: str) -> np.ndarray:
        """(H, W, 3) uint8 of a dataset image."""
        self.dataset_file(name)
        return self.dataset.image(name)

    def dataset_pose(self, name: str) -> Pose:
        """An annotated pose, in its image's frame."""
        self.dataset_file(name)
        return Pose(self.dataset_item(name).keypoints.astype(np.float64), self.dataset.size(name))

    def condition(self, name: str | None = None, data: bytes | None = None, pose: Pose | None = None,
                  what: str = "condition") -> Condition:
        """A dataset image (by name) or an upload (bytes), fitted with its pose to the model's frame.

        The pose: ``pose`` if given (in the image's frame, or in the model's frame), else the
        dataset annotation, else estimated.
        """
        upload = None
        if name is not None:
            image, known = self.dataset_image(name), self.dataset_item(name).keypoints
            frame = tuple(image.shape[:2])
        else:
            upload = self.decode(data, what)
            image, known, frame = upload.image, None, upload.size
        given = None  # a pose already in the model's frame (the page's edited pose)
        if pose is not None:
            size = None if pose.image_size is None else tuple(pose.image_size)
            if size is None or size == frame:
                known = pose.keypoints
            elif size == self.size:
                given = np.asarray(pose.keypoints, dtype=np.float64)
            else:
                raise ClientError(422, f"source_pose refers to a {size[1]}x{size[0]} image (WxH), but the condition "
                                       f"image is {frame[1]}x{frame[0]} and the model {self.size[1]}x{self.size[0]}")
        if known is None and given is None:
            known = self.estimate(image, "the condition image")  # in the decoded frame
        elif known is not None and upload is not None:
            known = upload.to_decoded(known)
        fitted, kp, fit = self.fit(image, known)
        return Condition(fitted, given if given is not None else kp, frame, fit, upload)

    def upload_pose(self, data: bytes, fit: bool):
        """An uploaded photo's pose: (keypoints (18, 2), frame (H, W), fitted image or None).

        With ``fit`` the keypoints are in the model's frame and the photo fitted with them comes
        along, so that a page shows the two in the same frame.
        """
        upload = self.decode(data, "image")
        kp = self.estimate(upload.image, "the image")
        if not fit:
            return upload.to_received(kp), upload.size, None
        fitted, kp, _ = self.fit(upload.image, kp)
        return kp, self.size, fitted

    def upload_fitted(self, data: bytes) -> np.ndarray:
        """An uploaded photo (all of it: no pose to crop around) fitted to the model's size."""
        return self.fit(self.decode(data, "image").image)[0]

    # --- generation --------------------------------------------------------------------------
    def transfer(self, image: np.ndarray, src: np.ndarray, dst: np.ndarray, attention: bool = False):
        """(png bytes, attention id or None) of the person of ``image`` in pose ``dst``."""
        want_maps = attention and self.has_attention
        with self._model_lock:
            if want_maps:
                out, maps = self.model.transfer(image, src, dst, return_attention=True)
            else:
                out, maps = self.model.transfer(image, src, dst), None
        key = self.attention.put(pose_guided_maps(maps)) if want_maps else None
        return png_bytes(out), key

    def animate(self, image: np.ndarray, start: np.ndarray, end: np.ndarray, src: np.ndarray, frames: int):
        """Frames of the person of ``image`` (pose ``src``) moving from ``start`` to ``end``, in one batch."""
        if not 2 <= frames <= MAX_FRAMES:
            raise ClientError(422, f"frames must be between 2 and {MAX_FRAMES}, got {frames}")
        poses = posemod.interpolate(start, end, frames)  # (F, 18, 2)
        # The inputs PoNA.transfer builds (heat maps with sigma 6), for F frames at once.
        h, w = self.size
        dev = self.model.device
        x = to_tensor(image)[None].expand(frames, -1, -1, -1).to(dev)
        src_maps = posemod.heatmaps(torch.as_tensor(src, dtype=torch.float32), h, w)[None].expand(frames, -1, -1, -1).to(dev)
        dst_maps = posemod.heatmaps(torch.as_tensor(poses, dtype=torch.float32), h, w).to(dev)
        with self._model_lock:
            out = self.model.run(x, src_maps, dst_maps)  # (F, 3, H, W), in the model's precision
        return [png_bytes(to_uint8(o)) for o in out], poses

    @property
    def has_attention(self) -> bool:
        cfg = self.model.generator.config
        return cfg.arch == "pona" and cfg.cross_attention

    def attention_row(self, key: str, y: float, x: float):
        """Per block, where target pixel (y, x) of generation ``key`` attends: (grid, (r, c), maps)."""
        gh, gw = self.size[0] // 4, self.size[1] // 4
        if not (0 <= y < self.size[0] and 0 <= x < self.size[1]):
            raise ClientError(422, f"location ({y}, {x}) is outside the {self.size[0]}x{self.size[1]} image")
        r, c = int(y) // 4, int(x) // 4
        try:
            rows = self.attention.row(key, r * gw + c)
        except KeyError:
            raise ClientError(404, f"no attention maps with id {key!r} (only the last few generations are kept)") from None
        return (gh, gw), (r, c), [None if m is None else m.reshape(gh, gw) for m in rows]
