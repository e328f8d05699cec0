"""The PoNA discriminators: appearance D (generated + condition image, 6 channels) and pose D
(generated + target heat maps, 21 channels) are two instances of one class.

As released: PATN's residual discriminator with spectral normalisation on every convolution,
ReLU activations (the paper's text says LeakyReLU 0.2 and a self-attention layer; the released code
has plain ReLU and no attention: ``self_attention=True`` adds the layer). The output is a patch map
of logits, (B, 4ndf, H/4, W/4); losses take the mean.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from .attention import SelfAttention
from .blocks import ResidualBlock, encoder, init_weights
from .config import DiscriminatorConfig


class Discriminator(nn.Module):
    def __init__(self, config: DiscriminatorConfig | None = None):
        super().__init__()
        cfg = self.config = config or DiscriminatorConfig()
        layers = list(encoder(cfg.in_channels, cfg.ndf, cfg.norm))
        if cfg.self_attention:
            layers.append(SelfAttention(4 * cfg.ndf))
        layers += [ResidualBlock(4 * cfg.ndf, cfg.norm, cfg.dropout) for _ in range(cfg.n_blocks)]
        self.model = nn.Sequential(*layers)
        init_weights(self)
        for m in list(self.modules()):
            if isinstance(m, nn.Conv2d):
                spectral_norm(m)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, in_channels, H, W) -> (B, 4ndf, H/4, W/4) logits."""
        for layer in self.model:
            x = layer(x)[0] if isinstance(layer, SelfAttention) else layer(x)
        return x


def appearance_discriminator(ndf: int = 64, norm: str = "instance", **kw) -> Discriminator:
    """D_A: judges (generated or target image, condition image), 6 input channels."""
    return Discriminator(DiscriminatorConfig(in_channels=6, ndf=ndf, norm=norm, **kw))


def pose_discriminator(ndf: int = 64, norm: str = "instance", **kw) -> Discriminator:
    """D_P: judges (generated or target image, target heat maps), 3 + 18 input channels."""
    return Discriminator(DiscriminatorConfig(in_channels=21, ndf=ndf, norm=norm, **kw))
