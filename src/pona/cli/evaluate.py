"""``pona evaluate``: the field's two metric protocols over a folder of generated images."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from . import cli


@cli.command()
@click.option("--generated", type=click.Path(file_okay=False), help="Folder of <from>___<to>.png images (pona generate).")
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False), help="PATN-layout dataset.")
@click.option("--protocol", type=click.Choice(["legacy", "modern", "all"]), default="legacy", show_default=True,
              help="legacy: the PoNA paper's Table I; modern: FID/LPIPS/SSIM of GFLA onwards; all: both.")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "test"]))
@click.option("--pairs", type=click.Path(exists=True, dir_okay=False), help="Pairs CSV instead of the split's.")
@click.option("--weights-dir", type=click.Path(file_okay=False), help="Folder with the metric networks' weight files.")
@click.option("--estimator", default="mediapipe", show_default=True, help="Pose estimator for PCKh, or 'none'.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1, 4096))
@click.option("--device", default="cpu", show_default=True)
@click.option("--pad/--no-pad", default=None, help="Pad 256x176 images to 256x256 (DeepFashion). Default: by size.")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Cache the training images' FID statistics here.")
@click.option("--offline", is_flag=True, help="Never download weights; skip the metrics whose weights are missing.")
@click.option("--strict", is_flag=True, help="Fail when a generated image is missing or extra.")
@click.option("--copy-baseline", is_flag=True, help="Evaluate the 'copy the condition image' baseline instead "
              "(written to --generated if given, else to a temporary folder).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Also write the results as JSON.")
@click.option("--markdown", "md_out", type=click.Path(dir_okay=False), help="Also write the results as Markdown.")
def evaluate(generated, data_dir, protocol, split, pairs, weights_dir, estimator, batch_size, device, pad,
             cache_dir, offline, strict, copy_baseline, json_out, md_out):
    """Score generated images with the legacy (Table I) and/or modern metric protocols.

    Example: pona evaluate --generated out/ --data data/synth --protocol all --weights-dir weights/
    """
    from ..errors import PonaError
    from ..fileio import atomic_path
    from ..metrics.evaluate import copy_condition_images
    from ..metrics.evaluate import evaluate as run

    from ..fileio import check_not_inside, check_output_dir, check_output_file

    if not generated and not copy_baseline:
        raise click.UsageError("give --generated (or --copy-baseline)")
    # the outputs are checked before any metric is computed: a bad name must not cost the whole run
    if json_out:
        check_output_file(json_out, "--json", (".json",))
    if md_out:
        check_output_file(md_out, "--markdown", (".md", ".markdown"))
    if copy_baseline and generated:
        check_output_dir(generated, "--generated")
        check_not_inside(generated, "--generated", data_dir, "the dataset --data")
    if cache_dir:
        check_output_dir(cache_dir, "--cache-dir")
    from ..precision import check_device

    check_device(device, "--device")
    if estimator != "none" and protocol != "modern":
        from ..data.estimators import available_estimators

        if estimator not in available_estimators():  # a typo must not silently drop PCKh
            raise PonaError(f"--estimator {estimator!r}: unknown; available: {', '.join(available_estimators())}, or none")
    with tempfile.TemporaryDirectory(prefix="pona-copy-") as tmp:
        if copy_baseline:
            generated = generated or tmp
            n = copy_condition_images(data_dir=data_dir, out_dir=generated, split=split, pairs=pairs)
            click.echo(f"copy baseline: {n} condition images written to {generated}", err=True)
        elif not Path(generated).is_dir():
            raise PonaError(f"{generated}: folder of generated images not found")
        results = run(generated_dir=generated, data_dir=data_dir, protocol=protocol, split=split, weights_dir=weights_dir,
                      estimator=estimator, batch_size=batch_size, device=device, pairs=pairs, pad=pad,
                      download=not offline, cache_dir=cache_dir, strict=strict)
    click.echo(results.to_text(), nl=False)
    for path, text in ((json_out, results.to_json), (md_out, results.to_markdown)):
        if path:
            with atomic_path(path) as t:
                Path(t).write_text(text(), encoding="utf-8")
