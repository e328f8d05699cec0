"""How the weights move besides the losses: the learning-rate schedule, the attention gates'
faster parameter group, and the generator's weight average (``optim.*``)."""

from __future__ import annotations

import torch

from ..models.attention import is_gate


def lr_factor(iteration: int, constant: int, decay: int) -> float:
    """1 for the first ``constant`` iterations, then linear to 0 over ``decay`` iterations."""
    if iteration < constant or decay == 0:
        return 1.0
    return max(0.0, 1.0 - (iteration - constant) / decay)


def param_groups(model: torch.nn.Module, lr: float, gate_lr_mult: float = 1.0) -> list[dict]:
    """Adam parameter groups: the attention gates (``gamma``, ``beta``) at ``lr * gate_lr_mult``, the rest at ``lr``."""
    named = list(model.named_parameters())
    gates = [is_gate(n) for n, _ in named]
    if gate_lr_mult == 1.0 or not any(gates):
        return [{"params": [p for _, p in named], "lr": lr}]
    return [{"params": [p for (_, p), g in zip(named, gates) if not g], "lr": lr},
            {"params": [p for (_, p), g in zip(named, gates) if g], "lr": lr * gate_lr_mult}]


EMA_RAMPUP = 0.25  # the average's half-life is at most this fraction of the iterations so far


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, half_life: float, iteration: int) -> None:
    """Move ``ema``'s weights towards ``model``'s: ``ema += (1 - beta) (model - ema)`` with
    ``beta = 0.5 ** (1 / h)``, ``h = min(half_life, EMA_RAMPUP * iteration)``; buffers (batch-norm
    statistics, spectral-norm vectors) are copied, as they are not trained by gradients."""
    h = min(half_life, EMA_RAMPUP * iteration)
    beta = 0.5 ** (1.0 / h) if h > 0 else 0.0
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p, 1.0 - beta)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)
