"""A/B timing of one training step, interleaved: two checkouts of pona, or two sets of overrides.

This machine's speed drifts between runs (by up to ~15% within minutes), so a change of a few
percent is invisible in two runs one after the other. Here two worker processes, A and B, each
build a ``Trainer`` on the same small synthetic set and take turns: A times ``--steps`` steps
while B waits, then B, for ``--rounds`` rounds. Drift hits both alike; the medians and their
ratio are what to compare.

    python benchmarks/step.py --a-src ../old/src                       # a checkout of before vs this one
    python benchmarks/step.py --b discriminator.dropout=0              # a lever, same code
    python benchmarks/step.py --preset synth-market --batch 16 --threads 2

Each step is a whole ``Trainer.train_step`` with the adversarial term on (``loss.gan_start=0``),
the batch from the loader included, in the precision ``auto`` picks, built by
``precision.py``'s helpers on its small training set (so a checkout given by ``--a-src`` must be
recent enough for that script's imports). Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PRESETS = ("synth-studio", "synth-market")


def worker(args) -> None:
    """One side: build the trainer, warm up, then time --steps steps per "go" line on stdin."""
    import torch
    from precision import warmed_up_trainer

    import pona

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer, stream = warmed_up_trainer(args.preset, Path(args.data), args.batch, Path(run_dir),
                                            ["run.amp=auto", "run.channels_last=auto", *args.overrides])
        print(json.dumps({"ready": f"{Path(pona.__file__).parent.parent}, {trainer.precision}"}), flush=True)
        for _ in sys.stdin:
            times = []
            for _ in range(args.steps):
                t = time.perf_counter()
                trainer.train_step(next(stream))
                times.append(time.perf_counter() - t)
            print(json.dumps({"times": times}), flush=True)


def start(side: str, src: str | None, overrides: list[str], args, data: Path) -> subprocess.Popen:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = str(Path(src).resolve())
    cmd = [sys.executable, __file__, "--worker", "--data", str(data), "--preset", args.preset, "--batch",
           str(args.batch), "--threads", str(args.threads), "--steps", str(args.steps), *overrides]
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line:
        sys.exit(f"side {side} failed to start (see its error above)")
    print(f"{side}: pona from {json.loads(line)['ready']}; overrides: {' '.join(overrides) or 'none'}")
    return p


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a-src", help="the src/ directory of side A (default: the installed pona)")
    ap.add_argument("--b-src", help="the src/ directory of side B (default: the installed pona)")
    ap.add_argument("--a", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of side A")
    ap.add_argument("--b", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of side B")
    ap.add_argument("--preset", default="synth-studio", choices=PRESETS)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=15, help="steps per side per round")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--data", help="(worker) the dataset")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args, rest = ap.parse_known_args(argv)
    if args.worker:
        args.overrides = rest
        return worker(args)
    if rest:
        ap.error(f"unrecognised arguments: {' '.join(rest)}")

    from precision import step_data

    with tempfile.TemporaryDirectory() as tmp:
        data = step_data(args.preset, Path(tmp))
        sides = {"A": start("A", args.a_src, args.a, args, data), "B": start("B", args.b_src, args.b, args, data)}
        times = {"A": [], "B": []}
        for _ in range(args.rounds):
            for name, p in sides.items():
                p.stdin.write("go\n"), p.stdin.flush()
                times[name] += json.loads(p.stdout.readline())["times"]
        for p in sides.values():
            p.stdin.close(), p.wait()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{args.preset}, batch {args.batch}, {args.threads} threads: median of {args.rounds} x {args.steps} steps per side")
    print("| side | ms/step | img/s |\n|---|---:|---:|")
    for k in ("A", "B"):
        print(f"| {k} | {1000 * med[k]:.1f} | {args.batch / med[k]:.1f} |")
    print(f"B/A speed: {med['A'] / med['B']:.3f}x")


if __name__ == "__main__":
    main()
