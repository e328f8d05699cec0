"""Make the pretrained checkpoint that ships with pona (``pona demo --pretrained``, ``pona serve``).

    python benchmarks/pretrain.py --iterations 6000 --out runs/pretrained

renders the demo's synthetic data (same seed and sizes as ``pona demo``), trains the ``synth-market``
preset for a fixed number of iterations, and copies the final generator and its
training log into ``src/pona/assets/`` (``synth-market.safetensors``, ``synth-market.metrics.jsonl``).
Resumable: run it again with the same --out to continue an interrupted run.

    python benchmarks/pretrain.py --from-run bench/learn/runs/pona

packages a run that is already trained on the same data instead (the learning benchmark's PoNA run
is one: ``benchmarks/learn.py`` trains on ``pona demo``'s data).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

from pona.demo import PRETRAINED_METRICS, DemoOptions, make_data
from pona.models.io import PRETRAINED_FILE as PRETRAINED
from pona.models.io import load_generator, save_generator
from pona.train.config import load_config
from pona.train.trainer import Trainer

ASSETS = Path(__file__).resolve().parent.parent / "src" / "pona" / "assets"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/pretrained"))
    p.add_argument("--iterations", type=int, default=6000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--from-run", type=Path, help="package this trained run directory instead of training")
    p.add_argument("overrides", nargs="*", help="extra section.key=value training overrides")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    run = args.from_run
    if run is None:
        opts = DemoOptions(out=args.out, seed=args.seed)
        data = make_data(opts)
        run = args.out / "run"
        resume = (run / "config.yaml").is_file()
        config = load_config(opts.preset, [f"data.root={data}", f"run.seed={args.seed}",
                                           f"optim.constant_iterations={args.iterations}", "optim.decay_iterations=0",
                                           *args.overrides])
        Trainer(config, run, resume=resume).train()
    iterations = max(json.loads(line).get("iteration", 0) for line in (run / "metrics.jsonl").read_text().splitlines())

    ASSETS.mkdir(parents=True, exist_ok=True)
    model = load_generator(run / "generator.safetensors")  # the last one, as the learning benchmark scores it
    save_generator(model, ASSETS / PRETRAINED, metadata={"trained_on": "pona synthetic people (pona demo data, seed "
                                                        f"{args.seed})", "iterations": iterations})
    shutil.copyfile(run / "metrics.jsonl", ASSETS / PRETRAINED_METRICS)
    size = (ASSETS / PRETRAINED).stat().st_size / 2**20
    print(f"wrote {ASSETS / PRETRAINED} ({size:.1f} MB) and {ASSETS / PRETRAINED_METRICS}")


if __name__ == "__main__":
    main()
