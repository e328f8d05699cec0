"""bf16 against fp32 on this CPU: how far the images move, and how much faster they come.

    python benchmarks/precision.py --threads 2 --pairs 32 --repeats 5 --train

1. Faithfulness: the packaged checkpoint (``--checkpoint``, default ``pretrained-market``, 128x64)
   on ``--pairs`` held-out synthetic pairs (people 201.. of the demo's seed, never in its training
   set of people 1-200; pose k -> k+1 of each person), once in fp32 and once in bf16, same
   weights: PSNR between the two 8-bit outputs (pooled MSE over all pairs, and the worst pair),
   the largest 8-bit difference, and each one's PSNR against the real target image.
2. Speed: generator inference, batch 1, s/img (median of ``--repeats`` after one warm-up) in
   fp32 NCHW, fp32 channels_last and bf16 channels_last, at 128x64 with the packaged model
   (ngf 16) and at 256x176 with the released size (ngf 64, 3 blocks, random weights, attention
   gates opened so that attention costs what it costs).

3. Training speed of the small presets (``--train``): one whole ``Trainer.train_step`` (generator,
   both discriminators, losses, three Adam steps, the batch from the data loader), images/s
   (median of ``--train-steps`` after 5 warm-up steps) of ``synth-studio`` (64x44, the demo) and
   ``synth-market`` (128x64), batch 4 (the presets') and 16, in each precision, with the
   adversarial term on from the first step. The ratio is to fp32 NCHW at batch 4, which is how
   these presets trained before ``run.amp``/``run.channels_last`` became ``auto``.

bf16 rows need a CPU with AVX512-BF16 or AMX (pona.precision refuses bf16 elsewhere); they print
"-" otherwise. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pona.bench import machine_info
from pona.data.dataset import to_uint8
from pona.data.synth import example, write_dataset
from pona.errors import PonaError
from pona.inference import PoNA
from pona.metrics.psnr import psnr
from pona.models import Generator, GeneratorConfig
from pona.models.io import load_generator
from pona.precision import cpu_features, resolve_precision
from pona.train.config import load_config
from pona.train.trainer import Trainer

FIRST_HELD_OUT = 201  # the demo trains on people 1-200 (DemoOptions.train_ids) of seed 0
POSES = 4             # per person: pairs k -> k + 1 (mod 4), 4 per person


def held_out_pairs(n: int, size: tuple[int, int], seed: int = 0):
    """``n`` (condition image, target image, source keypoints, target keypoints) of unseen people."""
    pairs = []
    for p in range((n + POSES - 1) // POSES):
        shots = [example(seed, FIRST_HELD_OUT + p, k, "market", size) for k in range(POSES)]
        pairs += [(shots[k].image, shots[(k + 1) % POSES].image, shots[k].keypoints, shots[(k + 1) % POSES].keypoints)
                  for k in range(POSES)]
    return pairs[:n]


def outputs(model: PoNA, pairs) -> list[np.ndarray]:
    return [to_uint8(model.generate(cond, src, dst)[0]) for cond, _, src, dst in pairs]


def faithfulness(generator, pairs) -> dict:
    fp32 = outputs(PoNA(copy.deepcopy(generator), precision=resolve_precision("fp32", "cpu")), pairs)
    bf16 = outputs(PoNA(copy.deepcopy(generator), precision=resolve_precision("bf16", "cpu")), pairs)
    a, b = np.stack(fp32).astype(np.float64), np.stack(bf16).astype(np.float64)
    mse = float(np.mean((a - b) ** 2))
    targets = [t for _, t, _, _ in pairs]
    return {
        "pairs": len(pairs),
        "psnr_bf16_vs_fp32_db": round(10 * np.log10(255.0**2 / mse), 2) if mse else float("inf"),
        "worst_pair_psnr_db": round(min(psnr(x, y) for x, y in zip(fp32, bf16)), 2),
        "max_abs_diff_8bit": int(np.abs(a - b).max()),
        "pixels_differing": round(float(np.mean(a != b)), 4),
        "psnr_vs_target_fp32_db": round(statistics.mean(psnr(t, x) for t, x in zip(targets, fp32)), 3),
        "psnr_vs_target_bf16_db": round(statistics.mean(psnr(t, x) for t, x in zip(targets, bf16)), 3),
    }


def seconds_per_image(generator, precision, size: tuple[int, int], repeats: int) -> float:
    model = PoNA(copy.deepcopy(generator), precision=precision)
    h, w = size
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, h, w, generator=g) * 2 - 1
    s, d = torch.rand(1, 18, h, w, generator=g), torch.rand(1, 18, h, w, generator=g)
    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        model.run(x, s, d)
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def step_data(preset: str, root: Path) -> Path:
    """The small set the step timings train on, under ``root/preset`` (written once): 4 people x 8
    poses of the preset's scene at its image size, 224 training pairs, enough for batch 16."""
    data = root / preset
    if not data.exists():
        write_dataset(data, "fashion" if preset == "synth-studio" else "market", n_train_ids=4, n_test_ids=1,
                      poses_per_id=8, size=tuple(load_config(preset).model.image_size), seed=0)
    return data


