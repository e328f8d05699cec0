"""Training the re-ID baseline: cross-entropy over the training identities.

Defaults follow the ResNet-50 baseline of the re-ID framework the paper used ([41], whose baseline
is Zheng et al.'s Person_reID_baseline_pytorch): SGD with Nesterov momentum 0.9, weight decay 5e-4,
batch 32, learning rate 0.05 for the new layers and 0.1x that for an ImageNet backbone, divided by
10 after 2/3 of 60 epochs; random horizontal flips and random crops of the padded image.

A run directory holds ``reid.safetensors`` (weights + config), ``options.json`` (the run's
settings, data and how the backbone started) and ``log.jsonl`` (one line per epoch).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.dataset import to_tensor
from ..errors import DataError
from ..fileio import atomic_path
from .evaluate import load_resized
from .market import TRAIN_DIR, read_market_folder
from .models import BACKBONES, ReIDConfig, build_reid_model, save_reid

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReIDTrainConfig:
    backbone: str = "resnet50"
    epochs: int = 60
    batch_size: int = 32
    lr: float = 0.05                 # new layers (neck, classifier; everything when not pretrained)
    backbone_lr_scale: float = 0.1   # for an ImageNet-initialised backbone
    weight_decay: float = 5e-4
    momentum: float = 0.9
    step_at: float = 2 / 3           # fraction of the epochs after which lr /= 10
    image_size: tuple[int, int] = (128, 64)
    crop_pad: int = 5                # random crop after zero padding by this many pixels (0: none)
    flip: bool = True
    last_stride: int = 1
    seed: int = 0

    def __post_init__(self):
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError(f"epochs must be >= 1 and batch_size >= 2 (batch norm), got {self.epochs}, {self.batch_size}")
        if self.lr <= 0 or not 0 < self.step_at <= 1 or self.crop_pad < 0:
            raise ValueError("lr must be > 0, step_at in (0, 1], crop_pad >= 0")
        object.__setattr__(self, "image_size", tuple(int(v) for v in self.image_size))


class ReIDImages(torch.utils.data.Dataset):
    """The images of a Market folder with their identity's class index.

    Item: (image (3, H, W) float32 in [-1, 1], label int). Training augmentation (flip, padded
    random crop) is drawn from an RNG seeded by (seed, epoch, index): the same in any worker.
    """

    def __init__(self, folder: str | os.PathLike, image_size: tuple[int, int], augment: bool = False,
                 flip: bool = True, crop_pad: int = 0, seed: int = 0):
        self.folder = Path(folder)
        names, ids, _ = read_market_folder(self.folder)
        keep = [i for i, pid in enumerate(ids) if pid > 0]  # junk/distractors are nobody to learn
        if not keep:
            raise DataError(f"{self.folder}: no image of a real identity")
        self.names = [names[i] for i in keep]
        self.identities = sorted({int(ids[i]) for i in keep})
        index = {pid: c for c, pid in enumerate(self.identities)}
        self.labels = [index[int(ids[i])] for i in keep]
        self.image_size, self.augment, self.flip, self.crop_pad, self.seed = image_size, augment, flip, crop_pad, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int):
        image = load_resized(self.folder / self.names[i], self.image_size)
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, i])
            if self.flip and rng.random() < 0.5:
                image = image[:, ::-1]
            if self.crop_pad:
                p, (h, w) = self.crop_pad, image.shape[:2]
                padded = np.pad(image, ((p, p), (p, p), (0, 0)))
                y, x = rng.integers(0, 2 * p + 1, size=2)
                image = padded[y:y + h, x:x + w]
        return to_tensor(image), self.labels[i]


def train_reid(data: str | os.PathLike, out: str | os.PathLike, config: ReIDTrainConfig = ReIDTrainConfig(),
               weights: str | os.PathLike | None = None, pretrained: bool = True, device: str | torch.device = "cpu",
               max_steps: int | None = None, num_workers: int = 0) -> dict:
    """Train on ``data/bounding_box_train`` and write the run directory ``out`` (see module doc).

    ``max_steps`` stops early (smoke tests). Returns {"init": how the backbone started,
    "history": [per-epoch dicts], "checkpoint": path}.
    """
    out = Path(out)
    torch.manual_seed(config.seed)
    dataset = ReIDImages(Path(data) / TRAIN_DIR, config.image_size, augment=True, flip=config.flip,
                         crop_pad=config.crop_pad, seed=config.seed)
    if len(dataset) < config.batch_size:
        raise DataError(f"{dataset.folder}: {len(dataset)} images, fewer than the batch size {config.batch_size}")
    model_config = ReIDConfig(config.backbone, len(dataset.identities), config.last_stride, config.image_size)
    model, init = build_reid_model(model_config, weights, pretrained)
    log.info("%s: %d images of %d identities; backbone %s, %s", dataset.folder, len(dataset),
             len(dataset.identities), config.backbone, init)
    model.to(device).train()

    pretrained_backbone = init.startswith("ImageNet")
    backbone_lr = config.lr * (config.backbone_lr_scale if pretrained_backbone else 1.0)
    head = [p for n, p in model.named_parameters() if not n.startswith("backbone.") and p.requires_grad]
    optimizer = torch.optim.SGD([{"params": model.backbone.parameters(), "lr": backbone_lr},
                                 {"params": head, "lr": config.lr}],
                                momentum=config.momentum, weight_decay=config.weight_decay, nesterov=True)
    step_epoch = max(1, round(config.step_at * config.epochs))
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_epoch, gamma=0.1)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=config.batch_size, shuffle=True, drop_last=True, num_workers=num_workers,
        generator=torch.Generator().manual_seed(config.seed))
    criterion = nn.CrossEntropyLoss()

    out.mkdir(parents=True, exist_ok=True)
    options = {"config": asdict(config), "data": str(Path(data).resolve()), "init": init,
               "identities": dataset.identities, "images": len(dataset)}
    with atomic_path(out / "options.json") as tmp:
        tmp.write_text(json.dumps(options, indent=2) + "\n")
    history, step, t0 = [], 0, time.perf_counter()
    with open(out / "log.jsonl", "w", encoding="utf-8") as logfile:
        for epoch in range(config.epochs):
            dataset.set_epoch(epoch)
            loss_sum = correct = seen = 0
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                logits, _ = model(x)
                loss = criterion(logits, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.item() * len(y)
                correct += (logits.argmax(1) == y).sum().item()
                seen += len(y)
                step += 1
                if max_steps is not None and step >= max_steps:
                    break
            scheduler.step()
            record = {"epoch": epoch + 1, "step": step, "loss": loss_sum / max(seen, 1),
                      "accuracy": correct / max(seen, 1), "lr": optimizer.param_groups[1]["lr"],
                      "seconds": round(time.perf_counter() - t0, 1)}
            history.append(record)
            logfile.write(json.dumps(record) + "\n")
            logfile.flush()
            log.info("epoch %d/%d: loss %.4f, train accuracy %.3f", epoch + 1, config.epochs, record["loss"], record["accuracy"])
            if max_steps is not None and step >= max_steps:
                break
    checkpoint = save_reid(model.cpu(), out / "reid.safetensors", {"epochs": len(history), "init": init})
    return {"init": init, "history": history, "checkpoint": checkpoint}
