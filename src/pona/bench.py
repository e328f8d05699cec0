"""Speed and memory of PoNA on this machine, beside a reference computed in the same run.

``run_benchmark`` (``pona bench``, ``make bench``, ``benchmarks/bench.py``) measures, for each
image size and batch size:

- ``inference``: the generator's forward pass (``torch.inference_mode``), images/s; the FLOPs of
  one image (``torch.utils.flop_counter``: 2 x multiply-adds of every convolution and matrix
  product, attention included, counted once per size on the meta device) times images/s gives
  the achieved GFLOP/s, shown as a fraction of this machine's peak in the precision the row ran
  in (``measure_peak``, at the start of the same run, with the run's threads);
- ``train``: one full iteration of ``pona.train.Trainer.train_step`` (the generator step with the
  perceptual VGG-19 loss on random weights, both discriminator steps, Adam), images/s;
- ``data``: ``PairDataset`` with heat maps on the fly through a 2-worker ``DataLoader``, on a small
  synthetic dataset written at that size, samples/s, and its ratio to our training rate (the
  fastest precision's, when several run: loading must keep up with the fastest consumer).

Reference: the same network with the same weights and inputs, attention computed the released
way (``set_attention_impl("explicit")``: the N x N softmax through ``bmm``, every map kept for the
backward pass). ``max_abs_diff`` checks that both compute the same thing: the largest absolute
difference of the generated images (inference), or of the six losses and every generator
gradient of the first training iteration (train).

Memory: every measurement runs in a fresh Python process (the same weights, from the same seed).
Once the networks, inputs (and for training the whole ``Trainer``) are built, the process notes
its resident set size and resets its peak (``/proc/self/clear_refs``, Linux); the memory reported
is the peak resident set size over the warm-up and timed runs (``VmHWM``) minus that baseline.
So it is what the step itself needs on top of the weights, as the operating system saw it:
activations, attention maps, gradients, Adam's moments (created by the first step) and the
allocator's slack, not only what a tensor allocator tracked. Where the peak cannot be reset
(not Linux) it is the growth of ``ru_maxrss`` over the setup's peak, which can understate it.
Timings are medians of ``repeats`` runs after one warm-up run.

Peak: one fp32 matrix product understates what oneDNN's convolutions reach (channels_last, see
:func:`pona.precision._fp32_channels_last`), which let inference show more than 100% of "peak".
The peak of a precision is the best of square matrix products (``peak_matmuls``) and of
channels_last 3x3 convolutions (``peak_convs``) in that dtype, each the median of ``peak_repeats``
runs after a warm-up, with the run's threads; it is measured for each precision the run uses
(fp32, bf16), and a row's "% peak" is against its own precision's.

Precisions (``precisions``, ``pona bench --precision fp32,bf16``): ours runs once in each, one row
per (size, batch, task, precision), each against the same fp32 NCHW reference (measured once) and
its own precision's peak. "fp32" runs ours in fp32 NCHW like the reference; "auto" and "bf16" as
:mod:`pona.precision` resolves them (bf16 autocast and channels_last where the CPU has bf16 units;
bf16 elsewhere is refused, before anything is measured). Two names that resolve alike ("auto,bf16"
on a CPU with bf16 units) give one set of rows. ``max_abs_diff`` is flagged only for fp32 NCHW:
bf16 rounds more by design, and in channels_last dropout draws its masks in another memory order,
so training losses differ from the first iteration.

A combination whose estimated memory exceeds what the machine has available is skipped and says so
(for example the reference's training at 512x352, batch 8: its kept maps alone take 32 GB).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader, RandomSampler
from torch.utils.flop_counter import FlopCounterMode

from .data.dataset import PairDataset
from .data.synth import write_dataset
from .models import Generator, GeneratorConfig
from .models.attention import is_gate
from .models.vgg import VGG19Features
from .precision import Precision, autocast, cpu_features, native_bf16, resolve_precision, to_layout
from .train.config import load_config
from .train.trainer import Trainer

log = logging.getLogger(__name__)

SIZES = ((128, 64), (256, 176), (512, 352))
BATCHES = (1, 8)
MAPS_PER_GENERATOR = 6  # 3 PoNA blocks x (self-attention, pose-guided attention)
# Rough bytes per image pixel that a step needs besides attention maps, only used to skip
# combinations that cannot fit, never reported: a training iteration (G + both Ds + VGG + Adam)
# took 23 KB per pixel with chunked attention at 256x176, batch 7 (7.3 GB); inference is a guess
# on the safe side (a few full-resolution activations alive at a time).
TRAIN_BYTES_PER_PIXEL = 24_000
INFER_BYTES_PER_PIXEL = 4_000
PEAK_MATMULS = (1024, 2048, 4096)  # sides of the square matrix products that measure the peak
# (batch, channels, height, width) of the 3x3 convolutions (channels -> channels) that measure the
# peak: the shape pona.precision's layout choice was measured on, and the 256x176 generator's PoNA
# blocks (ngf 64 x 4 channels at a quarter of the resolution)
PEAK_CONVS = ((8, 64, 64, 88), (8, 256, 64, 44))
# printed names of pona.precision.CPU_FEATURES: what decides which precisions run fast here
CAPABILITIES = (("AVX2", "avx2"), ("AVX-512", "avx512f"), ("AVX512-BF16", "avx512_bf16"), ("AMX", "amx_bf16"))


@dataclass(frozen=True)
class BenchOptions:
    sizes: tuple[tuple[int, int], ...] = SIZES
    batches: tuple[int, ...] = BATCHES
    repeats: int = 3                 # timed runs per measurement (median), after one warm-up run
    threads: int = 0                 # torch threads in every measurement; 0 = torch's default here
    tasks: tuple[str, ...] = ("inference", "train", "data")
    ngf: int = 64                    # the released generator: ngf 64, 3 blocks, instance norm
    n_blocks: int = 3
    data_batches: int = 20           # batches drawn per data-loading measurement
    peak_matmuls: tuple[int, ...] = PEAK_MATMULS
    peak_convs: tuple[tuple[int, int, int, int], ...] = PEAK_CONVS
    peak_repeats: int = 5            # timed runs of each peak shape (median), after one warm-up run
    recompute_blocks: bool = False   # also train with run.recompute_blocks (rows "train+recompute")
    precisions: tuple[str, ...] = ("fp32",)  # "ours" in each (pona.precision names); the reference stays fp32

    def __post_init__(self):
        if self.repeats < 1 or self.peak_repeats < 1 or min(self.batches) < 1 or self.threads < 0:
            raise ValueError("repeats, peak_repeats and batches must be >= 1, threads >= 0")
        if not self.precisions or not (self.peak_matmuls or self.peak_convs):
            raise ValueError("precisions, and peak_matmuls or peak_convs, must not be empty")


@dataclass
class Row:
    size: str
    batch: int
    task: str                        # "inference" | "train" | "train+recompute" | "data"
    precision: str = ""              # ours: "fp32 NCHW", "bf16 channels_last", ...; "" for data
    rate: float | None = None        # images/s (inference, train) or samples/s (data)
    ref_rate: float | None = None    # the reference's images/s; for data: our (fastest) training rate
    speedup: float | None = None     # rate / ref_rate
    gflop_per_s: float | None = None
    peak_fraction: float | None = None  # gflop_per_s / the peak of this row's precision
    memory_mb: float | None = None
    ref_memory_mb: float | None = None
    memory_ratio: float | None = None
    max_abs_diff: float | None = None
    note: str = ""


# -- the machine ----------------------------------------------------------------------------------

def machine_info(threads: int) -> dict:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    features = cpu_features()
    return {"cpu": model, "cores": os.cpu_count(), "torch": torch.__version__, "threads": threads,
            "python": platform.python_version(), "cpu_features": sorted(features),
            "capabilities": {name: flag in features for name, flag in CAPABILITIES},
            "native_bf16": native_bf16("cpu")}


def capability_line(machine: dict) -> str:
    """"CPU: AVX2 yes, AVX-512 yes, AVX512-BF16 yes, AMX no; native bf16: yes"."""
    caps = ", ".join(f"{name} {'yes' if has else 'no'}" for name, has in machine["capabilities"].items())
    return f"CPU: {caps}; native bf16: {'yes' if machine['native_bf16'] else 'no'}"


@dataclass
class Peak:
    """This machine's peak in one precision: the best of its matrix products and convolutions."""

    precision: str                   # "fp32" | "bf16"
    matmul: float                    # GFLOP/s, the best over peak_matmuls (0 if none)
    conv: float                      # GFLOP/s, the best over peak_convs, channels_last (0 if none)
    gflop_per_s: float               # max(matmul, conv): what "% peak" divides by
    medians: dict[str, float]        # GFLOP/s of every shape: "matmul 4096", "conv 8x64x64x88"


