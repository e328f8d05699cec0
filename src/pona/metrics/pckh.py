"""PCKh as the pose-transfer field computes it (Zhu et al. 2019, PATN's ``tool/calPCKH_market.py``).

For each (generated image, target) pair:

1. Head box from the *target annotation*: the joints nose, neck, eyes and ears
   (:data:`pona.pose.HEAD_JOINTS`) that are visible; with fewer than 2 the pair is skipped entirely
   (it adds nothing to either count). ``w = x_max - x_min``, ``h = y_max - y_min`` over them.
2. Every joint visible in the target adds 1 to ``total``.
3. It adds 1 to ``correct`` when it is also present in the keypoints estimated on the generated image
   and ``|x_pred - x_target| < alpha w`` and ``|y_pred - y_target| < alpha h`` (alpha = 0.5, strict).
   A joint missing in the prediction (or no person found at all) is wrong.

Counts are pooled over all pairs: PCKh = sum(correct) / sum(total), not a mean of per-pair ratios.

Degenerate head boxes: when the visible head joints share a column (w = 0) or a row (h = 0), no
difference can be strictly below 0, so every joint of that pair is wrong while still counted in
``total``. This is what the original script does; we keep it (numbers stay comparable) and report how
many pairs it affected, so a reader can see when it matters (e.g. a profile view where nose, eye and
ear are annotated on one row).

Coordinates are pona's ``(y, x)``, -1 missing. The original keypoints of generated images came from
an OpenPose port (the Keras "pose estimator" of Cao et al. 2017 that PATN used); pona uses whatever
estimator it is given, so absolute numbers shift with the estimator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..pose import HEAD_JOINTS, NUM_JOINTS, visible

ALPHA = 0.5


@dataclass(frozen=True)
class PCKh:
    """Pooled PCKh counts. ``value`` is correct / total (NaN when total is 0)."""

    correct: int
    total: int
    pairs: int            # pairs that entered the counts
    skipped: int          # pairs whose target had fewer than 2 head joints
    degenerate: int       # counted pairs whose head box had w = 0 or h = 0

    @property
    def value(self) -> float:
        return self.correct / self.total if self.total else float("nan")


def head_box(target) -> tuple[float, float] | None:
    """(w, h) of the box around the target's visible head joints, or None with fewer than 2."""
    kp = np.asarray(target, dtype=np.float64)[list(HEAD_JOINTS)]
    kp = kp[visible(kp)]
    if len(kp) < 2:
        return None
    h, w = kp.max(axis=0) - kp.min(axis=0)  # (y, x) ranges
    return float(w), float(h)


def pair_counts(pred, target, alpha: float = ALPHA) -> tuple[int, int] | None:
    """(correct, total) for one pair, or None when the target has no head box.

    pred: (18, 2) keypoints estimated on the generated image, or None when no person was found.
    target: (18, 2) keypoints annotated on the target image.
    """
    target = np.asarray(target, dtype=np.float64)
    if target.shape != (NUM_JOINTS, 2):
        raise ValueError(f"target keypoints have shape {target.shape}, expected ({NUM_JOINTS}, 2)")
    box = head_box(target)
    if box is None:
        return None
    w, h = box
    pred = np.full((NUM_JOINTS, 2), -1.0) if pred is None else np.asarray(pred, dtype=np.float64)
    if pred.shape != (NUM_JOINTS, 2):
        raise ValueError(f"predicted keypoints have shape {pred.shape}, expected ({NUM_JOINTS}, 2)")
    counted = visible(target)
    found = counted & visible(pred)
    dy, dx = np.abs(pred - target).T
    right = found & (dx < alpha * w) & (dy < alpha * h)
    return int(right.sum()), int(counted.sum())


def pckh(preds, targets, alpha: float = ALPHA) -> PCKh:
    """Pooled PCKh over pairs. ``preds``: iterable of (18, 2) arrays or None; ``targets``: (18, 2) arrays."""
    correct = total = pairs = skipped = degenerate = 0
    for pred, target in zip(preds, targets, strict=True):
        counts = pair_counts(pred, target, alpha)
        if counts is None:
            skipped += 1
            continue
        w, h = head_box(target)
        degenerate += int(w == 0 or h == 0)
        correct += counts[0]
        total += counts[1]
        pairs += 1
    return PCKh(correct, total, pairs, skipped, degenerate)
