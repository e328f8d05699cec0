"""``pona train``: a thin layer over pona.train (config, Trainer)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from . import cli


def _check_before_work(config, out) -> None:
    """What can be refused from the config alone, also for --print-config (a config printed as fine
    must train): the device exists, the generator fits in memory, the run is not inside the data."""
    from ..fileio import check_not_inside
    from ..models.io import check_fits
    from ..precision import check_device

    if config.run.device != "auto":
        check_device(config.run.device, "run.device")
    check_fits(config.model, "model")
    if config.data.root is not None and out is not None:
        check_not_inside(out, "--out", config.data.root, "the dataset directory (data.root)")


@cli.command(context_settings={"ignore_unknown_options": False})
@click.option("--config", "config_name", help="Preset (market, fashion, synth-market, synth-fashion, synth-tiny) or a YAML file.")
@click.option("--data", type=click.Path(file_okay=False), help="Dataset directory (PATN layout); sets data.root.")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory [default: runs/<preset>].")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its newest checkpoint (its config.yaml, plus overrides).")
@click.option("--overwrite", is_flag=True, help="Start again in --out, deleting the run files there.")
@click.option("--max-minutes", type=click.FloatRange(min=0), help="Stop (with a checkpoint) after this much wall-clock time.")
@click.option("--max-iterations", type=click.IntRange(min=1), help="Stop (with a checkpoint) after this many more iterations.")
@click.option("--print-config", is_flag=True, help="Print the resolved config as YAML and exit.")
@click.argument("overrides", nargs=-1)
def train(config_name, data, out, resume, overwrite, max_minutes, max_iterations, print_config, overrides):
    """Train PoNA (or PATN) on a PATN-layout dataset; every config value is a `section.key=value` override.

    \b
    Examples:
      pona train --config synth-market --data data/synth-market --out runs/synth
      pona train --out runs/synth --resume
      pona train --config synth-market --data data/synth-market model.ngf=32 optim.batch_size=4
      torchrun --nproc_per_node 2 -m pona train --config synth-market --data data/synth-market
    """
    from ..train import distributed
    from ..train.config import ConfigError, load_config
    from ..train.rundir import load_run_config
    from ..train.trainer import Trainer

    overrides = list(overrides)
    if data is not None:
        overrides.append(f"data.root={Path(data).resolve()}")
    if resume:
        if config_name:
            raise ConfigError("--resume uses the run's config.yaml: drop --config (give changes as key=value)")
        if out is None:
            raise ConfigError("--resume needs --out RUN, the run directory to continue")
        config = load_run_config(out, overrides)
    else:
        if not config_name:
            raise ConfigError("--config is required (a preset such as synth-market, or a YAML file)")
        config = load_config(config_name, overrides)
        out = out or str(Path("runs") / Path(config_name).stem)
    _check_before_work(config, out)
    if print_config:
        click.echo(config.to_yaml(), nl=False)
        return
    from ..fileio import check_output_dir

    check_output_dir(out, "--out")
    env = distributed.setup(config.run.device)
    if not env.is_main:
        logging.getLogger("pona").setLevel(logging.WARNING)
    try:
        result = Trainer(config, out, resume=resume, overwrite=overwrite).train(max_iterations, max_minutes)
    finally:
        distributed.cleanup()
    if env.is_main:
        best = result["best"]
        best_text = f"; best validation SSIM {best['value']:.4f} at iteration {best['iteration']}" if best else ""
        click.echo(f"stopped at iteration {result['iteration']} ({result['stopped']}); "
                   f"checkpoint {result['checkpoint']}; generator {Path(out) / 'generator.safetensors'}{best_text}")
