"""Model commands: convert a released checkpoint, inspect a checkpoint, a smoke run."""

from __future__ import annotations

import json

import click

from . import cli, parse_model_size, parse_size


@cli.command("convert-checkpoint")
@click.argument("released", type=click.Path(exists=True, dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--image-size", help="HxW the model was trained at (default: 256x176 for instance norm, 128x64 for batch norm).")
@click.option("--trust-pickle", is_flag=True, help="Allow arbitrary pickles (only for files you trust).")
def convert_checkpoint(released, out, image_size, trust_pickle):
    """Convert the authors' released generator (.pth) to a pona checkpoint (.safetensors).

    Example: pona convert-checkpoint latest_net_netG.pth pona-fashion.safetensors
    """
    from ..convert import convert_released_checkpoint
    from ..fileio import check_output_file

    check_output_file(out, "OUT", (".safetensors",))
    model = convert_released_checkpoint(released, out, image_size=parse_size(image_size), trust_pickle=trust_pickle)
    n = sum(p.numel() for p in model.parameters())
    click.echo(f"wrote {out}: {json.dumps(model.config.to_dict())}, {n:,} parameters")


@cli.command()
@click.argument("checkpoint")
def info(checkpoint):
    """Print a checkpoint's config, parameter count and metadata (a .safetensors file, a run
    directory, or "pretrained" / "pretrained-studio" / "pretrained-market" / "pretrained-studio-256" for a checkpoint packaged with pona).

    Example: pona info runs/synth/generator.safetensors
    """
    from ..models.io import load_generator, read_metadata, resolve_checkpoint

    meta = read_metadata(resolve_checkpoint(checkpoint))
    model = load_generator(checkpoint)
    meta["parameters"] = sum(p.numel() for p in model.parameters())
    click.echo(json.dumps(meta, indent=2))


@cli.command()
@click.option("--size", default="256x176", show_default=True, help="Image size HxW.")
@click.option("--batch", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--n-blocks", default=3, show_default=True, type=click.IntRange(1, 5))
def smoke(size, batch, n_blocks):
    """Build the paper's generator, run one forward pass on random inputs, report its cost.

    Example: pona smoke --size 128x64 --batch 2
    """
    import time

    import torch

    from .. import pose
    from ..models import Generator, GeneratorConfig

    h, w = parse_model_size(size)
    g = Generator(GeneratorConfig(n_blocks=n_blocks, image_size=(h, w))).eval()
    kp = torch.tensor([[h * (0.2 + 0.6 * j / 17), w / 2] for j in range(pose.NUM_JOINTS)])
    maps = pose.heatmaps(kp, h, w).expand(batch, -1, -1, -1)
    image = torch.rand(batch, 3, h, w) * 2 - 1
    t = time.perf_counter()
    with torch.inference_mode():
        out = g(image, maps, maps)
    dt = time.perf_counter() - t
    n = sum(p.numel() for p in g.parameters())
    click.echo(f"PoNA generator: {n:,} parameters, output {tuple(out.shape)} in [{out.min():.3f}, {out.max():.3f}], "
               f"{dt:.2f} s for batch {batch} at {h}x{w}")
