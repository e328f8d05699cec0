"""``pona demo``: synthetic people -> training -> evaluation -> an HTML report."""

from __future__ import annotations

from pathlib import Path

import click

from . import cli
from .infer import precision_option


@cli.command()
@click.option("--out", default="demo", show_default=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--minutes", default=10.0, show_default=True, type=click.FloatRange(0.5),
              help="Total wall-clock budget; training gets what data, evaluation and figures leave.")
@click.option("--pretrained", is_flag=True, help="Skip training: use the scene's checkpoint packaged with pona.")
@click.option("--scene", default="studio", show_default=True, type=click.Choice(["studio", "street"]),
              help="studio: a plain backdrop per person (DeepFashion-like); street: 6 street cameras (Market-like).")
@click.option("--preset", default=None, help="Training preset (see pona train); default: synth-studio or synth-market, by scene.")
@click.option("--train-ids", default=200, show_default=True, type=click.IntRange(1), help="Synthetic people for training.")
@click.option("--test-ids", default=20, show_default=True, type=click.IntRange(1), help="Held-out synthetic people.")
@click.option("--poses", default=8, show_default=True, type=click.IntRange(2), help="Images per person.")
@click.option("--eval-pairs", default=200, show_default=True, type=click.IntRange(1), help="Held-out pairs scored.")
@click.option("--seed", default=0, show_default=True, type=int)
@precision_option
@click.argument("overrides", nargs=-1)
def demo(out, minutes, pretrained, scene, preset, train_ids, test_ids, poses, eval_pairs, seed, precision, overrides):
    """Show what pona does, with nothing to download: render synthetic people, train PoNA on them
    for a bounded time, evaluate it on held-out people against copying the condition image, and
    write OUT/report.html (metrics, examples, an animation, attention maps, training curves).

    Example: pona demo --minutes 10   (or: pona demo --pretrained, about a minute)
    """
    from ..demo import DemoOptions, run_demo
    from ..fileio import check_output_dir

    check_output_dir(out, "--out")
    options = DemoOptions(out=Path(out), minutes=minutes, pretrained=pretrained, scene=scene, preset=preset,
                          train_ids=train_ids, test_ids=test_ids, poses=poses, eval_pairs=eval_pairs,
                          seed=seed, precision=precision, overrides=tuple(overrides))
    result = run_demo(options)
    pona, copy = result.metrics["PoNA"], result.metrics["copy condition"]
    click.echo(f"\nheld-out ({result.evaluated_pairs} pairs), PoNA vs copying the condition image: "
               f"SSIM {pona['ssim']:.4f} vs {copy['ssim']:.4f}, mask-SSIM {pona['mask_ssim']:.4f} vs {copy['mask_ssim']:.4f}, "
               f"PSNR {pona['psnr']:.2f} vs {copy['psnr']:.2f}, L1 {pona['l1']:.4f} vs {copy['l1']:.4f}, "
               f"colours right {_share(pona['colour_right'])} vs {_share(copy['colour_right'])}")
    click.echo(f"report: {result.report.resolve()}  (open it in a browser)")
    click.echo(f"web app: pona serve --checkpoint {result.checkpoint} --data {result.data}")


def _share(value) -> str:
    """A share as the report prints it (4 decimals), or "skipped" when no pose gave a colour region."""
    return "skipped" if value is None else f"{value:.4f}"
