"""``pona data synth``: write the synthetic-people dataset."""

from __future__ import annotations

import click

from .data import check_not_a_run, data


@data.command()
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--preset", type=click.Choice(["market", "fashion"]), default="market", show_default=True,
              help="market: 128x64 street scenes, 6 cameras; fashion: 256x176 studio shots.")
@click.option("--train-ids", default=100, show_default=True, type=click.IntRange(1, 9999), help="People in the training split.")
@click.option("--test-ids", default=20, show_default=True, type=click.IntRange(0, 9999), help="People in the test split (never in training).")
@click.option("--poses", default=6, show_default=True, type=click.IntRange(2, 1000), help="Images per person.")
@click.option("--pairs-per-id", type=click.IntRange(1), help="Ordered pairs per person [default: all K(K-1)].")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Rendering processes.")
@click.option("--png-level", default=1, show_default=True, type=click.IntRange(0, 9),
              help="zlib level of the PNGs: 0 is fastest (files ~25% larger), 9 smallest.")
@click.option("--overwrite", is_flag=True, help="Replace a synthetic set already in OUT.")
@click.option("--montage", "montage_path", type=click.Path(dir_okay=False),
              help="Also write a PNG grid of the first training people (4 people x up to 4 images).")
def synth(out, preset, train_ids, test_ids, poses, pairs_per_id, seed, workers, png_level, overwrite, montage_path):
    """Render synthetic people with exact keypoints into OUT (PATN layout).

    Example: pona data synth data/synth --preset market --train-ids 100 --test-ids 20 --poses 6 --seed 0
    """
    from ..data.synth import montage, write_dataset
    from ..fileio import IMAGE_FORMATS, check_output_dir, check_output_file, save_image

    check_output_dir(out, "OUT")
    check_not_a_run(out, "OUT")
    if montage_path:  # checked before rendering: a bad name must not cost the whole dataset's time
        check_output_file(montage_path, "--montage", IMAGE_FORMATS)
    summary = write_dataset(out, preset, n_train_ids=train_ids, n_test_ids=test_ids, poses_per_id=poses, seed=seed,
                            pairs_per_id=pairs_per_id, workers=workers, overwrite=overwrite, png_level=png_level)
    click.echo(str(summary))
    if montage_path:
        save_image(montage(out, rows=min(4, train_ids), cols=min(4, poses)), montage_path)
        click.echo(f"wrote {montage_path}")
