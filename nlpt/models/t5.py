"""T5 encoder–decoder (Raffel et al. 2020), v1.0 and v1.1 (gated feed-forward).

Pre-norm blocks with RMS LayerNorm (scale only, no biases anywhere), a shared
token embedding, no position embeddings: a learned relative position bias
(log-spaced buckets of key − query distance, one scalar per head) computed in
the first layer of each stack and added to every layer's attention scores.
T5 does not scale Q·K by 1/√d (its initialisation folds that in), so SDPA is
called with `scale=1` and the bias as its additive mask: the bias (plus
padding, plus causality in the decoder) is one [B, heads, T, T] tensor per
stack per forward, shared by the layers. With tied embeddings the decoder
output is scaled by d_model^-0.5 before the shared projection; untied (v1.1)
it is not. The encoder's token-wise layers skip padding (`ops.Unpadded`), and
training uses `ops`' cheaper dropout mask. Attention and RMSNorm are `layers`';
the encoder/decoder calls are those BART shares (`seq2seq`).

Parameter names map onto `transformers`' `T5ForConditionalGeneration`
(`hf_state_dict`, `load_hf_state_dict`).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from nlpt.models import checkpointing
from nlpt.models.cpu_matmul import Linear, linear
from nlpt.models.hf import load_pairs, or_default, pairs_state_dict
from nlpt.models.layers import Attention, RMSNorm, causal_mask
from nlpt.models.ops import Dropout, Unpadded, residual
from nlpt.models.seq2seq import EncoderDecoder
from nlpt.transformer.configs import T5Config


def relative_bucket(relative: torch.Tensor, bidirectional: bool, buckets: int, max_distance: int) -> torch.Tensor:
    """Bucket of each relative position (key − query): exact for small distances, log-spaced up to max_distance."""
    out = torch.zeros_like(relative)
    if bidirectional:
        buckets //= 2
        out = out + (relative > 0).long() * buckets
        distance = relative.abs()
    else:
        distance = (-relative).clamp(min=0)
    exact = buckets // 2
    large = exact + (torch.log(distance.float().clamp(min=1) / exact) / math.log(max_distance / exact)
                     * (buckets - exact)).long()
    large = large.clamp(max=buckets - 1)
    return out + torch.where(distance < exact, distance, large)


def _attention(config: T5Config, cross: bool = False) -> Attention:
    """T5's attention: no biases, scores not scaled (its initialisation folds 1/√d_kv into Q), output `o`; the
    stack's position bias, padding and causality come as one additive mask."""
    return Attention(config.d_model, config.num_heads, head_dim=config.d_kv, bias=False, dropout=config.dropout,
                     scale=1.0, cross=cross, out_name="o", own_dropout=True)


class FeedForward(nn.Module):
    """d→F→d; gated (v1.1): act(x·W0) ⊙ (x·W1) → W_o."""

    def __init__(self, config: T5Config):
        super().__init__()
        d, f = config.d_model, config.ffn_size
        self.gated = config.gated_ffn
        self.wi = Linear(d, f, bias=False)
        self.wi_gate = Linear(d, f, bias=False) if self.gated else None
        self.wo = Linear(f, d, bias=False)
        self.drop = Dropout(config.dropout)
        act = getattr(config, "activation", "relu")
        # gated GELU is T5 v1.1's "gated-gelu", which transformers runs as the tanh approximation
        self.act = {"relu": F.relu, "silu": F.silu,
                    "gelu": (lambda t: F.gelu(t, approximate="tanh")) if self.gated else F.gelu}[act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.wi_gate(x)) * self.wi(x) if self.gated else self.act(self.wi(x))
        return self.wo(self.drop(h))


