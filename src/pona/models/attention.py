"""Self-attention (SAGAN) and pose-guided non-local attention (PoNA, eqs. (4)-(7)).

Both go through one function, :func:`attention`, which computes ``softmax(q k^T) v`` with NO
``1/sqrt(d)`` scaling (as released) in one of three exact ways:

- ``"explicit"``: the released way, ``bmm`` + ``softmax``; the only path that can return the
  N x N maps (for visualisation). Autograd keeps every map alive for the backward pass.
- ``"sdpa"``: ``torch.nn.functional.scaled_dot_product_attention(scale=1)``; on CUDA this is
  the flash / memory-efficient kernel.
- ``"chunked"``: one image and one chunk of queries at a time, maps recomputed in the backward
  pass (flash-attention's idea written with matrix products). Memory O(chunk * N) instead of
  O(B * N^2), and faster than explicit on CPU: each score block is used while still in cache.

``"auto"`` picks per device and map size; see ``AUTO_IMPL``, ``EXPLICIT_MAX_TOKENS`` and the
benchmark that chose them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

IMPLS = ("auto", "explicit", "sdpa", "chunked")
# Chosen by timing explicit, sdpa and chunked at 256x176 (N = 2816) on the 2-core CPU machines,
# one thread, batch 1 and 8, inference and forward + backward (benchmarks/attention.py, table in
# docs/benchmarks.md): chunked was the fastest in both modes (0.9-2x explicit over
# three runs on a busy machine, mostly 1.1-1.4x), sdpa's CPU kernel 0.7-1.2x and never clearly
# ahead; chunked also never holds an N x N map. CUDA uses the fused flash / memory-efficient kernels.
AUTO_IMPL = {"cpu": "chunked", "cuda": "sdpa"}
# ...except for small maps, where chunked's per-image loop is all overhead: at N = 176 (64x44
# images, the demo) explicit forward + backward took 0.65 ms against chunked's 1.53 (bf16, batch 4,
# 2 threads, AMD EPYC Zen 4), at N = 512 (128x64) the two tie, at N = 2816 chunked is 1.3x faster.
EXPLICIT_MAX_TOKENS = 512
# Rows per query chunk: one (rows, N) score block of ~1M floats (4 MB) stays in cache between the
# kernels that touch it (scores, softmax, product with v); the N x N map never exists.
CHUNK_ELEMENTS = 2**20
# ...but at least this many rows in the backward pass, which adds a rank-`rows` product into dk
# and dv per chunk: with 93-row chunks (N = 11264, 512x352 images) those updates made it 20%
# slower than explicit, with 372 rows 15% faster. (The forward pass prefers the smaller blocks.)
MIN_BACKWARD_ROWS = 384


def _resolve(impl: str, device: torch.device, n_tokens: int) -> str:
    if impl not in IMPLS:
        raise ValueError(f"attention impl must be one of {IMPLS}, got {impl!r}")
    if impl == "auto":
        chosen = AUTO_IMPL.get(device.type, "sdpa")
        return "explicit" if chosen == "chunked" and n_tokens <= EXPLICIT_MAX_TOKENS else chosen
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
    impl = _resolve(impl, q.device, k.shape[1])
    if impl == "explicit":
        weights = torch.softmax(torch.bmm(q, k.transpose(1, 2)), dim=-1)  # (B, N, N)
        return torch.bmm(weights, v), (weights if return_weights else None)
    if impl == "sdpa":
        # 4-D (B, heads=1, N, d): the layout the fused kernels take (3-D falls back to the math path)
        return F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None], scale=1.0)[:, 0], None
    return ChunkedAttention.apply(q, k, v), None


def _chunk_rows(n_keys: int, backward: bool = False) -> int:
    rows = max(1, CHUNK_ELEMENTS // max(1, n_keys))
    return max(rows, MIN_BACKWARD_ROWS) if backward else rows


class ChunkedAttention(torch.autograd.Function):
    """Exact attention one image and one chunk of query rows at a time; the backward recomputes
    each chunk's map.

    Saved for backward: q, k and v (all O(N)), never an N x N map. Per image rather than
    batched so that a chunk is small enough to stay in cache whatever the batch size. The softmax
    and its backward are PyTorch's own fused row kernels, the ones the explicit path runs, so the
    result is the explicit one up to the order of float sums.
    """

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        B, N, _ = q.shape
        step = _chunk_rows(k.shape[1])
        out = q.new_empty(B, N, v.shape[2])
        for b in range(B):
            kt = k[b].t()  # (d, N)
            for s in range(0, N, step):
                p = torch.softmax(torch.mm(q[b, s:s + step], kt), dim=-1)  # (c, N)
                torch.mm(p, v[b], out=out[b, s:s + step])
        ctx.save_for_backward(q, k, v)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        q, k, v = ctx.saved_tensors
        B, N, _ = q.shape
        step = _chunk_rows(k.shape[1], backward=True)
        dq, dk, dv = torch.empty_like(q), torch.zeros_like(k), torch.zeros_like(v)
        for b in range(B):
            kt, vt, g = k[b].t(), v[b].t(), grad_out[b]
            for s in range(0, N, step):
                rows = slice(s, s + step)
                p = torch.softmax(torch.mm(q[b, rows], kt), dim=-1)  # (c, N), recomputed
                dv[b].addmm_(p.t(), g[rows])
                dp = torch.mm(g[rows], vt)  # (c, N)
                ds = torch.ops.aten._softmax_backward_data(dp, p, -1, p.dtype)  # p * (dp - rowsum(p * dp))
                torch.mm(ds, k[b], out=dq[b, rows])
                dk[b].addmm_(ds.t(), q[b, rows])
        return dq, dk, dv


def _tokens(x: Tensor) -> Tensor:
    return x.flatten(2).transpose(1, 2)  # (B, C, H, W) -> (B, N, C)


def _image(t: Tensor, like: Tensor) -> Tensor:
    B, _, H, W = like.shape
    return t.transpose(1, 2).reshape(B, -1, H, W)  # (B, N, C) -> (B, C, H, W)


# The parameters that scale the attention outputs into the codes, 0 at init: both modules' gamma
# and the self-attention's beta. Training may give them their own learning rate (optim.gate_lr_mult).
GATES = ("gamma", "beta")


def is_gate(name: str) -> bool:
    """Whether ``name`` from ``named_parameters()`` (``blocks.0.self_attn.gamma``) is an attention gate."""
    return name.rsplit(".", 1)[-1] in GATES


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
