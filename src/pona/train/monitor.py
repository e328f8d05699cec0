"""What a run shows while it trains: the metrics log (JSONL, TensorBoard) and PNG grids of fixed
validation pairs. The quick validation scores with pona.metrics (legacy SSIM, PSNR, L1), the same
functions ``pona evaluate`` uses.

metrics.jsonl: one JSON object per line, ``{"kind": "train" | "val", "iteration": int, ...}``;
train lines hold the losses averaged over the last ``run.log_every`` iterations (and over
processes), ``lr``, ``epoch``, ``it_per_s`` and ``elapsed_s``; the first train line of each start
or resume also holds ``precision`` ("bf16 channels_last", "fp32 NCHW", ...; see pona.precision);
val lines hold ``ssim``, ``psnr``, ``l1`` and ``pairs``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from PIL import Image

from ..fileio import atomic_path
from ..pose import draw_pose

log = logging.getLogger(__name__)


def image_grid(rows: list[dict]) -> Image.Image:
    """One row per pair: condition | condition pose | target pose | generated | target.

    Each row dict holds ``condition``, ``generated``, ``target`` ((H, W, 3) uint8) and
    ``source_keypoints``, ``target_keypoints`` ((18, 2) (y, x)).
    """
    h, w = rows[0]["condition"].shape[:2]
    grid = Image.new("RGB", (5 * w, len(rows) * h))
    for r, row in enumerate(rows):
        panels = [
            Image.fromarray(row["condition"]),
            draw_pose(None, row["source_keypoints"], size=(h, w)),
            draw_pose(None, row["target_keypoints"], size=(h, w)),
            Image.fromarray(row["generated"]),
            Image.fromarray(row["target"]),
        ]
        for c, panel in enumerate(panels):
            grid.paste(panel, (c * w, r * h))
    return grid


def save_png(image: Image.Image, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return path


class MetricsLog:
    """Appends records to metrics.jsonl and, when tensorboard is installed and wanted, to TensorBoard."""

    def __init__(self, path: str | os.PathLike, tensorboard_dir: str | os.PathLike | None = None,
                 purge_step: int | None = None):
        """``purge_step``: on resume, TensorBoard hides events from that step on (the old run's tail)."""
        self.path = Path(path)
        self.writer = None
        if tensorboard_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # the optional `tensorboard` extra
                log.info("tensorboard is not installed: scalars go to %s only", self.path.name)
            else:
                self.writer = SummaryWriter(str(tensorboard_dir), purge_step=purge_step)

    def write(self, record: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            kind, step = record["kind"], record["iteration"]
            for k, v in record.items():
                if k not in ("kind", "iteration") and isinstance(v, (int, float)):
                    self.writer.add_scalar(f"{kind}/{k}", v, step)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def read_metrics(path: str | os.PathLike, kind: str | None = None) -> list[dict]:
    """The records of a metrics.jsonl file (optionally only one kind)."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a killed process
                continue
    return [r for r in records if kind is None or r["kind"] == kind]


def truncate_metrics(path: str | os.PathLike, iteration: int) -> None:
    """Drop records after ``iteration`` (a resumed run repeats those iterations)."""
    path = Path(path)
    if not path.is_file():
        return
    keep = [r for r in read_metrics(path) if r["iteration"] <= iteration]
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in keep)
