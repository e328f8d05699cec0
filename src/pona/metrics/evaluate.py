"""``evaluate``: score a folder of generated images against a PATN-layout test split, with the
field's two metric protocols.

Generated images are named ``<from>___<to>.png`` after the rows of the pairs file (what
``pona generate`` writes); each is compared with the target image ``<split>/<to>`` and its annotated
keypoints. A pair without a generated image, or an image that matches no pair, is reported, never
silently dropped. Every pair enters every metric: partial last batches are kept (GFLA's and DPTN's
``metrics.py`` dropped the last ``N mod 64`` images from FID and LPIPS).

- ``legacy`` (PG2 / Deform / PATN / PoNA, the PoNA paper's Table I): SSIM, IS, mask-SSIM, mask-IS,
  PSNR, PCKh, plus the field's L1, a diagnostic "PSNR (uint8 wrap)" (see :mod:`pona.metrics.psnr`) and
  pona's colour-transfer diagnostic (see :mod:`pona.metrics.colour`).
- ``modern`` (GFLA / DPTN / NTED / PIDM / CFLD): FID against the training images with torchvision's
  Inception-v3 and with the 2015 FID Inception (both labelled), LPIPS (AlexNet, v0.1), SSIM on [0, 1]
  images with a 51x51 uniform window, PSNR.

Metrics whose network weights are missing are skipped with the error naming the file and where to
put it; the others are still computed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.dataset import load_image
from ..data.estimators import available_estimators, get_estimator
from ..data.layout import (IMAGE_SUFFIXES, PAIR_SEPARATOR, SIZES, find_split, generated_name, list_images, pair_stem,
                           read_annotations, read_pairs)
from ..data.validate import check_dataset
from ..errors import DataError, PonaError
from ..fileio import atomic_path
from ..masks import market_mask
from . import inception as inc
from .colour import COLOUR_RIGHT, colour_error, colour_summary
from .fid import feature_statistics, fid_from_features
from .is_score import SPLITS, inception_score
from .lpips import load_lpips
from .pckh import pckh
from .psnr import l1_legacy, psnr, psnr_uint8_wrap
from .results import Metric, Results
from .ssim import FASHION_PAD, apply_mask, pad_width, ssim_legacy, ssim_modern

log = logging.getLogger(__name__)

PROTOCOLS = ("legacy", "modern", "all")


def match_generated(generated_dir, pairs) -> tuple[list[tuple[str, str, Path]], list[str], list[str]]:
    """Match image files of ``generated_dir`` to pairs by name (any image suffix after ``<from>___<to>``).

    Returns (matched [(source, target, path)] in pairs order, missing file names, extra file names).
    """
    folder = Path(generated_dir)
    if not folder.is_dir():
        raise DataError(f"{folder}: folder of generated images not found")
    files = {p.name[: -len(p.suffix)]: p for p in sorted(folder.iterdir())
             if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}
    expected = {pair_stem(a, b): (a, b) for a, b in pairs}
    matched = [(a, b, files[stem]) for stem, (a, b) in expected.items() if stem in files]
    missing = [generated_name(a, b) for stem, (a, b) in expected.items() if stem not in files]
    extra = [p.name for stem, p in files.items() if stem not in expected]
    return matched, missing, extra


def copy_condition_images(data_dir, out_dir, split: str = "test", pairs=None) -> int:
    """Write the "copy the condition image" baseline: ``out_dir/<from>___<to>.png`` = image ``<from>``.

    The trivial reference every pose-transfer number should beat (it keeps appearance, ignores the
    pose). ``pairs``: a pairs CSV or list of (from, to); default the split's pairs file. Returns the count.
    """
    layout = find_split(data_dir, split)
    pairs = read_pairs(layout.pairs) if pairs is None else read_pairs(pairs) if isinstance(pairs, (str, os.PathLike)) else pairs
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for a, b in dict.fromkeys(map(tuple, pairs)):
        src = layout.images / a
        if not src.is_file():
            raise DataError(f"{src}: condition image of pair ({a}, {b}) not found")
        if src.suffix.lower() == ".png":
            shutil.copyfile(src, out / generated_name(a, b))
        else:  # re-encode losslessly, as `pona generate` writes PNG
            Image.fromarray(load_image(src)).save(out / generated_name(a, b))
    return len(dict.fromkeys(map(tuple, pairs)))


# ---------------------------------------------------------------------------------------------------


def evaluate(generated_dir, data_dir, protocol: str = "legacy", split: str = "test", weights_dir=None,
             estimator=None, batch_size: int = 32, device: str = "cpu", pairs=None, pad: bool | None = None,
             download: bool = True, cache_dir=None, strict: bool = False) -> Results:
    """Score ``generated_dir`` against the ``split`` of the PATN-layout dataset ``data_dir``.

    Args:
        protocol: "legacy" (Table I of the PoNA paper), "modern" (GFLA onwards) or "all".
        weights_dir: folder holding the metric networks' weight files (see docs/guide/evaluation.md); also looked
            up: the torch hub cache, then a download when ``download`` and online.
        estimator: pose estimator for PCKh: a callable (H, W, 3) uint8 -> (18, 2) (y, x) keypoints or
            None, a name for ``pona.data.estimators.get_estimator`` (default "mediapipe"), or "none".
        batch_size: images per network pass; the last, partial batch is kept.
        pairs: pairs CSV or list of (from, to) instead of the split's pairs file.
        pad: pad 256x176 images to 256x256 with white (the field's DeepFashion protocol) for SSIM,
            PSNR, L1 and IS; default: when the images are 256x176.
        cache_dir: where to cache the FID statistics of the training images (None: no cache).
        strict: raise DataError when a generated image is missing or extra, instead of reporting it.
    """
    if protocol not in PROTOCOLS:
        raise PonaError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if batch_size < 1:
        raise PonaError(f"batch_size must be >= 1, got {batch_size}")
    legacy, modern = protocol in ("legacy", "all"), protocol in ("modern", "all")
    device = torch.device(device)
    check_dataset(data_dir, (split,))  # a malformed dataset is refused up front (file:line report), as in training

    # 1. Pairs, annotations and generated files, matched by name.
    layout = find_split(data_dir, split)
    annotations = read_annotations(layout.annotations)
    unique, notes = _unique_pairs(layout, pairs, annotations)
    matched, missing, extra = match_generated(generated_dir, unique)
    if strict and (missing or extra):
        raise DataError(f"{generated_dir}: {len(missing)} generated image(s) missing (e.g. {missing[:3]}), "
                        f"{len(extra)} extra (e.g. {extra[:3]})")
    if not matched:
        raise DataError(f"{generated_dir}: no file named <from>{PAIR_SEPARATOR}<to>.png matches a pair of {layout.pairs}")

    # 2. What the protocols share, loaded once: the networks (the 2015 Inception serves both) and the
    #    padding; what cannot be loaded is reported skipped with its reason.
    nets = _load_networks(legacy, modern, weights_dir, download, device)
    est, est_name = _resolve_estimator(estimator) if legacy else (None, "")
    log.info("evaluating %d pairs (%s protocol) on %s", len(matched), protocol, device)
    first = load_image(layout.images / matched[0][1])
    pad = first.shape[:2] == SIZES["fashion"] if pad is None else pad  # the field pads DeepFashion to 256x256
    # each protocol reads the images in its own pass (under "all" they are decoded twice): one batch in memory
    batches = lambda: _batches(matched, layout.images, annotations, batch_size, pad)  # noqa: E731

    # 3. Each protocol's table; PSNR, in both, is reported once.
    metrics = _legacy_metrics(batches(), nets["inception_2015"], est, est_name, pad, device) if legacy else []
    if modern:
        shared = {m.key for m in metrics}
        metrics += [m for m in _modern_metrics(batches(), nets, layout, pad, batch_size, device, cache_dir)
                    if m.key not in shared]

    # 4. How to read the numbers.
    if est is not None:
        notes.append(f"PCKh: keypoints of the generated images from {est_name}; the original protocol used "
                     "an OpenPose port (PATN's Keras pose estimator), so PCKh is comparable only in trend")
    if pad:
        notes.append("images of 256x176 (DeepFashion) padded to 256x256 with white, 40 px each side, as the field "
                     "did, for SSIM, PSNR, L1 and IS; mask-SSIM, mask-IS, FID and LPIPS use the unpadded images")
    notes.append(f"all {len(matched)} evaluated pairs enter every metric (the field's FID/LPIPS scripts dropped the "
                 "last partial batch of 64)")
    return Results(str(generated_dir), str(data_dir), split, protocol, len(unique), len(matched), missing, extra,
                   metrics, notes)


def _unique_pairs(layout, pairs, annotations) -> tuple[list[tuple[str, str]], list[str]]:
    """The distinct (from, to) pairs, in file order, and a note on duplicates; every target must be annotated."""
    pair_list = read_pairs(layout.pairs if pairs is None else pairs) if not isinstance(pairs, list) else pairs
    unique = list(dict.fromkeys(map(tuple, pair_list)))
    notes = []
    if len(unique) < len(pair_list):
        notes.append(f"{len(pair_list) - len(unique)} duplicate row(s) in the pairs file counted once")
    unknown = sorted({b for _, b in unique if b not in annotations})
    if unknown:
        raise DataError(f"{layout.annotations}: {len(unknown)} target image(s) have no annotation, e.g. {unknown[:3]}")
    return unique, notes


def _resolve_estimator(estimator):
    """-> (callable or None, description or reason it is unavailable)."""
    if callable(estimator):
        return estimator, getattr(estimator, "name", getattr(estimator, "__name__", type(estimator).__name__))
    name = estimator or "mediapipe"
    if name == "none":
        return None, "no pose estimator requested"
    if name not in available_estimators():  # a typo must not silently drop PCKh from the table
        raise PonaError(f"unknown pose estimator {name!r}; available: {', '.join(available_estimators())}, or none")
    try:
        return get_estimator(name), name
    except (PonaError, ImportError) as e:
        return None, f"pose estimator {name!r} unavailable: {e}"


@dataclass(frozen=True)
class _Network:
    """A metric network, or why it could not be loaded (its metrics are then reported skipped)."""

    net: torch.nn.Module | None = None
    error: str | None = None


def _load_networks(legacy: bool, modern: bool, weights_dir, download: bool, device) -> dict[str, _Network]:
    """name -> the frozen network on ``device``, or the error that stopped its loading."""
    # The 2015 graph serves the legacy IS and the modern "FID (2015 FID Inception)".
    wanted = {"inception_2015": lambda: inc.load_inception("fid", None, weights_dir, download)}
    if modern:
        wanted["inception_torchvision"] = lambda: inc.load_inception("torchvision", None, weights_dir, download)
        wanted["lpips"] = lambda: load_lpips(None, None, weights_dir, download)
    nets = {}
    for name, load in wanted.items():
        try:
            nets[name] = _Network(net=load().to(device))
        except PonaError as e:  # missing or wrong weights: skip the metrics that need them
            nets[name] = _Network(error=str(e))
    return nets


@dataclass(frozen=True)
class _Batch:
    """Up to ``batch_size`` evaluated pairs, in pairs order; images (H, W, 3) uint8."""

    generated: list[np.ndarray]
    targets: list[np.ndarray]
    generated_padded: list[np.ndarray]  # 256x176 -> 256x256 with white when padding, else the images above
    targets_padded: list[np.ndarray]
    keypoints: list[np.ndarray]         # (18, 2) (y, x) annotated keypoints of each target


def _batches(matched, images: Path, annotations, batch_size: int, pad: bool) -> Iterator[_Batch]:
    """The generated and target images of ``matched``, checked to be of one size, in batches (the last partial)."""
    widen = (lambda ims: [pad_width(im, FASHION_PAD) for im in ims]) if pad else (lambda ims: ims)  # noqa: E731
    for start in range(0, len(matched), batch_size):
        chunk = matched[start:start + batch_size]
        generated, targets = [], []
        for a, b, path in chunk:
            g, t = load_image(path), load_image(images / b)
            if g.shape != t.shape:
                raise DataError(f"{path}: generated image is {g.shape[1]}x{g.shape[0]} (WxH), "
                                f"target {b} is {t.shape[1]}x{t.shape[0]}")
            generated.append(g), targets.append(t)
        yield _Batch(generated, targets, widen(generated), widen(targets), [annotations[b] for _, b, _ in chunk])
        log.debug("evaluated %d/%d pairs", start + len(chunk), len(matched))


def _legacy_metrics(batches: Iterable[_Batch], inception: _Network, est, est_name: str, pad: bool,
                    device) -> list[Metric]:
    """The 2019-era protocol (PG2 / Deform / PATN / PoNA, the PoNA paper's Table I), in the table's order:
    SSIM, IS, mask-SSIM, mask-IS, PSNR, PCKh, then the field's L1 and the diagnostics: wrapped PSNR
    and pona's colour transfer (on the unpadded images, whose coordinates the keypoints are in).

    ``inception``: the 2015 graph, for IS and mask-IS; ``est``: the pose estimator for PCKh, or None
    (``est_name`` then says why).
    """
    per_pair = {k: [] for k in ("ssim", "mask_ssim", "psnr", "psnr_wrap", "l1", "colour")}
    preds, targets_kp, is_logits, mask_is_logits = [], [], [], []
    for batch in batches:
        masked = []  # the generated images times the mask of the target pose
        for g, t, gp, tp, kp in zip(batch.generated, batch.targets, batch.generated_padded, batch.targets_padded,
                                    batch.keypoints):
            mask = market_mask(kp, *t.shape[:2])
            per_pair["ssim"].append(ssim_legacy(tp, gp))
            per_pair["mask_ssim"].append(ssim_legacy(apply_mask(t, mask), apply_mask(g, mask)))
            per_pair["psnr"].append(psnr(tp, gp))
            per_pair["psnr_wrap"].append(psnr_uint8_wrap(tp, gp))
            per_pair["l1"].append(l1_legacy(tp, gp))
            per_pair["colour"].append(colour_error(t, g, kp))
            masked.append(apply_mask(g, mask))
            if est is not None:
                preds.append(est(g))
                targets_kp.append(kp)
        if inception.net is not None:
            is_logits.append(_is_logits(inception.net, batch.generated_padded, device))
            mask_is_logits.append(_is_logits(inception.net, masked, device))

    mean = lambda k: float(np.mean(per_pair[k]))  # noqa: E731
    padded = " (padded to 256x256)" if pad else ""
    splits = min(SPLITS, len(per_pair["ssim"]))
    split_note = f"{splits} splits" + ("" if splits == SPLITS else f" (fewer than {SPLITS} images)")
    is_value = inception_score(np.concatenate(is_logits), splits) if is_logits else (None, None)
    mis_value = inception_score(np.concatenate(mask_is_logits), splits) if mask_is_logits else (None, None)
    return [
        Metric("ssim", "SSIM", "legacy", mean("ssim"),
               detail=f"8-bit, Gaussian sigma 1.5, data_range of the generated image{padded}"),
        Metric("is", "IS", "legacy", *is_value, error=inception.error,
               detail=f"2015 Inception graph, {split_note}, logits without fc bias{padded}"),
        Metric("mask_ssim", "mask-SSIM", "legacy", mean("mask_ssim"),
               detail="legacy SSIM of both images times the Market mask of the target pose"),
        Metric("mask_is", "mask-IS", "legacy", *mis_value, detail="IS of the generated images times the target's mask",
               error=inception.error),
        _psnr_metric(per_pair["psnr"], padded),
        Metric("pckh", "PCKh", "legacy", error=est_name) if est is None else _pckh_metric(preds, targets_kp, est_name),
        Metric("l1", "L1", "legacy", mean("l1"), detail=f"mean |target - generated| on [-1, 1] (PATN){padded}"),
        Metric("psnr_uint8_wrap", "PSNR (uint8 wrap)", "legacy", mean("psnr_wrap"),
               detail="diagnostic, not a PSNR: uint8 arithmetic wraps; Table I's PSNR behaves like this"),
        *_colour_metrics(per_pair["colour"]),
    ]


def _modern_metrics(batches: Iterable[_Batch], nets: dict[str, _Network], layout, pad: bool, batch_size: int,
                    device, cache_dir) -> list[Metric]:
    """Today's protocol (GFLA / DPTN / NTED / PIDM / CFLD), in its table's order: PSNR, FID against the
    training images with both Inceptions, LPIPS, SSIM on [0, 1]."""
    per_pair = {k: [] for k in ("psnr", "ssim_modern", "lpips")}
    feats_2015, feats_tv = [], []  # (B, 2048) pool features of each batch
    for batch in batches:
        for gp, tp in zip(batch.generated_padded, batch.targets_padded):
            per_pair["psnr"].append(psnr(tp, gp))
            per_pair["ssim_modern"].append(ssim_modern(tp, gp))
        if nets["inception_2015"].net is not None:
            feats_2015.append(_pool_features(nets["inception_2015"].net, batch.generated, "pytorch_fid", device))
        if nets["inception_torchvision"].net is not None:
            feats_tv.append(_pool_features(nets["inception_torchvision"].net, batch.generated, "torchvision", device))
        if nets["lpips"].net is not None:
            per_pair["lpips"].extend(_lpips(nets["lpips"].net, batch.targets, batch.generated, device))

    mean = lambda k: float(np.mean(per_pair[k]))  # noqa: E731
    padded = " (padded to 256x256)" if pad else ""
    n = len(per_pair["psnr"])
    return [
        _psnr_metric(per_pair["psnr"], padded),
        *_fid_metrics(nets, feats_2015, feats_tv, layout, batch_size, device, cache_dir, n),
        Metric("lpips", "LPIPS", "modern", mean("lpips") if per_pair["lpips"] else None,
               detail="v0.1, AlexNet, inputs in [-1, 1], mean of per-pair distances", error=nets["lpips"].error),
        Metric("ssim_modern", "SSIM (modern)", "modern", mean("ssim_modern"),
               detail=f"float [0, 1], uniform 51x51 window, sample covariance, data_range 1{padded}"),
    ]


def _psnr_metric(values: list[float], padded: str) -> Metric:
    """PSNR, a row of both protocols' tables."""
    return Metric("psnr", "PSNR", "both", float(np.mean(values)),
                  detail=f"dB, RGB, data range 255, mean of per-pair values{padded}")


def _colour_metrics(errors: list[float]) -> list[Metric]:
    """pona's colour-transfer diagnostic (not in the paper): the median CIE76 distance and the share of pairs below
    COLOUR_RIGHT, over the pairs whose target pose gives a torso or legs region."""
    c = colour_summary(errors)
    if not c["pairs"]:
        why = f"none of the {len(errors)} target poses gives a torso (shoulders and hips) or a leg segment"
        return [Metric("colour_de", "colour ΔE (median)", "legacy", error=why),
                Metric("colour_right", "colours right", "legacy", error=why)]
    pairs = f"{c['pairs']} pairs" + ("" if c["pairs"] == len(errors) else f" of {len(errors)} (the others: no region)")
    return [Metric("colour_de", "colour ΔE (median)", "legacy", c["colour_de"],
                   detail=f"pona's diagnostic, not in the paper: CIE76 distance of the mean CIELAB colours, worst "
                          f"of torso and legs of the target pose; median over {pairs}"),
            Metric("colour_right", "colours right", "legacy", c["colour_right"],
                   detail=f"pona's diagnostic, not in the paper: share of pairs with colour ΔE < {COLOUR_RIGHT:g} "
                          f"({c['right']}/{c['pairs']})")]


def _pckh_metric(preds, targets_kp, est_name: str) -> Metric:
    """PCKh of the keypoints estimated on the generated images against the targets' annotations."""
    p = pckh(preds, targets_kp)
    return Metric("pckh", "PCKh", "legacy", p.value,
                  detail=f"{p.correct}/{p.total} joints over {p.pairs} pairs ({p.skipped} without a head box skipped, "
                         f"{p.degenerate} with a zero-width or zero-height head box); keypoints from {est_name}")


def _fid_metrics(nets, feats_2015, feats_tv, layout, batch_size, device, cache_dir, n) -> list[Metric]:
    """FID of the generated images against the training images, with both backbones."""
    train = layout.root / "train"
    out = []
    for key, label, net_key, feats, variant, mode, weights in (
            ("fid_torchvision", "FID (torchvision Inception)", "inception_torchvision", feats_tv, "torchvision",
             "torchvision", inc.TV_INCEPTION_FILE),
            ("fid_2015", "FID (2015 FID Inception)", "inception_2015", feats_2015, "fid", "pytorch_fid",
             inc.FID_INCEPTION_FILE)):
        net = nets[net_key].net
        if net is None:
            out.append(Metric(key, label, "modern", error=nets[net_key].error))
            continue
        try:
            mu_r, sigma_r, m = _reference_statistics(net, variant, mode, train, batch_size, device, cache_dir)
            value = fid_from_features(np.concatenate(feats), mu_r, sigma_r)
        except (DataError, ValueError) as e:
            out.append(Metric(key, label, "modern", error=str(e)))
            continue
        small = " (fewer than 2048 images: biased, not comparable with papers)" if min(n, m) < 2048 else ""
        out.append(Metric(key, label, "modern", value,
                          detail=f"{weights}, pool features, {n} generated vs {m} training images{small}"))
    return out


def _reference_statistics(net, variant: str, mode: str, folder: Path, batch_size: int, device,
                          cache_dir) -> tuple[np.ndarray, np.ndarray, int]:
    """FID statistics of every image in ``folder`` (the training images), cached when asked."""
    names = list_images(folder)
    if len(names) < 2:
        raise DataError(f"{folder}: FID compares with the training images, and fewer than 2 were found")
    cache = None
    if cache_dir is not None:
        h = hashlib.sha1(f"{variant}:{mode}:{inc.SIZE}".encode())
        for n in names:
            st = (folder / n).stat()
            h.update(f"{n}:{st.st_size}:{st.st_mtime_ns}".encode())
        cache = Path(cache_dir) / f"fid-reference-{variant}-{h.hexdigest()[:16]}.npz"
        if cache.is_file():
            with np.load(cache) as z:
                return z["mu"], z["sigma"], int(z["n"])
    feats = []
    for i in range(0, len(names), batch_size):
        feats.append(_pool_features(net, [load_image(folder / n) for n in names[i:i + batch_size]], mode, device))
    mu, sigma = feature_statistics(np.concatenate(feats))
    if cache is not None:
        with atomic_path(cache) as tmp, open(tmp, "wb") as f:
            np.savez(f, mu=mu, sigma=sigma, n=len(names))
    return mu, sigma, len(names)


# -- the networks' passes ---------------------------------------------------------------------------

def _stack(images: list[np.ndarray], device) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).to(device)  # (B, H, W, 3) uint8


@torch.inference_mode()
def _pool_features(net, images: list[np.ndarray], mode: str, device) -> np.ndarray:
    """(B, 2048) pool features of a list of same-size uint8 images."""
    return net(inc.preprocess(_stack(images, device), mode)).float().cpu().numpy()


@torch.inference_mode()
def _is_logits(net, images: list[np.ndarray], device) -> np.ndarray:
    """Legacy IS logits: the 2015 graph's input pipeline, fc without bias."""
    return net.classify(net(inc.preprocess(_stack(images, device), "tf_graph")), bias=False).double().cpu().numpy()


@torch.inference_mode()
def _lpips(net, targets: list[np.ndarray], generated: list[np.ndarray], device) -> np.ndarray:
    to_unit = lambda ims: _stack(ims, device).permute(0, 3, 1, 2).float() / 127.5 - 1  # noqa: E731  [-1, 1]
    return net(to_unit(generated), to_unit(targets)).double().cpu().numpy()
