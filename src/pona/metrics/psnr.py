"""Pixel errors: PSNR and the field's L1.

PSNR here is ``10 log10(255^2 / MSE)`` of one pair of 8-bit RGB images, MSE over all pixels and
channels in float64; a dataset's PSNR is the mean over pairs of the per-pair values (GFLA/DPTN/CFLD
call ``skimage.metrics.peak_signal_noise_ratio`` per image on [0, 1] floats with ``data_range=1`` and
average; that is the same number). Identical images give +inf, as Table I's "Real Data" row.

How PoNA computed Table I's PSNR is not in its repository: its only PSNR script
(``tool/Psnr.py``) compares two files in YCbCr and prints one value per channel. Table I's values
(28.1-28.3 dB for every Market method, 30.8-31.4 dB on DeepFashion) are far above what a correct
PSNR gives for pose transfer (mean absolute errors of ~20-40 gray levels mean 15-20 dB), and close
to what a PSNR computed in uint8 arithmetic gives for *any* two images: ``(a - b) ** 2`` on uint8
arrays wraps modulo 256, so the "MSE" is about the mean of a uniform variable on 0..255.
:func:`psnr_uint8_wrap` computes that quantity so a user can see where their numbers would sit; it is
reported as a diagnostic, never as PSNR.
"""

from __future__ import annotations

import math

import numpy as np


def _check_pair(target: np.ndarray, generated: np.ndarray) -> None:
    if target.shape != generated.shape:
        raise ValueError(f"images differ in shape: {target.shape} vs {generated.shape}")
    if target.dtype != np.uint8 or generated.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got {target.dtype} and {generated.dtype}")


def _psnr_from_mse(mse: float, peak: float) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def psnr(target: np.ndarray, generated: np.ndarray, data_range: float = 255.0) -> float:
    """PSNR in dB of two (H, W, 3) uint8 images; +inf when they are identical."""
    _check_pair(target, generated)
    diff = target.astype(np.float64) - generated.astype(np.float64)
    return _psnr_from_mse(float(np.mean(diff * diff)), data_range)


def psnr_uint8_wrap(target: np.ndarray, generated: np.ndarray) -> float:
    """The number a PSNR written in uint8 arithmetic returns (difference and square wrap modulo 256).

    A diagnostic for comparing with Table I (see the module docstring), not a correct PSNR.
    """
    _check_pair(target, generated)
    wrapped = (target - generated) ** 2  # uint8 - uint8 and ** stay uint8: both wrap modulo 256
    return _psnr_from_mse(float(np.mean(wrapped)), 255.0)


def l1_legacy(target: np.ndarray, generated: np.ndarray) -> float:
    """Mean absolute error with both images mapped to [-1, 1] (PATN's ``l1_score``), in [0, 2]."""
    _check_pair(target, generated)
    return float(np.mean(np.abs(target.astype(np.float64) - generated.astype(np.float64))) * 2.0 / 255.0)
