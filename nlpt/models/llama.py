"""Llama (Touvron et al. 2023) and Mixtral (Jiang et al. 2024): RMSNorm, rotary positions, GQA, gated MLPs.

Every layer: x + attn(RMSNorm(x)), x + mlp(RMSNorm(x)); final RMSNorm; LM head
(untied unless the config ties it). Attention uses grouped-query heads
(`num_kv_heads` K/V heads shared by groups of query heads) and rotary
positions: `layers.Attention`, with one fused Q/K/V projection and SDPA. The
MLP is `layers.GatedMLP`: SwiGLU (GeGLU with `activation="gelu"`), fused gate+up.

With `num_experts > 0` each MLP is a Mixtral mixture of experts: a linear
router scores the experts, each token goes to its `experts_per_token` best
(softmax, top-k, renormalised), and the Switch Transformer load-balancing loss
E · Σ_e f_e · P_e (f = share of routed slots, P = mean router probability) is
returned as `aux_loss`, averaged over layers.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from nlpt.common.errors import NlptError
from nlpt.models import checkpointing
from nlpt.models.cpu_matmul import Linear, linear
from nlpt.models.hf import load_pairs, pairs_state_dict
from nlpt.models.layers import Attention, GatedMLP, RMSNorm, activation_fn, causal_padding_mask, rotary_tables
from nlpt.models.lm_loss import lm_loss
from nlpt.models.ops import gated
from nlpt.transformer.configs import LlamaConfig
from nlpt.transformer.validate import LLAMA_ACTIVATIONS


class MoE(nn.Module):
    """Mixtral's sparse MLP: top-k of `num_experts` gated MLPs per token, weights renormalised over the k."""

    def __init__(self, c: LlamaConfig):
        super().__init__()
        E, H, Fz = c.num_experts, c.hidden_size, c.ffn_size
        self.k, self.ffn, self.jitter = c.experts_per_token, Fz, c.router_jitter
        self.router = Linear(H, E, bias=False)
        self.gate_up = nn.Parameter(torch.empty(E, 2 * Fz, H))  # per expert: [gate; up] (out × in)
        self.down = nn.Parameter(torch.empty(E, H, Fz))
        self.act = activation_fn(c.activation)

    def forward(self, x):
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        if self.training and self.jitter:
            x = x * torch.empty_like(x).uniform_(1 - self.jitter, 1 + self.jitter)
        probs = F.softmax(self.router(x).float(), dim=-1)  # [N, E]
        weights, chosen = probs.topk(self.k, dim=-1)
        weights = (weights / weights.sum(-1, keepdim=True)).to(x.dtype)
        out = torch.zeros_like(x)
        E = probs.shape[-1]
        order = chosen.flatten().argsort(stable=True)  # routed slots grouped by expert
        counts = torch.bincount(chosen.flatten(), minlength=E).tolist()
        tokens = order // self.k
        slot_w = weights.flatten()[order]
        start = 0
        for e, n in enumerate(counts):
            if n == 0:
                continue
            idx = tokens[start:start + n]
            h = gated(linear(x[idx], self.gate_up[e]), self.ffn, self.act)
            y = linear(h, self.down[e]) * slot_w[start:start + n, None]
            out.index_add_(0, idx, y)
            start += n
        # load balancing (Switch eq. 4, as Mixtral): E · Σ_e (slots routed to e / tokens) · mean prob of e
        share = torch.bincount(chosen.flatten(), minlength=E).to(probs.dtype) / x.shape[0]
        aux = E * (share * probs.mean(0)).sum()
        return out.reshape(shape), aux


class Block(nn.Module):
    def __init__(self, c: LlamaConfig):
        super().__init__()
        self.attn_norm = RMSNorm(c.hidden_size, c.norm_eps)
        self.attn = Attention(c.hidden_size, c.num_heads, head_dim=c.attn_head_dim, kv_heads=c.num_kv_heads,
                              bias=c.qkv_bias, out_bias=c.o_bias, dropout=c.dropout, out_name="o")
        self.mlp_norm = RMSNorm(c.hidden_size, c.norm_eps)
        self.mlp = MoE(c) if c.num_experts else GatedMLP(c.hidden_size, c.ffn_size, c.activation)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x, cos, sin, mask=None):
        """`mask`: the additive padding + causal mask, None when nothing is padded (then SDPA's `is_causal`)."""
        x = x + self.drop(self.attn(self.attn_norm(x), mask, causal=True, rotary=(cos, sin)))
        y = self.mlp(self.mlp_norm(x))
        if isinstance(y, tuple):
            y, aux = y
        else:
            aux = None
        return x + self.drop(y), aux


