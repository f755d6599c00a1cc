"""GPT (Radford et al. 2018, 2019; Brown et al. 2020): a Transformer decoder with learned positions.

GPT-2 layout (`norm="pre"`): x + attn(LN(x)), x + mlp(LN(x)), final LayerNorm,
LM head tied to the token embeddings. GPT-1 (`norm="post"`): LN(x + attn(x)),
LN(x + mlp(x)), no final LayerNorm. Attention goes through
`scaled_dot_product_attention` with one fused Q/K/V projection.

Weights are stored as `nn.Linear` (out × in); Hugging Face's GPT-2 uses
`Conv1D` (in × out), so `hf_state_dict` transposes.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from nlpt.common.errors import NlptError
from nlpt.models import checkpointing
from nlpt.models.cpu_matmul import Linear
from nlpt.models.lm_loss import lm_loss
from nlpt.models.ops import gelu_tanh
from nlpt.transformer.config import GPTConfig


def activation_fn(name: str):
    """The MLP non-linearity a config names."""
    if name == "gelu_tanh":
        return gelu_tanh
    if name == "gelu":
        return F.gelu
    if name == "relu":
        return F.relu
    if name == "silu":
        return F.silu
    raise NlptError(f"activation {name!r} is not supported (gelu_tanh, gelu, relu, silu)")


def attention_mask_for(attention_mask: torch.Tensor | None, T: int):
    """SDPA arguments for causal attention with optional padding (1 = token, 0 = padding)."""
    if attention_mask is None:
        return None, True
    causal = torch.ones(T, T, dtype=torch.bool, device=attention_mask.device).tril()
    mask = causal[None, None] & attention_mask[:, None, None, :].bool()
    return mask, False


class CausalSelfAttention(nn.Module):
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.num_heads = c.num_heads
        self.qkv = Linear(c.hidden_size, 3 * c.hidden_size)
        self.proj = Linear(c.hidden_size, c.hidden_size)
        self.dropout = c.dropout
        self.resid_drop = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        B, T, H = x.shape
        # strided views [B, heads, T, d] into the fused output: SDPA reads them as they are, and their gradients
        # go back into one [B, T, 3H] tensor without the copy a permute's backward makes
        q, k, v = (t.transpose(1, 2) for t in self.qkv(x).view(B, T, 3, self.num_heads, H // self.num_heads).unbind(2))
        mask, causal = attention_mask_for(attention_mask, T)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.resid_drop(self.proj(y.transpose(1, 2).reshape(B, T, H)))


class MLP(nn.Module):
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.fc = Linear(c.hidden_size, c.ffn_size)
        self.proj = Linear(c.ffn_size, c.hidden_size)
        self.act = activation_fn(c.activation)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(self.act(self.fc(x))))


class Block(nn.Module):
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.pre = c.norm == "pre"
        self.ln_1 = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.attn = CausalSelfAttention(c)
        self.ln_2 = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.mlp = MLP(c)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.pre:
            x = x + self.attn(self.ln_1(x), attention_mask)
            return x + self.mlp(self.ln_2(x))
        x = self.ln_1(x + self.attn(x, attention_mask))
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
        for block in self.blocks:
            x = checkpointing.call(block, x, attention_mask)
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
    if c.activation not in ("gelu_tanh", "gelu", "relu", "silu"):
        raise NlptError(f"activation {c.activation!r} has no GPT-2 equivalent in transformers")
    act = {"gelu_tanh": "gelu_new"}.get(c.activation, c.activation)
    return {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": c.vocab_size,
            "n_embd": c.hidden_size, "n_layer": c.num_layers, "n_head": c.num_heads, "n_inner": c.ffn_size,
            "n_positions": c.max_positions, "activation_function": act, "layer_norm_epsilon": c.layer_norm_eps,
            "resid_pdrop": c.dropout, "embd_pdrop": c.dropout, "attn_pdrop": c.dropout,
            "initializer_range": c.init_std, "tie_word_embeddings": c.tie_embeddings,
            "bos_token_id": c.bos_token_id, "eos_token_id": c.eos_token_id, "pad_token_id": c.pad_token_id,
            "torch_dtype": "float32"}


def _hf_pairs(model: GPT):
    """(GPT2LMHeadModel's name, nlpt tensor, transposed): Conv1D weights are in × out, hence the transposes."""
    yield from (("transformer.wte.weight", model.wte.weight, False), ("transformer.wpe.weight", model.wpe.weight, False),
                ("transformer.ln_f.weight", model.ln_f.weight, False), ("transformer.ln_f.bias", model.ln_f.bias, False))
    for i, b in enumerate(model.blocks):
        p = f"transformer.h.{i}."
        for mine, theirs in ((b.attn.qkv, "attn.c_attn"), (b.attn.proj, "attn.c_proj"), (b.mlp.fc, "mlp.c_fc"),
                             (b.mlp.proj, "mlp.c_proj")):
            yield p + theirs + ".weight", mine.weight, True
            yield p + theirs + ".bias", mine.bias, False
        for ln in ("ln_1", "ln_2"):
            yield p + ln + ".weight", getattr(b, ln).weight, False
            yield p + ln + ".bias", getattr(b, ln).bias, False
    if not model.config.tie_embeddings:
        yield "lm_head.weight", model.lm_head.weight, False


def hf_state_dict(model: GPT) -> dict:
    """Tensors named as GPT2LMHeadModel's."""
    return {k: (v.t() if t else v).detach().contiguous().clone() for k, v, t in _hf_pairs(model)}


def load_hf_state_dict(model: GPT, sd: dict) -> None:
    """Copy GPT2LMHeadModel-named weights into `model` (KeyError naming a missing tensor)."""
    with torch.no_grad():
        for name, param, transposed in _hf_pairs(model):
            param.copy_(sd[name].t() if transposed else sd[name])
