"""The Transformer pieces every family composes: one attention, the feed-forward variants, the norms, the masks.

`Attention` is the one multi-head attention of nlpt's models. Its options are what the families differ in:
biases or not, the head width, grouped-query K/V heads (Llama), the score scale (T5: none), cross-attention
(the decoders of T5 and BART: Q from the decoder, K and V from the encoder output), rotary positions (Llama,
applied by the caller's `rotary` tables) and the name of its output projection, which stays the family's own
so that parameter names (and so checkpoints) are those of the family's model. Masks are additive: T5's relative
position bias is such a mask, built once per stack and shared by its layers; causality is SDPA's `is_causal`
when nothing is padded (its fast path) and folded into the additive mask otherwise (`causal_padding_mask`).

Q, K and V come from one fused projection (`qkv`; cross-attention: `q` and one `kv`) and are taken apart as
strided views: SDPA reads them as they are, and their gradients go back into one tensor without the copy a
permute's backward makes. All products go through `cpu_matmul.Linear` (`--cpu-matmul`).

Attention dropout is SDPA's on GPUs, or (`own_dropout`, T5 and BART, and every family on CPU) the same
arithmetic written out with `ops.dropout`'s cheaper mask; without dropout both are SDPA.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from nlpt.common.errors import NlptError
from nlpt.models.cpu_matmul import Linear
from nlpt.models.ops import Unpadded, dropout, gated, gelu_tanh
from nlpt.transformer.validate import ACTIVATIONS

# ---------------------------------------------------------------------------------------------
# masks


def causal_mask(T: int, device) -> torch.Tensor:
    """[T, T] bool, True above the diagonal: the future positions a decoder's query must not see."""
    return torch.ones(T, T, dtype=torch.bool, device=device).triu(1)


