"""One precision setting for training and inference: ``auto`` | ``fp32`` | ``bf16`` | ``fp16``.

    p = resolve_precision("auto", "cpu")   # Precision(name="bf16", dtype=torch.bfloat16, channels_last=True, ...)
    model = to_layout(model, p)            # weights stay fp32; only their memory layout changes
    with autocast(p, "cpu"):
        out = model(to_layout(x, p)).float()

Low precision here is always autocast: weights, optimizer states, EMA, losses, metrics and
checkpoints stay fp32; convolutions and matrix products run in bf16/fp16 where autocast says so.

Rules (``resolve_precision``):

- ``auto``: bf16 autocast + channels_last where the device has native bf16 (a CUDA GPU with bf16,
  a CPU with AVX512-BF16 or AMX); fp32 otherwise.
- ``bf16`` on a CPU without those units is refused: oneDNN then emulates bf16 and runs far slower
  than fp32 (hundreds of times on AVX2-only EPYCs), which nobody asks for on purpose.
- ``fp16`` only on CUDA: PyTorch's CPU fp16 convolutions are not faster than fp32.
- Layout: channels_last with bf16/fp16 everywhere; with fp32 only on AVX-512 CPUs (see
  ``_fp32_channels_last``).

Base layer: imports torch and pona.errors only.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import PonaError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
CPU_FEATURES = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
BF16_UNITS = ("avx512_bf16", "amx_bf16")  # either one runs bf16 dot products natively


@dataclass(frozen=True)
class Precision:
    """A resolved precision: what autocast and the memory layout will be, and why."""

    name: str                    # "fp32" | "bf16" | "fp16"
    dtype: torch.dtype | None    # autocast dtype; None: no autocast (fp32)
    channels_last: bool          # 4-D weights and inputs in NHWC memory layout
    reason: str                  # one phrase: why this was chosen

    @property
    def label(self) -> str:
        """Short form for logs and headers: "bf16 channels_last", "fp32 NCHW"."""
        return f"{self.name} {'channels_last' if self.channels_last else 'NCHW'}"

    def __str__(self) -> str:
        return f"{self.label} ({self.reason})"


DEVICE_TYPES = ("cpu", "cuda", "mps")


def check_device(device: str | torch.device, setting: str = "device") -> torch.device:
    """``torch.device(device)``, refused in one line (naming ``setting``) when torch does not know
    the name, pona does not run there, or this machine lacks it (CUDA on a CPU-only build)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise PonaError(f"{setting} {device!r}: unknown device; use cpu, cuda or cuda:N") from None
    if dev.type not in DEVICE_TYPES:
        raise PonaError(f"{setting} {device!r}: pona runs on {', '.join(DEVICE_TYPES)} only")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise PonaError(f"{setting} {device!r}: CUDA is not available here (torch {torch.__version__}, {build}); use cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise PonaError(f"{setting} {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise PonaError(f"{setting} {device!r}: MPS is not available here; use cpu")
    return dev


def resolve_device(name: str, local_rank: int = 0, setting: str = "device") -> torch.device:
    """"auto" -> cuda:<local_rank> when CUDA is available, else cpu; otherwise :func:`check_device`
    (naming ``setting``), a bare "cuda" being this process's GPU, cuda:<local_rank>."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = check_device(name, setting)
    if device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{local_rank}")
    return device


@functools.cache
def cpu_features() -> frozenset[str]:
    """Which of ``CPU_FEATURES`` this CPU has.

    Linux: the ``flags`` line of /proc/cpuinfo (what the kernel enabled, AMX included). Elsewhere
    (or if that fails): torch's own CPU probes. ARM CPUs report none of these names, so ``auto``
    stays fp32 there.
    """
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return frozenset(f for f in CPU_FEATURES if f in flags)
    except OSError:
        pass
    found = set()
    capability = torch.backends.cpu.get_cpu_capability()  # "DEFAULT" | "AVX2" | "AVX512" | ...
    if capability in ("AVX2", "AVX512"):
        found.add("avx2")
    if capability == "AVX512":
        found.add("avx512f")
    for name, probe in (("avx512_bf16", "_is_avx512_bf16_supported"), ("amx_tile", "_is_amx_tile_supported")):
        if getattr(torch.cpu, probe, lambda: False)():
            found.add(name)
    if "amx_tile" in found:
        found.add("amx_bf16")  # every AMX CPU so far has AMX-BF16 with its tiles
    return frozenset(found)


def native_bf16(device: str | torch.device) -> bool:
    """True where bf16 runs on its own units: CUDA with bf16 (not emulated), a CPU with AVX512-BF16 or AMX."""
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return False
        try:
            return torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # torch < 2.4 has no such argument, and counts emulation as no
            return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return any(f in cpu_features() for f in BF16_UNITS)
    return False


def _fp32_channels_last(device: torch.device) -> bool:
    """Whether fp32 runs faster in channels_last on this device.

    AVX-512 CPUs: yes. A 3x3 conv 64->64 at 8x64x64x88 on an AMD EPYC Zen 4 ran 41.6 GFLOP/s NCHW
    vs 216 channels_last (bf16 channels_last: 404); an Intel Xeon with AMX, 178 vs 324. AVX2-only
    CPUs: not measured (no such machine at hand), so they keep the NCHW layout of before, which
    cannot make ``auto`` slower than it was. CUDA fp32 (no tensor-core dtype): NCHW, as before.
    """
    return device.type == "cpu" and "avx512f" in cpu_features()


def resolve_precision(requested: str, device: str | torch.device, channels_last: bool | None = None,
                      setting: str = "--precision") -> Precision:
    """The precision ``requested`` ("auto" | "fp32" | "bf16" | "fp16") means on ``device``.

    ``channels_last``: force the layout (None: the device's best, see the module docstring).
    ``setting``: how the user spelt the option, for error messages ("--precision", "run.amp").
    Raises PonaError (one line) for an unknown value, or a precision the device cannot run fast.
    """
    device = torch.device(device)
    if requested not in PRECISIONS:
        raise PonaError(f"{setting}: unknown precision {requested!r}; choose one of {', '.join(PRECISIONS)}")
    where = "CPU" if device.type == "cpu" else str(device)
    if requested == "auto":
        if native_bf16(device):
            name, reason = "bf16", f"auto: {where} has native bf16"
        else:
            name, reason = "fp32", f"auto: {where} has no native bf16"
    else:
        name, reason = requested, "requested"
    if name == "fp16" and device.type != "cuda":
        raise PonaError(f"{setting} fp16: fp16 runs only on CUDA (on {where} it is no faster than fp32); "
                        f"use fp32, or auto")
    if name == "bf16" and not native_bf16(device):
        units = "AVX512-BF16 or AMX units" if device.type == "cpu" else "native bf16"
        raise PonaError(f"{setting} bf16: this {where} has no {units}, so bf16 would be emulated and run far "
                        f"slower than fp32; use fp32, or auto")
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[name]
    if channels_last is None:
        channels_last = dtype is not None or _fp32_channels_last(device)
    return Precision(name, dtype, channels_last, reason)


def autocast(precision: Precision, device: str | torch.device) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to the precision's dtype; a no-op context for fp32."""
    device = torch.device(device)
    return torch.autocast(device.type, dtype=precision.dtype or torch.bfloat16, enabled=precision.dtype is not None)


def memory_format(precision: Precision) -> torch.memory_format:
    return torch.channels_last if precision.channels_last else torch.contiguous_format


def to_layout(x, precision: Precision):
    """A module's 4-D weights (in place, returns the module) or a 4-D tensor in the precision's layout.

    Other tensors (keypoints, 1-D biases, 3-D token maps) are returned as they are.
    """
    if isinstance(x, torch.nn.Module):
        # Normal weights stay normal even when this runs under torch.inference_mode (a PoNA built
        # inside it): converted there, they could never take part in autograd again. Weights that
        # were loaded in inference mode are inference tensors already and are converted as such.
        loaded_for_inference = any(w.is_inference() for w in x.parameters())
        with torch.inference_mode(torch.is_inference_mode_enabled() and loaded_for_inference):
            return x.to(memory_format=memory_format(precision))
    if isinstance(x, torch.Tensor) and x.dim() == 4:
        return x.contiguous(memory_format=memory_format(precision))
    return x
