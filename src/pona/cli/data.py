"""Data commands: the ``pona data`` group, ``data check`` and ``data prepare-deepfashion``.

Other modules add their subcommands to the same group: ``from .data import data``.
"""

from __future__ import annotations

import json

import click

from . import cli, parse_size


@cli.group()
def data():
    """Datasets in the PATN layout: check, prepare, synthesize."""


def check_not_a_run(out, option: str) -> None:
    """A dataset is never written into a training run's folder (the run's files would be read as
    data, and a later --overwrite of the run would meet the dataset's)."""
    from pathlib import Path

    from ..errors import PonaError
    from ..train.rundir import holds_run

    if holds_run(Path(out)):
        raise PonaError(f"{option} {out}: holds a training run (config.yaml, checkpoints/); "
                        "write the dataset to its own folder")


@data.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--split", type=click.Choice(["train", "test", "all"]), default="all", show_default=True)
@click.option("--size", help="Image size HxW every image must have (default: the most common size).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (every problem).")
@click.option("--deep", is_flag=True, help="Decode every image (slow); by default headers and end markers are read.")
@click.option("--max-per-kind", default=10, show_default=True, type=click.IntRange(0),
              help="Problems listed per kind in the text report.")
def check(directory, split, size, as_json, deep, max_per_kind):
    """Validate a dataset: counts, missing images, wrong sizes, malformed rows (file:line), ...

    Exit status 0 if the dataset is usable (warnings allowed), 2 if it has errors.

    Example: pona data check data/fashion --split test --size 256x176
    """
    from ..data.validate import validate

    splits = ("train", "test") if split == "all" else (split,)
    report = validate(directory, splits, parse_size(size), deep=deep)
    click.echo(json.dumps(report.to_json(), indent=2) if as_json else report.format(max_per_kind))
    return 0 if report.ok else 2


@data.command("prepare-deepfashion")
@click.option("--raw", required=True, type=click.Path(exists=True, file_okay=False),
              help="The In-shop download: a folder holding img/ (or Img/img/), or the img/ tree itself.")
@click.option("--splits-dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder holding the field's train.lst and test.lst.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Dataset directory to write.")
@click.option("--annotations-dir", type=click.Path(exists=True, file_okay=False),
              help="Folder with the field's fasion-annotation-*.csv and fasion-pairs-*.csv, copied into OUT.")
@click.option("--highres", is_flag=True, help="Read img_highres/ (resized to height 256) instead of img/.")
@click.option("--quality", default=75, show_default=True, type=click.IntRange(1, 100),
              help="JPEG quality (75 reproduces the field's files).")
@click.option("--overwrite", is_flag=True, help="Rewrite images already in OUT (default: keep them, resume).")
def prepare_deepfashion(raw, splits_dir, out, annotations_dir, highres, quality, overwrite):
    """Turn the raw DeepFashion In-shop download into the PATN layout (256x176 images).

    Example: pona data prepare-deepfashion --raw ~/inshop --splits-dir lists --annotations-dir lists --out data/fashion
    """
    from ..data.prepare import prepare_deepfashion as prepare
    from ..fileio import check_output_dir

    check_output_dir(out, "--out")
    r = prepare(raw, splits_dir, out, annotations_dir=annotations_dir, highres=highres, quality=quality,
                overwrite=overwrite)
    for split in r.written:
        line = f"{split}: wrote {r.written[split]} images to {r.out / split}"
        if r.kept[split]:
            line += f", kept {r.kept[split]} already there"
        missing = r.missing[split]
        if missing:
            line += f"; {len(missing)} listed name(s) not found in {r.source}, e.g. {', '.join(missing[:3])}"
        click.echo(line)
    if r.copied:
        click.echo(f"copied {', '.join(r.copied)}")
    click.echo(f"next: pona data check {r.out}")
