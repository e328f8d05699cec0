"""Inception-v3 in plain torch, in the two weight sets the field's metrics use.

1. **The 2015 TensorFlow graph** (``inception-2015-12-05.tgz``, ``classify_image_graph_def.pb``), which
   every Inception Score and the original FID (TTUR) ran, as ported to PyTorch by pytorch-fid:
   ``pt_inception-2015-12-05-6726825d.pth`` (pytorch-fid's ``FIDInceptionA/C/E_1/E_2``; torch-fidelity
   ships the same weights). Its blocks differ from torchvision's Inception-v3 in three ways:

   - the 3x3 average pools inside the A blocks (Mixed_5b-d), the C blocks (Mixed_6b-e) and the first
     E block (Mixed_7b) exclude the zero padding from the average (``count_include_pad=False``, as
     TensorFlow's ``avg_pool`` does), where torchvision includes it;
   - the pool branch of the last E block (Mixed_7c) is a 3x3 *max* pool (stride 1, padding 1), not an
     average pool (a quirk of that graph, kept by every port);
   - the classifier ``fc`` has 1008 outputs (the graph's 1008 classes), not 1000, and there is no
     auxiliary classifier in the file.

   Everything else (layer names, shapes, BatchNorm eps 0.001) matches torchvision, so the file's keys
   are torchvision's: ``Conv2d_1a_3x3.conv.weight``, ``Mixed_5b.branch1x1.bn.running_mean``, ...,
   ``fc.weight`` (1008, 2048), ``fc.bias`` (1008,).

2. **torchvision's ImageNet Inception-v3** (``inception_v3_google-0cc3c7bd.pth``, 27,161,264
   parameters with its auxiliary classifier ``AuxLogits.*``, which the file holds and we do not use),
   the backbone of the FID that GFLA, DPTN, NTED, PIDM and CFLD report.

Inputs are resized to 299x299 bilinearly and normalised as each tool did (:func:`preprocess`):

- ``"tf_graph"`` (legacy Inception Score): pixel values in [0, 255], TensorFlow 1.x ``resize_bilinear``
  (``align_corners=False``: source = destination * in/out, no half-pixel offset), then
  ``(x - 128) / 128``, as the graph's own ``ResizeBilinear``, ``Sub`` and ``Mul`` nodes do;
- ``"pytorch_fid"`` (FID with the 2015 weights): [0, 1], ``F.interpolate(..., "bilinear",
  align_corners=False)`` (half-pixel), then ``2 x - 1`` (pytorch-fid's ``InceptionV3``);
- ``"torchvision"`` (the modern FID): [0, 1], the same ``F.interpolate``, then torchvision's
  ``transform_input`` formula ``x * std / 0.5 + (mean - 0.5) / 0.5`` per channel, applied to the
  [0, 1] image exactly as the old pytorch-fid ``InceptionV3`` that GFLA/DPTN copied, and CFLD's
  ``forward_inception``, do (ImageNet mean/std; this maps [0, 1] to about [-0.03, 0.43]).

The network returns the 2048-d pool features ("pool3"); :meth:`InceptionV3.classify` gives logits,
with or without the fc bias: the field's Inception Score multiplies pool3 by the graph's
``softmax/logits/MatMul`` weight only, without the bias (improved-GAN ``inception_score.py``).
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..weights import find_weights, load_state_dict, match_state_dict

FID_INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_INCEPTION_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + FID_INCEPTION_FILE
TV_INCEPTION_FILE = "inception_v3_google-0cc3c7bd.pth"
TV_INCEPTION_URL = "https://download.pytorch.org/models/" + TV_INCEPTION_FILE
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SIZE = 299

# The contract: every BasicConv2d of both published files, "name in out kh kw". Each holds
# <name>.conv.weight (out, in, kh, kw) and <name>.bn.{weight,bias,running_mean,running_var} (out,).
# torchvision's file also has AuxLogits.conv0 (768 -> 128, 1x1), AuxLogits.conv1 (128 -> 768, 5x5) and
# AuxLogits.fc (1000, 768); both files end with fc.weight (classes, 2048) and fc.bias (classes,).
_CONVS = """
Conv2d_1a_3x3               3   32    3    3
Conv2d_2a_3x3              32   32    3    3
Conv2d_2b_3x3              32   64    3    3
Conv2d_3b_1x1              64   80    1    1
Conv2d_4a_3x3              80  192    3    3
Mixed_5b.branch1x1        192   64    1    1
Mixed_5b.branch5x5_1      192   48    1    1
Mixed_5b.branch5x5_2       48   64    5    5
Mixed_5b.branch3x3dbl_1   192   64    1    1
Mixed_5b.branch3x3dbl_2    64   96    3    3
Mixed_5b.branch3x3dbl_3    96   96    3    3
Mixed_5b.branch_pool      192   32    1    1
Mixed_5c.branch1x1        256   64    1    1
Mixed_5c.branch5x5_1      256   48    1    1
Mixed_5c.branch5x5_2       48   64    5    5
Mixed_5c.branch3x3dbl_1   256   64    1    1
Mixed_5c.branch3x3dbl_2    64   96    3    3
Mixed_5c.branch3x3dbl_3    96   96    3    3
Mixed_5c.branch_pool      256   64    1    1
Mixed_5d.branch1x1        288   64    1    1
Mixed_5d.branch5x5_1      288   48    1    1
Mixed_5d.branch5x5_2       48   64    5    5
Mixed_5d.branch3x3dbl_1   288   64    1    1
Mixed_5d.branch3x3dbl_2    64   96    3    3
Mixed_5d.branch3x3dbl_3    96   96    3    3
Mixed_5d.branch_pool      288   64    1    1
Mixed_6a.branch3x3        288  384    3    3
Mixed_6a.branch3x3dbl_1   288   64    1    1
Mixed_6a.branch3x3dbl_2    64   96    3    3
Mixed_6a.branch3x3dbl_3    96   96    3    3
Mixed_6b.branch1x1        768  192    1    1
Mixed_6b.branch7x7_1      768  128    1    1
Mixed_6b.branch7x7_2      128  128    1    7
Mixed_6b.branch7x7_3      128  192    7    1
Mixed_6b.branch7x7dbl_1   768  128    1    1
Mixed_6b.branch7x7dbl_2   128  128    7    1
Mixed_6b.branch7x7dbl_3   128  128    1    7
Mixed_6b.branch7x7dbl_4   128  128    7    1
Mixed_6b.branch7x7dbl_5   128  192    1    7
Mixed_6b.branch_pool      768  192    1    1
Mixed_6c.branch1x1        768  192    1    1
Mixed_6c.branch7x7_1      768  160    1    1
Mixed_6c.branch7x7_2      160  160    1    7
Mixed_6c.branch7x7_3      160  192    7    1
Mixed_6c.branch7x7dbl_1   768  160    1    1
Mixed_6c.branch7x7dbl_2   160  160    7    1
Mixed_6c.branch7x7dbl_3   160  160    1    7
Mixed_6c.branch7x7dbl_4   160  160    7    1
Mixed_6c.branch7x7dbl_5   160  192    1    7
Mixed_6c.branch_pool      768  192    1    1
Mixed_6d.branch1x1        768  192    1    1
Mixed_6d.branch7x7_1      768  160    1    1
Mixed_6d.branch7x7_2      160  160    1    7
Mixed_6d.branch7x7_3      160  192    7    1
Mixed_6d.branch7x7dbl_1   768  160    1    1
Mixed_6d.branch7x7dbl_2   160  160    7    1
Mixed_6d.branch7x7dbl_3   160  160    1    7
Mixed_6d.branch7x7dbl_4   160  160    7    1
Mixed_6d.branch7x7dbl_5   160  192    1    7
Mixed_6d.branch_pool      768  192    1    1
Mixed_6e.branch1x1        768  192    1    1
Mixed_6e.branch7x7_1      768  192    1    1
Mixed_6e.branch7x7_2      192  192    1    7
Mixed_6e.branch7x7_3      192  192    7    1
Mixed_6e.branch7x7dbl_1   768  192    1    1
Mixed_6e.branch7x7dbl_2   192  192    7    1
Mixed_6e.branch7x7dbl_3   192  192    1    7
Mixed_6e.branch7x7dbl_4   192  192    7    1
Mixed_6e.branch7x7dbl_5   192  192    1    7
Mixed_6e.branch_pool      768  192    1    1
Mixed_7a.branch3x3_1      768  192    1    1
Mixed_7a.branch3x3_2      192  320    3    3
Mixed_7a.branch7x7x3_1    768  192    1    1
Mixed_7a.branch7x7x3_2    192  192    1    7
Mixed_7a.branch7x7x3_3    192  192    7    1
Mixed_7a.branch7x7x3_4    192  192    3    3
Mixed_7b.branch1x1       1280  320    1    1
Mixed_7b.branch3x3_1     1280  384    1    1
Mixed_7b.branch3x3_2a     384  384    1    3
Mixed_7b.branch3x3_2b     384  384    3    1
Mixed_7b.branch3x3dbl_1  1280  448    1    1
Mixed_7b.branch3x3dbl_2   448  384    3    3
Mixed_7b.branch3x3dbl_3a  384  384    1    3
Mixed_7b.branch3x3dbl_3b  384  384    3    1
Mixed_7b.branch_pool     1280  192    1    1
Mixed_7c.branch1x1       2048  320    1    1
Mixed_7c.branch3x3_1     2048  384    1    1
Mixed_7c.branch3x3_2a     384  384    1    3
Mixed_7c.branch3x3_2b     384  384    3    1
Mixed_7c.branch3x3dbl_1  2048  448    1    1
Mixed_7c.branch3x3dbl_2   448  384    3    3
Mixed_7c.branch3x3dbl_3a  384  384    1    3
Mixed_7c.branch3x3dbl_3b  384  384    3    1
Mixed_7c.branch_pool     2048  192    1    1
"""
_AUX_CONVS = """
AuxLogits.conv0             768  128    1    1
AuxLogits.conv1             128  768    5    5
"""


def _conv_keys(table: str) -> dict[str, tuple[int, ...]]:
    keys = {}
    for line in table.strip().splitlines():
        name, cin, cout, kh, kw = line.split()
        cin, cout, kh, kw = int(cin), int(cout), int(kh), int(kw)
        keys[f"{name}.conv.weight"] = (cout, cin, kh, kw)
        for p in ("weight", "bias", "running_mean", "running_var"):
            keys[f"{name}.bn.{p}"] = (cout,)
    return keys


def published_keys(variant: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the published weight file of ``variant`` ("fid" or "torchvision"),
    without BatchNorm's ``num_batches_tracked`` counters (ignored when present)."""
    keys = _conv_keys(_CONVS)
    if variant == "fid":
        keys.update({"fc.weight": (1008, 2048), "fc.bias": (1008,)})
    elif variant == "torchvision":
        keys.update(_conv_keys(_AUX_CONVS))
        keys.update({"AuxLogits.fc.weight": (1000, 768), "AuxLogits.fc.bias": (1000,),
                     "fc.weight": (1000, 2048), "fc.bias": (1000,)})
    else:
        raise ValueError(f"unknown Inception variant {variant!r}: expected 'fid' or 'torchvision'")
    return keys


