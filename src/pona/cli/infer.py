"""Inference commands: transfer, animate, generate, visualize-attention, export.

Each is a thin layer over :mod:`pona.inference`.
"""

from __future__ import annotations

import functools

import click

from . import cli
from .pose import READ_FORMATS


PRECISION_HELP = ("Arithmetic of the generator: auto = bf16 (autocast, channels_last) where the device has native "
                  "bf16 (CUDA, or a CPU with AVX512-BF16 or AMX), else fp32. bf16 is refused on CPUs without those "
                  "units; fp16 runs on CUDA only. Weights and outputs stay fp32.")
precision_option = click.option("--precision", default="auto", show_default=True,
                                type=click.Choice(["auto", "fp32", "bf16", "fp16"]), help=PRECISION_HELP)


def model_options(f):
    """--checkpoint, --device, --precision, --quantize-maps, shared by every command that runs the generator."""
    @click.option("--checkpoint", required=True, type=str,
                  help="Generator .safetensors, or a training run directory; 'pretrained' (studio, 64x44), 'pretrained-market' (street, 128x64) or 'pretrained-studio-256' (studio, 256x176): the ones packaged with pona.")
    @click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:1, ... (auto: cuda if available).")
    @precision_option
    @click.option("--quantize-maps", is_flag=True,
                  help="Heat maps as the field's uint8 DeepFashion files (for the authors' released model).")
    @functools.wraps(f)
    def wrapper(checkpoint, device, precision, quantize_maps, **kwargs):
        from ..precision import resolve_device

        # the device is checked before anything is read: one line for tpu, or cuda without CUDA
        device = resolve_device(device, setting="--device")
        return f(model=ModelToLoad(checkpoint, device, precision, quantize_maps), **kwargs)
    return wrapper


class ModelToLoad:
    """The generator of --checkpoint, loaded by ``load()`` once a command has read and checked its
    inputs: a bad pose file or photo is then refused alone, not after the model's loading log."""

    def __init__(self, checkpoint, device, precision, quantize):
        from ..inference.poses import LazyEstimator

        self.checkpoint, self.device, self.precision, self.quantize = checkpoint, device, precision, quantize
        self.estimator = LazyEstimator()  # reads the inputs' poses now, the model's later: loaded once

    def load(self):
        from ..inference import PoNA

        return PoNA.from_checkpoint(self.checkpoint, self.device, quantize=self.quantize, precision=self.precision,
                                    estimator=self.estimator)

    def image_size(self) -> tuple[int, int] | None:
        """(H, W) the generator takes, from the checkpoint's header (nothing built); None when the
        header does not state it plainly (``load()`` then names the problem)."""
        from ..models.io import read_metadata

        size = read_metadata(self.checkpoint)["config"].get("image_size")
        plain = isinstance(size, list) and len(size) == 2 and all(type(v) is int for v in size)
        return tuple(size) if plain else None


def quiet_native_logs(f):
    """Hide MediaPipe's C++ log lines (written straight to fd 2) while the command runs; Python's
    own stderr (progress bars, warnings, logging) stays visible. See ``pona pose --show-logs``."""
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        from ..data.estimators import quiet_native_stderr

        with quiet_native_stderr(True):
            return f(*args, **kwargs)
    return wrapper


def _load_inputs(estimator, image, source_pose, pose, **pose_options):
    from ..data.fit import read_photo
    from ..inference import load_pose

    arr = read_photo(image)  # upright by its EXIF orientation, like the pose estimator sees it
    src = load_pose(source_pose, estimator) if source_pose else None
    # a target pose file without its own image size refers to the condition photo's frame
    return arr, src, load_pose(pose, estimator, image_size=arr.shape[:2], **pose_options)


POSE_HELP = ("pose file (pona, OpenPose, COCO or MediaPipe JSON; format detected), annotations.csv:NAME, "
             "or a photo (pose extracted; needs the pose extra)")


def pose_file_options(f):
    """--pose-format, --person: how to read target pose files of other tools (see pona pose convert)."""
    f = click.option("--person", type=click.IntRange(min=0),
                     help="Which person of a target pose file with several (0-based, file order) [default: the largest].")(f)
    return click.option("--pose-format", type=click.Choice(READ_FORMATS),
                        help="Format of the target pose file(s) [default: detected from their structure].")(f)

target_frame_option = click.option(
    "--target-frame", default="auto", show_default=True, type=click.Choice(["auto", "condition", "own"]),
    help="Frame of the target pose(s): the condition photo's, or their own image size (framed like the data "
         "preparation). auto: own when the pose's image size is known and differs from --image's.")


