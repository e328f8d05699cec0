"""The paper's Table VI protocol on synthetic people: re-ID mAP of reduced vs PoNA-augmented sets.

Steps (everything under --out):

1. data/market: a synthetic Market-like dataset (128x64), PATN layout for the generator (train/,
   test/, market-annotation-*.csv, market-pairs-*.csv) that is also a Market-1501 root for re-ID
   (bounding_box_train -> train, query/, bounding_box_test/). People, poses and the 6 street
   cameras (each with its own look; a person's consecutive images come from different cameras)
   are ``pona.data.synth``'s market preset. Test people: the first image of a person in each
   camera is a query, the others are the gallery.
2. generator: --checkpoint, or a PoNA trained briefly on data/market with the training API. As in
   the paper, the generator sees the whole training set (also the images dropped in step 3).
3. for each portion p: ``pona reid augment`` -> p<p>/reduced and p<p>/augmented (same seed).
4. a re-ID model (same backbone, settings and seed) trained on each training set, and on the full
   set (p = 1.0, the upper bound); mAP and rank-1 on query vs gallery.

Prints a table like Table VI and writes results.json and table.md. Every stage leaves its result
in --out and is skipped when run again (a stopped run resumes); delete --out to start over.

    python benchmarks/reid.py --out runs/reid-bench                   # full run
    python benchmarks/reid.py --out runs/reid-bench --checkpoint G    # with your own generator
    python benchmarks/reid.py --out /tmp/reid-smoke --tiny            # smoke run, about a minute
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import torch
from PIL import Image

from pona.data import read_annotations, read_pairs, write_annotations, write_pairs
from pona.reid import ReIDTrainConfig, augment_market, evaluate_market, parse_market_name, train_reid
from pona.reid.market import GALLERY_DIR, QUERY_DIR, TRAIN_DIR

log = logging.getLogger("reid-bench")

SIZE = (128, 64)


def build_market(root: Path, train_ids: int, test_ids: int, per_id: int, seed: int, workers: int) -> dict:
    """Write the synthetic Market-like dataset (module doc, step 1); returns its counts.

    ``pona.data.synth`` renders the people (PNG, Market-style names, 6 street cameras); here they
    become JPEG ``.jpg`` files (what Market-1501 readers glob for) with the same names otherwise.
    """
    from pona.data.synth import read_identities, write_dataset

    if (root / "done.json").is_file():
        return json.loads((root / "done.json").read_text())
    synth = root.parent / "synth-png"
    write_dataset(synth, "market", train_ids, test_ids, per_id, seed, workers=workers, overwrite=True)
    jpg = {r.name: Path(r.name).with_suffix(".jpg").name for r in read_identities(synth / "synth-identities.csv")}
    counts = {}
    for split in ("train", "test"):
        (root / split).mkdir(parents=True, exist_ok=True)
        poses = read_annotations(synth / f"synth-annotation-{split}.csv")
        for name in poses:
            with Image.open(synth / split / name) as im:
                im.convert("RGB").save(root / split / jpg[name], quality=95, subsampling=0)
        write_annotations(root / f"market-annotation-{split}.csv", {jpg[n]: kp for n, kp in poses.items()})
        pairs = [(jpg[a], jpg[b]) for a, b in read_pairs(synth / f"synth-pairs-{split}.csv")]
        write_pairs(root / f"market-pairs-{split}.csv", pairs)
        counts[split] = {"identities": len({parse_market_name(n).identity for n in poses}), "images": len(poses),
                         "pairs": len(pairs)}
    # Test people: per person, the first image of each camera is a query, the others the gallery.
    rows = sorted((r for r in read_identities(synth / "synth-identities.csv") if r.split == "test"),
                  key=lambda r: (r.identity, r.pose))
    seen = set()
    for sub in (QUERY_DIR, GALLERY_DIR):
        (root / sub).mkdir(exist_ok=True)
    for r in rows:
        folder = GALLERY_DIR if (r.identity, r.camera) in seen else QUERY_DIR
        seen.add((r.identity, r.camera))
        shutil.copy2(root / "test" / jpg[r.name], root / folder / jpg[r.name])
    counts["test"].update(queries=len(seen), gallery=len(rows) - len(seen))
    if not (root / TRAIN_DIR).exists():
        os.symlink("train", root / TRAIN_DIR, target_is_directory=True)
    shutil.rmtree(synth)
    (root / "done.json").write_text(json.dumps(counts) + "\n")
    return counts


def train_generator(data: Path, run: Path, iterations: int, batch_size: int, overrides=()) -> Path:
    """A PoNA generator trained briefly on ``data`` with pona's training API (preset
    ``synth-market``: the paper's Market setting at ngf 16), 3/4 of the iterations at constant lr,
    then linear decay. Returns the run directory (its ``generator.safetensors``)."""
    try:
        from pona.train.config import load_config
        from pona.train.trainer import Trainer
    except ImportError:
        sys.exit("this checkout has no training API (pona.train.trainer.Trainer): pass --checkpoint with a "
                 "PoNA generator trained on the synthetic Market data (pona train ...)")
    if (run / "done.json").is_file():
        return run
    constant = iterations * 3 // 4
    config = load_config("synth-market", [
        f"data.root={data}", f"optim.batch_size={batch_size}", f"optim.constant_iterations={constant}",
        f"optim.decay_iterations={iterations - constant}", "run.device=cpu", "run.progress=false",
        "run.tensorboard=false", f"run.val_every={max(1, iterations // 4)}", f"run.checkpoint_every={max(1, iterations // 4)}",
        *overrides])
    resume = (run / "checkpoints").is_dir() and any((run / "checkpoints").iterdir())
    result = Trainer(config, run, resume=resume, overwrite=not resume).train()
    (run / "done.json").write_text(json.dumps({"iteration": result["iteration"], "best": result["best"]}, default=str) + "\n")
    return run


def run_reid(name: str, root: Path, run: Path, config: ReIDTrainConfig, distance: str) -> dict:
    t0 = time.perf_counter()
    if (run / "result.json").is_file():
        return json.loads((run / "result.json").read_text())
    trained = train_reid(root, run, config, pretrained=False)
    result = evaluate_market(run, root, distance)
    result.update(name=name, train_images=len(list((root / TRAIN_DIR).iterdir())), final_loss=trained["history"][-1]["loss"], seconds=round(time.perf_counter() - t0, 1))
    (run / "result.json").write_text(json.dumps(result) + "\n")
    log.info("%s: mAP %.2f rank-1 %.2f (%.0f s)", name, 100 * result["mAP"], 100 * result["rank1"], result["seconds"])
    return result


def table(results: dict, portions: list[float]) -> str:
    cols = [*portions, 1.0]
    lines = ["| Aug. model | " + " | ".join(f"p = {p}" for p in cols) + " |",
             "|---|" + "---:|" * len(cols)]
    full = results["full"]["mAP"]
    for row, key in (("None (reduced set)", "reduced"), ("PoNA (augmented set)", "augmented")):
        cells = [f"{100 * results[f'{key}-{p:g}']['mAP']:.1f}" for p in portions] + [f"{100 * full:.1f}"]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--checkpoint", type=Path, help="PoNA generator trained on the synthetic Market data")
    ap.add_argument("--portions", type=float, nargs="+", default=[0.2, 0.6])
    ap.add_argument("--train-ids", type=int, default=100)
    ap.add_argument("--test-ids", type=int, default=50)
    ap.add_argument("--per-id", type=int, default=12, help="images per identity")
    ap.add_argument("--workers", type=int, default=1, help="processes rendering the synthetic people")
    ap.add_argument("--backbone", default="small", choices=["small", "resnet18", "resnet50"])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.01, help="0.01 suits the small backbone from scratch")
    ap.add_argument("--distance", default="cosine", choices=["cosine", "euclidean"])
    ap.add_argument("--gen-iterations", type=int, default=1000, help="generator training when no --checkpoint")
    ap.add_argument("--gen-batch-size", type=int, default=8)
    ap.add_argument("--gen-override", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="training config override for the generator (preset synth-market), repeatable")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    ap.add_argument("--tiny", action="store_true",
                    help="smoke run: 8+6 identities, 8 images, 2 epochs, a 10-iteration generator of width 8")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.tiny:
        args.train_ids, args.test_ids, args.per_id, args.epochs, args.batch_size = 8, 6, 8, 2, 8
        args.gen_iterations, args.gen_batch_size = 10, 4
        args.gen_override = ["model.ngf=8", "model.n_blocks=1", "discriminator.ndf=8", "run.val_every=0", *args.gen_override]
    t0 = time.perf_counter()
    data = args.out / "data" / "market"
    counts = build_market(data, args.train_ids, args.test_ids, args.per_id, args.seed, args.workers)
    log.info("data %s: %s", data, counts)
    checkpoint = args.checkpoint or train_generator(data, args.out / "generator", args.gen_iterations,
                                                    args.gen_batch_size, args.gen_override)

    config = ReIDTrainConfig(backbone=args.backbone, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                             image_size=SIZE, seed=args.seed)
    results = {"full": run_reid("full", data, args.out / "reid" / "full", config, args.distance)}
    for p in args.portions:
        sets = args.out / f"p{p:g}"
        if not (sets / "manifest.json").is_file():
            augment_market(data, p, checkpoint, sets, seed=args.seed)
        for key in ("reduced", "augmented"):
            results[f"{key}-{p:g}"] = run_reid(f"{key}-{p:g}", sets / key, args.out / "reid" / f"{key}-{p:g}",
                                               config, args.distance)
    md = table(results, args.portions)
    summary = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
               "data": counts, "checkpoint": str(checkpoint), "results": results,
               "seconds": round(time.perf_counter() - t0, 1)}
    (args.out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    (args.out / "table.md").write_text(md + "\n")
    print(md)
    print(f"mAP in %, {args.backbone} backbone, {args.epochs} epochs, {args.distance} distance; "
          f"{summary['seconds']:.0f} s; {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