def peak_cases(dtype: torch.dtype, matmuls=PEAK_MATMULS, convs=PEAK_CONVS) -> list[tuple[str, float, object]]:
    """(name, FLOPs, run) of every peak shape, on random ``dtype`` tensors made here.

    Convolutions are 3x3, channels -> channels, padding 1, input and weight channels_last: the
    layout in which oneDNN's convolutions are fastest and in which bf16 runs.
    """
    g = torch.Generator().manual_seed(0)
    cases = []
    for n in matmuls:
        a, b = (torch.randn(n, n, generator=g).to(dtype) for _ in range(2))
        cases.append((f"matmul {n}", 2 * n**3, lambda a=a, b=b: a @ b))
    for batch, c, h, w in convs:
        x = torch.randn(batch, c, h, w, generator=g).to(dtype).contiguous(memory_format=torch.channels_last)
        k = torch.randn(c, c, 3, 3, generator=g).to(dtype).contiguous(memory_format=torch.channels_last)
        run = lambda x=x, k=k: torch.nn.functional.conv2d(x, k, padding=1)  # noqa: E731
        cases.append((f"conv {batch}x{c}x{h}x{w}", 2 * batch * c * h * w * c * 9, run))
    return cases


def measure_peak(name: str, matmuls=PEAK_MATMULS, convs=PEAK_CONVS, repeats: int = 5) -> Peak:
    """The peak of precision ``name`` ("fp32" | "bf16") with torch's current threads."""
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[name]
    medians = {}
    with torch.inference_mode():
        for case, flops, run in peak_cases(dtype, matmuls, convs):
            # the warm-up run of _timed starts the thread pool, faults pages, builds oneDNN's kernel
            medians[case] = flops / statistics.median(_timed(run, repeats)) / 1e9
    best = lambda kind: max((v for k, v in medians.items() if k.startswith(kind)), default=0.0)  # noqa: E731
    matmul, conv = best("matmul"), best("conv")
    return Peak(name, matmul, conv, max(matmul, conv), medians)


