"""Make the checkpoints that ship with pona (``pona demo --pretrained``, ``pona serve --checkpoint pretrained``).

    python benchmarks/pretrain.py --scene studio --iterations 20000 --out runs/pretrained-studio
    python benchmarks/pretrain.py --scene street --iterations 6000 --out runs/pretrained-market

renders ``pona demo``'s synthetic data for the scene (same seed and sizes), trains the scene's
preset (``synth-studio`` or ``synth-market``) for a fixed number of iterations, and copies the
final generator (the weight average, as the learning benchmark scores it) and its training log
into ``src/pona/assets/``, named after the preset (``synth-studio.safetensors`` /
``synth-market.safetensors``, each with its ``.metrics.jsonl``). Resumable: run it again with
the same --out to continue an interrupted run (keep --out outside the work tree if it must
outlive a session); ``--minutes`` stops a session earlier, with a checkpoint.

    python benchmarks/pretrain.py --scene street --budget 90 --out runs/pretrained-market

trains for a wall-clock budget instead: as many iterations as the CPU gives in 90 minutes, the
learning rate annealed to 0 over the last quarter of it (``optim.time_decay``), then packages
the result. A budget run is not resumable (its schedule is the clock).

    python benchmarks/pretrain.py --preset synth-studio-256 --budget 128 --out runs/pretrained-studio-256

trains another preset on the scene's people at that preset's image size (here the studio at
256x176) and writes it under the preset's name (``synth-studio-256.safetensors``, loaded as
``pretrained-studio-256``: pona loads a packaged file by the name ``pona.models.io.PRETRAINED``
gives it).

    python benchmarks/pretrain.py --scene street --from-run bench/learn/runs/pona

packages a run that is already trained on the same data instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

from pona.demo import SCENES, DemoOptions, make_data, training_preset
from pona.models.io import load_generator, save_generator
from pona.train.config import load_config
from pona.train.trainer import Trainer

ASSETS = Path(__file__).resolve().parent.parent / "src" / "pona" / "assets"
TIME_DECAY = 0.25  # --budget runs: the share of the budget over which the learning rate anneals to 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scene", choices=list(SCENES), default="studio")
    p.add_argument("--preset", help="training preset (default: the scene's); its image size sets the data's, and "
                   "the packaged file is named after it (pona loads it by name once PRETRAINED lists it)")
    p.add_argument("--out", type=Path, help="run folder (default: runs/pretrained-SCENE)")
    p.add_argument("--iterations", type=int, default=6000, help="total iterations of the run")
    p.add_argument("--minutes", type=float, help="stop this session after so many minutes (resume later)")
    p.add_argument("--budget", type=float, metavar="MINUTES", help="train for this wall-clock budget instead of "
                   "--iterations, lr annealed over its last quarter (optim.time_decay), then package")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--from-run", type=Path, help="package this trained run directory instead of training")
    p.add_argument("overrides", nargs="*", help="extra section.key=value training overrides")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    opts = DemoOptions(out=args.out or Path(f"runs/pretrained-{args.scene}"), scene=args.scene, preset=args.preset,
                       seed=args.seed)
    stem = training_preset(opts)

    run = args.from_run
    if run is None:
        out = opts.out
        data = make_data(opts)
        run = out / "run"
        resume = (run / "config.yaml").is_file()
        if resume and args.budget is not None:
            raise SystemExit(f"error: {run} exists: a --budget run cannot be resumed (its learning rate follows the "
                             f"clock); package it with --from-run {run}, or choose another --out")
        # a budget run: no iteration limit of its own, the clock ends (and anneals) it
        iterations = 10**8 if args.budget is not None else args.iterations
        config = load_config(training_preset(opts), [
            f"data.root={data.resolve()}", f"run.seed={args.seed}", "run.amp=auto", "run.channels_last=auto",
            f"optim.constant_iterations={iterations}", "optim.decay_iterations=0",
            *([f"optim.time_decay={TIME_DECAY}"] if args.budget is not None else []), *args.overrides])
        summary = Trainer(config, run, resume=resume).train(max_minutes=args.budget or args.minutes)
        finished = "max_minutes" if args.budget is not None else "done"
        if summary["stopped"] != finished:
            print(f"stopped at iteration {summary['iteration']} ({summary['stopped']}): run the same command "
                  f"again to continue; nothing packaged yet")
            return
    iterations = max(json.loads(line).get("iteration", 0) for line in (run / "metrics.jsonl").read_text().splitlines())

    ASSETS.mkdir(parents=True, exist_ok=True)
    model = load_generator(run / "generator.safetensors")  # the last one, as the learning benchmark scores it
    target = ASSETS / f"{stem}.safetensors"
    save_generator(model, target, metadata={"trained_on": f"pona synthetic people ({args.scene} scene, pona demo "
                                                          f"data, seed {args.seed})", "iterations": iterations,
                                               **({"minutes": args.budget} if args.budget is not None else {})})
    shutil.copyfile(run / "metrics.jsonl", target.with_suffix(".metrics.jsonl"))
    print(f"wrote {target} ({target.stat().st_size / 2**20:.1f} MB) and {target.with_suffix('.metrics.jsonl')}")


if __name__ == "__main__":
    main()
