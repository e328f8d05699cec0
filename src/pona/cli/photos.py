"""Own-photo commands: ``pona pose [estimate]`` (keypoints of one photo) and ``pona data from-photos``."""

from __future__ import annotations

import json

import click

from . import parse_size
from .data import check_not_a_run, data
from .pose import WRITE_FORMATS
from .pose import pose as pose_group


def _estimator(name: str, visibility: float):
    from ..data.estimators import get_estimator

    return get_estimator(name, visibility=visibility) if name == "mediapipe" else get_estimator(name)


_estimator_options = [
    click.option("--estimator", default="mediapipe", show_default=True, help="Registered pose estimator."),
    click.option("--visibility", default=0.5, show_default=True, type=click.FloatRange(0, 1),
                 help="MediaPipe: drop joints whose visibility score is under this."),
    click.option("--show-logs", is_flag=True, help="Let the estimator's native log lines through to stderr."),
]


def estimator_options(f):
    for option in reversed(_estimator_options):
        f = option(f)
    return f


@pose_group.command("estimate")
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), help="Write the photo with the skeleton drawn (PNG/JPEG).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the keypoints as a pose file.")
@click.option("--format", "fmt", type=click.Choice(WRITE_FORMATS), default="pona", show_default=True,
              help="Format of the --json file: openpose feeds other tools (e.g. ControlNet's OpenPose conditioning).")
@estimator_options
def pose(image, out, json_path, fmt, estimator, visibility, show_logs):
    """Estimate the 18 COCO-18 keypoints of the person in IMAGE; print them as pona pose JSON.

    Example: pona pose photo.jpg --out photo-pose.png --json photo-pose.json
    """
    from ..data.estimators import quiet_native_stderr
    from ..data.fit import estimate_photo_pose
    from ..data.posefile import Pose, write_pose
    from ..fileio import IMAGE_FORMATS, check_output_file, refuse_overwriting_input, save_image
    from ..pose import draw_pose

    if out:
        check_output_file(out, "--out", IMAGE_FORMATS)
    if json_path:
        check_output_file(json_path, "--json", (".csv",) if fmt == "csv" else (".json",))
    refuse_overwriting_input(image, "IMAGE", (out, "--out"), (json_path, "--json"))
    with quiet_native_stderr(not show_logs):
        est = _estimator(estimator, visibility)
        try:
            photo, keypoints = estimate_photo_pose(image, est)
        finally:
            getattr(est, "close", lambda: None)()
    size = photo.shape[:2]
    keypoints = keypoints.round(2)  # 0.01 px is plenty; keeps the JSON short
    if json_path:
        write_pose(json_path, keypoints, size, format=fmt)
    if out:
        save_image(draw_pose(photo, keypoints), out)
    click.echo(json.dumps(Pose(keypoints, size).to_json()))


def _dataset_size(value: str | None) -> tuple[int, int] | None:
    """--size of a dataset for the model: any HxW up to the largest side a generator takes (beyond it
    every image would be a large allocation for data no model can train on)."""
    from ..errors import PonaError
    from . import MAX_MODEL_SIDE

    size = parse_size(value)
    if size is not None and max(size) > MAX_MODEL_SIDE:
        raise PonaError(f"--size {value}: at most {MAX_MODEL_SIDE} pixels a side (the largest a generator takes)")
    return size


@data.command("from-photos")
@click.argument("input_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--preset", type=click.Choice(["market", "fashion"]), default="market", show_default=True,
              help="Image size: market 128x64, fashion 256x176.")
@click.option("--size", help="HxW instead of a preset, e.g. 192x96.")
@click.option("--split", type=click.Choice(["train", "test"]), default="test", show_default=True)
@click.option("--pairs", type=click.Choice(["same-person", "all", "none"]), default="same-person", show_default=True,
              help="Ordered pairs of different photos: of one person, of anyone, or no pairs.")
@click.option("--person-sep", help="Photos directly in INPUT_DIR: the person is the file name up to this "
                                  "separator (default: each photo its own person; sub-folders are people).")
@click.option("--name", default="photos", show_default=True, help="Dataset name in the CSV file names.")
@click.option("--pad", type=click.Choice(["edge", "white", "black"]), default="edge", show_default=True,
              help="Padding colour: median colour of the crop's border, white or black.")
@click.option("--poses", "poses_dir", type=click.Path(exists=True, file_okay=False),
              help="Use existing pose files instead of estimating: POSES/<photo stem>.json or "
                   "<photo stem>_keypoints.json (OpenPose), any format pona pose convert reads.")
@estimator_options
def from_photos(input_dir, out_dir, preset, size, split, pairs, person_sep, name, pad, poses_dir, estimator,
                visibility, show_logs):
    """Turn a folder of photos (optionally one sub-folder per person) into a PATN-layout dataset.

    Photos that cannot be read or show no person are skipped and listed (stderr and the
    <name>-sources-<split>.json manifest).

    Example: pona data from-photos my-photos/ my-dataset/ --preset market
    """
    from ..data.estimators import quiet_native_stderr
    from ..data.photos import from_photos as run
    from ..fileio import check_output_dir

    check_output_dir(out_dir, "OUT_DIR")
    check_not_a_run(out_dir, "OUT_DIR")
    size = _dataset_size(size)
    with quiet_native_stderr(not show_logs):
        est = None if poses_dir else _estimator(estimator, visibility)
        try:
            summary = run(input_dir, out_dir, preset=size or preset, estimator=est, split=split, pairs=pairs,
                          person_sep=person_sep, name=name, pad=pad, progress=True, poses=poses_dir)
        finally:
            getattr(est, "close", lambda: None)()
    h, w = summary.size
    people = len(summary.people)
    click.echo(f"wrote {summary.images} images ({h}x{w}) of {people} {'person' if people == 1 else 'people'}, "
               f"{summary.pairs} pairs, to {summary.split.images}; {len(summary.skipped)} photos skipped")
    click.echo(f"  {summary.split.annotations}\n  {summary.split.pairs}\n  {summary.manifest}")
