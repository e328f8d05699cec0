"""Re-ID networks: ResNet-18/50 (He et al., CVPR 2016) and a small CNN for CPU runs, with an
identity classifier on the pooled feature (the baseline of the paper's re-ID framework [41]).

``ResNet`` uses torchvision's parameter names (``conv1``, ``bn1``, ``layer1.0.conv1``, ...,
``layer1.0.downsample.0``, ``fc``) and its v1.5 layout (the stride of a bottleneck sits on its 3x3
conv), so torchvision's ImageNet checkpoints (``resnet50-0676ba61.pth``) load without torchvision.

The re-ID model (``ReIDNet``)::

    image (B, 3, H, W) in [-1, 1] -> ImageNet normalisation -> backbone -> global average pool
      -> f (B, D): the embedding used for retrieval
      -> BatchNorm1d -> Linear(D, identities) -> logits, trained with cross-entropy

The batch-norm "neck" between embedding and classifier (Luo et al., "Bag of tricks", 2019) lets the
classifier train well from scratch on few images; retrieval uses f itself, as the issue asks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import CheckpointError, WeightsNotFoundError
from ..models.config import StoredConfig
from ..models.io import CheckpointKind, load_checkpoint, load_strict, save_checkpoint
from ..models.vgg import IMAGENET_MEAN, IMAGENET_STD
from ..weights import find_weights, load_state_dict

BACKBONES = ("resnet50", "resnet18", "small")
# torchvision's published ImageNet checkpoints (file name, URL), found offline first by find_weights.
IMAGENET_WEIGHTS = {
    "resnet50": ("resnet50-0676ba61.pth", "https://download.pytorch.org/models/resnet50-0676ba61.pth"),
    "resnet18": ("resnet18-f37072fd.pth", "https://download.pytorch.org/models/resnet18-f37072fd.pth"),
}
RESNET_LAYERS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3))}


class BasicBlock(nn.Module):
    """Two 3x3 convs and a shortcut (ResNet-18/34)."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, planes * self.expansion, stride)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carries the stride, torchvision's v1.5), 1x1 expand x4, and a shortcut."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, planes * self.expansion, stride)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + identity)


def _shortcut(cin: int, cout: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class ResNet(nn.Module):
    """ResNet-18/34/50 with torchvision's parameter names.

    Args:
        depth: 18, 34 or 50.
        num_classes: size of ``fc`` (1000 = ImageNet); 0 leaves ``fc`` out (a feature extractor).
        last_stride: stride of ``layer4`` (2 as in ImageNet; 1 keeps a larger last map, common in re-ID).
    """

    def __init__(self, depth: int = 50, num_classes: int = 1000, last_stride: int = 2):
        super().__init__()
        if depth not in RESNET_LAYERS:
            raise ValueError(f"ResNet depth must be one of {sorted(RESNET_LAYERS)}, got {depth}")
        kind, counts = RESNET_LAYERS[depth]
        block = BasicBlock if kind == "basic" else Bottleneck
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin, layers = 64, []
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), counts)):
            stride = 1 if i == 0 else (last_stride if i == 3 else 2)
            blocks = []
            for j in range(n):
                blocks.append(block(cin, planes, stride if j == 0 else 1))
                cin = planes * block.expansion
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.out_channels = cin
        self.fc = nn.Linear(cin, num_classes) if num_classes else None
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) ImageNet-normalised -> (B, C, H/32, W/32) (H/16 with last_stride 1)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: Tensor) -> Tensor:
        f = self.avgpool(self.forward_features(x)).flatten(1)  # (B, C)
        return f if self.fc is None else self.fc(f)

    def load_imagenet(self, state_dict: dict, source: str) -> "ResNet":
        """Load torchvision ImageNet weights; ``fc`` is dropped when this network has none."""
        if self.fc is None:
            state_dict = {k: v for k, v in state_dict.items() if not k.startswith("fc.")}
        load_strict(self, state_dict, source)
        return self