@cli.command()
@model_options
@click.option("--image", required=True, type=click.Path(exists=True, dir_okay=False), help="Photo of the person (any size).")
@click.option("--pose", required=True, help=f"Target pose: {POSE_HELP}.")
@click.option("--source-pose", help=f"Pose of --image: {POSE_HELP} [default: extracted from --image].")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Generated image (.png, .jpg).")
@click.option("--show", type=click.Path(dir_okay=False), help="Also write a panel: condition | condition pose | target pose | output.")
@click.option("--original-frame", is_flag=True, help="Paste the output back into --image's frame (else: model size).")
@target_frame_option
@pose_file_options
@quiet_native_logs
def transfer(model, image, pose, source_pose, out, show, original_frame, target_frame, pose_format, person):
    """Generate the person of --image in the pose --pose.

    Example: pona transfer --checkpoint runs/synth-market --image person.jpg --pose target.json
    --out out.png --show panel.png
    """
    from ..fileio import IMAGE_FORMATS, check_output_file, refuse_overwriting_input, save_image

    check_output_file(out, "--out", IMAGE_FORMATS)
    if show:
        check_output_file(show, "--show", IMAGE_FORMATS)
    refuse_overwriting_input(image, "--image", (out, "--out"), (show, "--show"))
    arr, src, dst = _load_inputs(model.estimator, image, source_pose, pose, format=pose_format, person=person)
    t = model.load().transfer_detailed(arr, src, dst, target_frame=target_frame)
    result = t.in_original_frame() if original_frame else t.output
    save_image(result, out)
    click.echo(f"wrote {out} ({result.width}x{result.height})")
    if show:
        save_image(t.panel(), show)
        click.echo(f"wrote {show} (condition | condition pose | target pose | output)")


@cli.command()
@model_options
@click.option("--image", required=True, type=click.Path(exists=True, dir_okay=False), help="Photo of the person (any size).")
@click.option("--source-pose", help=f"Pose of --image: {POSE_HELP} [default: extracted].")
@click.option("--poses", required=True, type=click.Path(exists=True),
              help="A JSON list of poses, a folder of pose files (sorted; e.g. OpenPose's *_keypoints.json), "
                   "or a folder of frames (poses extracted).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="anim.gif, or anim.mp4 (needs OpenCV).")
@click.option("--fps", default=8.0, show_default=True, type=click.FloatRange(min=0.1, max=120))
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(1, 1024))
@click.option("--original-frame", is_flag=True, help="Frames in --image's frame (else: model size).")
@click.option("--no-skeleton", is_flag=True, help="Only the generated person, no skeleton beside it.")
@target_frame_option
@pose_file_options
@quiet_native_logs
def animate(model, image, source_pose, poses, out, fps, batch_size, original_frame, no_skeleton, target_frame,
            pose_format, person):
    """Render a pose sequence as an animation: skeleton | generated person, one frame per pose.

    Example: pona animate --checkpoint runs/synth-market --image person.jpg --poses walk.json --out walk.gif
    """
    from tqdm import tqdm

    from ..data.fit import read_photo
    from ..fileio import check_output_file, refuse_overwriting_input
    from ..inference import load_pose, load_pose_sequence, write_animation

    check_output_file(out, "--out", (".gif", ".mp4"))
    refuse_overwriting_input(image, "--image", (out, "--out"))  # an animated GIF may be the photo
    arr = read_photo(image)  # upright by its EXIF orientation, like the pose estimator sees it
    src = load_pose(source_pose, model.estimator) if source_pose else None
    sequence = load_pose_sequence(poses, model.estimator, format=pose_format, person=person, image_size=arr.shape[:2])
    model = model.load()
    with tqdm(total=len(sequence), unit="frame", desc="animate") as bar:
        frames = model.animate(arr, src, sequence, batch_size=batch_size, original_frame=original_frame,
                               skeleton=not no_skeleton, target_frame=target_frame,
                               progress=lambda n: bar.update(n - bar.n))
    write_animation(frames, out, fps)
    w, h = frames[0].size
    click.echo(f"wrote {out}: {len(frames)} frames of {w}x{h} at {fps:g} fps")


