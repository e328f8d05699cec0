"""``pona bench``: the speed and memory table of docs/benchmarks.md."""

from __future__ import annotations

import click

from . import cli, parse_model_size


def _sizes(ctx, param, value):
    return tuple(parse_model_size(v, "--sizes") for v in value.split(",")) if value else None


def _ints(ctx, param, value):
    try:
        ints = tuple(int(v) for v in value.split(",")) if value else None
    except ValueError:
        ints = ()
    if ints is not None and (not ints or min(ints) < 1):
        raise click.BadParameter(f"expected comma-separated integers >= 1 such as 1,8, got {value!r}")
    return ints


def _precisions(ctx, param, value):
    names = tuple(v.strip() for v in value.split(","))
    unknown = [n for n in names if n not in ("auto", "fp32", "bf16")]
    if unknown:
        raise click.BadParameter(f"unknown precision(s) {unknown}; choose from auto, fp32, bf16, comma-separated")
    return names


@cli.command()
@click.option("--sizes", callback=_sizes, help="Comma-separated HEIGHTxWIDTH. [default: 128x64,256x176,512x352; --quick: 128x64]")
@click.option("--batches", callback=_ints, help="Comma-separated batch sizes. [default: 1,8; --quick: 1]")
@click.option("--repeats", type=click.IntRange(1), help="Timed runs per measurement, after one warm-up (median). [default: 3; --quick: 1]")
@click.option("--threads", default=0, show_default=True, type=click.IntRange(0),
              help="Torch threads in every measurement; 0 = torch's default (OMP_NUM_THREADS or all cores).")
@click.option("--tasks", default="inference,train,data", show_default=True, help="Comma-separated: inference, train, data.")
@click.option("--recompute", is_flag=True, help="Also train with run.recompute_blocks (rows train+recompute).")
@click.option("--precision", "precisions", default="fp32", show_default=True, callback=_precisions,
              help="Precision(s) of our rows, comma-separated (fp32,bf16: one row per precision, each against "
                   "the same fp32 reference and its own precision's peak): fp32 (NCHW, like the reference), "
                   "or auto/bf16 as pona.precision resolves them (bf16 autocast + channels_last where the CPU "
                   "has bf16 units; refused elsewhere).")
@click.option("--quick", is_flag=True, help="A smoke run: 128x64, batch 1, one timed run, small peak shapes.")
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Also write the table as JSON.")
def bench(sizes, batches, repeats, threads, tasks, recompute, precisions, quick, out):
    """Inference, training and data-loading speed and memory, beside the released-way reference.

    Each measurement runs in a fresh process; see docs/benchmarks.md for the columns.
    Example: pona bench --batches 1,7,8 --recompute --precision fp32,bf16 --out bench.json
    """
    from pathlib import Path

    from ..bench import BenchOptions, run_benchmark
    from ..fileio import atomic_path

    from ..fileio import check_output_file

    if out:
        check_output_file(out, "--out", (".json",))
    names = tuple(t.strip() for t in tasks.split(","))
    unknown = set(names) - {"inference", "train", "data"}
    if unknown:
        raise click.BadParameter(f"unknown task(s) {sorted(unknown)}", param_hint="--tasks")
    options = BenchOptions(
        sizes=sizes or (((128, 64),) if quick else BenchOptions.sizes),
        batches=batches or ((1,) if quick else BenchOptions.batches),
        repeats=repeats or (1 if quick else BenchOptions.repeats),
        threads=threads, tasks=names, recompute_blocks=recompute, precisions=precisions,
        data_batches=5 if quick else BenchOptions.data_batches,
        # --quick: the smaller peak shapes and fewer runs (a 4096^2 fp32 product is ~137 GFLOP a run)
        peak_matmuls=(1024, 2048) if quick else BenchOptions.peak_matmuls,
        peak_convs=BenchOptions.peak_convs[:1] if quick else BenchOptions.peak_convs,
        peak_repeats=3 if quick else BenchOptions.peak_repeats)
    result = run_benchmark(options, progress=lambda row: click.echo(
        f"  {row.size} batch {row.batch} {row.task}{' ' + row.precision if row.precision else ''}: done", err=True))
    click.echo(result.to_text(), nl=False)
    if out:
        with atomic_path(out) as tmp:
            Path(tmp).write_text(result.to_json(), encoding="utf-8")
