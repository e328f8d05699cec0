"""``pona demo``: the whole pipeline on synthetic people in about ten minutes on a 2-core CPU.

1. render a synthetic dataset (identity-disjoint train/test split): people in a photo studio (the
   default; a plain backdrop shared by a person's images, as in DeepFashion) or in street scenes
   seen by several cameras (as in Market-1501);
2. train PoNA on it for the remaining time budget (or take the packaged pretrained checkpoint);
3. generate held-out test pairs and evaluate them (legacy protocol) against copying the condition image;
4. make the figures: held-out examples, an animation from a pose sequence, the attention of each
   block, the training curves;
5. write ``report.html`` (self-contained: every image embedded) and the files beside it.

Nothing is downloaded: metrics that need pretrained networks (IS) are skipped and say so.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .data.dataset import load_image, to_uint8
from .data.layout import find_split, read_annotations, read_pairs
from .data.synth import pose_keypoints, sample_pose_sequence, write_dataset
from .errors import PonaError
from .fileio import atomic_path
from .inference import PoNA, attention_figure, generate_pairs, write_animation
from .inference.panels import hstack, pose_image
from .metrics.evaluate import copy_condition_images, evaluate
from .models.io import check_fits, pretrained_checkpoint
from .report import svg_line_chart, write_demo_report
from .train.config import load_config
from .train.trainer import Trainer

log = logging.getLogger(__name__)

# evaluation, figures and report, after training: they took 4-5 s in the studio demo (200 pairs,
# AMD EPYC Zen 4, 2 cores); the rest of the margin is for slower machines and the street scene
RESERVED_MINUTES = 0.4
# scene -> (the synthetic renderer's preset, the training preset)
SCENES = {"studio": ("fashion", "synth-studio"), "street": ("market", "synth-market")}
# the packaged checkpoint `--pretrained` uses, by the training preset it was made with (and whose data size it needs)
PRETRAINED_BY_PRESET = {"synth-studio": "pretrained-studio", "synth-market": "pretrained-market",
                        "synth-studio-256": "pretrained-studio-256"}


@dataclass(frozen=True)
class DemoOptions:
    out: Path = Path("demo")
    minutes: float = 10.0          # total wall-clock budget; training gets what the other steps leave
    pretrained: bool = False       # use the packaged checkpoint of the scene instead of training
    scene: str = "studio"          # "studio" | "street" (see SCENES)
    preset: str | None = None      # training preset (default: the scene's); its image size sets the data's
    train_ids: int = 200           # synthetic people for training
    test_ids: int = 20             # held-out people (never seen in training)
    poses: int = 8                 # images per person
    eval_pairs: int = 200          # held-out pairs generated and scored (evenly spread over the test pairs)
    seed: int = 0
    precision: str = "auto"        # training and inference (pona.precision): bf16 where the CPU has the units
    overrides: tuple[str, ...] = ()  # extra `section.key=value` training overrides
    max_iterations: int | None = None  # an iteration cap on top of the time budget (tests)


@dataclass
class DemoResult:
    report: Path
    checkpoint: Path
    data: Path
    metrics: dict                  # {"PoNA": {...}, "copy condition": {...}}
    iterations: int | None
    timings: dict = field(default_factory=dict)
    evaluated_pairs: int = 0


def check_options(opts: DemoOptions) -> None:
    if opts.scene not in SCENES:
        raise PonaError(f"unknown scene {opts.scene!r}: choose one of {', '.join(SCENES)}")
    if opts.pretrained and training_preset(opts) not in PRETRAINED_BY_PRESET:
        raise PonaError(f"no checkpoint packaged with pona was trained with preset {training_preset(opts)!r}: "
                        f"--pretrained needs one of {', '.join(PRETRAINED_BY_PRESET)}")
    if not opts.pretrained:  # the preset and overrides are refused before the data is rendered, not after
        check_fits(load_config(training_preset(opts), list(opts.overrides)).model, "model")


def training_preset(opts: DemoOptions) -> str:
    return opts.preset or SCENES[opts.scene][1]


def _preset_size(preset: str) -> tuple[int, int]:
    return tuple(load_config(preset).model.image_size)


def make_data(opts: DemoOptions) -> Path:
    """The synthetic dataset under ``out/data``, rendered once and reused by later runs."""
    root = opts.out / "data"
    size = _preset_size(training_preset(opts))
    stamp = root / "demo-data.json"
    spec = {"scene": opts.scene, "train_ids": opts.train_ids, "test_ids": opts.test_ids, "poses": opts.poses,
            "seed": opts.seed, "size": list(size)}
    if stamp.is_file() and json.loads(stamp.read_text()) == spec:
        return root
    write_dataset(root, SCENES[opts.scene][0], n_train_ids=opts.train_ids, n_test_ids=opts.test_ids,
                  poses_per_id=opts.poses, seed=opts.seed, size=size, overwrite=True)
    stamp.write_text(json.dumps(spec))
    return root


def train(opts: DemoOptions, data: Path, minutes: float) -> tuple[Path, int, str]:
    """Train the preset on ``data`` for ``minutes`` into ``out/run`` (restarted from scratch);
    returns the run directory, the iterations done and the precision they ran in."""
    config = load_config(training_preset(opts), [f"data.root={data}", f"run.seed={opts.seed}", f"run.amp={opts.precision}",
                                                 "run.channels_last=auto", *opts.overrides])
    trainer = Trainer(config, opts.out / "run", overwrite=True)
    summary = trainer.train(max_iterations=opts.max_iterations, max_minutes=max(minutes, 0.05))
    return opts.out / "run", summary["iteration"], str(trainer.precision)


def spread(items: list, n: int) -> list:
    """``n`` items evenly spread over ``items`` (all if there are fewer)."""
    if len(items) <= n:
        return list(items)
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, n).round()]


def evaluate_against_copy(model, data: Path, pairs: list, out: Path) -> dict:
    """Generate ``pairs`` and score them next to copying the condition image (legacy protocol)."""
    generate_pairs(model, data, out / "generated", pairs=pairs, overwrite=True, workers=0)
    copy_condition_images(data, out / "copy", pairs=pairs)
    results = {}
    for name, folder in (("PoNA", out / "generated"), ("copy condition", out / "copy")):
        r = evaluate(folder, data, "legacy", pairs=pairs, estimator="none", download=False)
        results[name] = r
    return results


def examples_grid(model, data: Path, pairs: list, examples: int = 10, columns: int = 2) -> Image.Image:
    """Held-out examples, ``columns`` side by side, each condition | target pose | generated |
    ground truth, one person per example where possible (at the images' own resolution: the
    report scales it up without smoothing)."""
    split = find_split(data, "test")
    ann = read_annotations(split.annotations)
    chosen, seen = [], set()
    for a, b in pairs:
        person = a.split("_")[0]
        if person not in seen:
            chosen.append((a, b))
            seen.add(person)
    chosen = (chosen + [p for p in pairs if p not in chosen])[:examples]
    images = [load_image(split.images / a) for a, _ in chosen]
    generated = [to_uint8(g) for g in model.generate(images, [ann[a] for a, _ in chosen], [ann[b] for _, b in chosen])]
    h, w = images[0].shape[:2]
    strips = [hstack([Image.fromarray(img), pose_image(ann[b], (h, w)), gen, Image.fromarray(load_image(split.images / b))])
              for img, gen, (a, b) in zip(images, generated, chosen)]
    rows = -(-len(strips) // columns)
    gap = max(w // 8, 2)  # white space between the columns of examples
    grid = Image.new("RGB", (columns * strips[0].width + (columns - 1) * gap, rows * h), "white")
    for i, s in enumerate(strips):
        grid.paste(s, ((i // rows) * (s.width + gap), (i % rows) * h))
    return grid


def animation(model, opts: DemoOptions, data: Path, path: Path, frames: int = 24) -> Path:
    """A held-out person walking through a synthetic pose sequence (skeleton | generated)."""
    split = find_split(data, "test")
    ann = read_annotations(split.annotations)
    name = sorted(ann)[0]
    h, w = model.image_size
    rng = np.random.default_rng([opts.seed, 7])
    poses = sample_pose_sequence(rng, frames, SCENES[opts.scene][0], kind="walk")
    targets = [pose_keypoints(p, (h, w)) for p in poses]
    images = model.animate(load_image(split.images / name), ann[name], targets)
    return write_animation(images, path, fps=8)


def curves(run: Path | None, metrics_file: Path | None) -> str:
    """Training curves as inline SVG: generator L1, and validation SSIM and colours right against iterations."""
    lines = []
    if metrics_file is not None and metrics_file.is_file():
        lines = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
    train = [r for r in lines if r.get("kind") == "train"]
    val = [r for r in lines if r.get("kind") == "val"]
    if not train:
        return "<p>No training log.</p>"
    charts = [svg_line_chart({"G L1 (eq. 10)": ([r["iteration"] for r in train], [r["g_l1"] for r in train]),
                              "G adversarial": ([r["iteration"] for r in train], [r["g_gan"] for r in train])},
                             "generator losses", "iteration")]
    if val:
        series = {"validation SSIM": ([r["iteration"] for r in val], [r["ssim"] for r in val])}
        coloured = [r for r in val if r.get("colour_right") is not None]  # logs of before the diagnostic lack it
        if coloured:
            series["colours right"] = ([r["iteration"] for r in coloured], [r["colour_right"] for r in coloured])
        charts.append(svg_line_chart(series, "held-out SSIM and share of pairs in the right colours", "iteration"))
    return "\n".join(charts)


def run_demo(opts: DemoOptions) -> DemoResult:
    """Run every step (see the module docstring) and return where the report is."""
    check_options(opts)
    t0 = time.monotonic()
    timings = {}
    out = opts.out
    out.mkdir(parents=True, exist_ok=True)

    log.info("1/5 rendering synthetic people into %s", out / "data")
    data = make_data(opts)
    timings["data"] = time.monotonic() - t0

    iterations, train_precision = None, None
    if opts.pretrained:
        checkpoint = pretrained_checkpoint(PRETRAINED_BY_PRESET[training_preset(opts)])
        metrics_file = checkpoint.with_suffix(".metrics.jsonl")
        log.info("2/5 using the packaged pretrained checkpoint %s", checkpoint)
    else:
        minutes = opts.minutes - (time.monotonic() - t0) / 60 - RESERVED_MINUTES
        log.info("2/5 training %s for %.1f minutes (progress bar below)", training_preset(opts), max(minutes, 0.05))
        checkpoint, iterations, train_precision = train(opts, data, minutes)
        metrics_file = checkpoint / "metrics.jsonl"
    timings["train"] = time.monotonic() - t0 - sum(timings.values())

    log.info("3/5 generating and evaluating held-out pairs")
    model = PoNA.from_checkpoint(checkpoint, precision=opts.precision)
    size = _preset_size(training_preset(opts))
    if tuple(model.image_size) != size:
        raise PonaError(f"{checkpoint}: model size {model.image_size} differs from the demo data's {size}")
    pairs = spread(read_pairs(find_split(data, "test").pairs), opts.eval_pairs)
    results = evaluate_against_copy(model, data, pairs, out)
    timings["evaluate"] = time.monotonic() - t0 - sum(timings.values())

    log.info("4/5 figures: examples, animation, attention, curves")
    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    grid = examples_grid(model, data, pairs)
    grid.save(figures / "examples.png")
    anim = animation(model, opts, data, figures / "animation.gif")
    a, b = pairs[len(pairs) // 2]
    split = find_split(data, "test")
    ann = read_annotations(split.annotations)
    attention_figure(model, load_image(split.images / a), ann[a], ann[b]).save(figures / "attention.png")
    timings["figures"] = time.monotonic() - t0 - sum(timings.values())

    log.info("5/5 writing the report")
    summary = {
        "checkpoint": str(checkpoint), "pretrained": opts.pretrained, "iterations": iterations,
        "parameters": sum(p.numel() for p in model.generator.parameters()),
        "config": model.generator.config.to_dict(), "options": {k: str(v) for k, v in asdict(opts).items()},
        "data": {"train_ids": opts.train_ids, "test_ids": opts.test_ids, "poses": opts.poses,
                 "evaluated_pairs": len(pairs)},
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "precision": {"training": train_precision, "inference": str(model.precision)},
        "scene": opts.scene, "seed": opts.seed,
    }
    report = write_demo_report(out / "report.html", summary, results, {
        "examples": figures / "examples.png", "animation": anim, "attention": figures / "attention.png",
    }, curves(None, metrics_file))
    metrics = {name: {m.key: m.value for m in r.metrics} for name, r in results.items()}
    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps({**summary, "metrics": metrics}, indent=2))
    return DemoResult(report, checkpoint, data, metrics, iterations, timings, len(pairs))