class Llama(nn.Module):
    def __init__(self, config: LlamaConfig):
        super().__init__()
        c = self.config = config
        self.embed = nn.Embedding(c.vocab_size, c.hidden_size)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.num_layers))
        self.norm = RMSNorm(c.hidden_size, c.norm_eps)
        self.lm_head = Linear(c.hidden_size, c.vocab_size, bias=False)
        if c.tie_embeddings:
            self.lm_head.weight = self.embed.weight
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """As Llama's reference: N(0, init_std) for matrices and embeddings, zero biases, unit norms."""
        for name, p in self.named_parameters():
            if p.dim() == 1:
                nn.init.ones_(p) if "norm" in name else nn.init.zeros_(p)
            else:
                nn.init.normal_(p, 0.0, self.config.init_std)

    def _run(self, input_ids, attention_mask=None):
        c, T = self.config, input_ids.shape[1]
        cos, sin = rotary_tables(c.attn_head_dim, c.rope_theta, T, input_ids.device, c.rope_scaling)
        x = self.embed(input_ids)
        mask = causal_padding_mask(attention_mask, x.dtype)
        auxes = []
        for block in self.blocks:
            x, aux = checkpointing.call(block, x, cos, sin, mask)
            if aux is not None:
                auxes.append(aux)
        aux = torch.stack(auxes).mean() if auxes else None
        return self.norm(x), aux

    def hidden_states(self, input_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        """Last layer's output after the final RMSNorm, [B, T, H]."""
        return self._run(input_ids, attention_mask)[0]

    def forward(self, input_ids, labels=None, attention_mask=None) -> dict:
        """{"logits"}; with `labels` (-100 = ignored) instead the mean token cross-entropy "loss", computed
        without materialising the logits (`lm_loss`); MoE: "aux_loss"."""
        h, aux = self._run(input_ids, attention_mask)
        out = {"loss": lm_loss(h, self.lm_head.weight, labels)} if labels is not None else {"logits": self.lm_head(h)}
        if aux is not None:
            out["aux_loss"] = aux
        return out


def build(config: LlamaConfig) -> Llama:
    if config.head_dim is None and config.hidden_size % config.num_heads:
        raise NlptError(f"--heads {config.num_heads} does not divide --hidden {config.hidden_size}")
    if config.attn_head_dim % 2:
        raise NlptError(f"rotary positions need an even head size (got {config.attn_head_dim})")
    if config.activation not in LLAMA_ACTIVATIONS:
        raise NlptError(f"activation {config.activation!r} is not supported for Llama ({', '.join(LLAMA_ACTIVATIONS)})")
    return Llama(config)


# ---------------------------------------------------------------------------------------------
# Hugging Face LlamaForCausalLM / MixtralForCausalLM

def _hf_type(c: LlamaConfig) -> str:
    """The transformers model type that holds this layout: mixtral (experts), qwen2 (Q/K/V biases only),
    mistral (a sliding window, or read from a Mistral folder), else llama (Q/K/V and output biases alike)."""
    if c.num_experts:
        if c.qkv_bias or c.o_bias:
            raise NlptError("transformers' Mixtral has no attention biases; export needs qkv_bias off")
        return "mixtral"
    if c.qkv_bias and not c.o_bias:
        if c.sliding_window:
            raise NlptError("export: Q/K/V biases (Qwen2) with a sliding window has no transformers class here")
        return "qwen2"
    if c.sliding_window or c.variant == "mistral":
        if c.qkv_bias or c.o_bias:
            raise NlptError("transformers' Mistral has no attention biases; export needs them off with a sliding window")
        return "mistral"
    if c.qkv_bias != c.o_bias:
        raise NlptError("export to transformers' Llama needs Q/K/V and output biases both on or both off")
    return "llama"


def hf_config(c: LlamaConfig) -> dict:
    mt = _hf_type(c)
    arch = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM",
            "mixtral": "MixtralForCausalLM"}[mt]
    out = {"architectures": [arch], "model_type": mt,
           "vocab_size": c.vocab_size, "hidden_size": c.hidden_size, "intermediate_size": c.ffn_size,
           "num_hidden_layers": c.num_layers, "num_attention_heads": c.num_heads, "num_key_value_heads": c.num_kv_heads,
           "head_dim": c.attn_head_dim, "max_position_embeddings": c.max_positions, "rms_norm_eps": c.norm_eps,
           "rope_theta": c.rope_theta, "tie_word_embeddings": c.tie_embeddings, "hidden_act": c.activation,
           "attention_dropout": c.dropout, "initializer_range": c.init_std, "bos_token_id": c.bos_token_id,
           "eos_token_id": c.eos_token_id, "pad_token_id": c.pad_token_id, "torch_dtype": "float32"}
    if c.rope_scaling:
        out["rope_scaling"] = {"rope_type": "linear", "factor": c.rope_scaling}
    if mt == "mixtral":
        out.update(num_local_experts=c.num_experts, num_experts_per_tok=c.experts_per_token,
                   router_aux_loss_coef=c.router_aux_loss_coef, router_jitter_noise=c.router_jitter,
                   sliding_window=c.sliding_window, output_router_logits=False)
    elif mt == "mistral":
        out.update(sliding_window=c.sliding_window)
    elif mt == "qwen2":
        out.update(use_sliding_window=False, sliding_window=None)
    else:
        out.update(attention_bias=c.qkv_bias, mlp_bias=False)
    return out


