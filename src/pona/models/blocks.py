"""Building blocks shared by the generators and discriminators: encoders, double convs, decoder.

Layer order inside each ``nn.Sequential`` matches the released code, so released state dicts map
onto ours by renaming prefixes only (see ``pona.convert``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class InstanceNorm(nn.InstanceNorm2d):
    """``nn.InstanceNorm2d`` without affine parameters or running statistics (as released),
    computed as a group norm with one channel per group: the same statistics over (H, W) per image
    and channel, but PyTorch's CPU group-norm kernel is 2-5x faster than its instance norm (which
    runs batch norm on a (1, B*C, H, W) view). Same state dict (none) as ``nn.InstanceNorm2d``.

    Channels-last inputs are normalised in NCHW and handed back channels-last: the CPU group-norm
    kernel for channels-last with one channel per group is 3-9x slower (forward + backward) than
    the two layout copies, and it dominated bf16 training of the small presets
    (benchmarks/precision.py)."""

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
            y = F.group_norm(x.contiguous(), self.num_features, eps=self.eps)
            return y.contiguous(memory_format=torch.channels_last)
        return F.group_norm(x, self.num_features, eps=self.eps)


def norm_layer(kind: str, channels: int) -> nn.Module:
    """Instance norm without affine parameters or running statistics (as released), or batch norm."""
    if kind == "instance":
        return InstanceNorm(channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    raise ValueError(f"unknown norm {kind!r}")


def encoder(in_channels: int, ngf: int, norm: str) -> nn.Sequential:
    """ReflectionPad(3) Conv7x7 -> ngf, then two stride-2 Conv3x3 to 2ngf and 4ngf; norm + ReLU after each.

    Convs carry a bias only with instance norm (batch norm has its own shift). Output: (B, 4ngf, H/4, W/4).
    """
    bias = norm == "instance"
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias), norm_layer(norm, ngf), nn.ReLU(True)]
    for mult in (1, 2):
        layers += [
            nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
            norm_layer(norm, ngf * mult * 2),
            nn.ReLU(True),
        ]
    return nn.Sequential(*layers)


def decoder(ngf: int, norm: str, out_channels: int = 3) -> nn.Sequential:
    """Two stride-2 ConvTranspose3x3 (4ngf -> 2ngf -> ngf) with norm + ReLU, then Conv7x7 -> RGB and tanh."""
    bias = norm == "instance"
    layers = []
    for mult in (4, 2):
        layers += [
            nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
            norm_layer(norm, ngf * mult // 2),
            nn.ReLU(True),
        ]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
    return nn.Sequential(*layers)


class Dropout(nn.Dropout):
    """``nn.Dropout``, its keep mask drawn from uniform floats on CPU: the same distribution (each
    element kept with probability 1 - p and scaled by 1 / (1 - p)), about 3x faster there, where
    ``bernoulli_`` draws one variate at a time (forward + backward of a (4, 64, 16, 11) bf16 batch:
    590 us against 200 us on an AMD EPYC Zen 4, 2 threads), ~7% of a demo training step."""

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu":  # GPUs have a fused dropout kernel
            return super().forward(x)
        keep = torch.empty_like(x, dtype=torch.float32).uniform_().ge_(self.p)
        return x * keep.to(x.dtype).mul_(1.0 / (1.0 - self.p))


class DoubleConv(nn.Sequential):
    """PoNA's ``dc``: Conv3x3(cin->cin) IN ReLU Dropout Conv3x3(cin->cout) IN ReLU.

    Zero padding 1, biases on, instance norm without affine whatever the outer norm (as released).
    """

    def __init__(self, cin: int, cout: int, dropout: float = 0.5):
        super().__init__(
            nn.Conv2d(cin, cin, 3, padding=1), InstanceNorm(cin), nn.ReLU(True),
            Dropout(dropout),
            nn.Conv2d(cin, cout, 3, padding=1), InstanceNorm(cout), nn.ReLU(True),
        )


def conv_block(channels: int, norm: str, dropout: float = 0.5, cout: int | None = None, last_norm: bool = True) -> nn.Sequential:
    """ReflectionPad(1) Conv3x3 norm ReLU [Dropout] ReflectionPad(1) Conv3x3 [norm] (PATN's conv block)."""
    bias = norm == "instance"
    cout = channels if cout is None else cout
    layers = [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), norm_layer(norm, channels), nn.ReLU(True)]
    if dropout:
        layers.append(Dropout(dropout))
    layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, cout, 3, bias=bias)]
    if last_norm:
        layers.append(norm_layer(norm, cout))
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """``x + conv_block(x)``: the discriminators' residual block."""

    def __init__(self, channels: int, norm: str, dropout: float = 0.5):
        super().__init__()
        self.block = conv_block(channels, norm, dropout)

    def forward(self, x):
        return x + self.block(x)


def init_weights(module: nn.Module) -> None:
    """The released initialisation: conv weights N(0, 0.02); batch norm weight N(1, 0.02), bias 0.

    Conv biases keep PyTorch's default initialisation, as in the released code.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
