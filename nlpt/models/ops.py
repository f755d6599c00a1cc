"""Training-time pieces shared by the model files: dropout with a cheaper mask, padding-free rows, GELU.

Dropout keeps each element with probability 1 − p and scales the kept ones by the inverse of the kept
fraction, as `nn.Dropout` does; the mask is drawn from 15 random bits per element (four elements per 64-bit
draw, p rounded to a multiple of 2⁻¹⁵) instead of with `bernoulli_`, which on CPU costs about five times
as much per mask (`benchmarks/bench_cpu_ops.py`) (on a small T5/BART, `bernoulli_` was ~11% of a training step); `layers.attention` uses
it on T5's and BART's attention weights too. Without dropout (eval,
export, or p = 0) these are exactly the plain functions.

`gelu_tanh` is GPT-2's GELU, 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))), written as x·σ(2·√(2/π)(x + 0.044715x³))
(the same function: 0.5(1 + tanh u) = σ(2u)) and computed in cache-sized pieces: on CPU the fused kernel's
vectorised tanh costs ~3× the exact GELU, while σ is cheap: the forward takes ~35% less time, the
backward the same (a [2048, 1536] activation, one thread).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """`F.dropout(x, p, training)` with `_keep`'s cheaper mask (p on a 2⁻¹⁵ grid); a p below the mask's resolution
    (under 2⁻¹⁶) drops nothing, so `x` itself comes back."""
    if not training or _dropped(p) == 0:
        return x
    return x * _keep(x, p)


_LANE = 1 << 15  # a mask element is decided by 15 random bits


def _dropped(p: float) -> int:
    """How many of the 2¹⁵ values of a lane drop the element: p on the mask's grid."""
    return round(p * _LANE)


def _keep(x: torch.Tensor, p: float) -> torch.Tensor:
    """Dropout's mask already scaled: 1 / (kept fraction) where kept, else 0.

    One 64-bit draw of the generator (`random_` on int64: 63 uniform bits) gives four 16-bit lanes; each lane's
    low 15 bits decide one element, kept when at least round(p · 2¹⁵). The drop probability is p rounded to a
    multiple of 2⁻¹⁵ (0.1 → 0.100006) and the kept elements are scaled by the inverse of the exact kept fraction,
    so the expectation stays x. A quarter of the draws of `rand_like` and no floats to compare: the mask costs
    2.5–2.9× less than `rand_like ≥ p` and ~5× less than `bernoulli_` on CPU (`benchmarks/bench_cpu_ops.py`)."""
    drop = _dropped(p)
    if drop >= _LANE:  # p within 2⁻¹⁶ of 1, or more: every element dropped
        return torch.zeros_like(x)
    n = x.numel()
    lanes = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_().view(torch.int16)[:n]
    return lanes.view(x.shape).bitwise_and_(_LANE - 1).ge_(drop).to(x.dtype).mul_(_LANE / (_LANE - drop))


