"""GPT (Radford et al. 2018, 2019; Brown et al. 2020): a Transformer decoder with learned positions.

GPT-2 layout (`norm="pre"`): x + attn(LN(x)), x + mlp(LN(x)), final LayerNorm,
LM head tied to the token embeddings. GPT-1 (`norm="post"`): LN(x + attn(x)),
LN(x + mlp(x)), no final LayerNorm. Attention, the MLP and the masks are
`layers`' (causal, one fused Q/K/V projection, SDPA).

Weights are stored as `nn.Linear` (out × in); Hugging Face's GPT-2 uses
`Conv1D` (in × out), so `hf_state_dict` transposes.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from nlpt.common.errors import NlptError
from nlpt.models import checkpointing
from nlpt.models.cpu_matmul import Linear
from nlpt.models.hf import load_pairs, pairs_state_dict
from nlpt.models.layers import ACTIVATIONS, MLP, Attention, activation_fn, causal_padding_mask
from nlpt.models.lm_loss import lm_loss
from nlpt.transformer.configs import GPTConfig
from nlpt.transformer.hf_config import hf_activation


class Block(nn.Module):
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.pre = c.norm == "pre"
        self.ln_1 = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.attn = Attention(c.hidden_size, c.num_heads, dropout=c.dropout, out_name="proj")
        self.resid_drop = nn.Dropout(c.dropout)
        self.ln_2 = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.mlp = MLP(c.hidden_size, c.ffn_size, c.activation, c.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """`mask`: the additive padding + causal mask, None when nothing is padded (then SDPA's `is_causal`)."""
        if self.pre:
            x = x + self.resid_drop(self.attn(self.ln_1(x), mask, causal=True))
            return x + self.mlp(self.ln_2(x))
        x = self.ln_1(x + self.resid_drop(self.attn(x, mask, causal=True)))
        return self.ln_2(x + self.mlp(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        c = self.config = config
        self.wte = nn.Embedding(c.vocab_size, c.hidden_size)
        self.wpe = nn.Embedding(c.max_positions, c.hidden_size)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.num_layers))
        self.ln_f = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps) if c.norm == "pre" else None
        self.lm_head = Linear(c.hidden_size, c.vocab_size, bias=False)
        if c.tie_embeddings:
            self.lm_head.weight = self.wte.weight
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2's initialisation: N(0, σ) weights, zero biases, residual projections N(0, σ/√(2L))."""
        std = self.config.init_std
        for name, p in self.named_parameters():
            if p.dim() == 1:
                nn.init.ones_(p) if ".ln_" in f".{name}" and name.endswith("weight") else nn.init.zeros_(p)
            elif name.endswith("proj.weight"):
                nn.init.normal_(p, 0.0, std / math.sqrt(2 * self.config.num_layers))
            else:
                nn.init.normal_(p, 0.0, std)

    def hidden_states(self, input_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        """Last layer's output after the final LayerNorm (GPT-1: after the last block), [B, T, H]."""
        T = input_ids.shape[1]
        if T > self.config.max_positions:
            raise NlptError(f"sequence of {T} tokens is longer than the model's context {self.config.max_positions}")
        pos = torch.arange(T, device=input_ids.device)
        x = self.drop(self.wte(input_ids) + self.wpe(pos))
        mask = causal_padding_mask(attention_mask, x.dtype)
        for block in self.blocks:
            x = checkpointing.call(block, x, mask)
        return self.ln_f(x) if self.ln_f is not None else x

    def forward(self, input_ids, labels=None, attention_mask=None) -> dict:
        """{"logits": [B, T, V]}; with `labels` (-100 = ignored) only the mean token cross-entropy "loss",
        computed without materialising the logits (`lm_loss`)."""
        h = self.hidden_states(input_ids, attention_mask)
        if labels is not None:
            return {"loss": lm_loss(h, self.lm_head.weight, labels)}
        return {"logits": self.lm_head(h)}


def build(config: GPTConfig) -> GPT:
    if config.hidden_size % config.num_heads:
        raise NlptError(f"--heads {config.num_heads} does not divide --hidden {config.hidden_size}")
    activation_fn(config.activation)
    return GPT(config)


# ---------------------------------------------------------------------------------------------
# Hugging Face GPT2LMHeadModel

def hf_config(c: GPTConfig) -> dict:
    if c.norm != "pre" or c.variant == "openai-gpt":
        raise NlptError("export to transformers supports the GPT-2 layout (pre-LN); this model is GPT-1 style (post-LN)")
    if c.activation not in ACTIVATIONS:
        raise NlptError(f"activation {c.activation!r} has no GPT-2 equivalent in transformers")
    act = hf_activation(c.activation)
    return {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": c.vocab_size,
            "n_embd": c.hidden_size, "n_layer": c.num_layers, "n_head": c.num_heads, "n_inner": c.ffn_size,
            "n_positions": c.max_positions, "activation_function": act, "layer_norm_epsilon": c.layer_norm_eps,
            "resid_pdrop": c.dropout, "embd_pdrop": c.dropout, "attn_pdrop": c.dropout,
            "initializer_range": c.init_std, "tie_word_embeddings": c.tie_embeddings,
            "bos_token_id": c.bos_token_id, "eos_token_id": c.eos_token_id, "pad_token_id": c.pad_token_id,
            "torch_dtype": "float32"}


HF_SAVED_AS: dict = {}  # every tensor under its own name (the family protocol, see nlpt.models.hf)


def _hf_pairs(model: GPT):
    """(GPT2LMHeadModel's name, nlpt tensor or a view of one): Conv1D weights are in × out, hence transposed views."""
    yield from (("transformer.wte.weight", model.wte.weight), ("transformer.wpe.weight", model.wpe.weight),
                ("transformer.ln_f.weight", model.ln_f.weight), ("transformer.ln_f.bias", model.ln_f.bias))
    for i, b in enumerate(model.blocks):
        p = f"transformer.h.{i}."
        for mine, theirs in ((b.attn.qkv, "attn.c_attn"), (b.attn.proj, "attn.c_proj"), (b.mlp.fc, "mlp.c_fc"),
                             (b.mlp.proj, "mlp.c_proj")):
            yield p + theirs + ".weight", mine.weight.t()
            yield p + theirs + ".bias", mine.bias
        for ln in ("ln_1", "ln_2"):
            yield p + ln + ".weight", getattr(b, ln).weight
            yield p + ln + ".bias", getattr(b, ln).bias
    if not model.config.tie_embeddings:
        yield "lm_head.weight", model.lm_head.weight


def hf_state_dict(model: GPT) -> dict:
    """Tensors named as GPT2LMHeadModel's."""
    return pairs_state_dict(_hf_pairs(model))


def load_hf_state_dict(model: GPT, sd: dict) -> None:
    """Copy GPT2LMHeadModel-named weights into `model` (KeyError naming a missing tensor)."""
    load_pairs(_hf_pairs(model), sd)
