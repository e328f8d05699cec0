"""Market-1501 retrieval evaluation: every query ranks the gallery; mean average precision and CMC.

The protocol of the Market-1501 benchmark's own evaluation code (Zheng et al., ICCV 2015), which the
paper's re-ID framework [41] reimplements:

- a gallery image of the query's identity taken by the query's camera is *excluded* (it would be
  the same tracklet: too easy);
- junk gallery images (identity -1) are *excluded*; distractors (identity 0000) stay in the
  gallery as wrong matches. ``junk_ids=(-1, 0)`` excludes distractors too;
- a query with no correct match left in the gallery, or with a junk/distractor identity, is skipped;
- CMC rank-k: the fraction of queries whose first correct match is among the k nearest;
- AP is Market's: precision averaged over the recall steps with the trapezoid rule,
  ``sum_i 1/n * (p_before_i + p_at_i) / 2``, where the i-th correct match (0-based) sits at
  0-based rank ``r_i``, ``p_at_i = (i + 1) / (r_i + 1)`` and ``p_before_i = i / r_i`` (1 when
  ``r_i = 0``). ``ap="mean-precision"`` gives the non-interpolated ``mean_i p_at_i`` of later
  frameworks (torchreid, fast-reid), slightly higher.

Ties in distance are broken by gallery order (a stable sort).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..data.dataset import load_image, to_tensor
from .market import GALLERY_DIR, JUNK_ID, QUERY_DIR, read_market_folder
from .models import ReIDNet, load_reid

log = logging.getLogger(__name__)

DISTANCES = ("cosine", "euclidean")
AP_MODES = ("market", "mean-precision")


def average_precision(hit_ranks: np.ndarray, ap: str = "market") -> float:
    """AP of one query from the 0-based ranks of its correct matches (sorted, after exclusions)."""
    r = np.asarray(hit_ranks, dtype=np.float64)
    i = np.arange(len(r), dtype=np.float64)
    precision = (i + 1) / (r + 1)
    if ap == "mean-precision":
        return float(precision.mean())
    if ap != "market":
        raise ValueError(f"ap must be one of {AP_MODES}, got {ap!r}")
    before = np.where(r == 0, 1.0, i / np.maximum(r, 1))
    return float(((before + precision) / 2).mean())


def evaluate_ranking(distmat, query_ids, query_cams, gallery_ids, gallery_cams,
                     ranks: tuple[int, ...] = (1, 5, 10), junk_ids: tuple[int, ...] = (JUNK_ID,),
                     ap: str = "market") -> dict:
    """mAP and CMC of a query-by-gallery distance matrix (smaller = more similar).

    Args:
        distmat: (Q, G) distances; query_ids, query_cams: (Q,) ints; gallery_ids, gallery_cams: (G,).
        ranks: the CMC ranks to report; junk_ids: identities excluded from the gallery (see module doc).

    Returns:
        {"mAP": float in [0, 1], "rank1": ..., "rank5": ..., "rank10": ..., "queries": Q evaluated,
        "skipped": Q skipped (junk identity or no correct match)}.
    """
    distmat = np.asarray(distmat, dtype=np.float64)
    q_ids, q_cams = np.asarray(query_ids), np.asarray(query_cams)
    g_ids, g_cams = np.asarray(gallery_ids), np.asarray(gallery_cams)
    if distmat.shape != (len(q_ids), len(g_ids)) or len(q_cams) != len(q_ids) or len(g_cams) != len(g_ids):
        raise ValueError(f"distmat {distmat.shape} does not match {len(q_ids)} queries x {len(g_ids)} gallery images")
    junk_gallery = np.isin(g_ids, junk_ids)
    aps, first_hits, skipped = [], [], 0
    for q in range(len(q_ids)):
        if q_ids[q] in junk_ids or q_ids[q] == 0:
            skipped += 1
            continue
        order = np.argsort(distmat[q], kind="stable")
        excluded = junk_gallery | ((g_ids == q_ids[q]) & (g_cams == q_cams[q]))
        order = order[~excluded[order]]
        hits = np.flatnonzero(g_ids[order] == q_ids[q])  # 0-based ranks of the correct matches
        if len(hits) == 0:
            skipped += 1
            continue
        aps.append(average_precision(hits, ap))
        first_hits.append(hits[0])
    if not aps:
        raise ValueError("no query has a correct match in the gallery (check identities and cameras)")
    first = np.array(first_hits)
    out = {"mAP": float(np.mean(aps))}
    out.update({f"rank{k}": float(np.mean(first < k)) for k in ranks})
    out.update({"queries": len(aps), "skipped": skipped})
    return out


def distance_matrix(query: Tensor, gallery: Tensor, distance: str = "cosine") -> Tensor:
    """(Q, D), (G, D) features -> (Q, G): ``1 - cos`` or the Euclidean distance."""
    if distance == "cosine":
        q = torch.nn.functional.normalize(query, dim=1)
        g = torch.nn.functional.normalize(gallery, dim=1)
        return 1 - q @ g.T
    if distance == "euclidean":
        return torch.cdist(query, gallery)
    raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")


def load_resized(path: Path, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 at ``size`` (H, W); bilinear resize only when the file differs."""
    image = load_image(path)
    if image.shape[:2] != tuple(size):
        image = np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.BILINEAR))
    return image


@torch.inference_mode()
def extract_features(model: ReIDNet, paths: list[Path], batch_size: int = 64, flip: bool = True) -> Tensor:
    """(N, D) embeddings of image files; with ``flip`` the sum of the image's and its mirror's (the
    usual test-time augmentation of re-ID baselines)."""
    device = next(model.parameters()).device
    feats = []
    for start in range(0, len(paths), batch_size):
        x = torch.stack([to_tensor(load_resized(p, model.config.image_size)) for p in paths[start:start + batch_size]])
        x = x.to(device)
        f = model.embed(x)
        if flip:
            f = f + model.embed(x.flip(3))
        feats.append(f.float().cpu())
    return torch.cat(feats)


def evaluate_market(checkpoint: str | os.PathLike | ReIDNet, data: str | os.PathLike, distance: str = "cosine",
                    batch_size: int = 64, device: str | torch.device = "cpu", flip: bool = True,
                    junk_ids: tuple[int, ...] = (JUNK_ID,), ap: str = "market") -> dict:
    """Evaluate a re-ID model on the ``query/`` and ``bounding_box_test/`` folders of ``data``."""
    model = checkpoint if isinstance(checkpoint, ReIDNet) else load_reid(checkpoint, device)
    model.eval()
    data = Path(data)
    q_names, q_ids, q_cams = read_market_folder(data / QUERY_DIR)
    g_names, g_ids, g_cams = read_market_folder(data / GALLERY_DIR)
    log.info("features of %d queries and %d gallery images", len(q_names), len(g_names))
    qf = extract_features(model, [data / QUERY_DIR / n for n in q_names], batch_size, flip)
    gf = extract_features(model, [data / GALLERY_DIR / n for n in g_names], batch_size, flip)
    result = evaluate_ranking(distance_matrix(qf, gf, distance).numpy(), q_ids, q_cams, g_ids, g_cams,
                              junk_ids=junk_ids, ap=ap)
    result.update({"distance": distance, "gallery": len(g_names)})
    return result