def residual(x: torch.Tensor, branch: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """x + dropout(branch) in one pass (`addcmul`) when dropping."""
    if not training or _dropped(p) == 0:
        return x + branch
    return torch.addcmul(x, branch, _keep(branch, p))


class Dropout(nn.Module):
    """`nn.Dropout` drawing its mask with `dropout` above."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Unpadded:
    """The non-padding rows of a [B, T] batch. Token-wise layers (projections, feed-forward, norms) run on these
    N ≤ B·T rows only; attention puts them back in place ([B, T, ·], padding rows zero and masked out) and takes
    them out again, so padding costs nothing but its share of the attention scores."""

    def __init__(self, attention_mask: torch.Tensor):
        self.B, self.T = attention_mask.shape
        self.index = attention_mask.reshape(-1).nonzero().squeeze(1)

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, d] → [N, d]."""
        return x.reshape(-1, x.shape[-1]).index_select(0, self.index)

    def unpack(self, x: torch.Tensor) -> torch.Tensor:
        """[N, d] → [B, T, d] with zeros at the padding."""
        return x.new_zeros(self.B * self.T, x.shape[-1]).index_copy(0, self.index, x).view(self.B, self.T, -1)


_GELU_C2 = 2.0 * math.sqrt(2.0 / math.pi)
_GELU_A = 0.044715
_GELU_PIECE = 1 << 18  # elements per piece: the few temporaries of a piece stay in cache


def _gelu_sigmoid(x: torch.Tensor, x_sq: torch.Tensor) -> torch.Tensor:
    """σ(2·√(2/π)(x + 0.044715x³)) for a piece, given x²."""
    return torch.addcmul(x, x_sq, x, value=_GELU_A).mul_(_GELU_C2).sigmoid_()


class _GeluTanh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        out = torch.empty_like(x, memory_format=torch.contiguous_format)
        for xp, op in zip(x.contiguous().view(-1).split(_GELU_PIECE), out.view(-1).split(_GELU_PIECE)):
            torch.mul(_gelu_sigmoid(xp, xp * xp), xp, out=op)
        return out

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        out = torch.empty_like(x, memory_format=torch.contiguous_format)
        pieces = zip(x.contiguous().view(-1).split(_GELU_PIECE), grad.contiguous().view(-1).split(_GELU_PIECE),
                     out.view(-1).split(_GELU_PIECE))
        for xp, gp, op in pieces:
            x_sq = xp * xp
            s = _gelu_sigmoid(xp, x_sq)
            # d/dx x·σ(z) = σ(z) · (1 + (1 − σ(z)) · x · z'),  z' = 2·√(2/π)(1 + 3·0.044715x²)
            xz = x_sq.mul_(3 * _GELU_A * _GELU_C2).add_(_GELU_C2).mul_(xp)
            torch.mul(torch.rsub(s, 1.0).mul_(xz).add_(1.0).mul_(s), gp, out=op)
        return out


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """`F.gelu(x, approximate="tanh")` (GPT-2's "gelu_new"); float32 on CPU through σ in cache-sized pieces."""
    if x.device.type != "cpu" or x.dtype != torch.float32 or torch.compiler.is_compiling():
        return F.gelu(x, approximate="tanh")
    return _GeluTanh.apply(x)


_GATED_PIECE = 1 << 17  # elements of one half (gate or up) per piece


def _gated_pieces(*tensors: torch.Tensor, ffn: int):
    """Row ranges of [N, ·] tensors, each piece about `_GATED_PIECE` elements of one half."""
    rows = max(1, _GATED_PIECE // ffn)
    n = tensors[0].shape[0]
    for start in range(0, n, rows):
        yield tuple(t[start:start + rows] for t in tensors)


class _SwiGLU(torch.autograd.Function):
    """silu(gate) · up of the fused gate/up projection's output [N, 2F] ([gate | up]), in cache-sized pieces.

    Only that output is kept for backward (the plain composite keeps gate, silu(gate) and up: one F-wide copy
    more), and the backward writes both halves of the gradient into one [N, 2F] buffer, where the plain
    composite's `split` concatenates them afterwards. The gain is that memory: behind the gate/up projection it
    runs as fast as the composite (`benchmarks/bench_cpu_ops.py`)."""

    @staticmethod
    def forward(ctx, y, ffn):
        y2 = y.reshape(-1, 2 * ffn)
        out = y.new_empty(y2.shape[0], ffn)
        for yp, op in _gated_pieces(y2, out, ffn=ffn):
            torch.mul(F.silu(yp[:, :ffn]), yp[:, ffn:], out=op)
        ctx.save_for_backward(y)
        ctx.ffn = ffn
        return out.view(*y.shape[:-1], ffn)

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        ffn = ctx.ffn
        y2 = y.reshape(-1, 2 * ffn)
        g2 = grad.reshape(-1, ffn)
        out = torch.empty_like(y2)
        for yp, gp, op in _gated_pieces(y2, g2, out, ffn=ffn):
            gate, up = yp[:, :ffn], yp[:, ffn:]
            s = torch.sigmoid(gate)
            torch.mul(gate * s, gp, out=op[:, ffn:])  # d/d up = silu(gate) · grad
            # d/d gate = up · grad · silu'(gate),  silu'(g) = σ(g) · (1 + g · (1 − σ(g)))
            torch.mul(torch.rsub(s, 1.0).mul_(gate).add_(1.0).mul_(s).mul_(up), gp, out=op[:, :ffn])
        return out.view(y.shape), None


def gated(y: torch.Tensor, ffn: int, act) -> torch.Tensor:
    """act(gate) · up for a fused gate/up output y [..., 2F] ([gate | up]): SwiGLU in cache-sized pieces for
    float32 on CPU (`_SwiGLU`), the plain composite otherwise (other activations, devices, dtypes, compiling)."""
    if (act is not F.silu or y.device.type != "cpu" or y.dtype != torch.float32 or torch.compiler.is_compiling()
            or not y.is_contiguous()):
        gate, up = y.split(ffn, dim=-1)
        return act(gate) * up
    return _SwiGLU.apply(y, ffn)