@cli.command()
@model_options
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="PATN-layout dataset directory.")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "test"]))
@click.option("--pairs", type=click.Path(exists=True, dir_okay=False), help="Pairs CSV [default: the split's pairs file].")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(1, 4096))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(0, 64), help="DataLoader workers.")
@click.option("--legacy-strips", is_flag=True, help="Also write the field's 5-panel strips, OUT/legacy_strips/<from>___<to>_vis.jpg.")
@click.option("--overwrite", is_flag=True, help="Regenerate pairs already written (default: skip them, resume).")
def generate(model, data, split, pairs, out, batch_size, workers, legacy_strips, overwrite):
    """Generate every pair of a pairs file: one <from>___<to>.png per pair.

    Example: pona generate --checkpoint runs/synth-market --data data/synth-market --out out/synth-market
    """
    from ..data.dataset import PairDataset
    from ..data.validate import check_dataset
    from ..fileio import check_not_inside, check_output_dir
    from ..inference import generate_pairs

    check_output_dir(out, "--out")
    check_not_inside(out, "--out", data, "the dataset --data")  # its images would be taken for data
    # the data is checked before the model loads: its errors come alone, not after the model's log line
    if pairs is None:
        check_dataset(data, (split,))
    else:
        PairDataset(data, split, pairs=pairs)
    r = generate_pairs(model.load(), data, out, split=split, pairs=pairs, batch_size=batch_size,
                       legacy_strips=legacy_strips, overwrite=overwrite, workers=workers)
    strips = f", {r.strips_added} strips added from existing PNGs" if r.strips_added else ""
    click.echo(f"{r.out}: {r.written} pairs written{strips}, {r.skipped} already there (of {r.total})")


def _parse_point(value: str | None):
    if value is None:
        return None
    try:
        y, x = (int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected y,x pixel coordinates such as 40,20, got {value!r}") from None
    if y < 0 or x < 0:
        raise click.BadParameter(f"pixel coordinates are >= 0, got {value!r}")
    return y, x


@cli.command("visualize-attention")
@model_options
@click.option("--image", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--pose", required=True, help=f"Target pose: {POSE_HELP}.")
@click.option("--source-pose", help=f"Pose of --image: {POSE_HELP} [default: extracted].")
@click.option("--point", help="Target location y,x in --image's pixels.")
@click.option("--auto", "auto", is_flag=True, help="Pick the target joint that moves farthest (the default without --point).")
@click.option("--scale", type=click.IntRange(1, 16), help="Panel size / model size [default: panels >= 256 px high].")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Figure (.png, .jpg).")
@target_frame_option
@quiet_native_logs
def visualize_attention(model, image, pose, source_pose, point, auto, scale, out, target_frame):
    """Fig. 13-style picture: each block's attention at one target location, and its codes.

    Example: pona visualize-attention --checkpoint runs/synth-market --image person.jpg --pose target.json
    --auto --out attention.png
    """
    from ..errors import PonaError
    from ..fileio import IMAGE_FORMATS, check_output_file, refuse_overwriting_input, save_image
    from ..inference import attention_figure

    if point and auto:
        raise click.UsageError("give --point or --auto, not both")
    check_output_file(out, "--out", IMAGE_FORMATS)
    refuse_overwriting_input(image, "--image", (out, "--out"))
    point = _parse_point(point)
    size = model.image_size() if point else None
    if size and not (point[0] < size[0] and point[1] < size[1]):
        raise PonaError(f"--point {point[0]},{point[1]}: outside the {size[1]}x{size[0]} (WxH) model image")
    arr, src, dst = _load_inputs(model.estimator, image, source_pose, pose)
    model = model.load()
    fig = attention_figure(model, arr, src, dst, point=point, scale=scale, target_frame=target_frame)
    save_image(fig, out)
    click.echo(f"wrote {out} ({fig.width}x{fig.height}, {len(model.generator.blocks)} blocks)")


@cli.command()
@click.option("--checkpoint", required=True, type=str, help="Generator .safetensors, or a run directory; 'pretrained' (studio, 64x44), 'pretrained-market' (street, 128x64) or 'pretrained-studio-256' (studio, 256x176): the ones packaged with pona.")
@click.option("--format", "fmt", default="onnx", show_default=True, type=click.Choice(["onnx"]))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="model.onnx")
@click.option("--opset", default=17, show_default=True, type=click.IntRange(9, 23))
@click.option("--attention", default="explicit", show_default=True, type=click.Choice(["explicit", "sdpa"]),
              help="Attention path traced into the graph.")
@click.option("--no-check", is_flag=True, help="Do not compare with PyTorch through onnxruntime.")
def export(checkpoint, fmt, out, opset, attention, no_check):
    """Export the generator to ONNX (dynamic batch) and check it against PyTorch.

    Example: pona export --checkpoint runs/synth-market --format onnx --out synth-market.onnx
    """
    from ..fileio import check_output_file
    from ..inference import export_onnx
    from ..models.io import load_generator

    check_output_file(out, "--out", (".onnx",))
    r = export_onnx(load_generator(checkpoint), out, opset=opset, attention=attention, check=not no_check)
    click.echo(f"wrote {r.path} (opset {r.opset}, {r.attention} attention, inputs image, src_maps, dst_maps; dynamic batch)")
    if r.checked:
        diffs = ", ".join(f"batch {b}: {d:.2e}" for b, d in r.max_abs_diff.items())
        click.echo(f"onnxruntime vs PyTorch, max abs diff: {diffs}")
    elif not no_check:
        click.echo("not checked: onnxruntime is not installed (pip install 'pona[export]')")
