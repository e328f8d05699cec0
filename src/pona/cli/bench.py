"""``pona bench``: the speed and memory table of the README's Performance section."""

from __future__ import annotations

import click

from . import cli, parse_size


def _sizes(ctx, param, value):
    return tuple(parse_size(v) for v in value.split(",")) if value else None


def _ints(ctx, param, value):
    try:
        return tuple(int(v) for v in value.split(",")) if value else None
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers such as 1,8, got {value!r}") from None


@cli.command()
@click.option("--sizes", callback=_sizes, help="Comma-separated HEIGHTxWIDTH. [default: 128x64,256x176,512x352; --quick: 128x64]")
@click.option("--batches", callback=_ints, help="Comma-separated batch sizes. [default: 1,8; --quick: 1]")
@click.option("--repeats", type=click.IntRange(1), help="Timed runs per measurement, after one warm-up (median). [default: 3; --quick: 1]")
@click.option("--threads", default=0, show_default=True, type=click.IntRange(0),
              help="Torch threads in every measurement; 0 = torch's default (OMP_NUM_THREADS or all cores).")
@click.option("--tasks", default="inference,train,data", show_default=True, help="Comma-separated: inference, train, data.")
@click.option("--recompute", is_flag=True, help="Also train with run.recompute_blocks (rows train+recompute).")
@click.option("--precision", default="fp32", show_default=True, type=click.Choice(["auto", "fp32", "bf16"]),
              help="Precision of our rows: fp32 (NCHW, like the reference), or auto/bf16 as pona.precision "
                   "resolves them (bf16 autocast + channels_last where the CPU has bf16 units).")
@click.option("--quick", is_flag=True, help="A smoke run: 128x64, batch 1, one timed run, small peak product.")
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Also write the table as JSON.")
def bench(sizes, batches, repeats, threads, tasks, recompute, precision, quick, out):
    """Inference, training and data-loading speed and memory, beside the released-way reference.

    Each measurement runs in a fresh process; see the README's Performance section for the columns.
    Example: pona bench --batches 1,7,8 --recompute --out bench.json
    """
    from pathlib import Path

    from ..bench import BenchOptions, run_benchmark
    from ..fileio import atomic_path

    names = tuple(t.strip() for t in tasks.split(","))
    unknown = set(names) - {"inference", "train", "data"}
    if unknown:
        raise click.BadParameter(f"unknown task(s) {sorted(unknown)}", param_hint="--tasks")
    options = BenchOptions(
        sizes=sizes or (((128, 64),) if quick else BenchOptions.sizes),
        batches=batches or ((1,) if quick else BenchOptions.batches),
        repeats=repeats or (1 if quick else BenchOptions.repeats),
        threads=threads, tasks=names, recompute_blocks=recompute, precision=precision,
        peak_size=2048 if quick else BenchOptions.peak_size, data_batches=5 if quick else BenchOptions.data_batches)
    result = run_benchmark(options, progress=lambda row: click.echo(
        f"  {row.size} batch {row.batch} {row.task}: done", err=True))
    click.echo(result.to_text(), nl=False)
    if out:
        with atomic_path(out) as tmp:
            Path(tmp).write_text(result.to_json(), encoding="utf-8")
