"""The PoNA generator (Li, Zhang et al., "PoNA: Pose-guided Non-local Attention for Human Pose
Transfer", IEEE TIP 2020), as released by the authors.

Paper symbol -> name here:
    I_c, P_c, P_t      image, src_maps, dst_maps (forward arguments)
    C^I_t, C^P_t       img, pose (codes inside the blocks, (B, 4ngf, H/4, W/4))
    C^F_{t-1}          f, the fusion code cat(img, pose), eq. (2)
    conv_P             fuse_conv then pose_conv (the four convolutions of the pose pathway), eq. (3)
    conv_I             image_conv1, image_conv2 (the four convolutions of the image pathway)
    f, g, W_t, gamma   cross_attn.query, .key, .value, .gamma, eqs. (4)-(7)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .attention import IMPLS, PoseAttention, SelfAttention
from .blocks import DoubleConv, decoder, encoder, init_weights
from .config import GeneratorConfig


class PoNABlock(nn.Module):
    """One PoNA block: image-guided pose code update, then pose-guided image code update.

    ``fusion`` places the concatenation of image and pose codes (Table V, Fig. 11, whose figure
    is lost; this is our reading of the text):
      head   (released): f = SA(cat(img, pose)); f = f + dc(f); pose = dc(f: 2C -> C)
      middle: pose = pose + dc(pose); f = SA(cat(img, pose)); pose = dc(f: 2C -> C)
      tail:   pose = pose + dc(pose); pose = dc(pose); f = SA(cat(img, pose)); pose = conv1x1(f: 2C -> C)
      none:   as head on the pose code alone (no image code), C channels throughout.
    """

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        C = 4 * cfg.ngf
        self.fusion = cfg.fusion
        self.image_conv1 = DoubleConv(C, C, cfg.dropout)
        self.image_conv2 = DoubleConv(C, C, cfg.dropout)
        self.cross_attn = PoseAttention(C) if cfg.cross_attention else None
        if self.cross_attn is None:
            return  # w/o Cro.: nothing downstream reads the pose code, so no pose pathway
        fused = 2 * C if cfg.fusion == "head" else C  # width of the first pose double conv
        sa_width = C if cfg.fusion == "none" else 2 * C
        self.self_attn = SelfAttention(sa_width) if cfg.self_attention else None
        self.fuse_conv = DoubleConv(fused, fused, cfg.dropout)
        self.pose_conv = DoubleConv(C if cfg.fusion in ("tail", "none") else 2 * C, C, cfg.dropout)
        self.fuse_proj = nn.Conv2d(2 * C, C, 1) if cfg.fusion == "tail" else None

    def _attend(self, f: Tensor, maps: list) -> Tensor:
        if self.self_attn is None:
            return f
        f, a = self.self_attn(f, return_attention=maps is not None)
        if maps is not None:
            maps.append(a)
        return f

    def update_pose(self, img: Tensor, pose: Tensor, maps: list | None) -> Tensor:
        """Image-guided pose code update, eqs. (2)-(3)."""
        if self.fusion == "head":
            f = self._attend(torch.cat([img, pose], 1), maps)  # (B, 2C, h, w), image first
            f = f + self.fuse_conv(f)
            return self.pose_conv(f)  # 2C -> C
        if self.fusion == "none":
            pose = self._attend(pose, maps)
            return self.pose_conv(pose + self.fuse_conv(pose))
        pose = pose + self.fuse_conv(pose)
        if self.fusion == "middle":
            return self.pose_conv(self._attend(torch.cat([img, pose], 1), maps))
        pose = self.pose_conv(pose)  # tail
        return self.fuse_proj(self._attend(torch.cat([img, pose], 1), maps))

    def forward(self, img: Tensor, pose: Tensor, return_attention: bool = False):
        """img, pose: (B, C, h, w) -> new img, new pose, and [self map, cross map] if asked."""
        maps = [] if return_attention else None
        if self.cross_attn is not None:
            pose = self.update_pose(img, pose, maps)
        img = img + self.image_conv1(img)
        img = img + self.image_conv2(img)
        if self.cross_attn is not None:
            img, a = self.cross_attn(pose, img, return_attention)
            if maps is not None:
                maps.append(a)
        return img, pose, maps


class Generator(nn.Module):
    """PoNA generator: image and pose encoders, ``n_blocks`` PoNA blocks, decoder on the image code.

    34,329,356 parameters at the paper's DeepFashion setting (ngf 64, 3 blocks, instance norm).

    ``recompute_blocks = True`` trades time for memory in training: each PoNA block keeps only its
    inputs for the backward pass and runs again inside it (``torch.utils.checkpoint``, with the
    dropout masks replayed, so the gradients are the same). A run-time switch, not part of the
    config: it changes nothing the weights compute.
    """

    def __init__(self, config: GeneratorConfig | None = None):
        super().__init__()
        cfg = config or GeneratorConfig()
        if cfg.arch != "pona":
            raise ValueError(f"Generator is the PoNA generator; arch={cfg.arch!r} is built by pona.models.build_generator")
        self.config = cfg
        self.image_encoder = encoder(3, cfg.ngf, cfg.norm)
        self.pose_encoder = encoder(36, cfg.ngf, cfg.norm) if cfg.cross_attention else None
        self.blocks = nn.ModuleList(PoNABlock(cfg) for _ in range(cfg.n_blocks))
        self.decoder = decoder(cfg.ngf, cfg.norm)
        init_weights(self)
        self.recompute_blocks = False

    def forward(self, image: Tensor, src_maps: Tensor, dst_maps: Tensor, return_attention: bool = False):
        """Generate ``image``'s person in the pose of ``dst_maps``.

        Args:
            image: (B, 3, H, W) condition image in [-1, 1].
            src_maps, dst_maps: (B, 18, H, W) heat maps of the condition and target poses.
            return_attention: also return, per block, a list of (B, N, N) maps (N = H*W/16, rows =
                target locations): [self-attention, pose-guided] (whichever the block has).

        Returns:
            (B, 3, H, W) image in [-1, 1], or (image, list of per-block lists of maps).
        """
        img = self.image_encoder(image)
        pose = self.pose_encoder(torch.cat([src_maps, dst_maps], 1)) if self.pose_encoder is not None else None
        maps = []
        recompute = self.recompute_blocks and torch.is_grad_enabled() and not return_attention
        for block in self.blocks:
            if recompute:
                img, pose, block_maps = checkpoint(block, img, pose, use_reentrant=False)
            else:
                img, pose, block_maps = block(img, pose, return_attention)
            maps.append(block_maps)
        out = self.decoder(img)
        return (out, maps) if return_attention else out

    def set_attention_impl(self, impl: str) -> "Generator":
        """Choose how attention is computed: "auto" | "explicit" | "sdpa" | "chunked" (all exact)."""
        if impl not in IMPLS:
            raise ValueError(f"attention impl must be one of {IMPLS}, got {impl!r}")
        for m in self.modules():
            if isinstance(m, (SelfAttention, PoseAttention)):
                m.impl = impl
        return self
