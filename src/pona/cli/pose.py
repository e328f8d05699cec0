"""``pona pose``: estimate a photo's pose (``pona pose PHOTO``, in :mod:`.photos`), and convert and
draw pose files of other tools (``pona pose convert``, ``pona pose show``)."""

from __future__ import annotations

import click

from . import cli, parse_size

# pona.data.posefile.READ_FORMATS / WRITE_FORMATS, spelled out so that `pona --help` need not import
# numpy and torch; a test keeps them equal.
READ_FORMATS = ("pona", "openpose", "coco", "mediapipe", "csv")
WRITE_FORMATS = ("pona", "openpose", "coco", "csv")


class PoseGroup(click.Group):
    """A group whose first argument, when it is no subcommand, goes to ``estimate``: ``pona pose
    PHOTO`` was a command before it grew ``convert`` and ``show``, and keeps working."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["estimate", *args]
        return super().parse_args(ctx, args)


@cli.group(cls=PoseGroup)
def pose():
    """Poses: estimate one from a photo, convert pose files between tools' formats, draw one.

    \b
    pona pose PHOTO ...            same as pona pose estimate PHOTO ...
    pona pose convert IN OUT --to openpose
    pona pose show POSE --out skeleton.png
    """


def read_options(f):
    """--from, --person, --image-size, --threshold: how to read a pose file of another tool."""
    for option in reversed([
        click.option("--from", "fmt", type=click.Choice(READ_FORMATS),
                     help="Format of the input [default: detected from its structure]."),
        click.option("--person", type=click.IntRange(min=0),
                     help="Which person of a file with several (0-based, file order) [default: the largest]."),
        click.option("--image-size", help="HxW of the image the coordinates refer to, when the file does not say "
                                          "(MediaPipe's normalised landmarks need it)."),
        click.option("--threshold", type=click.FloatRange(min=0),
                     help="Confidence under which a joint is missing [default: per format]."),
    ]):
        f = option(f)
    return f


def _read(spec, fmt, person, image_size: tuple[int, int] | None, threshold):
    from ..data.posefile import read_pose

    return read_pose(spec, format=fmt, person=person, image_size=image_size, threshold=threshold)


@pose.command()
@click.argument("source")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--to", "to", type=click.Choice(WRITE_FORMATS), default="pona", show_default=True,
              help="Output format (coco drops the neck, which COCO lacks; csv rounds to whole pixels).")
@click.option("--name", help="csv: the row's image name [default: OUT's stem + .jpg]; coco: the image file name.")
@read_options
def convert(source, out, to, name, fmt, person, image_size, threshold):
    """Convert the pose file SOURCE (pona, OpenPose, COCO, MediaPipe, or annotations.csv:NAME) to OUT.

    Example: pona pose convert frame_000000000000_keypoints.json pose.json --to pona
    """
    from ..data.posefile import split_pose_spec, write_pose
    from ..fileio import check_output_file, refuse_overwriting_input
    from ..pose import visible

    check_output_file(out, "OUT", (".csv",) if to == "csv" else (".json",))
    refuse_overwriting_input(split_pose_spec(source)[0], "SOURCE", (out, "OUT"))
    p = _read(source, fmt, person, parse_size(image_size), threshold)
    write_pose(out, p.keypoints, p.image_size, format=to, name=name)
    click.echo(f"wrote {out} ({to}, {int(visible(p.keypoints).sum())} of 18 joints)")


@pose.command()
@click.argument("source")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Picture of the skeleton (.png, .jpg).")
@click.option("--on", "photo", type=click.Path(exists=True, dir_okay=False),
              help="Draw over this photo instead of black.")
@read_options
def show(source, out, photo, fmt, person, image_size, threshold):
    """Draw the pose file SOURCE as a skeleton: on black at the pose's image size (its file's, or
    --image-size, or the photo's), else on a canvas around the joints.

    Example: pona pose show body25_keypoints.json --out skeleton.png --image-size 256x176
    """
    import numpy as np

    from ..data.fit import read_photo
    from ..fileio import IMAGE_FORMATS, check_output_file, refuse_overwriting_input, save_image
    from ..pose import draw_pose, visible

    check_output_file(out, "--out", IMAGE_FORMATS)
    if photo:
        refuse_overwriting_input(photo, "--on", (out, "--out"))
    image = read_photo(photo) if photo else None
    size = parse_size(image_size) or (None if image is None else image.shape[:2])
    p = _read(source, fmt, person, size, threshold)
    size = p.image_size
    if size is None:  # no frame known: the joints' box and a margin
        y, x = p.keypoints[visible(p.keypoints)].max(0)
        size = (int(np.ceil(y)) + 16, int(np.ceil(x)) + 16)
    drawn = draw_pose(image, p.keypoints, size)
    save_image(drawn, out)
    click.echo(f"wrote {out} ({drawn.width}x{drawn.height}, {int(visible(p.keypoints).sum())} of 18 joints)")