# ---------------------------------------------------------------------------------------------------
# Blocks. Pool kinds of the branch_pool path: "avg" (torchvision: zero padding counted in the average),
# "avg_tf" (TensorFlow: padding excluded), "max" (the 2015 graph's last block).


def _pool3x3(x: Tensor, kind: str) -> Tensor:
    if kind == "max":
        return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=(kind == "avg"))


class BasicConv2d(nn.Module):
    """conv (no bias) -> BatchNorm (eps 0.001) -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


class InceptionA(nn.Module):
    """35x35 block: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | pool-1x1 -> 64 + 64 + 96 + pool_features channels."""

    def __init__(self, cin: int, pool_features: int, pool: str):
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_pool3x3(x, self.pool))
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionB(nn.Module):
    """35 -> 17 reduction: 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2 -> 384 + 96 + cin channels."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b3, bd, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convolutions -> 4 x 192 = 768 channels."""

    def __init__(self, cin: int, c7: int, pool: str):
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = layer(bd)
        bp = self.branch_pool(_pool3x3(x, self.pool))
        return torch.cat([b1, b7, bd, bp], 1)


class InceptionD(nn.Module):
    """17 -> 8 reduction: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2 -> 320 + 192 + cin channels."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionE(nn.Module):
    """8x8 block with split 1x3/3x1 outputs -> 320 + 768 + 768 + 192 = 2048 channels."""

    def __init__(self, cin: int, pool: str):
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        bp = self.branch_pool(_pool3x3(x, self.pool))
        return torch.cat([b1, b3, bd, bp], 1)


class InceptionV3(nn.Module):
    """Inception-v3 up to the 2048-d average pool, plus its classifier ``fc``.

    ``variant="fid"``: the 2015 graph (TF pools, max pool in Mixed_7c, 1008 classes);
    ``variant="torchvision"``: torchvision's ImageNet network (1000 classes, no auxiliary head).
    Input: (B, 3, 299, 299) already normalised, see :func:`preprocess`.
    """

    def __init__(self, variant: str = "fid"):
        super().__init__()
        if variant not in ("fid", "torchvision"):
            raise ValueError(f"unknown Inception variant {variant!r}: expected 'fid' or 'torchvision'")
        self.variant = variant
        tf = variant == "fid"
        avg = "avg_tf" if tf else "avg"
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)     # 299 -> 149
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)              # -> 147
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)   # -> 147, then max pool -> 73
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)             # -> 71, then max pool -> 35
        self.Mixed_5b = InceptionA(192, 32, avg)
        self.Mixed_5c = InceptionA(256, 64, avg)
        self.Mixed_5d = InceptionA(288, 64, avg)
        self.Mixed_6a = InceptionB(288)                          # -> 17
        self.Mixed_6b = InceptionC(768, 128, avg)
        self.Mixed_6c = InceptionC(768, 160, avg)
        self.Mixed_6d = InceptionC(768, 160, avg)
        self.Mixed_6e = InceptionC(768, 192, avg)
        self.Mixed_7a = InceptionD(768)                          # -> 8
        self.Mixed_7b = InceptionE(1280, avg)
        self.Mixed_7c = InceptionE(2048, "max" if tf else "avg")
        self.fc = nn.Linear(2048, 1008 if tf else 1000)

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, 299, 299) normalised -> (B, 2048) pool features."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)  # (B, 2048)

    def classify(self, pool: Tensor, bias: bool = True) -> Tensor:
        """(B, 2048) pool features -> (B, classes) logits; ``bias=False`` as the field's Inception Score."""
        return F.linear(pool, self.fc.weight, self.fc.bias if bias else None)

    def load_published(self, state_dict: dict, source: str = "state dict") -> "InceptionV3":
        """Load the published file's tensors (checked against :func:`published_keys`); the
        auxiliary classifier of torchvision's file is ignored."""
        tensors = match_state_dict(state_dict, published_keys(self.variant), source)
        tensors = {k: v for k, v in tensors.items() if not k.startswith("AuxLogits.")}
        missing, unexpected = self.load_state_dict(tensors, strict=False)
        assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
        return self