def generator_gflops(size: tuple[int, int], ngf: int = 64, n_blocks: int = 3) -> float:
    """GFLOPs of one image through the generator (2 x multiply-adds), counted on the meta device."""
    G = Generator(GeneratorConfig(ngf=ngf, n_blocks=n_blocks, image_size=size)).set_attention_impl("explicit")
    G = G.to("meta").eval()
    h, w = size
    inputs = (torch.empty(1, 3, h, w, device="meta"), torch.empty(1, 18, h, w, device="meta"),
              torch.empty(1, 18, h, w, device="meta"))
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        G(*inputs)
    return counter.get_total_flops() / 1e9


def available_memory_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def estimated_memory_mb(task: str, size: tuple[int, int], batch: int, explicit: bool) -> float:
    """A coarse upper estimate, to skip what cannot fit (never reported as a measurement)."""
    h, w = size
    n = h * w // 16
    per_pixel = TRAIN_BYTES_PER_PIXEL if task.startswith("train") else INFER_BYTES_PER_PIXEL
    total = per_pixel * batch * h * w
    if explicit:  # kept maps + two temporaries in training; scores + softmax in inference
        maps = MAPS_PER_GENERATOR + 2 if task.startswith("train") else 2
        total += maps * batch * n * n * 4
    return total / 2**20


