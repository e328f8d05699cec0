"""``evaluate``: score a folder of generated images against a PATN-layout test split, with the
field's two metric protocols.

Generated images are named ``<from>___<to>.png`` after the rows of the pairs file (what
``pona generate`` writes); each is compared with the target image ``<split>/<to>`` and its annotated
keypoints. A pair without a generated image, or an image that matches no pair, is reported, never
silently dropped. Every pair enters every metric: partial last batches are kept (GFLA's and DPTN's
``metrics.py`` dropped the last ``N mod 64`` images from FID and LPIPS).

- ``legacy`` (PG2 / Deform / PATN / PoNA, the PoNA paper's Table I): SSIM, IS, mask-SSIM, mask-IS,
  PSNR, PCKh, plus the field's L1 and a diagnostic "PSNR (uint8 wrap)" (see :mod:`pona.metrics.psnr`).
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.dataset import load_image
from ..data.layout import (IMAGE_SUFFIXES, PAIR_SEPARATOR, SIZES, find_split, generated_name, list_images, pair_stem,
                           read_annotations, read_pairs)
from ..errors import DataError, PonaError
from ..fileio import atomic_path
from ..masks import market_mask
from . import inception as inc
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
        else:
            from PIL import Image  # re-encode losslessly, as `pona generate` writes PNG

            Image.fromarray(load_image(src)).save(out / generated_name(a, b))
    return len(dict.fromkeys(map(tuple, pairs)))


# ---------------------------------------------------------------------------------------------------


def _validate_dataset(data_dir, split: str) -> None:
    """Refuse a malformed dataset up front (DataError with the file:line report), as training does."""
    from ..data.validate import check_dataset

    check_dataset(data_dir, (split,))


def _resolve_estimator(estimator):
    """-> (callable or None, description or reason it is unavailable)."""
    if callable(estimator):
        return estimator, getattr(estimator, "name", getattr(estimator, "__name__", type(estimator).__name__))
    name = estimator or "mediapipe"
    if name == "none":
        return None, "no pose estimator requested"
    from ..data.estimators import available_estimators, get_estimator

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
    _validate_dataset(data_dir, split)
    notes = []

    # 1. Pairs, annotations and generated files, matched by name.
    layout = find_split(data_dir, split)
    annotations = read_annotations(layout.annotations)
    pair_list = read_pairs(layout.pairs if pairs is None else pairs) if not isinstance(pairs, list) else pairs
    unique = list(dict.fromkeys(map(tuple, pair_list)))
    if len(unique) < len(pair_list):
        notes.append(f"{len(pair_list) - len(unique)} duplicate row(s) in the pairs file counted once")
    unknown = sorted({b for _, b in unique if b not in annotations})
    if unknown:
        raise DataError(f"{layout.annotations}: {len(unknown)} target image(s) have no annotation, e.g. {unknown[:3]}")
    matched, missing, extra = match_generated(generated_dir, unique)
    if strict and (missing or extra):
        raise DataError(f"{generated_dir}: {len(missing)} generated image(s) missing (e.g. {missing[:3]}), "
                        f"{len(extra)} extra (e.g. {extra[:3]})")
    if not matched:
        raise DataError(f"{generated_dir}: no file named <from>{PAIR_SEPARATOR}<to>.png matches a pair of {layout.pairs}")
    results = Results(str(generated_dir), str(data_dir), split, protocol, len(unique), len(matched),
                      missing, extra, notes=notes)

    # 2. Networks and the pose estimator; what cannot be loaded is skipped later with its reason.
    nets = _load_networks(legacy, modern, weights_dir, download, device)
    est, est_name = _resolve_estimator(estimator) if legacy else (None, "")

    log.info("evaluating %d pairs (%s protocol) on %s", len(matched), protocol, device)

    # 3. One pass over the pairs in batches (the last one partial), accumulating per-pair values.
    first = load_image(layout.images / matched[0][1])
    pad = first.shape[:2] == SIZES["fashion"] if pad is None else pad  # the field pads DeepFashion to 256x256
    per_pair = {k: [] for k in ("ssim", "mask_ssim", "psnr", "psnr_wrap", "l1", "ssim_modern", "lpips")}
    preds, targets_kp, is_logits, mask_is_logits, feats_2015, feats_tv = [], [], [], [], [], []
    for start in range(0, len(matched), batch_size):
        gens, tgts, gens_pad, masked = [], [], [], []
        for a, b, path in matched[start:start + batch_size]:
            g, t = load_image(path), load_image(layout.images / b)
            if g.shape != t.shape:
                raise DataError(f"{path}: generated image is {g.shape[1]}x{g.shape[0]} (WxH), "
                                f"target {b} is {t.shape[1]}x{t.shape[0]}")
            mask = market_mask(annotations[b], *t.shape[:2])
            gp, tp = (pad_width(g, FASHION_PAD), pad_width(t, FASHION_PAD)) if pad else (g, t)
            per_pair["psnr"].append(psnr(tp, gp))
            if legacy:
                per_pair["ssim"].append(ssim_legacy(tp, gp))
                per_pair["mask_ssim"].append(ssim_legacy(apply_mask(t, mask), apply_mask(g, mask)))
                per_pair["psnr_wrap"].append(psnr_uint8_wrap(tp, gp))
                per_pair["l1"].append(l1_legacy(tp, gp))
                if est is not None:
                    preds.append(est(g))
                    targets_kp.append(annotations[b])
            if modern:
                per_pair["ssim_modern"].append(ssim_modern(tp, gp))
            gens.append(g), tgts.append(t), gens_pad.append(gp), masked.append(apply_mask(g, mask))
        inception_2015 = nets["inception_2015"].net
        if legacy and inception_2015 is not None:
            is_logits.append(_is_logits(inception_2015, gens_pad, device))
            mask_is_logits.append(_is_logits(inception_2015, masked, device))
        if modern and inception_2015 is not None:
            feats_2015.append(_pool_features(inception_2015, gens, "pytorch_fid", device))
        if modern and nets["inception_torchvision"].net is not None:
            feats_tv.append(_pool_features(nets["inception_torchvision"].net, gens, "torchvision", device))
        if modern and nets["lpips"].net is not None:
            per_pair["lpips"].extend(_lpips(nets["lpips"].net, tgts, gens, device))
        log.debug("evaluated %d/%d pairs", min(start + batch_size, len(matched)), len(matched))

    # 4. Numbers.
    n = len(matched)
    mean = lambda k: float(np.mean(per_pair[k]))  # noqa: E731
    skip = lambda key: nets[key].error  # noqa: E731
    padded = " (padded to 256x256)" if pad else ""
    if legacy:
        splits = min(SPLITS, n)
        split_note = f"{splits} splits" + ("" if splits == SPLITS else f" (fewer than {SPLITS} images)")
        is_detail = f"2015 Inception graph, {split_note}, logits without fc bias{padded}"
        is_value = inception_score(np.concatenate(is_logits), splits) if is_logits else (None, None)
        mis_value = inception_score(np.concatenate(mask_is_logits), splits) if mask_is_logits else (None, None)
        results.metrics += [
            Metric("ssim", "SSIM", "legacy", mean("ssim"),
                   detail=f"8-bit, Gaussian sigma 1.5, data_range of the generated image{padded}"),
            Metric("is", "IS", "legacy", *is_value, detail=is_detail, error=skip("inception_2015")),
            Metric("mask_ssim", "mask-SSIM", "legacy", mean("mask_ssim"),
                   detail="legacy SSIM of both images times the Market mask of the target pose"),
            Metric("mask_is", "mask-IS", "legacy", *mis_value, detail="IS of the generated images times the target's mask",
                   error=skip("inception_2015")),
        ]
    results.metrics.append(Metric("psnr", "PSNR", "both", mean("psnr"),
                                  detail=f"dB, RGB, data range 255, mean of per-pair values{padded}"))
    if legacy:
        if est is None:
            results.metrics.append(Metric("pckh", "PCKh", "legacy", error=est_name))
        else:
            p = pckh(preds, targets_kp)
            results.metrics.append(Metric(
                "pckh", "PCKh", "legacy", p.value,
                detail=f"{p.correct}/{p.total} joints over {p.pairs} pairs ({p.skipped} without a head box skipped, "
                       f"{p.degenerate} with a zero-width or zero-height head box); keypoints from {est_name}"))
            notes.append(f"PCKh: keypoints of the generated images from {est_name}; the original protocol used "
                         "an OpenPose port (PATN's Keras pose estimator), so PCKh is comparable only in trend")
        results.metrics += [
            Metric("l1", "L1", "legacy", mean("l1"), detail=f"mean |target - generated| on [-1, 1] (PATN){padded}"),
            Metric("psnr_uint8_wrap", "PSNR (uint8 wrap)", "legacy", mean("psnr_wrap"),
                   detail="diagnostic, not a PSNR: uint8 arithmetic wraps; Table I's PSNR behaves like this"),
        ]
    if modern:
        results.metrics += _fid_metrics(nets, feats_2015, feats_tv, layout, batch_size, device, cache_dir, n)
        results.metrics += [
            Metric("lpips", "LPIPS", "modern", mean("lpips") if per_pair["lpips"] else None,
                   detail="v0.1, AlexNet, inputs in [-1, 1], mean of per-pair distances", error=skip("lpips")),
            Metric("ssim_modern", "SSIM (modern)", "modern", mean("ssim_modern"),
                   detail=f"float [0, 1], uniform 51x51 window, sample covariance, data_range 1{padded}"),
        ]
    if pad:
        notes.append("images of 256x176 (DeepFashion) padded to 256x256 with white, 40 px each side, as the field "
                     "did, for SSIM, PSNR, L1 and IS; mask-SSIM, mask-IS, FID and LPIPS use the unpadded images")
    notes.append(f"all {n} evaluated pairs enter every metric (the field's FID/LPIPS scripts dropped the last "
                 "partial batch of 64)")
    return results


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
