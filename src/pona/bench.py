"""Speed and memory of PoNA on this machine, beside a reference computed in the same run.

``run_benchmark`` (``pona bench``, ``make bench``, ``benchmarks/bench.py``) measures, for each
image size and batch size:

- ``inference``: the generator's forward pass (``torch.inference_mode``), images/s; the FLOPs of
  one image (``torch.utils.flop_counter``: 2 x multiply-adds of every convolution and matrix
  product, attention included, counted once per size on the meta device) times images/s gives
  the achieved GFLOP/s, shown as a fraction of this machine's peak: the median rate of a large
  fp32 matrix product (4096 x 4096) measured at the start of the same run;
- ``train``: one full iteration of ``pona.train.Trainer.train_step`` (the generator step with the
  perceptual VGG-19 loss on random weights, both discriminator steps, Adam), images/s;
- ``data``: ``PairDataset`` with heat maps on the fly through a 2-worker ``DataLoader``, on a small
  synthetic dataset written at that size, samples/s, and its ratio to the training rate.

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

Precision (``precision``, ``pona bench --precision``): "fp32" (the default) runs ours in fp32 NCHW
like the reference; "auto" and "bf16" run ours as :mod:`pona.precision` resolves them (bf16
autocast and channels_last where the CPU has bf16 units) and the peak is then a matrix product in
that dtype. The reference stays fp32 NCHW. ``max_abs_diff`` is flagged only for fp32 NCHW: bf16
rounds more by design, and in channels_last dropout draws its masks in another memory order, so
training losses differ from the first iteration.

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

from .precision import Precision, autocast, cpu_features, resolve_precision, to_layout

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
    peak_size: int = 4096            # side of the square fp32 matrix product that measures peak
    recompute_blocks: bool = False   # also train with run.recompute_blocks (rows "train+recompute")
    precision: str = "fp32"          # "ours" in this precision (pona.precision); the reference stays fp32

    def __post_init__(self):
        if self.repeats < 1 or min(self.batches) < 1 or self.threads < 0:
            raise ValueError("repeats and batches must be >= 1, threads >= 0")


@dataclass
class Row:
    size: str
    batch: int
    task: str                        # "inference" | "train" | "train+recompute" | "data"
    rate: float | None = None        # images/s (inference, train) or samples/s (data)
    ref_rate: float | None = None    # the reference's images/s; for data: the training rate
    speedup: float | None = None     # rate / ref_rate
    gflop_per_s: float | None = None
    peak_fraction: float | None = None
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
    return {"cpu": model, "cores": os.cpu_count(), "torch": torch.__version__, "threads": threads,
            "python": platform.python_version(), "cpu_features": sorted(cpu_features())}


def peak_gflops(n: int = 4096, repeats: int = 5, dtype: torch.dtype = torch.float32) -> tuple[float, list[float]]:
    """Median GFLOP/s of an n x n matrix product in ``dtype`` (2 n^3 FLOPs), and every sample."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g).to(dtype), torch.randn(n, n, generator=g).to(dtype)
    a @ b  # warm-up: thread pool, page faults
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        rates.append(2 * n**3 / (time.perf_counter() - t) / 1e9)
    return statistics.median(rates), rates


def generator_gflops(size: tuple[int, int], ngf: int = 64, n_blocks: int = 3) -> float:
    """GFLOPs of one image through the generator (2 x multiply-adds), counted on the meta device."""
    from torch.utils.flop_counter import FlopCounterMode

    from .models import Generator, GeneratorConfig

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
            if name.rsplit(".", 1)[-1] in ("gamma", "beta"):
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
    from .models import Generator, GeneratorConfig

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
    from .models.vgg import VGG19Features

    path = directory / "vgg19-random.pth"
    if not path.exists():
        torch.manual_seed(0)
        torch.save(VGG19Features().state_dict(), path)
    return path


