"""The learning benchmark: does PoNA learn pose transfer on synthetic people, and beat its ablation?

On ``pona demo --scene street``'s synthetic Market-sized people (128x64; ``--scene studio``: the
studio people at the synth-studio preset's 64x44), train generators for the same budget
with the ``synth-market`` preset (ngf 16, batch 4, constant lr, the generator's weight average
exported): PoNA, PoNA without the cross-modal attention (the paper's "w/o Cro.", Table IV), PATN
(9 blocks) at the same width, and PoNA light (2 blocks at half width, the reduction of the
``fashion-light`` preset). Then evaluate each on held-out test identities, beside copying the
condition image:

    SSIM        field's legacy SSIM (Gaussian window 1.5, data range of the generated image)
    mask-SSIM   the same on images multiplied by the Market body mask of the target pose
    PSNR        dB, uint8
    L1          mean absolute error with both images on [-1, 1] (PATN's l1_score), in [0, 2]
    ΔE          pona's colour diagnostic (pona.metrics.colour): CIE76 distance of the mean CIELAB
                colours of target and generated, worst of torso and legs; median over the pairs
    right       share of pairs with ΔE < 15: the clothes' colours transferred

Prints a table and writes ``<out>/learn.json``. Not a test. Arms can run as separate processes
(``--models``, one thread each) into one ``--out``; their results are merged:

    python benchmarks/learn.py --iterations 1500 --threads 1 --out bench/learn --models PoNA
    python benchmarks/learn.py --minutes 30 --out bench/learn          # every arm, a time budget each

Learning curves: ``--budgets 1500 3000 6000`` trains each arm once, at a constant learning rate,
and scores it when it reaches each budget (a stopped run continues from its last checkpoint):

    python benchmarks/learn.py --scene studio --budgets 1500 3000 6000 --threads 1 --models PATN --out bench/curves

Quick end-to-end check:

    python benchmarks/learn.py --minutes 1 --eval-pairs 64 --out /tmp/learn
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from pona.data.dataset import PairDataset, to_uint8
from pona.demo import SCENES
from pona.masks import market_mask
from pona.models.io import load_generator
from pona.train.config import load_config
from pona.metrics.colour import colour_error, colour_summary
from pona.metrics.psnr import l1_legacy, psnr
from pona.metrics.ssim import apply_mask, ssim_legacy
from pona.train.trainer import Trainer

MODELS = {  # name -> config overrides on top of the preset
    "PoNA": [],
    "w/o Cro.": ["model.cross_attention=false"],
    "PATN": ["model.arch=patn", "model.n_blocks=9"],
    # the light configuration's reduction (configs/fashion-light.yaml: 2 blocks, half the width;
    # the discriminators are halved too here, unlike that preset)
    "PoNA light": ["model.n_blocks=2", "model.ngf=8", "discriminator.ndf=8"],
}


def synthetic_data(root: Path, seed: int, scene: str, preset: str) -> Path:
    """``pona demo --scene SCENE``'s synthetic people at the preset's size (200 training and 20
    held-out identities, 8 poses each; written once, then reused), so that a PoNA run can also be
    packaged (benchmarks/pretrain.py --from-run)."""
    from pona.demo import DemoOptions, make_data

    return make_data(DemoOptions(out=root.parent, seed=seed, scene=scene, preset=preset))


def evaluate(generated_fn, dataset: PairDataset, indices: list[int]) -> dict:
    """Mean SSIM, mask-SSIM, PSNR, L1, and the colour diagnostic, over ``indices`` of the test pairs;
    generated_fn(items) -> uint8 images."""
    scores, colour = [], []
    for start in range(0, len(indices), 16):
        items = [dataset[i] for i in indices[start:start + 16]]
        for item, gen in zip(items, generated_fn(items)):
            target = to_uint8(item["target_image"])
            h, w = target.shape[:2]
            kp = item["target_keypoints"].numpy()
            mask = market_mask(kp, h, w)
            scores.append((ssim_legacy(target, gen), ssim_legacy(apply_mask(target, mask), apply_mask(gen, mask)),
                           psnr(target, gen), l1_legacy(target, gen)))
            colour.append(colour_error(target, gen, kp))
    s, c = np.array(scores), colour_summary(colour)
    return {"ssim": float(s[:, 0].mean()), "mask_ssim": float(s[:, 1].mean()), "psnr": float(s[:, 2].mean()),
            "l1": float(s[:, 3].mean()), "colour_de": c["colour_de"], "colour_right": c["colour_right"],
            "pairs": len(s)}


def colour_cells(r: dict) -> str:
    """The ΔE and colours-right columns (blank for results saved before they were measured)."""
    return (f"{r['colour_de']:6.1f} {r['colour_right']:6.4f}" if "colour_de" in r else f"{'':6s} {'':6s}")


def generator_fn(run_dir: Path):
    G = load_generator(run_dir)

    @torch.no_grad()
    def generate(items):
        x = {k: torch.stack([it[k] for it in items]) for k in ("source_image", "source_maps", "target_maps")}
        out = G(x["source_image"], x["source_maps"], x["target_maps"])
        return [to_uint8(o) for o in out]

    return generate, sum(p.numel() for p in G.parameters())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("bench/learn"))
    p.add_argument("--data", type=Path, help="PATN-layout dataset (default: synthesise one under OUT/data)")
    p.add_argument("--minutes", type=float, default=30.0, help="wall-clock training budget per model")
    p.add_argument("--iterations", type=int, help="an iteration budget per model instead of minutes")
    p.add_argument("--budgets", type=int, nargs="+",
                   help="a learning curve: score each model at each of these iteration counts (one run each)")
    p.add_argument("--scene", choices=list(SCENES), default="street",
                   help="the synthetic data when --data is not given: pona demo's street or studio people")
    p.add_argument("--preset", help="training preset (default: synth-market for street, synth-studio for studio)")
    p.add_argument("--eval-pairs", type=int, default=500, help="held-out pairs evaluated (evenly spread)")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("overrides", nargs="*", help="extra section.key=value config overrides for every model")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)

    args.preset = args.preset or SCENES[args.scene][1]
    data = args.data or synthetic_data(args.out / "data", args.seed, args.scene, args.preset)
    if args.budgets and (args.iterations or any(b < 1 for b in args.budgets)):
        p.error("--budgets takes positive iteration counts and replaces --iterations")
    budgets = sorted(set(args.budgets or []))
    # a curve runs at a constant rate to its last budget, so each point is what a run of that length gives
    budget = [f"optim.constant_iterations={args.iterations or 10**9}", "optim.decay_iterations=0"]
    test = PairDataset(data, "test")
    indices = sorted({int(i) for i in np.linspace(0, len(test) - 1, min(args.eval_pairs, len(test)))})

    # arms may run as separate processes (--models) into one --out: their results are merged on writing
    results = {"copy condition": evaluate(lambda items: [to_uint8(it["source_image"]) for it in items], test, indices)}
    runs = {}
    for name in args.models:
        config = load_config(args.preset, [f"data.root={data.resolve()}", f"run.seed={args.seed}", *budget,
                                           *MODELS[name], *args.overrides])
        run_dir = args.out / "runs" / name.replace("/", "").replace(" ", "-").replace(".", "").lower()
        t0 = time.perf_counter()
        # a stopped run continues (iteration budgets only: a time budget is not resumable)
        resume = (args.iterations or budgets) and (run_dir / "config.yaml").is_file()
        trainer = Trainer(config, run_dir, resume=bool(resume), overwrite=not resume)
        if budgets:
            curve = {}
            for b in budgets:
                if trainer.iteration < b and trainer.train(max_iterations=b - trainer.iteration)["stopped"] not in (
                        "done", "max_iterations"):
                    break  # Ctrl-C / SIGTERM: the checkpoint is saved, a rerun continues
                if trainer.iteration == b:  # points a resumed run passed before are kept from learn.json
                    curve[b] = {**evaluate(generator_fn(run_dir)[0], test, indices), "iterations": b}
                    logging.info("%s at %d iterations: %s", name, b, curve[b])
            summary = {"iteration": trainer.iteration}
        else:
            summary = trainer.train(max_minutes=None if args.iterations else args.minutes)
        minutes = (time.perf_counter() - t0) / 60
        generate, n_params = generator_fn(run_dir)
        # a curve's last point is the final model: scored once
        final = curve.get(summary["iteration"]) if budgets else None
        results[name] = {**(final or evaluate(generate, test, indices)), "iterations": summary["iteration"],
                         "minutes": round(minutes, 2), "parameters": n_params}
        if budgets:
            results[name]["curve"] = curve
        runs[name] = str(run_dir)
        logging.info("%s: %s", name, results[name])

    args.out.mkdir(parents=True, exist_ok=True)
    command = "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    commands = {name: command for name in results if name != "copy condition"}  # the command that made each arm
    if (args.out / "learn.json").is_file():  # another process may have finished an arm meanwhile
        saved = json.loads((args.out / "learn.json").read_text())
        commands = {**saved.get("commands", {}), **commands}
        for name, r in results.items():  # curve points of an earlier, resumed session stay
            if "curve" in r and "curve" in saved["results"].get(name, {}):
                r["curve"] = {**saved["results"][name]["curve"], **{str(k): v for k, v in r["curve"].items()}}
        results = {**saved["results"], **results}
        runs = {**saved["runs"], **runs}
    header = (f"{'model':16s} {'SSIM':>7s} {'mask-SSIM':>9s} {'PSNR':>7s} {'L1':>7s} {'ΔE':>6s} {'right':>6s} "
              f"{'iters':>7s} {'params':>10s}")
    print(header)
    print("-" * len(header))
    order = ["copy condition", *MODELS]
    for name, r in sorted(results.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)):
        print(f"{name:16s} {r['ssim']:7.4f} {r['mask_ssim']:9.4f} {r['psnr']:7.2f} {r['l1']:7.4f} {colour_cells(r)} "
              f"{r.get('iterations', ''):>7} {r.get('parameters', ''):>10}")
    if any("curve" in r for r in results.values()):
        print("\nlearning curves (held-out, by iterations):")
        print(f"{'model':16s} {'iters':>7s} {'SSIM':>7s} {'mask-SSIM':>9s} {'PSNR':>7s} {'L1':>7s} {'ΔE':>6s} {'right':>6s}")
        for name, r in results.items():
            for b, c in sorted(r.get("curve", {}).items(), key=lambda kv: int(kv[0])):
                print(f"{name:16s} {int(b):7d} {c['ssim']:7.4f} {c['mask_ssim']:9.4f} {c['psnr']:7.2f} {c['l1']:7.4f} "
                      f"{colour_cells(c)}")
    report = {
        "command": command, "commands": commands,
        "preset": args.preset, "data": str(data), "budget": {"budgets": budgets} if budgets
        else {"iterations": args.iterations} if args.iterations else {"minutes": args.minutes},
        "eval_pairs": len(indices), "threads": args.threads,
        "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
        "results": results, "runs": runs,
    }
    (args.out / "learn.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out / 'learn.json'}")


if __name__ == "__main__":
    main()
