"""SSIM (Wang et al. 2004) as the two protocols of the pose-transfer field compute it.

Both call :func:`skimage.metrics.structural_similarity`, with different arguments:

- **legacy** (PG2 -> Deform -> PATN -> PoNA, Table I of the PoNA paper; PATN's
  ``tool/getMetrics_market.py``): 8-bit images, an 11x11 Gaussian window of sigma 1.5
  (``gaussian_weights=True, sigma=1.5``), population covariances
  (``use_sample_covariance=False``), and ``data_range = generated.max() - generated.min()``, i.e. the
  range of the *generated* image, not 255. DeepFashion images (256x176) were first padded to 256x256
  with white, 40 px on each side (PATN's ``addBounding``), which adds constant regions to both images.
- **modern** (GFLA's ``Reconstruction_Metrics``, reused by DPTN; CFLD's ``build_metric``): images as
  float32 in [0, 1], a *uniform* 51x51 window (``win_size=51``), sample covariances (skimage's
  default), ``data_range=1``. DPTN pads DeepFashion to 256x256 with white the same way first. The
  same repositories also print the legacy value under the name ``SSIM_256``.

mask-SSIM (Ma et al. 2018; PATN's ``getMetrics_market.py``): both the target and the generated image
are multiplied by the Market body mask of the *target* keypoints (:func:`pona.masks.market_mask`)
and the legacy SSIM is computed on the two masked images (the black background is part of both).
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

FASHION_PAD = 40  # px of white added left and right: 256x176 -> 256x256


def _check_pair(target: np.ndarray, generated: np.ndarray) -> None:
    if target.shape != generated.shape or target.ndim != 3 or target.shape[2] != 3:
        raise ValueError(f"expected two (H, W, 3) images of the same size, got {target.shape} and {generated.shape}")
    if target.dtype != np.uint8 or generated.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got {target.dtype} and {generated.dtype}")


def pad_width(image: np.ndarray, pad: int = FASHION_PAD, value: int = 255) -> np.ndarray:
    """(H, W, C) -> (H, W + 2 pad, C): ``pad`` columns of ``value`` on each side (the field's DeepFashion padding)."""
    return np.pad(image, ((0, 0), (pad, pad), (0, 0)), constant_values=value)


def apply_mask(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 times an (H, W) bool mask: the background becomes black, as the field did."""
    return image * mask[..., None].astype(image.dtype)


def ssim_legacy(target: np.ndarray, generated: np.ndarray) -> float:
    """Legacy SSIM of two (H, W, 3) uint8 images (PATN/PoNA protocol, see the module docstring).

    A constant generated image has ``data_range`` 0; skimage then divides by zero, as the field's
    script would have. We return NaN for it rather than a warning and a meaningless number.
    """
    _check_pair(target, generated)
    data_range = float(generated.max()) - float(generated.min())
    if data_range == 0:
        return float("nan")
    return float(structural_similarity(
        target, generated, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        channel_axis=-1, data_range=data_range,
    ))


def ssim_modern(target: np.ndarray, generated: np.ndarray, win_size: int = 51) -> float:
    """Modern SSIM of two (H, W, 3) uint8 images, taken to float32 [0, 1] (GFLA/DPTN/CFLD protocol).

    Images smaller than the 51 px window (e.g. a 32x16 test image) use the largest odd window that fits.
    """
    _check_pair(target, generated)
    win = min(win_size, *(s - 1 + s % 2 for s in target.shape[:2]))  # odd, <= each side
    a = target.astype(np.float32) / 255.0
    b = generated.astype(np.float32) / 255.0
    return float(structural_similarity(a, b, win_size=win, channel_axis=-1, data_range=1.0))
