"""PATN (Zhu et al., "Progressive Pose Attention Transfer for Person Image Generation", CVPR 2019),
the baseline PoNA is compared against: the same encoders and decoder, 9 Pose-Attentional Transfer
blocks in its paper. 41,358,019 parameters with ngf 64, 9 blocks, instance norm.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .blocks import conv_block, decoder, encoder, init_weights
from .config import GeneratorConfig


class PATBlock(nn.Module):
    """Image stream: residual-style double conv. Pose stream: double conv to C, no final norm.

    ``img = img + image_stream(img) * sigmoid(pose_out)``; next pose code = cat(pose_out, img).
    """

    def __init__(self, channels: int, norm: str, dropout: float, first: bool):
        super().__init__()
        pose_in = channels if first else 2 * channels
        self.image_stream = conv_block(channels, norm, dropout)
        self.pose_stream = conv_block(pose_in, norm, dropout, cout=channels, last_norm=False)

    def forward(self, img: Tensor, pose: Tensor):
        pose_out = self.pose_stream(pose)
        img = img + self.image_stream(img) * torch.sigmoid(pose_out)
        return img, torch.cat([pose_out, img], 1)


class PATNGenerator(nn.Module):
    def __init__(self, config: GeneratorConfig):
        super().__init__()
        cfg = self.config = config
        C = 4 * cfg.ngf
        self.image_encoder = encoder(3, cfg.ngf, cfg.norm)
        self.pose_encoder = encoder(36, cfg.ngf, cfg.norm)
        self.blocks = nn.ModuleList(PATBlock(C, cfg.norm, cfg.dropout, first=i == 0) for i in range(cfg.n_blocks))
        self.decoder = decoder(cfg.ngf, cfg.norm)
        init_weights(self)

    def forward(self, image: Tensor, src_maps: Tensor, dst_maps: Tensor, return_attention: bool = False):
        """Same interface as the PoNA generator; PATN has no non-local maps (returns empty lists)."""
        img = self.image_encoder(image)
        pose = self.pose_encoder(torch.cat([src_maps, dst_maps], 1))
        for block in self.blocks:
            img, pose = block(img, pose)
        out = self.decoder(img)
        return (out, [[] for _ in self.blocks]) if return_attention else out

    def set_attention_impl(self, impl: str) -> "PATNGenerator":
        return self
