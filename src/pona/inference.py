"""Using a trained generator: ``PoNA.from_checkpoint(path).transfer(image, src_pose, dst_pose)``."""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image

from .data.dataset import to_tensor, to_uint8
from .errors import DataError
from .models.io import load_generator
from .pose import heatmaps


class PoNA:
    """A generator ready for inference (eval mode, no gradients) on ``device``."""

    def __init__(self, generator: torch.nn.Module, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.generator = generator.to(self.device).eval()

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> "PoNA":
        return cls(load_generator(path), device)

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) the model was trained at."""
        return tuple(self.generator.config.image_size)

    def _inputs(self, image, src_pose, dst_pose):
        arr = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
        h, w = self.image_size
        if arr.shape != (h, w, 3):
            raise DataError(f"image is {arr.shape[1]}x{arr.shape[0]} (WxH), the model expects {w}x{h} RGB")
        x = to_tensor(arr)[None].to(self.device)
        src = heatmaps(torch.as_tensor(np.asarray(src_pose, dtype=np.float32)), h, w)[None].to(self.device)
        dst = heatmaps(torch.as_tensor(np.asarray(dst_pose, dtype=np.float32)), h, w)[None].to(self.device)
        return x, src, dst

    @torch.inference_mode()
    def transfer(self, image, src_pose, dst_pose, return_attention: bool = False):
        """The person of ``image`` (PIL or (H, W, 3) uint8, model size) moved from ``src_pose`` to
        ``dst_pose`` ((18, 2) (y, x), -1 missing). Returns a PIL image (and the attention maps)."""
        x, src, dst = self._inputs(image, src_pose, dst_pose)
        if return_attention:
            out, maps = self.generator(x, src, dst, return_attention=True)
            return Image.fromarray(to_uint8(out[0])), maps
        return Image.fromarray(to_uint8(self.generator(x, src, dst)[0]))