# -- one measurement, in its own process ------------------------------------------------------------

def _memory_now() -> tuple[float, float]:
    """(current, peak) resident set size of this process, MB."""
    try:
        fields_ = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
        return int(fields_["VmRSS"].split()[0]) / 1024, int(fields_["VmHWM"].split()[0]) / 1024
    except (OSError, KeyError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KB on Linux
        return peak, peak


def _start_peak() -> float:
    """Reset this process's peak resident size where the OS allows it; the current size, MB."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _memory_now()[0]


def _inputs(batch: int, size: tuple[int, int]):
    g = torch.Generator().manual_seed(1)
    h, w = size
    return (torch.rand(batch, 3, h, w, generator=g) * 2 - 1, torch.rand(batch, 18, h, w, generator=g),
            torch.rand(batch, 18, h, w, generator=g))


def _open_gates(G) -> None:
    # gamma = beta = 0 at init would make attention a no-op on the output: open the gates so that
    # the equality check sees (and the backward pass flows through) every attention path
    with torch.no_grad():
        for name, p in G.named_parameters():
            if is_gate(name):
                p.fill_(0.5)


def _timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times[1:]


def _spec_precision(spec: dict) -> Precision:
    """The precision a measurement runs in: the run's for ours, fp32 NCHW for the reference."""
    if spec["impl"] == "explicit" or (spec.get("precision", "fp32") == "fp32" and not spec.get("channels_last")):
        return Precision("fp32", None, False, "reference")
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[spec["precision"]]
    return Precision(spec["precision"], dtype, spec["channels_last"], "bench")


def measure_inference(spec: dict) -> dict:
    size, batch = tuple(spec["size"]), spec["batch"]
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(ngf=spec["ngf"], n_blocks=spec["n_blocks"], image_size=size)).eval()
    _open_gates(G)
    G.set_attention_impl(spec["impl"])
    p = _spec_precision(spec)
    to_layout(G, p)
    inputs = [to_layout(t, p) for t in _inputs(batch, size)]
    out = {}
    base = _start_peak()

    def run():
        with torch.inference_mode(), autocast(p, "cpu"):
            out["image"] = G(*inputs).float()

    times = _timed(run, spec["repeats"])
    _, peak = _memory_now()
    torch.save({"image": out["image"]}, spec["save"])
    return {"seconds": times, "memory_mb": peak - base}


def _vgg_file(directory: Path) -> Path:
    """A torchvision-layout VGG-19 file with random weights: the perceptual loss costs the same."""
    path = directory / "vgg19-random.pth"
    if not path.exists():
        torch.manual_seed(0)
        torch.save(VGG19Features().state_dict(), path)
    return path


def measure_train(spec: dict) -> dict:
    size, batch = tuple(spec["size"]), spec["batch"]
    overrides = [f"model.image_size={size[0]}x{size[1]}", f"model.ngf={spec['ngf']}", f"model.n_blocks={spec['n_blocks']}",
                 f"optim.batch_size={batch}", f"data.root={spec['data']}", f"loss.vgg_weights={spec['vgg']}",
                 "loss.vgg_download=false", "data.validate=false", "run.device=cpu", "run.val_every=0",
                 "run.progress=false", "run.tensorboard=false", "run.checkpoint_every=1000000",
                 f"run.recompute_blocks={str(spec['recompute']).lower()}"]
    p = _spec_precision(spec)
    overrides += [f"run.amp={p.name}", f"run.channels_last={str(p.channels_last).lower()}"]
    trainer = Trainer(load_config("fashion", overrides), spec["run_dir"], overwrite=True)
    G = trainer.nets["generator"]
    _open_gates(G)
    G.set_attention_impl(spec["impl"])
    data = next(iter(DataLoader(trainer.train_set, batch_size=batch)))
    base = _start_peak()
    losses = trainer.train_step(data)  # the warm-up
    # compared: the first iteration's losses and generator gradients (the D steps leave those
    # alone). Not later ones: Adam's first step moves every weight by about lr whatever the size
    # of its gradient, so the rounding noise of gradients that are 0 in exact arithmetic (key
    # biases, which the softmax cancels) becomes a real difference from the second iteration on.
    torch.save({"losses": torch.tensor(list(losses.values())), "grads": [p.grad for p in G.parameters()]}, spec["save"])
    times = []
    for _ in range(spec["repeats"]):
        t = time.perf_counter()
        trainer.train_step(data)
        times.append(time.perf_counter() - t)
    _, peak = _memory_now()
    return {"seconds": times, "memory_mb": peak - base}