def measure_train(spec: dict) -> dict:
    from torch.utils.data import DataLoader

    from .train.config import load_config
    from .train.trainer import Trainer

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
    from torch.utils.data import DataLoader, RandomSampler

    from .data.dataset import PairDataset

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
    peak_gflop_per_s: float
    peak_samples: list[float]
    gflops_per_image: dict[str, float]
    light: dict
    rows: list[Row] = field(default_factory=list)
    options: dict = field(default_factory=dict)

    def to_json(self) -> str:
        d = asdict(self)
        return json.dumps(d, indent=1)

    def to_text(self) -> str:
        m = self.machine
        precision = self.options.get("precision", "fp32 NCHW")
        lines = [f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, {m['threads']} thread(s), "
                 f"CPU features: {' '.join(m.get('cpu_features', [])) or 'none of avx2/avx512/bf16/amx'}",
                 f"ours in {precision}; the reference in fp32 NCHW",
                 f"peak: {self.peak_gflop_per_s:.1f} GFLOP/s ({precision.split()[0]} {self.options.get('peak_size')}^2 "
                 f"matrix product, median of {len(self.peak_samples)})",
                 "generator GFLOPs/image: " + ", ".join(f"{k} {v:.3g}" for k, v in self.gflops_per_image.items()),
                 f"light preset ({self.light['preset']}: ngf {self.light['ngf']}, {self.light['n_blocks']} blocks) at "
                 f"{self.light['size']}: {self.light['gflops']:.1f} GFLOPs/image, {self.light['fraction']:.2f} of the full "
                 f"model's {self.light['full_gflops']:.1f}", ""]
        head = ("size", "batch", "task", "img/s", "ref img/s", "x ref", "GFLOP/s", "% peak", "MB", "ref MB",
                "mem/ref", "max|diff|", "note")
        table = [head]
        f = lambda v, fmt: "-" if v is None else format(v, fmt)  # noqa: E731
        for r in self.rows:
            table.append((r.size, str(r.batch), r.task, f(r.rate, ".3g"), f(r.ref_rate, ".3g"), f(r.speedup, ".2f"),
                          f(r.gflop_per_s, ".1f"), f(None if r.peak_fraction is None else 100 * r.peak_fraction, ".0f"),
                          f(r.memory_mb, ".0f"), f(r.ref_memory_mb, ".0f"), f(r.memory_ratio, ".2f"),
                          f(r.max_abs_diff, ".1e"), r.note))
        widths = [max(len(row[i]) for row in table) for i in range(len(head))]
        for i, row in enumerate(table):
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines) + "\n"


def _size_name(size) -> str:
    return f"{size[0]}x{size[1]}"


def _write_data(root: Path, size: tuple[int, int]) -> Path:
    from .data.synth import write_dataset

    path = root / f"data-{_size_name(size)}"
    if not path.exists():
        # 2 people x 5 poses: 40 pairs, enough for batch 8 and for the loader's random draws
        write_dataset(path, "market" if size[0] <= 128 else "fashion", n_train_ids=2, n_test_ids=0,
                      poses_per_id=5, size=size, seed=0)
    return path


