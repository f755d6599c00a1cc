"""BART encoder–decoder (Lewis et al. 2020): a denoising autoencoder with a BERT-like encoder and a GPT-like decoder.

Shared token embedding, learned positions with BART's offset of 2 (position
p reads row p + 2), LayerNorm on the embeddings, post-LN blocks with biases
and GELU; the decoder adds causal self-attention and cross-attention. The LM
head is tied to the token embedding (transformers adds `final_logits_bias`, a
buffer of zeros that is never trained; the export writes it as zeros). The
encoder's token-wise layers skip padding (`ops.Unpadded`), and training uses
`ops`' cheaper dropout mask. Attention is `layers.Attention`; the encoder/decoder
calls are those T5 shares (`seq2seq`).

Parameter names map onto `transformers`' `BartForConditionalGeneration`
(`hf_state_dict`, `load_hf_state_dict`).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from nlpt.common.errors import NlptError
from nlpt.models import checkpointing
from nlpt.models.cpu_matmul import Linear, linear
from nlpt.models.hf import linear_pairs, load_pairs, or_default, pairs_state_dict
from nlpt.models.layers import Attention, normal_init, with_causal
from nlpt.models.ops import Dropout, Unpadded, residual
from nlpt.models.seq2seq import EncoderDecoder
from nlpt.transformer.configs import BartConfig

POSITION_OFFSET = 2


class Block(nn.Module):
    """Post-LN layer: self-attention (+ cross-attention in the decoder), GELU feed-forward."""

    def __init__(self, config: BartConfig, decoder: bool):
        super().__init__()
        d, p = config.d_model, config.dropout
        ffn = config.dec_ffn if decoder else config.ffn_size
        self.self_attn = Attention(d, config.num_heads, dropout=p, own_dropout=True)
        self.ln_self = nn.LayerNorm(d)
        self.cross_attn = Attention(d, config.num_heads, dropout=p, cross=True, own_dropout=True) if decoder else None
        self.ln_cross = nn.LayerNorm(d) if decoder else None
        self.fc_in, self.fc_out = Linear(d, ffn), Linear(ffn, d)
        self.ln_ffn = nn.LayerNorm(d)
        self.drop = Dropout(p)

    def forward(self, x, mask=None, memory=None, memory_mask=None, causal=False, rows=None):
        p, training = self.drop.p, self.training
        x = self.ln_self(residual(x, self.self_attn(x, mask, causal=causal, rows=rows), p, training))
        if self.cross_attn is not None:
            x = self.ln_cross(residual(x, self.cross_attn(x, memory_mask, memory=memory), p, training))
        return self.ln_ffn(residual(x, self.fc_out(F.gelu(self.fc_in(x))), p, training))


class Stack(nn.Module):
    def __init__(self, config: BartConfig, decoder: bool):
        super().__init__()
        self.config, self.decoder = config, decoder
        self.pos_emb = nn.Embedding(config.max_positions + POSITION_OFFSET, config.d_model)
        self.ln_emb = nn.LayerNorm(config.d_model)
        layers = config.num_decoder_layers if decoder else config.num_layers
        self.blocks = nn.ModuleList(Block(config, decoder) for _ in range(layers))
        self.drop = Dropout(config.dropout)

    def forward(self, x, mask=None, memory=None, memory_mask=None, rows: Unpadded | None = None):
        """[B, T, d] embeddings → [B, T, d]; with `rows` (the encoder's padding) the layers see only real tokens."""
        T = x.shape[1]
        if T > self.config.max_positions:
            raise ValueError(f"sequence of {T} tokens exceeds max_positions {self.config.max_positions}")
        x = self.drop(self.ln_emb(x + self.pos_emb(torch.arange(POSITION_OFFSET, T + POSITION_OFFSET, device=x.device))))
        if self.decoder and mask is not None:  # padding and causality in one additive mask
            mask = with_causal(mask)
        if rows is not None:
            x = rows.pack(x)
        for block in self.blocks:
            x = checkpointing.call(block, x, mask, memory, memory_mask, causal=self.decoder, rows=rows)
        return x if rows is None else rows.unpack(x)


class Bart(EncoderDecoder):
    """`hidden_states` (the encoder), `decode` and the teacher-forced `forward` come from `seq2seq.EncoderDecoder`."""

    def __init__(self, config: BartConfig):
        super().__init__()
        if not config.tie_embeddings:
            raise ValueError("only BART with the LM head tied to the token embeddings is built")
        self.config = config
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = Stack(config, decoder=False)
        self.decoder = Stack(config, decoder=True)
        self.apply(normal_init)

    def lm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return linear(hidden, self.shared.weight)


def build(config: BartConfig) -> Bart:
    return Bart(config)


# ---------------------------------------------------------------------------------------------
# Hugging Face mapping (BartForConditionalGeneration)

def hf_config(config: BartConfig) -> dict:
    if not config.tie_embeddings:  # nlpt builds BART with the LM head tied to the token embeddings only
        raise NlptError("BART with an LM head of its own (tie_word_embeddings false) is not supported")
    eos = or_default(config.eos_token_id, 2)
    return {
        "architectures": ["BartForConditionalGeneration"], "model_type": "bart", "vocab_size": config.vocab_size,
        "d_model": config.d_model, "encoder_layers": config.num_layers, "decoder_layers": config.num_decoder_layers,
        "encoder_attention_heads": config.num_heads, "decoder_attention_heads": config.num_heads,
        "encoder_ffn_dim": config.ffn_size, "decoder_ffn_dim": config.dec_ffn,
        "max_position_embeddings": config.max_positions, "activation_function": "gelu",
        "dropout": config.dropout, "attention_dropout": 0.0, "activation_dropout": 0.0, "scale_embedding": False,
        "add_final_layer_norm": False, "normalize_before": False, "is_encoder_decoder": True,
        "tie_word_embeddings": True, "pad_token_id": or_default(config.pad_token_id, 1), "bos_token_id": or_default(config.bos_token_id, 0),
        "eos_token_id": eos, "decoder_start_token_id": eos, "forced_eos_token_id": None,  # generate = nlpt's greedy infill
    }


HF_SAVED_AS: dict = {}  # every tensor under its own name (the family protocol, see nlpt.models.hf)


def _hf_pairs(model: Bart):
    yield "model.shared.weight", model.shared.weight
    for side, stack in (("encoder", model.encoder), ("decoder", model.decoder)):
        p = f"model.{side}."
        yield p + "embed_positions.weight", stack.pos_emb.weight
        modules = {p + "layernorm_embedding": stack.ln_emb}
        for i, blk in enumerate(stack.blocks):
            lp = f"{p}layers.{i}."
            for attn, name in ((blk.self_attn, "self_attn"), (blk.cross_attn, "encoder_attn")):
                if attn is None:
                    continue
                for n in "qkv":
                    weight, bias = attn.projection(n)
                    yield f"{lp}{name}.{n}_proj.weight", weight
                    yield f"{lp}{name}.{n}_proj.bias", bias
                modules[f"{lp}{name}.out_proj"] = attn.out
            modules.update({lp + "self_attn_layer_norm": blk.ln_self, lp + "fc1": blk.fc_in, lp + "fc2": blk.fc_out,
                            lp + "final_layer_norm": blk.ln_ffn})
            if blk.ln_cross is not None:
                modules[lp + "encoder_attn_layer_norm"] = blk.ln_cross
        yield from linear_pairs(modules)


def hf_state_dict(model: Bart) -> dict:
    """nlpt weights under BartForConditionalGeneration's names (tied copies left to transformers to tie)."""
    return {**pairs_state_dict(_hf_pairs(model)), "final_logits_bias": torch.zeros(1, model.config.vocab_size)}


def load_hf_state_dict(model: Bart, sd: dict) -> None:
    """Copy BartForConditionalGeneration-named weights into `model` (KeyError naming a missing tensor)."""
    load_pairs(_hf_pairs(model), sd)
    bias = sd.get("final_logits_bias")
    if bias is not None and bool(bias.any()):
        raise ValueError("final_logits_bias is not zero: nlpt's BART has no output bias")