def measure_data(spec: dict) -> dict:
    dataset = PairDataset(spec["data"], "train")
    n = spec["batch"] * spec["batches"]
    sampler = RandomSampler(dataset, replacement=True, num_samples=n, generator=torch.Generator().manual_seed(0))
    loader = DataLoader(dataset, batch_size=spec["batch"], sampler=sampler, num_workers=2)
    it = iter(loader)
    next(it)  # workers started and warm: the steady state is what training sees
    t = time.perf_counter()
    count = sum(len(b["source_image"]) for b in it)
    return {"seconds": [(time.perf_counter() - t) / max(count, 1) * spec["batch"]], "memory_mb": None}


MEASURES = {"inference": measure_inference, "train": measure_train, "data": measure_data}


def _worker(spec: dict) -> dict:
    torch.set_num_threads(spec["threads"])
    return MEASURES[spec["task"]](spec)


def _run(spec: dict) -> dict:
    """One measurement in a fresh process; {"error": ...} if it failed (e.g. killed out of memory)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(spec["threads"]))
    proc = subprocess.run([sys.executable, "-m", "pona.bench", json.dumps(spec)], capture_output=True,
                          text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return {"error": f"failed ({tail[:120]})"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _max_abs_diff(a_path: str, b_path: str) -> float:
    a, b = torch.load(a_path, weights_only=True), torch.load(b_path, weights_only=True)
    diffs = []
    for key in a:
        xs, ys = (a[key], b[key]) if isinstance(a[key], list) else ([a[key]], [b[key]])
        diffs += [(x - y).abs().max().item() for x, y in zip(xs, ys) if x is not None and y is not None]
    return max(diffs)


# -- the table --------------------------------------------------------------------------------------

@dataclass
class BenchResult:
    machine: dict
    peaks: dict[str, Peak]           # by precision name: "fp32", "bf16"
    gflops_per_image: dict[str, float]
    light: dict
    rows: list[Row] = field(default_factory=list)
    options: dict = field(default_factory=dict)

    def to_json(self) -> str:
        d = asdict(self)
        return json.dumps(d, indent=1)

    def to_text(self) -> str:
        m, o, light = self.machine, self.options, self.light
        matmuls, convs = ", ".join(map(str, o["peak_matmuls"])), ", ".join("x".join(map(str, c)) for c in o["peak_convs"])
        lines = [f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, {m['threads']} thread(s)",
                 capability_line(m),
                 f"ours in {', '.join(o['precisions'])}; the reference in fp32 NCHW"]
        lines += [f"peak {p.precision}: matmul {p.matmul:.1f} / conv(channels_last) {p.conv:.1f} GFLOP/s -> "
                  f"{p.gflop_per_s:.1f}" for p in self.peaks.values()]
        lines += [f"  (the best median of {o['peak_repeats']} over matmul n = {matmuls or '-'} and 3x3 conv C -> C at "
                  f"BxCxHxW = {convs or '-'}; % peak is against the peak of the row's precision)",
                  "generator GFLOPs/image: " + ", ".join(f"{k} {v:.3g}" for k, v in self.gflops_per_image.items()),
                  f"light preset ({light['preset']}: ngf {light['ngf']}, {light['n_blocks']} blocks) at {light['size']}: "
                  f"{light['gflops']:.1f} GFLOPs/image, {light['fraction']:.2f} of the full model's "
                  f"{light['full_gflops']:.1f}", ""]
        head = ("size", "batch", "task", "precision", "img/s", "ref img/s", "x ref", "GFLOP/s", "% peak", "MB",
                "ref MB", "mem/ref", "max|diff|", "note")
        table = [head]
        f = lambda v, fmt: "-" if v is None else format(v, fmt)  # noqa: E731
        for r in self.rows:
            percent = None if r.peak_fraction is None else 100 * r.peak_fraction
            table.append((r.size, str(r.batch), r.task, r.precision or "-", f(r.rate, ".3g"), f(r.ref_rate, ".3g"),
                          f(r.speedup, ".2f"), f(r.gflop_per_s, ".1f"), f(percent, ".0f"), f(r.memory_mb, ".0f"),
                          f(r.ref_memory_mb, ".0f"), f(r.memory_ratio, ".2f"), f(r.max_abs_diff, ".1e"), r.note))
        widths = [max(len(row[i]) for row in table) for i in range(len(head))]
        for i, row in enumerate(table):
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines) + "\n"


def _size_name(size) -> str:
    return f"{size[0]}x{size[1]}"


def _write_data(root: Path, size: tuple[int, int]) -> Path:
    path = root / f"data-{_size_name(size)}"
    if not path.exists():
        # 2 people x 5 poses: 40 pairs, enough for batch 8 and for the loader's random draws
        write_dataset(path, "market" if size[0] <= 128 else "fashion", n_train_ids=2, n_test_ids=0,
                      poses_per_id=5, size=size, seed=0)
    return path


def run_benchmark(options: BenchOptions, progress=None) -> BenchResult:
    """Every measurement of ``options``; ``progress(row)`` is called after each row."""
    precisions = resolve_precisions(options.precisions)  # first: a refused bf16 stops here, at once
    threads = options.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    peaks = {name: measure_peak(name, options.peak_matmuls, options.peak_convs, options.peak_repeats)
             for name in dict.fromkeys(p.name for p in precisions)}
    gflops = {_size_name(s): generator_gflops(s, options.ngf, options.n_blocks) for s in options.sizes}
    full, light = load_config("fashion").model, load_config("fashion-light").model
    full_gflops = generator_gflops(full.image_size, full.ngf, full.n_blocks)
    light_gflops = generator_gflops(light.image_size, light.ngf, light.n_blocks)
    result = BenchResult(
        machine=machine_info(threads), peaks=peaks, gflops_per_image=gflops,
        light={"preset": "fashion-light", "ngf": light.ngf, "n_blocks": light.n_blocks, "size": _size_name(light.image_size),
               "gflops": light_gflops, "full_gflops": full_gflops, "fraction": light_gflops / full_gflops},
        options={**asdict(options), "threads": threads, "precisions": [p.label for p in precisions]})
    available = available_memory_mb()
    with tempfile.TemporaryDirectory(prefix="pona-bench-") as tmp:
        tmp = Path(tmp)
        vgg = _vgg_file(tmp) if any(t.startswith("train") for t in options.tasks) else None
        for size in options.sizes:
            name = _size_name(size)
            data = _write_data(tmp, size) if {"train", "data"} & set(options.tasks) else None
            for batch in options.batches:
                refs: dict = {}
                base = {"size": list(size), "batch": batch, "threads": threads, "repeats": options.repeats,
                        "ngf": options.ngf, "n_blocks": options.n_blocks, "data": str(data), "vgg": str(vgg),
                        "recompute": False, "run_dir": str(tmp / "run")}
                train_rows = []
                tasks = [t for t in options.tasks if t != "data"]
                if "train" in tasks and options.recompute_blocks:
                    tasks.append("train+recompute")
                for task in tasks:
                    for p in precisions:  # side by side: the same task in each precision
                        spec = dict(base, task=task.split("+")[0], recompute=task.endswith("recompute"),
                                    precision=p.name, channels_last=p.channels_last)
                        row = _measure_pair(spec, task, name, batch, gflops[name], peaks[p.name], available, tmp, refs)
                        if task == "train" and row.rate:
                            train_rows.append(row)
                        result.rows.append(row)
                        if progress:
                            progress(row)
                if "data" in options.tasks:
                    # loading does not depend on the precision; it must keep up with the fastest training
                    fastest = max(train_rows, key=lambda r: r.rate, default=None)
                    spec = dict(base, task="data", batches=options.data_batches)
                    r = _run(spec)
                    which = f", {fastest.precision}" if len(precisions) > 1 and fastest else ""
                    note = f"ref = training img/s (ours{which})"
                    row = Row(name, batch, "data", note=r.get("error", note))
                    if "seconds" in r:
                        row.rate = batch / statistics.median(r["seconds"])
                        row.ref_rate = fastest.rate if fastest else None
                        row.speedup = row.rate / row.ref_rate if row.ref_rate else None
                    result.rows.append(row)
                    if progress:
                        progress(row)
    return result


def resolve_precisions(requested: tuple[str, ...]) -> list[Precision]:
    """What each requested name means on this CPU, in order, without repeats; PonaError if refused.

    "fp32" stays NCHW, the reference's layout (``auto`` may pick fp32 channels_last).
    """
    resolved = {}
    for r in requested:
        p = resolve_precision(r, "cpu", channels_last=False if r == "fp32" else None)
        resolved.setdefault(p.label, p)
    return list(resolved.values())


def _measure_pair(spec: dict, task: str, name: str, batch: int, gflops: float, peak: Peak,
                  available: float | None, tmp: Path, refs: dict) -> Row:
    """Ours (attention "auto", in the spec's precision) and the reference ("explicit") for one task,
    size and batch.

    ``refs`` carries the reference's result across precisions and from "train" to
    "train+recompute" (the reference is the released way: fp32 NCHW, nothing recomputed, so it is
    measured once per size, batch and task); a skipped or failed one is kept as its reason, which
    every row that shares it then repeats.
    """
    label = _spec_precision(dict(spec, impl="auto")).label
    row = Row(name, batch, task, label)
    keys = {"ours": (task, "auto", label), "ref": (spec["task"], "explicit")}
    for who, key in keys.items():
        if key not in refs:
            refs[key] = _measure_one(spec, task, who, label, available, tmp)
    ours, ref = refs[keys["ours"]], refs[keys["ref"]]
    notes = [f"{who} {r['error']}" for who, r in (("ours", ours), ("ref", ref)) if "error" in r]
    if "seconds" in ours:
        row.rate = batch / statistics.median(ours["seconds"])
        row.memory_mb = ours["memory_mb"]
        if task == "inference":
            row.gflop_per_s = gflops * row.rate
            row.peak_fraction = row.gflop_per_s / peak.gflop_per_s
    if "seconds" in ref:
        row.ref_rate = batch / statistics.median(ref["seconds"])
        row.ref_memory_mb = ref["memory_mb"]
    if "seconds" in ours and "seconds" in ref:
        row.speedup = row.rate / row.ref_rate
        row.memory_ratio = row.memory_mb / row.ref_memory_mb
        row.max_abs_diff = _max_abs_diff(ours["save"], ref["save"])
        if row.max_abs_diff > 1e-4 and spec["precision"] == "fp32" and not spec["channels_last"]:
            notes.append("OUTPUTS DIFFER > 1e-4")
    row.note = "; ".join(notes)
    return row


def _measure_one(spec: dict, task: str, who: str, label: str, available: float | None, tmp: Path) -> dict:
    """Ours or the reference ("ref"), in its own process: the measurement, or {"error": why not}."""
    explicit = who == "ref"
    size, batch = tuple(spec["size"]), spec["batch"]
    need = estimated_memory_mb(task, size, batch, explicit)
    if available is not None and need > 0.9 * available:
        return {"error": f"skipped: needs ~{need / 1024:.0f} GB, {available / 1024:.0f} GB available"}
    save = str(tmp / f"out-{task}-{'ref' if explicit else label.replace(' ', '-')}.pt")
    r = _run(dict(spec, impl="explicit" if explicit else "auto", save=save))
    return r if "error" in r else dict(r, save=save)


if __name__ == "__main__":  # one measurement: python -m pona.bench SPEC_JSON -> one JSON line
    print(json.dumps(_worker(json.loads(sys.argv[1]))))
