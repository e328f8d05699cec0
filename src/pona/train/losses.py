"""The paper's losses, eqs. (8)-(11): conditional GAN, L1, perceptual (VGG-19 relu1_2) L1.

Symbols: I_g = fake, I_t = target, I_c = condition, P_t = target heat maps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

GAN_MODES = ("vanilla", "lsgan")


class GANLoss(nn.Module):
    """Adversarial loss on patch logits, eq. (9).

    ``vanilla``: the log loss of eq. (9) as binary cross-entropy on logits (stable; the released
    code applied a sigmoid then BCE). ``lsgan``: least squares on the raw outputs (DeepFashion).
    """

    def __init__(self, mode: str = "lsgan"):
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"GAN mode must be one of {GAN_MODES}, got {mode!r}")
        self.mode = mode

    def forward(self, logits: Tensor, real: bool) -> Tensor:
        target = torch.full_like(logits, 1.0 if real else 0.0)
        if self.mode == "vanilla":
            return F.binary_cross_entropy_with_logits(logits, target)
        return F.mse_loss(logits, target)


class PerceptualLoss(nn.Module):
    """Eq. (11): L1 between VGG-19 relu1_2 features of I_g and I_t (images in [-1, 1])."""

    def __init__(self, vgg: nn.Module):
        super().__init__()
        self.vgg = vgg.eval().requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        self.vgg.eval()  # the feature network stays frozen, whatever the trainer does
        return self

    def forward(self, fake: Tensor, target: Tensor) -> Tensor:
        with torch.no_grad():
            target_features = self.vgg(target)
        # under bf16/fp16 autocast the features are low precision; the loss itself stays fp32
        return F.l1_loss(self.vgg(fake).float(), target_features.float())


def generator_loss(
    fake: Tensor, target: Tensor, logits_appearance: Tensor | None, logits_pose: Tensor | None,
    gan: GANLoss, perceptual: PerceptualLoss | None, lambdas: tuple[float, float, float],
) -> dict[str, Tensor]:
    """Eq. (8): ``L = l1 * L_CGAN + l2 * L_L1 + l3 * L_percep`` for the generator step.

    L_CGAN for G is the mean of the two discriminators' "real" losses on the fake (as released).
    ``perceptual=None`` drops the perceptual term (L_percep = 0; no VGG-19 needed); logits of
    ``None`` drop the adversarial term (L_CGAN = 0: the warm-up before ``loss.gan_start``).
    Returns every term and ``total``.
    """
    l1, l2, l3 = lambdas
    if logits_appearance is None or logits_pose is None:
        cgan = fake.new_zeros((), dtype=torch.float32)
    else:
        cgan = 0.5 * (gan(logits_appearance, True) + gan(logits_pose, True))
    rec = F.l1_loss(fake, target)  # eq. (10)
    perc = perceptual(fake, target) if perceptual is not None else fake.new_zeros(())
    return {"g_gan": cgan, "g_l1": rec, "g_perc": perc, "g_total": l1 * cgan + l2 * rec + l3 * perc}


def discriminator_loss(logits_real: Tensor, logits_fake: Tensor, gan: GANLoss) -> Tensor:
    """Eq. (9) for one discriminator: ``0.5 * (loss(real, 1) + loss(fake, 0))``."""
    return 0.5 * (gan(logits_real, True) + gan(logits_fake, False))
