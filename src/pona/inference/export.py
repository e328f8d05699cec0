"""ONNX export of a generator, checked against PyTorch with onnxruntime.

The graph takes ``image`` (B, 3, H, W) in [-1, 1], ``src_maps`` and ``dst_maps`` (B, 18, H, W)
heat maps (:func:`pona.pose.heatmaps`, sigma 6) and returns ``output`` (B, 3, H, W) in [-1, 1];
the batch axis is dynamic, H and W are the model's. Attention is exported through the explicit
path (MatMul + Softmax, any opset >= 9) or SDPA, decomposed by the exporter into the same ops.
We use torch's TorchScript-based exporter (``dynamo=False``): it needs no extra package, whereas
the newer ``torch.export`` exporter needs onnxscript.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import MissingExtraError, PonaError
from ..fileio import atomic_path
from ..models.attention import PoseAttention, SelfAttention

log = logging.getLogger(__name__)

INPUTS = ("image", "src_maps", "dst_maps")
OUTPUT = "output"
EXPORT_IMPLS = ("explicit", "sdpa")
DEFAULT_OPSET = 17


@dataclass
class ExportReport:
    path: Path
    opset: int
    attention: str
    max_abs_diff: dict[int, float] = field(default_factory=dict)  # batch size -> max |onnx - torch|
    checked: bool = False   # False when onnxruntime is not installed


class _Graph(torch.nn.Module):
    """The generator's plain forward (no optional arguments for the tracer)."""

    def __init__(self, generator: torch.nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, image, src_maps, dst_maps):
        return self.generator(image, src_maps, dst_maps)


def _set_impl(generator: torch.nn.Module, impl: str) -> dict:
    old = {}
    for m in generator.modules():
        if isinstance(m, (SelfAttention, PoseAttention)):
            old[m] = m.impl
            m.impl = impl
    return old


def _random_inputs(size: tuple[int, int], batch: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed + batch)
    h, w = size
    image = torch.rand(batch, 3, h, w, generator=g) * 2 - 1
    return image, torch.rand(batch, 18, h, w, generator=g), torch.rand(batch, 18, h, w, generator=g)


def check_onnx(generator: torch.nn.Module, path: str | os.PathLike, batch_sizes=(2, 3)) -> dict[int, float]:
    """Max abs difference between onnxruntime and PyTorch on random inputs, per batch size."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingExtraError("checking the ONNX model needs onnxruntime: pip install 'pona[export]'") from None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    diffs = {}
    for b in batch_sizes:
        inputs = _random_inputs(tuple(generator.config.image_size), b)
        with torch.inference_mode():
            ref = generator.cpu().eval()(*inputs).numpy()
        got = session.run([OUTPUT], dict(zip(INPUTS, (t.numpy() for t in inputs))))[0]
        if got.shape != ref.shape:
            raise PonaError(f"{path}: ONNX output has shape {got.shape}, PyTorch {ref.shape}")
        diffs[b] = float(np.abs(got - ref).max())
    return diffs


def export_onnx(generator: torch.nn.Module, path: str | os.PathLike, opset: int = DEFAULT_OPSET,
                attention: str = "explicit", check: bool = True, batch_sizes=(2, 3)) -> ExportReport:
    """Write ``generator`` as an ONNX model with a dynamic batch axis; check it with onnxruntime.

    Args:
        generator: a PoNA or PATN generator (or a :class:`pona.inference.PoNA`).
        opset: ONNX opset version.
        attention: "explicit" | "sdpa", the attention path traced into the graph.
        check: compare with PyTorch on random inputs of ``batch_sizes`` (skipped with a warning
            when onnxruntime is not installed).
    """
    generator = getattr(generator, "generator", generator)
    if attention not in EXPORT_IMPLS:
        raise PonaError(f"attention for export must be one of {EXPORT_IMPLS}, got {attention!r}")
    if not 9 <= opset <= 23:
        raise PonaError(f"opset must be in 9..23, got {opset}")
    path = Path(path)
    device = next(generator.parameters()).device
    generator = generator.cpu().eval()
    old = _set_impl(generator, attention)
    try:
        inputs = _random_inputs(tuple(generator.config.image_size), 2)
        with atomic_path(path) as tmp, warnings.catch_warnings():
            # The TorchScript exporter is deprecated in favour of torch.export (needs onnxscript);
            # its tracer and instance-norm notes are expected for this model.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Graph(generator), inputs, str(tmp), input_names=list(INPUTS), output_names=[OUTPUT],
                dynamic_axes={name: {0: "batch"} for name in (*INPUTS, OUTPUT)},
                opset_version=opset, do_constant_folding=True, dynamo=False)
        report = ExportReport(path, opset, attention)
        if check:
            try:
                report.max_abs_diff = check_onnx(generator, path, batch_sizes)
                report.checked = True
            except MissingExtraError as e:
                log.warning("%s; the export was not checked", e)
    finally:
        for m, impl in old.items():
            m.impl = impl
        generator.to(device)
    return report