HF_SAVED_AS: dict = {}  # every tensor under its own name (the family protocol, see nlpt.models.hf)


def _hf_pairs(model: Llama):
    """(transformers' name, nlpt tensor or a view of one): the fused Q/K/V and gate/up are split into views."""
    c = model.config
    yield "model.embed_tokens.weight", model.embed.weight
    yield "model.norm.weight", model.norm.weight
    for i, b in enumerate(model.blocks):
        p = f"model.layers.{i}."
        yield p + "input_layernorm.weight", b.attn_norm.weight
        yield p + "post_attention_layernorm.weight", b.mlp_norm.weight
        for n in "qkv":
            weight, bias = b.attn.projection(n)
            yield p + f"self_attn.{n}_proj.weight", weight
            if bias is not None:
                yield p + f"self_attn.{n}_proj.bias", bias
        yield p + "self_attn.o_proj.weight", b.attn.o.weight
        if b.attn.o.bias is not None:
            yield p + "self_attn.o_proj.bias", b.attn.o.bias
        if isinstance(b.mlp, MoE):  # the published Mixtral layout: w1 = gate, w3 = up, w2 = down
            yield p + "block_sparse_moe.gate.weight", b.mlp.router.weight
            for e in range(c.num_experts):
                gate, up = b.mlp.gate_up[e].split(c.ffn_size)
                q = p + f"block_sparse_moe.experts.{e}."
                yield from ((q + "w1.weight", gate), (q + "w3.weight", up), (q + "w2.weight", b.mlp.down[e]))
        else:
            gate, up = b.mlp.gate_up.weight.split(c.ffn_size)
            yield from ((p + "mlp.gate_proj.weight", gate), (p + "mlp.up_proj.weight", up),
                        (p + "mlp.down_proj.weight", b.mlp.down.weight))
    if not c.tie_embeddings:
        yield "lm_head.weight", model.lm_head.weight


def hf_state_dict(model: Llama) -> dict:
    """Tensors named as transformers' Llama/Mistral/Qwen2/Mixtral checkpoints."""
    return pairs_state_dict(_hf_pairs(model))


def load_hf_state_dict(model: Llama, sd: dict) -> None:
    """Copy transformers-named weights into `model` (KeyError naming a missing tensor)."""
    load_pairs(_hf_pairs(model), sd)