class SmallCNN(nn.Module):
    """A stride-2 3x3 stem, then four stages of two 3x3 conv-BN-ReLU (32, 64, 128, 256 channels)
    with a 2x2 max pool between stages: 1.2M parameters and about 0.13 GMACs at 128x64 (ResNet-18:
    11M and 0.3), for re-ID runs on a CPU. No pretrained weights."""

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128, 256)):
        super().__init__()
        layers = [nn.Conv2d(3, widths[0], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
        cin = widths[0]
        for i, c in enumerate(widths):
            if i:
                layers.append(nn.MaxPool2d(2))
            for _ in range(2):
                layers += [nn.Conv2d(cin, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
                cin = c
        self.features = nn.Sequential(*layers)
        self.out_channels = cin

    def forward_features(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) -> (B, 256, H/16, W/16)."""
        return self.features(x)


@dataclass(frozen=True)
class ReIDConfig(StoredConfig):
    """Everything needed to rebuild a re-ID model; stored in its checkpoint."""

    what = "re-ID"

    backbone: str = "resnet50"      # resnet50 | resnet18 | small
    num_classes: int = 751          # training identities (Market-1501: 751)
    last_stride: int = 1            # ResNet layer4 stride; 1 keeps an 8x4 last map at 128x64
    image_size: tuple[int, int] = (128, 64)  # (H, W) the images are resized to (Market: native)

    def __post_init__(self):
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        if self.last_stride not in (1, 2):
            raise ValueError(f"last_stride must be 1 or 2, got {self.last_stride}")
        h, w = self.image_size
        if h < 16 or w < 16:
            raise ValueError(f"image_size must be at least 16x16, got {self.image_size}")
        object.__setattr__(self, "image_size", (int(h), int(w)))


class ReIDNet(nn.Module):
    """Backbone, pooled embedding, BN neck, identity classifier (see module doc)."""

    def __init__(self, config: ReIDConfig):
        super().__init__()
        self.config = config
        if config.backbone == "small":
            self.backbone = SmallCNN()
        else:
            self.backbone = ResNet(int(config.backbone[len("resnet"):]), num_classes=0, last_stride=config.last_stride)
        d = self.backbone.out_channels
        self.neck = nn.BatchNorm1d(d)
        self.neck.bias.requires_grad_(False)  # a shift before a linear classifier is redundant
        self.classifier = nn.Linear(d, config.num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def embed(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) in [-1, 1] -> (B, D) pooled features (D = 2048 / 512 / 256)."""
        x = ((x + 1) / 2 - self.mean) / self.std
        return self.backbone.forward_features(x).mean(dim=(2, 3))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """-> (logits (B, num_classes), embedding (B, D))."""
        f = self.embed(x)
        return self.classifier(self.neck(f)), f


def build_reid_model(config: ReIDConfig, weights: str | os.PathLike | None = None, pretrained: bool = True,
                     weights_dir: str | os.PathLike | None = None, download: bool = True) -> tuple[ReIDNet, str]:
    """A re-ID model and a sentence saying how its backbone was initialised.

    ResNets start from torchvision's ImageNet weights when found (``weights`` path, ``weights_dir``,
    the torch hub cache, a download when online); otherwise from random init, and the sentence says
    why. An explicit ``weights`` path that does not load is an error, not a silent fallback.
    """
    model = ReIDNet(config)
    if config.backbone not in IMAGENET_WEIGHTS:
        return model, f"random init (no ImageNet weights for the {config.backbone!r} backbone)"
    if not pretrained:
        return model, "random init (pretrained weights turned off)"
    filename, url = IMAGENET_WEIGHTS[config.backbone]
    try:
        path = find_weights(filename, url, weights, weights_dir, download)
    except WeightsNotFoundError as e:
        if weights is not None:
            raise
        return model, f"random init: {e}"
    model.backbone.load_imagenet(load_state_dict(path), str(path))
    return model, f"ImageNet weights from {path}"


REID = CheckpointKind("pona-reid", ReIDConfig, "save_reid")
RUN_DIR_FILE = "reid.safetensors"


def save_reid(model: ReIDNet, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Weights + config (+ string metadata) in one .safetensors file, written atomically."""
    return save_checkpoint(model, path, REID, metadata)


def load_reid(path: str | os.PathLike, device: str | torch.device = "cpu") -> ReIDNet:
    """Rebuild a re-ID model from its file or its training run directory, in eval mode."""
    path = Path(path)
    if path.is_dir():
        path = path / RUN_DIR_FILE
    if not path.is_file():
        raise CheckpointError(f"re-ID checkpoint {path} does not exist (train one with `pona reid train`)")
    return load_checkpoint(path, REID, ReIDNet).to(device).eval()
