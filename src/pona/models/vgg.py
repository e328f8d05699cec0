"""VGG-19 convolutional features (Simonyan & Zisserman 2014) for the perceptual loss, eq. (11).

Parameter names are torchvision's (``features.0.weight``, ...), so torchvision's ImageNet
checkpoint ``vgg19-dcbb9e9d.pth`` loads directly, without torchvision installed.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor, nn

from ..errors import CheckpointError
from ..weights import find_weights, load_state_dict

VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_FILE = "vgg19-dcbb9e9d.pth"
# channels per conv, "M" = 2x2 max pool (configuration "E" of the paper)
VGG19_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
RELU1_2 = 3  # index of relu1_2 in ``features``; the paper uses "Conv1_2" features
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG19Features(nn.Module):
    """``features[0..last]`` of torchvision's VGG-19; input in [-1, 1], normalised inside."""

    def __init__(self, last: int = RELU1_2):
        super().__init__()
        layers, cin = [], 3
        for v in VGG19_LAYERS:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers[: last + 1])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        x = ((x + 1) / 2 - self.mean) / self.std  # [-1, 1] -> ImageNet-normalised
        return self.features(x)

    def load_torchvision(self, state_dict: dict) -> "VGG19Features":
        """Load the ``features.*`` tensors this truncated network needs from a full VGG-19 state dict."""
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        if missing:
            raise CheckpointError(f"VGG-19 weights lack {missing}; expected torchvision's vgg19 state dict")
        for k in own:
            if state_dict[k].shape != own[k].shape:
                raise CheckpointError(f"VGG-19 weight {k} has shape {tuple(state_dict[k].shape)}, expected {tuple(own[k].shape)}")
        self.load_state_dict({k: state_dict[k] for k in own})
        return self


def vgg19_features(weights: str | os.PathLike | None = None, weights_dir: str | os.PathLike | None = None,
                   last: int = RELU1_2, download: bool = True) -> VGG19Features:
    """Frozen ImageNet VGG-19 features up to ``last``, in eval mode.

    Weights: ``weights`` path, else ``weights_dir/vgg19-dcbb9e9d.pth``, else the torch hub cache,
    else a download of torchvision's URL when online; offline without them: WeightsNotFoundError.
    """
    path = find_weights(VGG19_FILE, VGG19_URL, weights, weights_dir, download)
    net = VGG19Features(last).load_torchvision(load_state_dict(path))
    return net.eval().requires_grad_(False)