def run_benchmark(options: BenchOptions, progress=None) -> BenchResult:
    """Every measurement of ``options``; ``progress(row)`` is called after each row."""
    from .train.config import load_config

    threads = options.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    precision = resolve_precision(options.precision, "cpu", channels_last=False if options.precision == "fp32" else None)
    peak, samples = peak_gflops(options.peak_size, dtype=precision.dtype or torch.float32)
    gflops = {_size_name(s): generator_gflops(s, options.ngf, options.n_blocks) for s in options.sizes}
    full, light = load_config("fashion").model, load_config("fashion-light").model
    full_gflops = generator_gflops(full.image_size, full.ngf, full.n_blocks)
    light_gflops = generator_gflops(light.image_size, light.ngf, light.n_blocks)
    result = BenchResult(
        machine=machine_info(threads), peak_gflop_per_s=peak, peak_samples=samples, gflops_per_image=gflops,
        light={"preset": "fashion-light", "ngf": light.ngf, "n_blocks": light.n_blocks, "size": _size_name(light.image_size),
               "gflops": light_gflops, "full_gflops": full_gflops, "fraction": light_gflops / full_gflops},
        options={**asdict(options), "peak_size": options.peak_size, "threads": threads,
                 "precision": precision.label})
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
                        "recompute": False, "run_dir": str(tmp / "run"),
                        "precision": precision.name, "channels_last": precision.channels_last}
                train_rate = None
                tasks = [t for t in options.tasks if t != "data"]
                if "train" in tasks and options.recompute_blocks:
                    tasks.append("train+recompute")
                for task in tasks:
                    spec = dict(base, task=task.split("+")[0], recompute=task.endswith("recompute"))
                    row = _measure_pair(spec, task, name, batch, gflops[name], peak, available, tmp, refs)
                    if task == "train":
                        train_rate = row.rate
                    result.rows.append(row)
                    if progress:
                        progress(row)
                if "data" in options.tasks:
                    spec = dict(base, task="data", batches=options.data_batches)
                    r = _run(spec)
                    row = Row(name, batch, "data", note=r.get("error", "ref = training img/s (ours)"))
                    if "seconds" in r:
                        row.rate = batch / statistics.median(r["seconds"])
                        row.ref_rate = train_rate
                        row.speedup = row.rate / train_rate if train_rate else None
                    result.rows.append(row)
                    if progress:
                        progress(row)
    return result


def _measure_pair(spec: dict, task: str, name: str, batch: int, gflops: float, peak: float,
                  available: float | None, tmp: Path, refs: dict) -> Row:
    """Ours (attention "auto") and the reference ("explicit") for one task, size and batch.

    ``refs`` carries the reference's result from "train" to "train+recompute" (the reference is
    the released way: nothing recomputed, so it is measured once).
    """
    row = Row(name, batch, task)
    size = tuple(spec["size"])
    notes = []
    for impl in ("auto", "explicit"):
        key = (spec["task"], impl) if impl == "explicit" else (task, impl)
        if key in refs:
            continue
        who = "ref" if impl == "explicit" else "ours"
        need = estimated_memory_mb(task, size, batch, impl == "explicit")
        if available is not None and need > 0.9 * available:
            notes.append(f"{who} skipped: needs ~{need / 1024:.0f} GB, {available / 1024:.0f} GB available")
            refs[key] = None
            continue
        save = str(tmp / f"out-{task}-{impl}.pt")
        r = _run(dict(spec, impl=impl, save=save))
        if "error" in r:
            notes.append(f"{who} {r['error']}")
            refs[key] = None
        else:
            refs[key] = dict(r, save=save)
    ours, ref = refs.get((task, "auto")), refs.get((spec["task"], "explicit"))
    if ours:
        row.rate = batch / statistics.median(ours["seconds"])
        row.memory_mb = ours["memory_mb"]
        if task == "inference":
            row.gflop_per_s = gflops * row.rate
            row.peak_fraction = row.gflop_per_s / peak
    if ref:
        row.ref_rate = batch / statistics.median(ref["seconds"])
        row.ref_memory_mb = ref["memory_mb"]
    if ours and ref:
        row.speedup = row.rate / row.ref_rate
        row.memory_ratio = row.memory_mb / row.ref_memory_mb
        row.max_abs_diff = _max_abs_diff(ours["save"], ref["save"])
        if row.max_abs_diff > 1e-4 and spec["precision"] == "fp32" and not spec["channels_last"]:
            notes.append("OUTPUTS DIFFER > 1e-4")
    row.note = "; ".join(notes)
    return row


if __name__ == "__main__":  # one measurement: python -m pona.bench SPEC_JSON -> one JSON line
    print(json.dumps(_worker(json.loads(sys.argv[1]))))
