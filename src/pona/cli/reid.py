"""Person re-identification commands: the paper's Table VI protocol (augment, train, evaluate)."""

from __future__ import annotations

import json

import click

from . import cli, parse_size


@cli.group()
def reid():
    """Re-ID with generated training images (paper Sec. IV-D, Table VI)."""


@reid.command()
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False),
              help="PATN-layout Market dataset: train/ and <name>-annotation-train.csv, Market-1501 names.")
@click.option("--portion", required=True, type=click.FloatRange(0, 1, min_open=True),
              help="Portion p of each identity's images to keep (at least one per identity).")
@click.option("--checkpoint", required=True, type=str, help="PoNA generator (.safetensors or run dir); 'pretrained-market': the street (Market-like) model packaged with pona.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="New output directory.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(1, 1024))
@click.option("--device", default="cpu", show_default=True)
@click.option("--test-from", type=click.Path(exists=True, file_okay=False),
              help="Market root whose query/ and bounding_box_test/ are linked into the outputs (default: --data).")
def augment(data, portion, checkpoint, out, seed, batch_size, device, test_from):
    """Write the reduced (portion p) and the augmented training sets in Market-1501 layout.

    Example: pona reid augment --data market_data --portion 0.2 --checkpoint runs/market --out reid-p0.2
    """
    from ..fileio import check_output_dir
    from ..precision import check_device
    from ..reid.augment import augment_market

    check_output_dir(out, "--out")
    check_device(device, "--device")
    r = augment_market(data=data, portion=portion, checkpoint=checkpoint, out=out, seed=seed, batch_size=batch_size,
                       device=device, test_from=test_from)
    click.echo(f"{r.identities} identities, {r.original} training images: kept {r.kept} "
               f"({out}/reduced), generated {r.generated} ({out}/augmented), manifest {out}/manifest.json, "
               f"{r.seconds:.1f} s")


@reid.command()
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False),
              help="Market-1501 root with bounding_box_train/.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--backbone", default="resnet50", show_default=True, type=click.Choice(["resnet50", "resnet18", "small"]))
@click.option("--epochs", default=60, show_default=True, type=click.IntRange(1))
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(2))
@click.option("--lr", default=0.05, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--size", default="128x64", show_default=True, help="HxW the images are resized to.")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False),
              help="torchvision ImageNet weights for the ResNet (default: hub cache or download; else random init).")
@click.option("--no-pretrained", is_flag=True, help="Random init even when ImageNet weights are available.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="cpu", show_default=True)
@click.option("--max-steps", type=click.IntRange(1), help="Stop after this many iterations (smoke runs).")
@click.option("--workers", default=0, show_default=True, type=click.IntRange(0), help="Data loader processes.")
def train(data, out, backbone, epochs, batch_size, lr, size, weights, no_pretrained, seed, device, max_steps, workers):
    """Train the re-ID baseline (identity classifier; the pooled feature is the embedding).

    Example: pona reid train --data reid-p0.2/augmented --out runs/reid-aug-0.2 --backbone small --epochs 30
    """
    from ..fileio import check_output_dir
    from ..precision import check_device
    from ..reid.train import ReIDTrainConfig, train_reid

    check_output_dir(out, "--out")
    check_device(device, "--device")
    config = ReIDTrainConfig(backbone=backbone, epochs=epochs, batch_size=batch_size, lr=lr,
                             image_size=parse_size(size), seed=seed)
    r = train_reid(data=data, out=out, config=config, weights=weights, pretrained=not no_pretrained, device=device,
                   max_steps=max_steps, num_workers=workers)
    last = r["history"][-1]
    click.echo(f"backbone {backbone}, {r['init']}")
    click.echo(f"{last['epoch']} epochs, {last['step']} steps: loss {last['loss']:.4f}, "
               f"train accuracy {last['accuracy']:.3f}; wrote {r['checkpoint']}")


@reid.command()
@click.option("--checkpoint", required=True, type=click.Path(exists=True), help="Re-ID run directory or reid.safetensors.")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False),
              help="Market-1501 root with query/ and bounding_box_test/.")
@click.option("--distance", default="cosine", show_default=True, type=click.Choice(["cosine", "euclidean"]))
@click.option("--exclude-distractors", is_flag=True,
              help="Also drop gallery identity 0000 (the benchmark keeps distractors as wrong matches).")
@click.option("--ap", default="market", show_default=True, type=click.Choice(["market", "mean-precision"]),
              help="Average precision: Market's trapezoid rule, or the mean precision at each hit.")
@click.option("--no-flip", is_flag=True, help="Do not add the mirrored image's feature.")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1))
@click.option("--device", default="cpu", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def evaluate(checkpoint, data, distance, exclude_distractors, ap, no_flip, batch_size, device, as_json):
    """mAP and CMC rank-1/5/10 of query/ against bounding_box_test/.

    Example: pona reid evaluate --checkpoint runs/reid-aug-0.2 --data reid-p0.2/augmented
    """
    from ..precision import check_device
    from ..reid.evaluate import evaluate_market

    check_device(device, "--device")
    junk = (-1, 0) if exclude_distractors else (-1,)
    r = evaluate_market(checkpoint=checkpoint, data=data, distance=distance, batch_size=batch_size, device=device,
                        flip=not no_flip, junk_ids=junk, ap=ap)
    if as_json:
        click.echo(json.dumps(r))
        return
    click.echo(f"mAP {100 * r['mAP']:.2f}  rank-1 {100 * r['rank1']:.2f}  rank-5 {100 * r['rank5']:.2f}  "
               f"rank-10 {100 * r['rank10']:.2f}  ({r['queries']} queries, {r['skipped']} skipped, "
               f"{r['gallery']} gallery images, {distance} distance)")
