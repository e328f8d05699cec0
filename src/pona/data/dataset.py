"""``PairDataset``: (condition, target) pairs of a PATN-layout split, heat maps computed on the fly."""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image

from ..errors import DataError
from ..masks import market_mask
from ..pose import flip_keypoints, heatmaps
from .layout import find_split, read_annotations, read_pairs


def rgb_array(im: Image.Image) -> np.ndarray:
    """Any Pillow image -> (H, W, 3) uint8 RGB. Pillow's own ``convert("RGB")`` clips 16- and
    32-bit grey (I;16, I) to 255 and float (F) to 0..1, so a 16-bit PNG came out all white:
    those are scaled to 8 bits here; every other mode (L, LA, P, CMYK, RGBA, ...) converts as usual."""
    if im.mode.startswith("I;16") or im.mode == "I":
        grey = np.asarray(im, dtype=np.float64) / 257.0  # 65535 -> 255
    elif im.mode == "F":
        grey = np.asarray(im, dtype=np.float64)
        grey = grey * 255.0 if np.nanmax(grey, initial=0.0) <= 1.0 else grey  # [0, 1] floats, or 0..255
    else:
        return np.array(im.convert("RGB"))
    grey = np.nan_to_num(grey, nan=0.0).clip(0, 255).round().astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB."""
    try:
        with Image.open(path) as im:
            return rgb_array(im)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read image: {e}") from None


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> (H, W, 3) uint8, rounded (not truncated)."""
    return ((image.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


class PairDataset(torch.utils.data.Dataset):
    """Pairs of one split of a PATN-layout dataset.

    Item (a dict):
        source_image, target_image        (3, H, W) float32 in [-1, 1]
        source_keypoints, target_keypoints (18, 2) float32 (y, x), -1 missing
        source_maps, target_maps          (18, H, W) float32 heat maps (sigma px, on the fly)
        source_name, target_name          image file names
        flipped                           whether this item was mirrored (train augmentation)
        target_mask                       (1, H, W) float32 in {0, 1}, only with ``mask=True``

    Args:
        root: dataset directory; split: "train" | "test".
        pairs: a pairs CSV path or a list of (from, to) names instead of the split's pairs file.
        flip: mirror both images and poses of a pair with probability 1/2, swapping left/right
            joints (the field's loaders mirrored without swapping). Deterministic in
            (seed, epoch, index): call ``set_epoch`` each epoch, as with DistributedSampler.
        sigma, quantize: heat-map options, see :func:`pona.pose.heatmaps`.
        mask: add ``target_mask``, the field's Market body mask of the target
            (:func:`pona.masks.market_mask`) computed from the target keypoints as
            returned, i.e. after the flip when the pair is flipped.

    ``len`` is the number of pairs and item ``i`` is pair ``i``. The field's loaders instead
    declared 4000 items and drew a random pair whatever the index; pona's trainer shuffles the
    pairs and counts iterations.
    """

    def __init__(self, root, split: str = "train", pairs=None, flip: bool = False,
                 sigma: float = 6.0, quantize: bool = False, seed: int = 0, mask: bool = False):
        self.layout = find_split(root, split)
        self.annotations = read_annotations(self.layout.annotations)
        if pairs is None:
            pairs = read_pairs(self.layout.pairs)
        elif isinstance(pairs, (str, os.PathLike)):
            pairs = read_pairs(pairs)
        self.pairs = [tuple(p) for p in pairs]
        unknown = sorted({n for p in self.pairs for n in p if n not in self.annotations})
        if unknown:
            raise DataError(f"{self.layout.annotations}: {len(unknown)} image(s) named in pairs have no annotation, e.g. {unknown[:5]}")
        self.flip, self.sigma, self.quantize, self.seed, self.mask = flip, sigma, quantize, seed, mask
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self, name: str, flipped: bool):
        image = load_image(self.layout.images / name)
        kp = self.annotations[name].astype(np.float32)
        if flipped:
            image = image[:, ::-1]
            kp = flip_keypoints(kp, image.shape[1])
        return to_tensor(image), torch.from_numpy(kp)

    def __getitem__(self, index: int) -> dict:
        src, dst = self.pairs[index]
        flipped = bool(self.flip and np.random.default_rng([self.seed, self.epoch, index]).random() < 0.5)
        src_img, src_kp = self._load(src, flipped)
        dst_img, dst_kp = self._load(dst, flipped)
        if src_img.shape != dst_img.shape:
            raise DataError(f"{self.layout.images}: {src} is {tuple(src_img.shape[1:])} but {dst} is {tuple(dst_img.shape[1:])}")
        h, w = src_img.shape[1:]
        item = {
            "source_image": src_img, "target_image": dst_img,
            "source_keypoints": src_kp, "target_keypoints": dst_kp,
            "source_maps": heatmaps(src_kp, h, w, self.sigma, self.quantize),
            "target_maps": heatmaps(dst_kp, h, w, self.sigma, self.quantize),
            "source_name": src, "target_name": dst, "flipped": flipped,
        }
        if self.mask:
            item["target_mask"] = torch.from_numpy(market_mask(dst_kp.numpy(), h, w)).float()[None]
        return item
