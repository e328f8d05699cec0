"""Frechet Inception Distance (Heusel et al. 2017), from features to a number. No network here.

``FID = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` between two Gaussians fitted to Inception
pool features.

The field's tools (TTUR, pytorch-fid, the copies in GFLA/DPTN) take ``scipy.linalg.sqrtm(S1 S2)``,
with two numerical fixes: if the square root is not finite, ``eps * I`` is added to both covariances;
a small imaginary part from rounding is dropped, a large one is an error. ``method="sqrtm"`` does
exactly that. The default ``method="eigh"`` uses ``Tr (S1 S2)^(1/2) = Tr (S1^(1/2) S2 S1^(1/2))^(1/2)``
(``S1 S2`` is similar to that positive semi-definite matrix, so they share eigenvalues) and two
symmetric eigendecompositions: the same number to rounding (tested), real by construction, and
about 10x faster at 2048 dimensions (8.5 s against 114 s for ``sqrtm`` on a busy 2-core machine).
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import linalg

log = logging.getLogger(__name__)


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) features -> mean (D,) and covariance (D, D), float64, unbiased (np.cov, N - 1)."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"need (N, D) features with N >= 2 to estimate a covariance, got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _trace_sqrt_product_eigh(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr (S1 S2)^(1/2) from symmetric eigendecompositions; rounding negatives clipped to 0."""
    w, v = np.linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T          # S1^(1/2)
    e = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
    return float(np.sqrt(np.clip(e, 0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6, method: str = "eigh") -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2); symmetric, 0 for equal inputs.

    method: "eigh" (default, fast) or "sqrtm" (the field's computation, with its fixes).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"statistics do not match: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}")
    diff = mu1 - mu2
    if method == "eigh":
        tr_covmean = _trace_sqrt_product_eigh(sigma1, sigma2)
        return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)
    if method != "sqrtm":
        raise ValueError(f"method must be 'eigh' or 'sqrtm', got {method!r}")
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        # Singular product (e.g. fewer samples than dimensions): regularise both covariances.
        log.warning("FID: singular covariance product; adding %g to the diagonals", eps)
        offset = np.eye(len(mu1)) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"FID: matrix square root has an imaginary part of {np.abs(covmean.imag).max():.3g}")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid_from_features(features, mu_ref, sigma_ref) -> float:
    """FID of (N, D) features against reference statistics (mu_ref, sigma_ref).

    With fewer samples than dimensions (N - 1 < D) the covariance is ``S = A^T A`` with ``A`` the
    centred features over sqrt(N - 1), and the non-zero eigenvalues of ``S S_ref`` are those of the
    small (N, N) matrix ``A S_ref A^T``: the same number as :func:`frechet_distance`, without a
    (D, D) eigendecomposition. Otherwise it is :func:`frechet_distance` of the two statistics.
    """
    f = np.asarray(features, dtype=np.float64)
    mu, sigma = feature_statistics(f)
    n, d = f.shape
    if n - 1 >= d:
        return frechet_distance(mu, sigma, mu_ref, sigma_ref)
    a = (f - mu) / np.sqrt(n - 1)                                  # (N, D), sigma = a^T a
    e = np.linalg.eigvalsh(a @ np.asarray(sigma_ref, np.float64) @ a.T)
    diff = mu - np.asarray(mu_ref, np.float64)
    return float(diff @ diff + np.sum(a * a) + np.trace(sigma_ref) - 2.0 * np.sqrt(np.clip(e, 0, None)).sum())