def padding_mask(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """[B, T] 1/0 mask → additive [B, 1, 1, T] mask; None when nothing is padded (SDPA's fast path)."""
    if attention_mask is None or bool(attention_mask.all()):
        return None
    mask = torch.zeros(attention_mask.shape, dtype=dtype, device=attention_mask.device)
    return mask.masked_fill_(attention_mask == 0, torch.finfo(dtype).min)[:, None, None, :]


def with_causal(mask: torch.Tensor) -> torch.Tensor:
    """An additive [..., T, T]-broadcastable mask with the future positions masked out too."""
    T = mask.shape[-1]
    return mask.masked_fill(causal_mask(T, mask.device), torch.finfo(mask.dtype).min)


def causal_padding_mask(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """A decoder's self-attention mask: None when nothing is padded (then `is_causal`), else padding and
    causality in one additive [B, 1, T, T] mask."""
    mask = padding_mask(attention_mask, dtype)
    return None if mask is None else with_causal(mask)


# ---------------------------------------------------------------------------------------------
# attention


def attention(q, k, v, mask=None, dropout_p: float = 0.0, training: bool = False, scale=None,
              causal: bool = False, own_dropout: bool = False) -> torch.Tensor:
    """softmax(q·kᵀ·scale + mask) (dropped out) · v over [B, heads, T, d] (K, V may have fewer heads: grouped
    query); `causal` applies only without a mask (a mask carries causality itself). SDPA, except when dropping
    out with `own_dropout` or on CPU: there the arithmetic is written out so that `ops.dropout`'s mask is used
    (on CPU, SDPA with dropout takes its unfused path and draws with `bernoulli_`: bert-mini's attention, forward
    and backward, is 1.3–1.5× faster written out; `benchmarks/bench_cpu_ops.py`)."""
    p = dropout_p if training else 0.0
    gqa = k.shape[1] != q.shape[1]
    if p == 0.0 or not (own_dropout or q.device.type == "cpu"):
        extra = {"enable_gqa": True} if gqa else {}
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal and mask is None,
                                              dropout_p=p, scale=scale, **extra)
    if gqa:
        k, v = (t.repeat_interleave(q.shape[1] // k.shape[1], dim=1) for t in (k, v))
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    scores = torch.matmul(q if scale == 1.0 else q * scale, k.transpose(-2, -1))
    if mask is not None:
        scores = scores + mask
    elif causal:
        T, S = scores.shape[-2:]
        scores = scores.masked_fill(torch.ones(T, S, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
    return torch.matmul(dropout(scores.softmax(-1), p, True), v)


def rotary_tables(head_dim: int, theta: float, T: int, device, scaling: float | None = None):
    """cos and sin [T, head_dim] for rotary positions (Llama's half-split layout; `scaling` = linear)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    pos = torch.arange(T, device=device, dtype=torch.float32)
    if scaling:
        pos = pos / scaling
    angles = torch.outer(pos, inv_freq)
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos(), angles.sin()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [..., T, d] turned by its positions' angles (the half-split layout)."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return (x * cos + rotated * sin).to(x.dtype)


def _split_heads(t: torch.Tensor, parts: int, heads: int, head_dim: int) -> tuple:
    """[B, T, parts·heads·d] → `parts` strided [B, heads, T, d] views."""
    B, T, _ = t.shape
    return tuple(x.transpose(1, 2) for x in t.view(B, T, parts, heads, head_dim).unbind(2))


class Attention(nn.Module):
    """Multi-head attention: fused Q/K/V projection, SDPA, output projection (named `out_name`)."""

    def __init__(self, d_model: int, heads: int, *, head_dim: int | None = None, kv_heads: int | None = None,
                 bias: bool = True, out_bias: bool | None = None, dropout: float = 0.0, scale: float | None = None,
                 cross: bool = False, out_name: str = "out", own_dropout: bool = False):
        super().__init__()
        if head_dim is None and d_model % heads:
            raise ValueError(f"num_heads {heads} does not divide the width {d_model}")
        self.heads, self.kv_heads = heads, kv_heads or heads
        self.head_dim = head_dim or d_model // heads
        self.inner, self.kv_inner = heads * self.head_dim, self.kv_heads * self.head_dim
        self.dropout, self.scale, self.cross, self.own_dropout = dropout, scale, cross, own_dropout
        if cross:
            self.q = Linear(d_model, self.inner, bias=bias)
            self.kv = Linear(d_model, 2 * self.kv_inner, bias=bias)
        else:
            self.qkv = Linear(d_model, self.inner + 2 * self.kv_inner, bias=bias)
        self.out_name = out_name
        self.add_module(out_name, Linear(self.inner, d_model, bias=bias if out_bias is None else out_bias))

    def projection(self, name: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(weight, bias) of the Q, K or V projection alone: views into the fused one (bias None without biases)."""
        sizes = (self.inner, self.kv_inner, self.kv_inner)
        i = "qkv".index(name)
        if self.cross:
            linear, sizes = (self.q, sizes[:1]) if name == "q" else (self.kv, sizes[1:])
            i = 0 if name == "q" else i - 1
        else:
            linear = self.qkv
        begin = sum(sizes[:i])
        part = slice(begin, begin + sizes[i])
        return linear.weight[part], None if linear.bias is None else linear.bias[part]

    def _qkv(self, x: torch.Tensor, memory: torch.Tensor | None, rows: Unpadded | None) -> tuple:
        if self.cross:
            (q,) = _split_heads(self.q(x), 1, self.heads, self.head_dim)
            return (q, *_split_heads(self.kv(memory), 2, self.kv_heads, self.head_dim))
        qkv = self.qkv(x) if rows is None else rows.unpack(self.qkv(x))
        if self.kv_heads == self.heads:
            return _split_heads(qkv, 3, self.heads, self.head_dim)
        B, T, _ = qkv.shape
        q, k, v = qkv.split((self.inner, self.kv_inner, self.kv_inner), dim=-1)
        return (q.view(B, T, self.heads, self.head_dim).transpose(1, 2),
                *(t.view(B, T, self.kv_heads, self.head_dim).transpose(1, 2) for t in (k, v)))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, causal: bool = False,
                memory: torch.Tensor | None = None, rotary: tuple | None = None,
                rows: Unpadded | None = None) -> torch.Tensor:
        """x [B, T, d] attending to itself, or (cross) to `memory` [B, S, d] → [B, T, d]. `mask`: additive
        (padding, position bias, causality); `rotary`: (cos, sin) tables; with `rows` (self-attention only) x
        and the result are the non-padding rows [N, d] (`ops.Unpadded`)."""
        q, k, v = self._qkv(x, memory, rows)
        if rotary is not None:
            q, k = rotate(q, *rotary), rotate(k, *rotary)
        y = attention(q, k, v, mask, self.dropout, self.training, self.scale, causal, self.own_dropout)
        B, _, T, _ = y.shape
        y = y.transpose(1, 2).reshape(B, T, self.inner)
        return self._modules[self.out_name](y if rows is None else rows.pack(y))


# ---------------------------------------------------------------------------------------------
# feed-forward


def activation_fn(name: str):
    """The MLP non-linearity a config names."""
    found = {"gelu_tanh": gelu_tanh, "gelu": F.gelu, "relu": F.relu, "silu": F.silu}.get(name)
    if found is None:
        raise NlptError(f"activation {name!r} is not supported ({', '.join(ACTIVATIONS)})")
    return found


class MLP(nn.Module):
    """proj(act(fc(x))), dropped out (GPT's feed-forward)."""

    def __init__(self, d_model: int, ffn: int, activation: str, dropout: float = 0.0):
        super().__init__()
        self.fc = Linear(d_model, ffn)
        self.proj = Linear(ffn, d_model)
        self.act = activation_fn(activation)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(self.act(self.fc(x))))


class GatedMLP(nn.Module):
    """down(act(gate(x)) · up(x)), gate and up in one matrix (SwiGLU with silu, GeGLU with gelu)."""

    def __init__(self, d_model: int, ffn: int, activation: str):
        super().__init__()
        self.ffn = ffn
        self.gate_up = Linear(d_model, 2 * ffn, bias=False)
        self.down = Linear(ffn, d_model, bias=False)
        self.act = activation_fn(activation)

    def forward(self, x):
        return self.down(gated(self.gate_up(x), self.ffn, self.act))


# ---------------------------------------------------------------------------------------------
# initialisation and norms (LayerNorm is torch's `nn.LayerNorm`)


def normal_init(module: nn.Module, std: float = 0.02) -> None:
    """BERT's and BART's initialisation, for `model.apply`: N(0, std) weights, zero biases, unit LayerNorms."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, 0.0, std)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class _RMSNormFunction(torch.autograd.Function):
    """x · r · w with r = (mean(x²) + eps)^-1/2 and its gradient written out: on CPU, `F.rms_norm` is a
    composite of upcasts and `pow` that costs ~20% more (forward + backward) for float32 input."""

    @staticmethod
    def forward(ctx, x, weight, eps):
        r = torch.rsqrt(torch.mean(x * x, -1, keepdim=True).add_(eps))
        xr = x * r
        ctx.save_for_backward(xr, r, weight)
        return xr * weight

    @staticmethod
    def backward(ctx, grad):
        xr, r, weight = ctx.saved_tensors
        gw = grad * weight  # d/dx of (x·r): r · (g − x·r · mean(g · x·r))
        dx = (gw - xr * (gw * xr).mean(-1, keepdim=True)).mul_(r)
        return dx, (grad * xr).reshape(-1, grad.shape[-1]).sum(0), None


class RMSNorm(nn.Module):
    """x / rms(x) · w: no mean subtraction, no bias (Llama's and T5's norm). Other dtypes than float32 (autocast)
    are normalised in float32 and cast back before the scale, as transformers does."""

    def __init__(self, size: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32:
            return _RMSNormFunction.apply(x, self.weight, self.eps)
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)