def warmed_up_trainer(preset: str, data: Path, batch: int, run_dir: Path, overrides: list[str]):
    """A ``Trainer`` of ``preset`` on ``data`` with the adversarial term on from the start, after 5
    warm-up steps, and its batch stream: ``(trainer, stream)``."""
    config = load_config(preset, [f"data.root={data}", f"optim.batch_size={batch}", "loss.gan_start=0",
                                  "run.progress=false", "run.val_every=0", *overrides])
    trainer = Trainer(config, run_dir / "run")
    stream = trainer.batches(0)
    for _ in range(5):
        trainer.train_step(next(stream))
    return trainer, stream


def training_images_per_second(preset: str, data: Path, batch: int, precision, steps: int) -> float:
    """Images/s of ``Trainer.train_step`` on ``data``: the median step after 5 warm-up steps."""
    amp = "none" if precision.dtype is None else precision.name
    with tempfile.TemporaryDirectory() as run_dir:
        trainer, stream = warmed_up_trainer(preset, data, batch, Path(run_dir),
                                            [f"run.amp={amp}", f"run.channels_last={str(precision.channels_last).lower()}"])
        times = []
        for _ in range(steps):
            t = time.perf_counter()
            trainer.train_step(next(stream))  # the loader's time counts: it is part of every iteration
            times.append(time.perf_counter() - t)
    return batch / statistics.median(times)


def training_speed(variants: dict, steps: int, root: Path) -> list[dict]:
    rows = []
    for preset in ("synth-studio", "synth-market"):
        data = step_data(preset, root)
        h, w = load_config(preset).model.image_size
        for batch in (4, 16):
            row = {"preset": preset, "size": f"{h}x{w}", "batch": batch}
            for v, p in variants.items():
                row[v] = None if p is None else round(training_images_per_second(preset, data, batch, p, steps), 2)
            rows.append(row)
    return rows


def print_table(head: list[str], table: list[list[str]]) -> None:
    table = [head] + table
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for i, row in enumerate(table):
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))


def released_size_generator() -> Generator:
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(ngf=64, n_blocks=3, image_size=(256, 176))).eval()
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.rsplit(".", 1)[-1] in ("gamma", "beta"):
                p.fill_(0.5)
    return G


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default="pretrained-market", help="a 128x64 generator (default: the packaged one)")
    ap.add_argument("--pairs", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train", action="store_true", help="also measure training speed of the small presets")
    ap.add_argument("--train-steps", type=int, default=20)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    packaged = load_generator(args.checkpoint)
    cfg = packaged.config
    info = machine_info(args.threads)
    print(f"machine: {info['cpu']}, torch {info['torch']}, {args.threads} thread(s); "
          f"CPU features: {' '.join(sorted(cpu_features())) or 'none'}; auto = {resolve_precision('auto', 'cpu')}")
    try:
        bf16 = resolve_precision("bf16", "cpu")
    except PonaError as e:
        bf16 = None
        print(f"bf16 not measured: {e}")

    result = {"machine": info, "checkpoint": args.checkpoint}
    if bf16 is not None:
        size = tuple(cfg.image_size)
        result["faithfulness"] = f = faithfulness(packaged, held_out_pairs(args.pairs, size))
        print(f"\nbf16 vs fp32 on the same weights ({args.checkpoint}, {size[0]}x{size[1]}, {f['pairs']} held-out pairs):")
        print(f"  PSNR between the 8-bit outputs: {f['psnr_bf16_vs_fp32_db']} dB (worst pair {f['worst_pair_psnr_db']} dB); "
              f"max |diff| {f['max_abs_diff_8bit']}/255; {100 * f['pixels_differing']:.1f}% of values differ")
        print(f"  PSNR against the real target: fp32 {f['psnr_vs_target_fp32_db']} dB, bf16 {f['psnr_vs_target_bf16_db']} dB")

    variants = {"fp32 NCHW": resolve_precision("fp32", "cpu", channels_last=False),
                "fp32 channels_last": resolve_precision("fp32", "cpu", channels_last=True),
                "bf16 channels_last": bf16}
    models = {f"{cfg.image_size[0]}x{cfg.image_size[1]} ngf{cfg.ngf}": (packaged, tuple(cfg.image_size)),
              "256x176 ngf64": (released_size_generator(), (256, 176))}
    rows = []
    for name, (G, size) in models.items():
        times = {v: None if p is None else seconds_per_image(G, p, size, args.repeats) for v, p in variants.items()}
        rows.append({"model": name, **{v: None if t is None else round(t, 4) for v, t in times.items()}})
    result["seconds_per_image_batch1"] = rows

    print(f"\ninference, batch 1, s/img (median of {args.repeats}; x = speed-up over fp32 NCHW):")
    print_table(["model", *variants],
                [[r["model"]] + ["-" if r[v] is None else f"{r[v]:.4f} ({r['fp32 NCHW'] / r[v]:.2f}x)" for v in variants]
                 for r in rows])

    if args.train:
        with tempfile.TemporaryDirectory() as root:
            result["training_images_per_second"] = rows = training_speed(variants, args.train_steps, Path(root))
        print(f"\ntraining, img/s (Trainer.train_step, median of {args.train_steps}; x = over fp32 NCHW at batch 4):")
        base = {r["preset"]: r["fp32 NCHW"] for r in rows if r["batch"] == 4}
        print_table(["preset", "size", "batch", *variants],
                    [[r["preset"], r["size"], str(r["batch"])]
                     + ["-" if r[v] is None else f"{r[v]:.1f} ({r[v] / base[r['preset']]:.2f}x)" for v in variants]
                     for r in rows])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
