"""Exact parameter counts, breakdowns, FLOPs, memory, KV cache and GPU-hours for the registry's families.

Conventions (documented in `nlpt params --help` and the README):

* **total** counts every trainable tensor once, tied weights once: what
  `sum(p.numel() for p in model.parameters())` gives for the Hugging Face class
  named in `hf_class` (encoders: the bare model with pooler, e.g. `BertModel`;
  decoders: with their LM head; T5/BART: `...ForConditionalGeneration`).
  Buffers (BART's `final_logits_bias`, DeepSeek's router correction bias) are not parameters.
* **embeddings** are the lookup tables (token, position, segment); **without
  embeddings** is total minus those. An untied LM head is a matrix product and stays.
* **active per token** (mixture of experts): total minus the routed experts a token does not use.
* **forward FLOPs per token** = 2 × (active parameters outside lookup tables, a tied LM head
  counted as the matrix product it is) + attention scores and weighted sum: per attention block
  `c · n_ctx · (d_qk + d_v)`, c = 1 for causal self-attention (the average over a sequence of
  length n_ctx, Kaplan et al. 2020's 2·n_layer·n_ctx·d_attn) and c = 2 for bidirectional and
  cross-attention. For encoder–decoders a "token" is one source plus one target token.
* **training FLOPs** = 6·N·D (D = tokens; N = the parameters the forward's 2·N counts: active, outside
  lookup tables) and, more exactly, 3 × forward FLOPs × D = 6·N·D + 3·attention·D (backward ≈ 2 ×
  forward), which GPU-hours use.

Pure Python integers: no numpy, no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from nlpt.transformer.configs import BartConfig, DeepSeekConfig, EncoderConfig, GPTConfig, LlamaConfig, ModelConfig, T5Config
from nlpt.transformer.validate import validate
from nlpt.transformer.hardware import GPUS

DTYPE_BYTES = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
WEIGHT_DTYPES = ("fp32", "bf16", "int8", "int4")
# Mixed-precision AdamW (Rajbhandari et al. 2020, ZeRO, sec. 3.1): bf16 weights and gradients,
# fp32 master weights, fp32 first and second moments = 2 + 2 + 4 + 4 + 4 bytes per parameter.
ADAMW_MIXED_BYTES = {"bf16 weights": 2, "bf16 gradients": 2, "fp32 master weights": 4, "Adam m (fp32)": 4,
                     "Adam v (fp32)": 4}


@dataclass
class Row:
    """One line of the breakdown; `count` is over all `layers` (count = per_layer × layers)."""

    part: str
    component: str
    count: int
    kind: str  # embedding | attention | ffn | experts | router | norm | bias | head | pooler | position
    per_layer: Optional[int] = None
    layers: Optional[int] = None
    note: str = ""

    def as_dict(self) -> dict:
        return {"part": self.part, "component": self.component, "kind": self.kind, "count": self.count,
                "per_layer": self.per_layer, "layers": self.layers, "note": self.note}


@dataclass
class AttentionBlock:
    layers: int
    d_qk: int
    d_v: int
    causal: bool


@dataclass
class Count:
    config: ModelConfig
    hf_class: str
    rows: list = field(default_factory=list)
    embeddings: int = 0  # lookup tables
    tied_head: int = 0  # parameters of a tied LM head (counted in the token embedding, used as a matmul)
    inactive: int = 0  # routed-expert parameters a token does not use
    pretraining_class: Optional[str] = None
    pretraining_rows: list = field(default_factory=list)  # deltas from `total`
    attention: list = field(default_factory=list)
    kv_elements_per_token: Optional[int] = None
    kv_note: str = ""
    cross_kv_elements_per_source_token: Optional[int] = None
    extra_notes: list = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(r.count for r in self.rows)

    @property
    def without_embeddings(self) -> int:
        return self.total - self.embeddings

    @property
    def active(self) -> int:
        return self.total - self.inactive

    @property
    def is_moe(self) -> bool:
        return self.inactive > 0 or isinstance(self.config, DeepSeekConfig) or getattr(self.config, "num_experts", 0) > 0

    @property
    def pretraining_total(self) -> Optional[int]:
        if self.pretraining_class is None:
            return None
        return self.total + sum(r.count for r in self.pretraining_rows)

    @property
    def matmul_params(self) -> int:
        """Active parameters that take part in a matrix product per token (the FLOPs' N)."""
        return self.multiplied()

    def multiplied(self, *, every_expert: bool = False, heads: bool = False) -> int:
        """Parameters that take part in a matrix product: the embedding lookups do not, a tied LM head does.
        Per token (the active experts), or with `every_expert` all that the model holds (what autocast casts to
        half precision), plus the pretraining heads with `heads`."""
        n = (self.total if every_expert else self.active) - self.embeddings + self.tied_head
        return n + (sum(r.count for r in self.pretraining_rows if r.kind == "head") if heads else 0)


def _layer_rows(rows: list, part: str, layers: int, items: list) -> None:
    for component, kind, per_layer, *note in items:
        if per_layer:
            rows.append(Row(part, component, per_layer * layers, kind, per_layer, layers, note[0] if note else ""))


def _biased_layer(H: int, F: int, attention: str = "attention Q, K, V, O weights", ffn: str = "feed-forward",
                  blocks: int = 1) -> list:
    """Layer items of a LayerNorm Transformer with biases (BERT, GPT, BART): `blocks` attention blocks, one FFN."""
    return [(attention, "attention", blocks * 4 * H * H), ("attention biases", "bias", blocks * 4 * H),
            (f"{ffn} weights ({H}→{F}→{H})", "ffn", 2 * H * F), (f"{ffn} biases", "bias", F + H),
            (f"LayerNorms ({blocks + 1})", "norm", (blocks + 1) * 2 * H)]


# ----------------------------------------------------------------------------------------------------------------
# families

def _encoder(c: EncoderConfig) -> Count:
    H, E, F, V, L = c.hidden_size, c.embed_size, c.ffn_size, c.vocab_size, c.num_layers
    classes = {"bert": ("BertModel", "BertForPreTraining"), "roberta": ("RobertaModel", "RobertaForMaskedLM"),
               "distilbert": ("DistilBertModel", "DistilBertForMaskedLM"),
               "albert": ("AlbertModel", "AlbertForPreTraining")}
    hf, pre = classes.get(c.variant, ("BertModel", "BertForPreTraining"))
    out = Count(c, hf, pretraining_class=pre)
    rows = out.rows
    rows.append(Row("embeddings", f"token ({V:,} × {E})", V * E, "embedding"))
    rows.append(Row("embeddings", f"position ({c.max_positions:,} × {E})", c.max_positions * E, "embedding"))
    if c.type_vocab_size:
        rows.append(Row("embeddings", f"segment ({c.type_vocab_size} × {E})", c.type_vocab_size * E, "embedding"))
    rows.append(Row("embeddings", "LayerNorm", 2 * E, "norm"))
    out.embeddings = (V + c.max_positions + c.type_vocab_size) * E
    if E != H:
        rows.append(Row("embeddings", f"projection E→H ({E} × {H} + bias)", E * H + H, "attention",
                        note="ALBERT factorised embeddings"))
    stored = 1 if c.shared_layers else L
    part = f"encoder layer × {L}" + (" (one shared set)" if c.shared_layers else "")
    _layer_rows(rows, part, stored, _biased_layer(H, F))
    if c.pooler:
        rows.append(Row("pooler", "dense + bias", H * H + H, "pooler"))
    # pretraining heads, as deltas from the bare model
    pr = out.pretraining_rows
    if c.pooler and c.sentence_head is None:
        pr.append(Row("pretraining heads", f"pooler (not in {pre})", -(H * H + H), "pooler"))
    pr.append(Row("pretraining heads", f"MLM transform ({H} → {E} + bias)", H * E + E, "head"))
    pr.append(Row("pretraining heads", "MLM LayerNorm", 2 * E, "norm"))
    pr.append(Row("pretraining heads", "MLM decoder (tied to token embeddings)", 0, "head"))
    pr.append(Row("pretraining heads", f"MLM output bias ({V:,})", V, "bias"))
    if c.sentence_head:
        label = "next-sentence" if c.sentence_head == "nsp" else "sentence-order"
        pr.append(Row("pretraining heads", f"{label} classifier ({H} × 2 + 2)", 2 * H + 2, "head"))
    out.attention = [AttentionBlock(L, H, H, causal=False)]
    out.kv_note = "encoder: no KV cache (not autoregressive)"
    return out


def _gpt(c: GPTConfig) -> Count:
    H, F, V, L = c.hidden_size, c.ffn_size, c.vocab_size, c.num_layers
    out = Count(c, "GPT2LMHeadModel" if c.variant != "openai-gpt" else "OpenAIGPTLMHeadModel")
    rows = out.rows
    rows.append(Row("embeddings", f"token ({V:,} × {H})", V * H, "embedding"))
    rows.append(Row("embeddings", f"position ({c.max_positions:,} × {H})", c.max_positions * H, "embedding"))
    out.embeddings = (V + c.max_positions) * H
    _layer_rows(rows, f"decoder layer × {L}", L, _biased_layer(H, F, ffn="MLP"))
    if c.norm == "pre":
        rows.append(Row("output", "final LayerNorm", 2 * H, "norm"))
    _lm_head(out, V, H, c.tie_embeddings)
    out.attention = [AttentionBlock(L, H, H, causal=True)]
    out.kv_elements_per_token = 2 * L * H
    out.kv_note = f"K and V: 2 × {L} layers × {H}"
    return out


def _lm_head(out: Count, V: int, H: int, tied: bool) -> None:
    if tied:
        out.rows.append(Row("output", "LM head (tied to token embeddings)", 0, "head"))
        out.tied_head = V * H
    else:
        out.rows.append(Row("output", f"LM head ({H} × {V:,})", V * H, "head"))


def _llama(c: LlamaConfig) -> Count:
    H, F, V, L = c.hidden_size, c.ffn_size, c.vocab_size, c.num_layers
    hd, nh, kv = c.attn_head_dim, c.num_heads, c.num_kv_heads
    hf = {"mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM", "mixtral": "MixtralForCausalLM"}
    out = Count(c, hf.get(c.variant, "MixtralForCausalLM" if c.num_experts else "LlamaForCausalLM"))
    rows = out.rows
    rows.append(Row("embeddings", f"token ({V:,} × {H})", V * H, "embedding"))
    out.embeddings = V * H
    attn = H * nh * hd * 2 + 2 * H * kv * hd
    bias = (nh * hd + 2 * kv * hd if c.qkv_bias else 0) + (H if c.o_bias else 0)
    items = [(f"attention Q, K, V, O ({nh} heads, {kv} KV heads, × {hd})", "attention", attn),
             ("attention biases", "bias", bias)]
    if c.num_experts:
        E, k = c.num_experts, c.experts_per_token
        items += [(f"router ({H} × {E})", "router", H * E),
                  (f"experts: {E} × SwiGLU ({H}→{F}→{H}), {k} active", "experts", E * 3 * H * F)]
        out.inactive = L * (E - k) * 3 * H * F
    else:
        items.append((f"SwiGLU MLP (gate, up, down: {H}→{F}→{H})", "ffn", 3 * H * F))
    items.append(("RMSNorms (2)", "norm", 2 * H))
    _layer_rows(rows, f"decoder layer × {L}", L, items)
    rows.append(Row("output", "final RMSNorm", H, "norm"))
    _lm_head(out, V, H, c.tie_embeddings)
    out.attention = [AttentionBlock(L, nh * hd, nh * hd, causal=True)]
    out.kv_elements_per_token = 2 * L * kv * hd
    out.kv_note = f"K and V: 2 × {L} layers × {kv} KV heads × {hd}"
    if c.sliding_window:
        out.kv_note += f"; sliding window {c.sliding_window:,} caps the cache"
    return out


def _t5(c: T5Config) -> Count:
    d, V, F, nh = c.d_model, c.vocab_size, c.ffn_size, c.num_heads
    inner = nh * c.d_kv
    Le, Ld = c.num_layers, c.num_decoder_layers
    out = Count(c, "T5ForConditionalGeneration")
    rows = out.rows
    rows.append(Row("embeddings", f"token, shared by encoder and decoder ({V:,} × {d})", V * d, "embedding"))
    out.embeddings = V * d
    ffn_mats = 3 if c.gated_ffn else 2
    ffn_label = f"{'gated ' if c.gated_ffn else ''}feed-forward ({d}→{F}→{d})"
    buckets = c.relative_attention_num_buckets
    self_attn = ("self-attention Q, K, V, O", "attention", 4 * d * inner)
    cross_attn = ("cross-attention Q, K, V, O", "attention", 4 * d * inner)
    ffn = (ffn_label, "ffn", ffn_mats * d * F)
    for part, layers, items in (("encoder", Le, [self_attn, ffn, ("RMS LayerNorms (2)", "norm", 2 * d)]),
                                ("decoder", Ld, [self_attn, cross_attn, ffn, ("RMS LayerNorms (3)", "norm", 3 * d)])):
        _layer_rows(rows, f"{part} layer × {layers}", layers, items)
        rows.append(Row(part, f"relative position bias ({buckets} buckets × {nh} heads, layer 1)", buckets * nh,
                        "position"))
        rows.append(Row(part, "final LayerNorm", d, "norm"))
    _lm_head(out, V, d, c.tie_embeddings)
    if not c.tie_embeddings:
        out.extra_notes.append(f"transformers >= 5 ties T5's LM head regardless of the checkpoint; its "
                               f"T5ForConditionalGeneration reports {V * d:,} fewer parameters")
    out.attention = [AttentionBlock(Le, inner, inner, False), AttentionBlock(Ld, inner, inner, True),
                     AttentionBlock(Ld, inner, inner, False)]
    out.kv_elements_per_token = 2 * Ld * inner
    out.cross_kv_elements_per_source_token = 2 * Ld * inner
    out.kv_note = f"decoder self-attention K and V: 2 × {Ld} layers × {inner}; cross-attention caches as much per source token"
    return out


def _bart(c: BartConfig) -> Count:
    d, V, P = c.d_model, c.vocab_size, c.max_positions
    F, Fd, Le, Ld = c.ffn_size, c.dec_ffn, c.num_layers, c.num_decoder_layers
    out = Count(c, "BartForConditionalGeneration")
    rows = out.rows
    rows.append(Row("embeddings", f"token, shared ({V:,} × {d})", V * d, "embedding"))
    rows.append(Row("embeddings", f"encoder positions ({P:,} + 2 offset) × {d}", (P + 2) * d, "embedding"))
    rows.append(Row("embeddings", f"decoder positions ({P:,} + 2 offset) × {d}", (P + 2) * d, "embedding"))
    rows.append(Row("embeddings", "embedding LayerNorms (encoder, decoder)", 4 * d, "norm"))
    out.embeddings = V * d + 2 * (P + 2) * d
    _layer_rows(rows, f"encoder layer × {Le}", Le, _biased_layer(d, F, "self-attention Q, K, V, O weights"))
    _layer_rows(rows, f"decoder layer × {Ld}", Ld, _biased_layer(d, Fd, "self- and cross-attention weights", blocks=2))
    _lm_head(out, V, d, c.tie_embeddings)
    out.extra_notes.append("final_logits_bias is a buffer, not a parameter")
    out.attention = [AttentionBlock(Le, d, d, False), AttentionBlock(Ld, d, d, True), AttentionBlock(Ld, d, d, False)]
    out.kv_elements_per_token = 2 * Ld * d
    out.cross_kv_elements_per_source_token = 2 * Ld * d
    out.kv_note = f"decoder self-attention K and V: 2 × {Ld} layers × {d}; cross-attention caches as much per source token"
    return out


def deepseek_layer_parts(c: DeepSeekConfig) -> dict:
    """Per-layer pieces of a DeepSeek-V3 layer (also used by the MTP note)."""
    H, nh = c.hidden_size, c.num_heads
    qk = c.qk_nope_head_dim + c.qk_rope_head_dim
    if c.q_lora_rank:
        q = H * c.q_lora_rank + c.q_lora_rank * nh * qk
        q_norm = c.q_lora_rank
    else:
        q, q_norm = H * nh * qk, 0
    kv = H * (c.kv_lora_rank + c.qk_rope_head_dim) + c.kv_lora_rank * nh * (c.qk_nope_head_dim + c.v_head_dim)
    o = nh * c.v_head_dim * H
    return {"attention": q + kv + o, "latent_norms": q_norm + c.kv_lora_rank, "norms": 2 * H,
            "dense_mlp": 3 * H * c.ffn_size, "router": c.num_routed_experts * H,
            "routed": c.num_routed_experts * 3 * H * c.moe_ffn_size,
            "shared": c.num_shared_experts * 3 * H * c.moe_ffn_size}


def _deepseek(c: DeepSeekConfig) -> Count:
    H, V, L, nh = c.hidden_size, c.vocab_size, c.num_layers, c.num_heads
    p = deepseek_layer_parts(c)
    out = Count(c, "DeepseekV3ForCausalLM")
    rows = out.rows
    rows.append(Row("embeddings", f"token ({V:,} × {H})", V * H, "embedding"))
    out.embeddings = V * H
    qk = c.qk_nope_head_dim + c.qk_rope_head_dim
    attn_label = (f"MLA: q rank {c.q_lora_rank}, kv rank {c.kv_lora_rank}, {nh} heads × (qk {qk}, v {c.v_head_dim})"
                  if c.q_lora_rank else f"MLA: kv rank {c.kv_lora_rank}, {nh} heads × (qk {qk}, v {c.v_head_dim})")
    common = [(attn_label, "attention", p["attention"]), ("MLA latent RMSNorms", "norm", p["latent_norms"])]
    Ld, Lm = c.first_dense_layers, L - c.first_dense_layers
    _layer_rows(rows, f"dense layer × {Ld}", Ld, common + [
        (f"SwiGLU MLP ({H}→{c.ffn_size}→{H})", "ffn", p["dense_mlp"]), ("RMSNorms (2)", "norm", p["norms"])])
    k, E = c.experts_per_token, c.num_routed_experts
    _layer_rows(rows, f"MoE layer × {Lm}", Lm, common + [
        (f"router ({H} × {E})", "router", p["router"]),
        (f"shared experts: {c.num_shared_experts} × SwiGLU ({H}→{c.moe_ffn_size}→{H})", "experts", p["shared"]),
        (f"routed experts: {E} × SwiGLU ({H}→{c.moe_ffn_size}→{H}), {k} active", "experts", p["routed"]),
        ("RMSNorms (2)", "norm", p["norms"])])
    rows.append(Row("output", "final RMSNorm", H, "norm"))
    _lm_head(out, V, H, c.tie_embeddings)
    out.inactive = Lm * (E - k) * 3 * H * c.moe_ffn_size
    out.attention = [AttentionBlock(L, nh * qk, nh * c.v_head_dim, causal=True)]
    out.kv_elements_per_token = L * (c.kv_lora_rank + c.qk_rope_head_dim)
    out.kv_note = (f"MLA latent: {L} layers × ({c.kv_lora_rank} + rotary key {c.qk_rope_head_dim}); an implementation "
                   f"that caches decompressed K and V needs {L * nh * (qk + c.v_head_dim):,} elements per token")
    out.extra_notes.append("router score-correction biases are buffers, not parameters")
    if c.mtp_layers:
        mtp = c.mtp_layers * (p["attention"] + p["latent_norms"] + p["router"] + p["shared"] + p["routed"]
                              + p["norms"] + 2 * H * H + 3 * H)
        out.extra_notes.append(
            f"the released checkpoint adds {c.mtp_layers} multi-token-prediction module(s), {mtp:,} parameters "
            f"(plus copies of the embedding and head), not part of the inference model counted here")
    return out


def count(config: ModelConfig) -> Count:
    """Exact parameter count and breakdown of a model config."""
    validate(config)
    if isinstance(config, EncoderConfig):
        return _encoder(config)
    if isinstance(config, GPTConfig):
        return _gpt(config)
    if isinstance(config, LlamaConfig):
        return _llama(config)
    if isinstance(config, T5Config):
        return _t5(config)
    if isinstance(config, BartConfig):
        return _bart(config)
    if isinstance(config, DeepSeekConfig):
        return _deepseek(config)
    raise TypeError(f"not a model config: {config!r}")


# ----------------------------------------------------------------------------------------------------------------
# the lecture's formula for encoders: V·H + 12·L·H² with V rounded to thousands ("30k")

def lecture_formula(c: Count) -> Optional[dict]:
    """`30k·H + 12·L·H²` beside the exact count, with what it leaves out itemised (items sum to the gap)."""
    cfg = c.config
    if not isinstance(cfg, EncoderConfig):
        return None
    H, E, F, V, L = cfg.hidden_size, cfg.embed_size, cfg.ffn_size, cfg.vocab_size, cfg.num_layers
    Vr = max(1000, V // 1000 * 1000)
    value = Vr * H + 12 * L * H * H
    Ls = 1 if cfg.shared_layers else L
    items = []
    if E == H:
        items.append((f"token embeddings: {V:,} rows, not {Vr // 1000}k", (V - Vr) * H))
    else:
        items.append((f"token embeddings: {V:,} × E={E} (factorised), not {Vr // 1000}k × H", V * E - Vr * H))
        items.append((f"embedding projection E→H ({E} × {H} + bias)", E * H + H))
    items.append((f"position embeddings ({cfg.max_positions:,} × {E})", cfg.max_positions * E))
    if cfg.type_vocab_size:
        items.append((f"segment embeddings ({cfg.type_vocab_size} × {E})", cfg.type_vocab_size * E))
    items.append(("embedding LayerNorm", 2 * E))
    items.append((f"attention biases ({Ls} × 4H)", Ls * 4 * H))
    items.append((f"feed-forward biases ({Ls} × (F + H))", Ls * (F + H)))
    items.append((f"LayerNorms in layers ({Ls} × 4H)", Ls * 4 * H))
    if F != 4 * H:
        items.append((f"feed-forward width F={F}, not 4H ({Ls} × 2H(F − 4H))", Ls * 2 * H * (F - 4 * H)))
    if cfg.shared_layers:
        items.append((f"cross-layer sharing: {L} layers use one set of weights", -(L - Ls) * 12 * H * H))
    if cfg.pooler:
        items.append(("pooler (H² + H)", H * H + H))
    left_out = [{"item": label, "count": n} for label, n in items]
    return {"formula": f"{Vr // 1000}k·H + 12·L·H²",
            "expression": f"{Vr:,}·{H} + 12·{L}·{H}²", "value": value, "exact": c.total,
            "difference": c.total - value, "left_out": left_out,
            "note": "12·H² per layer = 4H² attention (Q, K, V, O) + 8H² feed-forward (F = 4H)"}


# ----------------------------------------------------------------------------------------------------------------
# arithmetic beyond counts

def attention_flops_per_token(c: Count, context: int) -> int:
    total = 0
    window = getattr(c.config, "sliding_window", None)
    for b in c.attention:
        ctx = min(context, window) if (window and b.causal) else context
        total += (1 if b.causal else 2) * b.layers * ctx * (b.d_qk + b.d_v)
    return total


def flops(c: Count, context: int) -> dict:
    params_term = 2 * c.matmul_params
    attn = attention_flops_per_token(c, context)
    return {"context": context, "matmul_parameters": c.matmul_params, "params_term": params_term,
            "attention_term": attn, "forward_per_token": params_term + attn,
            "training_per_token": 3 * (params_term + attn)}


MAX_COUNT = 10**18  # a million trillion tokens: far beyond any run, and the FLOP and time arithmetic stays finite


def parse_count(text: str, what: str = "tokens") -> int:
    """'300B', '14.8T', '2.5e12', '1_000M' → int, at most `MAX_COUNT`. `ValueError` naming the input otherwise."""
    s = str(text).strip().replace("_", "").replace(",", "")
    mult = {"k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9, "t": 10**12, "p": 10**15}
    factor = 1
    if s and s[-1].lower() in mult:
        factor = mult[s[-1].lower()]
        s = s[:-1]
    try:
        from decimal import Decimal, InvalidOperation
        value = Decimal(s) * factor
    except (InvalidOperation, ValueError):
        raise ValueError(f"{what} '{text}' is not a number like 300B, 14.8T or 2e12") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{what} '{text}' must be positive")
    if value > MAX_COUNT:
        raise ValueError(f"{what} '{text}' is too large (at most 1e18, a million trillion)")
    return int(value.to_integral_value())


def memory(c: Count) -> dict:
    total = c.total
    weights = {dt: math.ceil(total * DTYPE_BYTES[dt]) for dt in WEIGHT_DTYPES}
    train = {k: v * total for k, v in ADAMW_MIXED_BYTES.items()}
    return {"weights_bytes": weights, "training_adamw_mixed_bytes": sum(train.values()),
            "training_adamw_mixed_breakdown": train,
            "training_note": "16 bytes/parameter (ZeRO paper's mixed-precision Adam); activations not included"}


def kv_cache(c: Count, context: int, batch: int, dtype: str) -> Optional[dict]:
    if c.kv_elements_per_token is None:
        return None
    b = DTYPE_BYTES[dtype]
    per_token = math.ceil(c.kv_elements_per_token * b)
    window = getattr(c.config, "sliding_window", None)
    cached = min(context, window) if window else context
    out = {"dtype": dtype, "elements_per_token": c.kv_elements_per_token, "bytes_per_token": per_token,
           "context": context, "cached_tokens": cached, "batch": batch, "total_bytes": per_token * cached * batch,
           "note": c.kv_note}
    if c.cross_kv_elements_per_source_token is not None:
        cross = math.ceil(c.cross_kv_elements_per_source_token * b)
        out["cross_attention_bytes_per_source_token"] = cross
        out["cross_attention_total_bytes"] = cross * context * batch
    return out


def training(c: Count, tokens: int, context: int, gpu: str, mfu: float) -> dict:
    f = flops(c, context)
    # one N for both figures: the parameters the forward's 2·N counts, so "with attention" = 6·N·D + 3·attention·D
    six_nd = 6 * c.matmul_params * tokens
    exact = f["training_per_token"] * tokens
    acc = GPUS[gpu]
    seconds = exact / (acc.peak_tflops * 1e12 * mfu)
    if not math.isfinite(seconds):
        from nlpt.common.errors import UsageError

        raise UsageError(f"GPU-hours for {tokens:,} tokens at --mfu {mfu:g} are beyond a float's range: "
                         "give a larger --mfu or fewer --tokens")
    return {"tokens": tokens, "parameters_used": c.matmul_params, "flops_6nd": six_nd, "flops_with_attention": exact,
            "gpu": gpu, "gpu_peak_tflops": acc.peak_tflops, "gpu_note": acc.note, "mfu": mfu,
            "gpu_hours": seconds / 3600.0}
