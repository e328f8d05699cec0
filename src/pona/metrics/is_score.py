"""Inception Score (Salimans et al. 2016), from logits to a number. No network here.

``IS = exp(E_x KL(p(y|x) || p(y)))``, computed as the field's script does (OpenAI improved-GAN
``inception_score.py``, copied by PG2/Deform/PATN/PoNA): the N images are cut into ``splits``
consecutive chunks ``[i N // splits, (i + 1) N // splits)``, ``p(y)`` is the mean softmax of a
chunk, and the result is the mean and the (population) standard deviation of the per-chunk scores.

The chunks follow the order of the images, so IS depends (a little) on that order: the field used
``os.listdir`` order, pona uses the pairs-file order. Probabilities are taken with ``log_softmax``
in float64, so a class whose probability underflows contributes 0 instead of NaN.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax

SPLITS = 10


def inception_score(logits, splits: int = SPLITS) -> tuple[float, float]:
    """(N, C) logits -> (mean, std) of the Inception Score over ``splits`` chunks; needs N >= splits."""
    logits = np.asarray(logits, dtype=np.float64)
    n = len(logits)
    if logits.ndim != 2 or n < splits:
        raise ValueError(f"need (N, C) logits with N >= splits={splits}, got shape {logits.shape}")
    log_p = log_softmax(logits, axis=1)  # log p(y|x), (N, C)
    scores = []
    for i in range(splits):
        part = log_p[i * n // splits:(i + 1) * n // splits]
        p = np.exp(part)
        # a class whose probability underflows in every image has log p(y) = -inf and p = 0: its
        # term is 0 (0 log 0), not the NaN of 0 * (-inf - -inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_py = np.log(np.mean(p, axis=0, keepdims=True))                  # log p(y) of the chunk, (1, C)
            kl = np.sum(np.where(p > 0, p * (part - log_py), 0.0), axis=1)      # KL per image, (n_i,)
        scores.append(np.exp(np.mean(kl)))
    return float(np.mean(scores)), float(np.std(scores))
