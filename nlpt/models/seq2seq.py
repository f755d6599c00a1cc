"""What the encoder–decoders (T5, BART) share: their attention's projections and the calls that run them.

`FusedQKV` is the part of T5's and BART's attention that is the same in both:
Q, K and V from one fused projection `qkv` (cross-attention: Q from the
decoder through `q`, K and V from the encoder output through one `kv`), the
heads, and attention over them (`ops.attention`). The models differ in what
they pass: biases or not, the head width, and the score scale (BART 1/√head,
T5 none). Each model file adds the output projection under its own name (T5
`o`, BART `out`), so the parameter names stay those of the model.

`EncoderDecoder` holds the calls every encoder–decoder answers
(`hidden_states`, `decode`, and the teacher-forced `forward`); a model sets
`shared` (the token embedding), `encoder` and `decoder` (stacks called as
`stack(x, mask, memory, memory_mask, rows=...)`) and `lm_logits`.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from nlpt.models.cpu_matmul import Linear
from nlpt.models.ops import Unpadded, attention


class FusedQKV(nn.Module):
    """Q, K, V projections and multi-head attention; the subclass adds the output projection."""

    def __init__(self, d_model: int, heads: int, head_dim: int, dropout: float, bias: bool, cross: bool = False,
                 scale: float | None = None):
        super().__init__()
        self.heads, self.head_dim, self.inner = heads, head_dim, heads * head_dim
        self.dropout, self.cross, self.scale = dropout, cross, scale
        if cross:
            self.q = Linear(d_model, self.inner, bias=bias)
            self.kv = Linear(d_model, 2 * self.inner, bias=bias)
        else:
            self.qkv = Linear(d_model, 3 * self.inner, bias=bias)

    def projection(self, name: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(weight, bias) of the Q, K or V projection alone: views into the fused one (bias None without biases)."""
        i = "qkv".index(name)
        if self.cross:
            linear, i = (self.q, 0) if name == "q" else (self.kv, i - 1)
        else:
            linear = self.qkv
        part = slice(i * self.inner, (i + 1) * self.inner)
        return linear.weight[part], None if linear.bias is None else linear.bias[part]

    def attend(self, x: torch.Tensor, mask: torch.Tensor | None = None, kv: torch.Tensor | None = None,
               causal: bool = False, rows: Unpadded | None = None) -> torch.Tensor:
        """x [B, T, d] attending to itself, or to `kv` [B, S, d] (cross) → [B, T, inner], before the output
        projection; with `rows` (self-attention only) x and the result are the non-padding rows [N, ·]."""
        if self.cross:
            B, T, _ = x.shape
            q = self.q(x).view(B, T, self.heads, self.head_dim).transpose(1, 2)
            k, v = self.kv(kv).view(B, kv.shape[1], 2, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        else:
            qkv = self.qkv(x) if rows is None else rows.unpack(self.qkv(x))
            B, T, _ = qkv.shape
            q, k, v = qkv.view(B, T, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        y = attention(q, k, v, mask, self.dropout, self.training, scale=self.scale, causal=causal)
        y = y.transpose(1, 2).reshape(B, T, self.inner)
        return y if rows is None else rows.pack(y)


def padding_mask(mask: torch.Tensor | None, dtype) -> torch.Tensor | None:
    """[B, T] 1/0 mask → additive [B, 1, 1, T] mask; None when nothing is padded (SDPA's fast path)."""
    if mask is None or bool(mask.all()):
        return None
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(mask == 0, torch.finfo(dtype).min)[:, None, None, :]


class EncoderDecoder(nn.Module):
    """The encoder, the decoder, and both with teacher forcing, over the subclass's `shared`, `encoder`,
    `decoder` and `lm_logits`."""

    def hidden_states(self, input_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        """The encoder's output [B, T, d] (after its final norm, if it has one; zeros at padding)."""
        mask = padding_mask(attention_mask, self.shared.weight.dtype)
        rows = Unpadded(attention_mask) if mask is not None else None
        return self.encoder(self.shared(input_ids), mask, rows=rows)

    def decode(self, decoder_input_ids, memory, attention_mask=None, decoder_attention_mask=None) -> torch.Tensor:
        """Decoder output [B, S, d] (before the LM head) attending to the encoder output `memory`."""
        dtype = memory.dtype
        return self.decoder(self.shared(decoder_input_ids), padding_mask(decoder_attention_mask, dtype), memory,
                            padding_mask(attention_mask, dtype))

    def forward(self, input_ids, decoder_input_ids, attention_mask=None, decoder_attention_mask=None, positions=None):
        """Teacher-forced decoder logits [B, S, V]; with `positions` (flat indices into B·S) only those rows [N, V],
        so padding is never projected onto the vocabulary."""
        memory = self.hidden_states(input_ids, attention_mask)
        hidden = self.decode(decoder_input_ids, memory, attention_mask, decoder_attention_mask)
        if positions is not None:
            hidden = hidden.reshape(-1, hidden.shape[-1]).index_select(0, positions)
        return self.lm_logits(hidden)