# ---------------------------------------------------------------------------------------------------
# Inputs


def _tf1_resize_matrix(n_in: int, n_out: int) -> Tensor:
    """(n_out, n_in) bilinear weights of TensorFlow 1.x ``resize_bilinear(align_corners=False)``:
    source = destination * n_in / n_out (no half-pixel offset), upper neighbour clamped."""
    src = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
    lo = src.floor().long()
    hi = (lo + 1).clamp(max=n_in - 1)
    frac = src - lo
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    m[torch.arange(n_out), lo] += 1 - frac
    m[torch.arange(n_out), hi] += frac
    return m


def resize_tf1(x: Tensor, size: tuple[int, int]) -> Tensor:
    """(B, C, H, W) -> (B, C, *size) as TensorFlow 1.x ``tf.image.resize_bilinear`` (the 2015 graph)."""
    ry = _tf1_resize_matrix(x.shape[2], size[0]).to(x)
    rx = _tf1_resize_matrix(x.shape[3], size[1]).to(x)
    return torch.einsum("oh,bchw,pw->bcop", ry, x, rx)


def preprocess(images: Tensor, mode: str) -> Tensor:
    """(B, H, W, 3) uint8 images -> (B, 3, 299, 299) float32 input of the chosen tool (module docstring).

    mode: "tf_graph" (legacy IS), "pytorch_fid" (FID, 2015 weights), "torchvision" (modern FID).
    """
    x = images.permute(0, 3, 1, 2).float()  # (B, 3, H, W) in [0, 255]
    if mode == "tf_graph":
        return (resize_tf1(x, (SIZE, SIZE)) - 128.0) / 128.0
    x = F.interpolate(x / 255.0, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    if mode == "pytorch_fid":
        return 2.0 * x - 1.0
    if mode == "torchvision":
        mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
        return x * (std / 0.5) + (mean - 0.5) / 0.5
    raise ValueError(f"unknown preprocessing {mode!r}: expected 'tf_graph', 'pytorch_fid' or 'torchvision'")


# ---------------------------------------------------------------------------------------------------
# Weights


def load_inception(variant: str, weights: str | os.PathLike | None = None,
                   weights_dir: str | os.PathLike | None = None, download: bool = True) -> InceptionV3:
    """The frozen network of ``variant`` in eval mode, weights found by :func:`pona.weights.find_weights`:
    ``weights`` path, else ``weights_dir/<file>``, else the torch hub cache, else a download when online.

    variant "fid": ``pt_inception-2015-12-05-6726825d.pth``; "torchvision": ``inception_v3_google-0cc3c7bd.pth``.
    """
    file, url = {"fid": (FID_INCEPTION_FILE, FID_INCEPTION_URL),
                 "torchvision": (TV_INCEPTION_FILE, TV_INCEPTION_URL)}[variant]
    path = find_weights(file, url, weights, weights_dir, download)
    net = InceptionV3(variant).load_published(load_state_dict(path), str(path))
    return net.eval().requires_grad_(False)
