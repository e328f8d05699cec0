"""An independent re-implementation of the authors' released PoNA generator, written for the tests
from the published description of its modules: same module names (so its state dict has the
released ``model.*`` keys) and the SAGAN-style (B, C, N) attention layout of that code.

It exists to check the checkpoint converter: our Generator loaded from this state dict must give
the same output.
"""

import torch
from torch import nn


def _norm(kind, c):
    return nn.BatchNorm2d(c) if kind == "batch" else nn.InstanceNorm2d(c)


class _DC(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(cin, cin, 3, 1, 1), nn.InstanceNorm2d(cin), nn.ReLU(True), nn.Dropout(0.5),
            nn.Conv2d(cin, cout, 3, 1, 1), nn.InstanceNorm2d(cout), nn.ReLU(True))

    def forward(self, x):
        return self.conv(x)


class _SelfAtt(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.query_conv = nn.Conv2d(c, c // 8, 1)
        self.key_conv = nn.Conv2d(c, c // 8, 1)
        self.value_conv = nn.Conv2d(c, c, 1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.beta = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        b, c, h, w = x.size()
        q = self.query_conv(x).view(b, -1, h * w).permute(0, 2, 1)
        k = self.key_conv(x).view(b, -1, h * w)
        att = torch.softmax(torch.bmm(q, k), dim=-1)
        v = self.value_conv(x).view(b, -1, h * w)
        out = torch.bmm(v, att.permute(0, 2, 1)).view(b, c, h, w)
        return self.gamma * out + self.beta * x + x


class _Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.query_conv = nn.Conv2d(c, c // 8, 1)
        self.key_conv = nn.Conv2d(c, c // 8, 1)
        self.value_conv = nn.Conv2d(c, c, 1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.conv = _DC(c, c)
        self.conv2 = _DC(c, c)
        self.dconv = _DC(2 * c, 2 * c)
        self.dconv2 = _DC(2 * c, c)
        self.att2 = _SelfAtt(2 * c)

    def forward(self, x1, x2):
        fused = self.att2(torch.cat((x1, x2), 1))
        fused = fused + self.dconv(fused)
        x2 = self.dconv2(fused)
        x1 = x1 + self.conv(x1)
        x1 = x1 + self.conv2(x1)
        b, c, h, w = x1.size()
        q = self.query_conv(x2).view(b, -1, h * w).permute(0, 2, 1)
        k = self.key_conv(x2).view(b, -1, h * w)
        att = torch.softmax(torch.bmm(q, k), dim=-1)
        v = self.value_conv(x1).view(b, -1, h * w)
        out = torch.bmm(v, att.permute(0, 2, 1)).view(b, c, h, w)
        return self.gamma * out + x1, x2


def _down(cin, ngf, norm):
    bias = norm == "instance"
    return nn.Sequential(
        nn.ReflectionPad2d(3), nn.Conv2d(cin, ngf, 7, bias=bias), _norm(norm, ngf), nn.ReLU(True),
        nn.Conv2d(ngf, 2 * ngf, 3, 2, 1, bias=bias), _norm(norm, 2 * ngf), nn.ReLU(True),
        nn.Conv2d(2 * ngf, 4 * ngf, 3, 2, 1, bias=bias), _norm(norm, 4 * ngf), nn.ReLU(True))


class _Model(nn.Module):
    def __init__(self, ngf, n_blocks, norm):
        super().__init__()
        bias = norm == "instance"
        self.stream1_down = _down(3, ngf, norm)
        self.stream2_down = _down(36, ngf, norm)
        self.att = nn.Sequential(*[_Block(4 * ngf) for _ in range(n_blocks)])
        self.stream1_up = nn.Sequential(
            nn.ConvTranspose2d(4 * ngf, 2 * ngf, 3, 2, 1, output_padding=1, bias=bias), _norm(norm, 2 * ngf), nn.ReLU(True),
            nn.ConvTranspose2d(2 * ngf, ngf, 3, 2, 1, output_padding=1, bias=bias), _norm(norm, ngf), nn.ReLU(True),
            nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh())

    def forward(self, image, pose):
        x1, x2 = self.stream1_down(image), self.stream2_down(pose)
        for block in self.att:
            x1, x2 = block(x1, x2)
        return self.stream1_up(x1)


class ReleasedGenerator(nn.Module):
    """``forward(image, cat(condition maps, target maps))`` as the released test script calls it."""

    def __init__(self, ngf=64, n_blocks=3, norm="instance"):
        super().__init__()
        self.model = _Model(ngf, n_blocks, norm)

    def forward(self, image, pose):
        return self.model(image, pose)


def randomize(module, seed=0):
    """Non-trivial values everywhere (gates open, batch-norm statistics set) so a wrong mapping shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.is_floating_point():
                if name.endswith("running_var"):
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5)
                elif name.endswith(("gamma", "beta")):
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5)
                elif name.endswith("weight") and t.dim() == 1:  # batch-norm scale
                    t.copy_(1 + 0.1 * torch.randn(t.shape, generator=g))
                else:
                    std = (t[0].numel() ** -0.5) if t.dim() > 1 else 0.1  # fan-in scaled: activations stay O(1)
                    t.copy_(torch.randn(t.shape, generator=g) * std)
    return module