class Block(nn.Module):
    def __init__(self, config: T5Config, decoder: bool):
        super().__init__()
        self.ln_self = RMSNorm(config.d_model)
        self.self_attn = _attention(config)
        self.ln_cross = RMSNorm(config.d_model) if decoder else None
        self.cross_attn = _attention(config, cross=True) if decoder else None
        self.ln_ffn = RMSNorm(config.d_model)
        self.ffn = FeedForward(config)
        self.drop = Dropout(config.dropout)

    def forward(self, x, self_bias, memory=None, cross_bias=None, rows=None):
        p, training = self.drop.p, self.training
        x = residual(x, self.self_attn(self.ln_self(x), self_bias, rows=rows), p, training)
        if self.cross_attn is not None:
            x = residual(x, self.cross_attn(self.ln_cross(x), cross_bias, memory=memory), p, training)
        return residual(x, self.ffn(self.ln_ffn(x)), p, training)


class Stack(nn.Module):
    """Encoder (bidirectional) or decoder (causal + cross-attention) stack with its relative position bias."""

    def __init__(self, config: T5Config, decoder: bool):
        super().__init__()
        self.config, self.decoder = config, decoder
        layers = config.num_decoder_layers if decoder else config.num_layers
        self.rel_bias = nn.Embedding(config.relative_attention_num_buckets, config.num_heads)
        self.blocks = nn.ModuleList(Block(config, decoder) for _ in range(layers))
        self.ln_final = RMSNorm(config.d_model)
        self.drop = Dropout(config.dropout)

    def position_bias(self, T: int, device) -> torch.Tensor:
        pos = torch.arange(T, device=device)
        bucket = relative_bucket(pos[None, :] - pos[:, None], not self.decoder,
                                 self.config.relative_attention_num_buckets, self.config.relative_attention_max_distance)
        bias = self.rel_bias(bucket).permute(2, 0, 1)[None]  # [1, heads, T, T]
        if self.decoder:
            bias = bias.masked_fill(causal_mask(T, device), torch.finfo(bias.dtype).min)
        return bias

    def forward(self, x, mask=None, memory=None, memory_mask=None, rows: Unpadded | None = None):
        """[B, T, d] embeddings → [B, T, d]; with `rows` (the encoder's padding) the layers see only real tokens."""
        bias = self.position_bias(x.shape[1], x.device)
        if mask is not None:
            bias = bias + mask  # one [B, heads, T, T] mask for every layer
        x = self.drop(x if rows is None else rows.pack(x))
        for block in self.blocks:
            x = checkpointing.call(block, x, bias, memory, memory_mask, rows=rows)
        x = self.drop(self.ln_final(x))
        return x if rows is None else rows.unpack(x)


class T5(EncoderDecoder):
    """`hidden_states` (the encoder), `decode` and the teacher-forced `forward` come from `seq2seq.EncoderDecoder`."""

    def __init__(self, config: T5Config):
        super().__init__()
        self.config = config
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = Stack(config, decoder=False)
        self.decoder = Stack(config, decoder=True)
        # the untied LM head of T5 v1.1 (tied: the shared embedding, decoder output scaled by d^-0.5)
        self.head = None if config.tie_embeddings else Linear(config.d_model, config.vocab_size, bias=False)
        self._init()

    def _init(self) -> None:
        """T5's initialisation (Mesh TensorFlow): attention and FFN weights N(0, fan_in^-0.5), Q also / √d_kv."""
        c, std = self.config, 1.0
        nn.init.normal_(self.shared.weight, 0.0, std)
        if self.head is not None:
            nn.init.normal_(self.head.weight, 0.0, c.d_model ** -0.5)
        for stack in (self.encoder, self.decoder):
            nn.init.normal_(stack.rel_bias.weight, 0.0, c.d_model ** -0.5)
            for blk in stack.blocks:
                for attn in filter(None, (blk.self_attn, blk.cross_attn)):
                    with torch.no_grad():
                        attn.projection("q")[0].normal_(0.0, (c.d_model * c.d_kv) ** -0.5)
                        attn.projection("k")[0].normal_(0.0, c.d_model ** -0.5)
                        attn.projection("v")[0].normal_(0.0, c.d_model ** -0.5)
                    nn.init.normal_(attn.o.weight, 0.0, (c.num_heads * c.d_kv) ** -0.5)
                for lin in filter(None, (blk.ffn.wi, blk.ffn.wi_gate)):
                    nn.init.normal_(lin.weight, 0.0, c.d_model ** -0.5)
                nn.init.normal_(blk.ffn.wo.weight, 0.0, c.ffn_size ** -0.5)

    def lm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.head is None:
            return linear(hidden * self.config.d_model ** -0.5, self.shared.weight)
        return self.head(hidden)


