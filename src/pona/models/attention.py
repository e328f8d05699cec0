"""Self-attention (SAGAN) and pose-guided non-local attention (PoNA, eqs. (4)-(7)).

Both go through one function, :func:`attention`, which computes ``softmax(q k^T) v`` with NO
``1/sqrt(d)`` scaling (as released) in one of three exact ways:

- ``"explicit"``: the released way, ``bmm`` + ``softmax``; the only path that can return the
  N x N maps (for visualisation). Autograd keeps every map alive for the backward pass.
- ``"sdpa"``: ``torch.nn.functional.scaled_dot_product_attention(scale=1)``; on CUDA this is
  the flash / memory-efficient kernel.
- ``"chunked"``: queries in chunks, maps recomputed in the backward pass (flash-attention's
  algorithm written with matrix products). Memory O(chunk * N) instead of O(N^2).

``"auto"`` picks per device; see ``AUTO_IMPL`` and the benchmark that chose it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

IMPLS = ("auto", "explicit", "sdpa", "chunked")
# Chosen by benchmarks/bench.py on the 2-core CPU machines; CUDA uses the fused kernels.
AUTO_IMPL = {"cpu": "chunked", "cuda": "sdpa"}
CHUNK_ELEMENTS = 2**22  # chunk rows so that one (B, chunk, N) score block holds ~4M floats (16 MB)


def _resolve(impl: str, device: torch.device) -> str:
    if impl not in IMPLS:
        raise ValueError(f"attention impl must be one of {IMPLS}, got {impl!r}")
    if impl == "auto":
        return AUTO_IMPL.get(device.type, "sdpa")
    return impl


def attention(q: Tensor, k: Tensor, v: Tensor, impl: str = "auto", return_weights: bool = False):
    """``out_i = sum_j softmax_j(q_i . k_j) v_j`` without scaling.

    Args:
        q, k: (B, N, d) queries and keys; v: (B, N, Cv) values.
        impl: "auto" | "explicit" | "sdpa" | "chunked" (all exact to float rounding).
        return_weights: also return the (B, N, N) map, rows = queries (forces "explicit").

    Returns:
        out (B, N, Cv), and the map or None.
    """
    if return_weights:
        impl = "explicit"
    impl = _resolve(impl, q.device)
    if impl == "explicit":
        weights = torch.softmax(torch.bmm(q, k.transpose(1, 2)), dim=-1)  # (B, N, N)
        return torch.bmm(weights, v), (weights if return_weights else None)
    if impl == "sdpa":
        return F.scaled_dot_product_attention(q, k, v, scale=1.0), None
    return ChunkedAttention.apply(q, k, v), None


def _chunk_rows(batch: int, n_keys: int) -> int:
    return max(1, CHUNK_ELEMENTS // max(1, batch * n_keys))


class ChunkedAttention(torch.autograd.Function):
    """Exact attention in query chunks; the backward recomputes each chunk's map.

    Saved for backward: q, k, v, out and the per-row log-sum-exp (all O(N)), never an N x N map.
    """

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        B, N, _ = q.shape
        step = _chunk_rows(B, k.shape[1])
        kt = k.transpose(1, 2)
        out = q.new_empty(B, N, v.shape[2])
        lse = q.new_empty(B, N)
        for s in range(0, N, step):
            p = torch.bmm(q[:, s:s + step], kt)  # (B, c, N) scores
            m = p.amax(dim=-1, keepdim=True)
            p.sub_(m).exp_()  # one exp per score; normalised after the product, on (B, c, Cv)
            total = p.sum(dim=-1, keepdim=True)
            out[:, s:s + step] = torch.bmm(p, v).div_(total)
            lse[:, s:s + step] = (m + total.log()).squeeze(-1)
        ctx.save_for_backward(q, k, v, out, lse)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        q, k, v, out, lse = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        B, N, _ = q.shape
        step = _chunk_rows(B, k.shape[1])
        kt, vt = k.transpose(1, 2), v.transpose(1, 2)
        delta = (grad_out * out).sum(-1)  # (B, N): rowsum(P * dP) = dO . O
        dq = torch.empty_like(q)
        dk = torch.zeros_like(k)
        dv = torch.zeros_like(v)
        for s in range(0, N, step):
            rows = slice(s, s + step)
            p = torch.bmm(q[:, rows], kt).sub_(lse[:, rows, None]).exp_()  # (B, c, N)
            dv.baddbmm_(p.transpose(1, 2), grad_out[:, rows])
            dp = torch.bmm(grad_out[:, rows], vt)  # (B, c, N)
            ds = dp.sub_(delta[:, rows, None]).mul_(p)  # softmax backward
            dq[:, rows] = torch.bmm(ds, k)
            dk.baddbmm_(ds.transpose(1, 2), q[:, rows])
        return dq, dk, dv


def _tokens(x: Tensor) -> Tensor:
    return x.flatten(2).transpose(1, 2)  # (B, C, H, W) -> (B, N, C)


def _image(t: Tensor, like: Tensor) -> Tensor:
    B, _, H, W = like.shape
    return t.transpose(1, 2).reshape(B, -1, H, W)  # (B, N, C) -> (B, C, H, W)


class SelfAttention(nn.Module):
    """SAGAN self-attention as released in PoNA: ``gamma * attn(x) + beta * x + x``, eq. (2).

    query/key: 1x1 convs C -> C // 8; value: 1x1 conv C -> C; gamma = beta = 0 at init, so a new
    block starts as the identity.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.query = nn.Conv2d(channels, channels // 8, 1)
        self.key = nn.Conv2d(channels, channels // 8, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.beta = nn.Parameter(torch.zeros(1))
        self.impl = "auto"

    def forward(self, x: Tensor, return_attention: bool = False):
        q, k, v = _tokens(self.query(x)), _tokens(self.key(x)), _tokens(self.value(x))
        out, weights = attention(q, k, v, self.impl, return_attention)  # (B, N, C)
        return self.gamma * _image(out, x) + self.beta * x + x, weights


class PoseAttention(nn.Module):
    """Pose-guided non-local attention, eqs. (4)-(7).

    The map comes from the updated pose code alone (query f and key g, 1x1 convs C -> C // 8),
    ``alpha = softmax(f(P)^T g(P))`` (eqs. 4-5); it rearranges the updated image code embedded by
    the value conv W_t (eq. 6); ``C^I_t = gamma * o_t + conv_I(C^I_{t-1})`` with gamma = 0 at
    init (eq. 7).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.query = nn.Conv2d(channels, channels // 8, 1)
        self.key = nn.Conv2d(channels, channels // 8, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.impl = "auto"

    def forward(self, pose: Tensor, image: Tensor, return_attention: bool = False):
        q, k = _tokens(self.query(pose)), _tokens(self.key(pose))  # (B, N, C/8)
        v = _tokens(self.value(image))  # (B, N, C)
        out, weights = attention(q, k, v, self.impl, return_attention)
        return self.gamma * _image(out, image) + image, weights
