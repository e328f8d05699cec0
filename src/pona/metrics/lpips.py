"""LPIPS v0.1 with AlexNet (Zhang et al. 2018), the perceptual distance of the modern protocol.

As the ``lpips`` package (and the PerceptualSimilarity repository GFLA/DPTN clone) computes it for
``LPIPS(net="alex", version="0.1")``:

1. inputs in [-1, 1] are scaled per channel, ``(x - shift) / scale`` with shift (-0.030, -0.088, -0.188)
   and scale (0.458, 0.448, 0.450) (the ``ScalingLayer``; v0.0 skipped it);
2. torchvision AlexNet ``features`` give five ReLU outputs: relu1 (after ``features.1``, 64 ch),
   relu2 (``features.4``, 192), relu3 (``features.7``, 384), relu4 (``features.9``, 256), relu5
   (``features.11``, 256);
3. each is normalised to unit length over channels (``x / (||x||_2 + 1e-10)``), the two images'
   features are subtracted and squared;
4. a learned 1x1 convolution without bias (``lin0`` .. ``lin4``, one output channel) weighs the
   channels, the result is averaged over space, and the five layers are summed.

Weights: torchvision's ``alexnet-owt-7be5be79.pth`` (keys ``features.{0,3,6,8,10}.{weight,bias}`` and
``classifier.{1,4,6}.*``, the classifier unused) and the v0.1 linear layers ``alex.pth`` of the lpips
package (keys ``lin{0..4}.model.1.weight``, shapes (1, C, 1, 1): index 0 of ``model`` is a Dropout).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import WeightsNotFoundError
from ..weights import find_weights, load_state_dict, match_state_dict

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
ALEXNET_URL = "https://download.pytorch.org/models/" + ALEXNET_FILE
LPIPS_FILE = "lpips_v0.1_alex.pth"  # the lpips package's weights/v0.1/alex.pth, renamed to say what it is
LPIPS_URL = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth"
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
CHANNELS = (64, 192, 384, 256, 256)

# Contracts: key -> shape of the two published files.
ALEXNET_KEYS = {
    "features.0.weight": (64, 3, 11, 11), "features.0.bias": (64,),
    "features.3.weight": (192, 64, 5, 5), "features.3.bias": (192,),
    "features.6.weight": (384, 192, 3, 3), "features.6.bias": (384,),
    "features.8.weight": (256, 384, 3, 3), "features.8.bias": (256,),
    "features.10.weight": (256, 256, 3, 3), "features.10.bias": (256,),
    "classifier.1.weight": (4096, 9216), "classifier.1.bias": (4096,),
    "classifier.4.weight": (4096, 4096), "classifier.4.bias": (4096,),
    "classifier.6.weight": (1000, 4096), "classifier.6.bias": (1000,),
}
LPIPS_KEYS = {f"lin{i}.model.1.weight": (1, c, 1, 1) for i, c in enumerate(CHANNELS)}


class AlexNetFeatures(nn.Module):
    """torchvision AlexNet ``features`` (indices kept so its keys load), returning relu1..relu5."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(),     # 0, 1: relu1
            nn.MaxPool2d(3, 2), nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(),  # 2-4: relu2
            nn.MaxPool2d(3, 2), nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),  # 5-7: relu3
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),             # 8, 9: relu4
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),             # 10, 11: relu5
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        outs = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in (1, 4, 7, 9, 11):
                outs.append(x)
        return outs


class LinLayer(nn.Module):
    """``model`` = [Dropout (identity in eval), 1x1 conv C -> 1 without bias], as the lpips package names it."""

    def __init__(self, channels: int):
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class LPIPS(nn.Module):
    """d(x0, x1) for (B, 3, H, W) images in [-1, 1] -> (B,) distances (>= 0, 0 for identical images)."""

    def __init__(self):
        super().__init__()
        self.net = AlexNetFeatures()
        for i, c in enumerate(CHANNELS):
            self.add_module(f"lin{i}", LinLayer(c))
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)

    def forward(self, x0: Tensor, x1: Tensor) -> Tensor:
        f0 = self.net((x0 - self.shift) / self.scale)
        f1 = self.net((x1 - self.shift) / self.scale)
        total = 0
        for i, (a, b) in enumerate(zip(f0, f1)):
            a = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)  # unit length over channels
            b = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            d = getattr(self, f"lin{i}")((a - b) ** 2)               # (B, 1, h, w)
            total = total + d.mean(dim=(2, 3))                       # spatial average, (B, 1)
        return total[:, 0]

    def load_published(self, alexnet: dict, lin: dict, sources=("AlexNet", "LPIPS")) -> "LPIPS":
        alexnet = match_state_dict(alexnet, ALEXNET_KEYS, sources[0])
        lin = match_state_dict(lin, LPIPS_KEYS, sources[1])
        self.net.load_state_dict({k: v for k, v in alexnet.items() if k.startswith("features.")})
        self.load_state_dict(lin, strict=False)
        return self


def _lpips_package_weights() -> Path | None:
    """weights/v0.1/alex.pth inside an installed ``lpips`` package (found without importing it)."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "weights" / "v0.1" / "alex.pth"
    return path if path.is_file() else None


def load_lpips(alexnet: str | os.PathLike | None = None, lin: str | os.PathLike | None = None,
               weights_dir: str | os.PathLike | None = None, download: bool = True) -> LPIPS:
    """Frozen LPIPS v0.1 (AlexNet) in eval mode.

    AlexNet: ``alexnet`` path, ``weights_dir/alexnet-owt-7be5be79.pth``, the torch hub cache, or a download.
    Linear layers: ``lin`` path, ``weights_dir/lpips_v0.1_alex.pth``, an installed lpips package's
    ``weights/v0.1/alex.pth``, the torch hub cache, or a download.
    """
    if lin is None and not (weights_dir and (Path(weights_dir) / LPIPS_FILE).is_file()):
        lin = _lpips_package_weights()
    found, errors = [], []
    for file, url, path in ((ALEXNET_FILE, ALEXNET_URL, alexnet), (LPIPS_FILE, LPIPS_URL, lin)):
        try:
            found.append(find_weights(file, url, path, weights_dir, download))
        except WeightsNotFoundError as e:  # look for both files, so one error names every missing one
            errors.append(str(e))
    if errors:
        raise WeightsNotFoundError(" ".join(errors))
    a, b = found
    net = LPIPS().load_published(load_state_dict(a), load_state_dict(b), (str(a), str(b)))
    return net.eval().requires_grad_(False)