def build(config: T5Config) -> T5:
    return T5(config)


# ---------------------------------------------------------------------------------------------
# Hugging Face mapping (T5ForConditionalGeneration)

def hf_config(config: T5Config) -> dict:
    act = getattr(config, "activation", "relu")
    return {
        "architectures": ["T5ForConditionalGeneration"], "model_type": "t5", "vocab_size": config.vocab_size,
        "d_model": config.d_model, "d_kv": config.d_kv, "d_ff": config.ffn_size, "num_heads": config.num_heads,
        "num_layers": config.num_layers, "num_decoder_layers": config.num_decoder_layers,
        "relative_attention_num_buckets": config.relative_attention_num_buckets,
        "relative_attention_max_distance": config.relative_attention_max_distance,
        "feed_forward_proj": f"gated-{act}" if config.gated_ffn else act, "dropout_rate": config.dropout,
        "layer_norm_epsilon": 1e-6, "tie_word_embeddings": config.tie_embeddings, "is_encoder_decoder": True,
        "pad_token_id": or_default(config.pad_token_id, 0), "eos_token_id": or_default(config.eos_token_id, 1),
        "decoder_start_token_id": or_default(config.pad_token_id, 0), "n_positions": config.max_positions,
    }


# transformers 5 saves an unscaled (v1.1) LM head that equals the embedding once, as the embedding
HF_SAVED_AS = {"lm_head.weight": "shared.weight"}


def _hf_pairs(model: T5):
    yield "shared.weight", model.shared.weight
    for side, stack in (("encoder", model.encoder), ("decoder", model.decoder)):
        yield f"{side}.block.0.layer.0.SelfAttention.relative_attention_bias.weight", stack.rel_bias.weight
        yield f"{side}.final_layer_norm.weight", stack.ln_final.weight
        for i, blk in enumerate(stack.blocks):
            p = f"{side}.block.{i}.layer."
            for n in "qkv":
                yield f"{p}0.SelfAttention.{n}.weight", blk.self_attn.projection(n)[0]
            yield f"{p}0.SelfAttention.o.weight", blk.self_attn.o.weight
            yield f"{p}0.layer_norm.weight", blk.ln_self.weight
            ff = 1
            if blk.cross_attn is not None:
                for n in "qkv":
                    yield f"{p}1.EncDecAttention.{n}.weight", blk.cross_attn.projection(n)[0]
                yield f"{p}1.EncDecAttention.o.weight", blk.cross_attn.o.weight
                yield f"{p}1.layer_norm.weight", blk.ln_cross.weight
                ff = 2
            if blk.ffn.gated:
                yield f"{p}{ff}.DenseReluDense.wi_0.weight", blk.ffn.wi_gate.weight
                yield f"{p}{ff}.DenseReluDense.wi_1.weight", blk.ffn.wi.weight
            else:
                yield f"{p}{ff}.DenseReluDense.wi.weight", blk.ffn.wi.weight
            yield f"{p}{ff}.DenseReluDense.wo.weight", blk.ffn.wo.weight
            yield f"{p}{ff}.layer_norm.weight", blk.ln_ffn.weight
    if model.head is not None:
        yield "lm_head.weight", model.head.weight


def hf_state_dict(model: T5) -> dict:
    """nlpt weights under T5ForConditionalGeneration's names (tied copies left to transformers to tie)."""
    return pairs_state_dict(_hf_pairs(model))


def load_hf_state_dict(model: T5, sd: dict) -> None:
    """Copy T5ForConditionalGeneration-named weights into `model` (KeyError naming a missing tensor)."""
    load_pairs(_hf_pairs(model), sd)
