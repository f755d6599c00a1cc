"""Transformer architectures: one small config dataclass per family and one named registry.

These are the objects that `nlpt params` counts and that the Transformer
pretrainer builds its models from, so the count and the model cannot disagree.
Each field is something a model builder needs; `variant` only says which
published implementation the entry follows (it names the Hugging Face classes
whose parameter counts people quote, and for encoders decides which
pretraining heads exist).

Pure Python: importing this module must not import numpy, numba or torch.
"""

from __future__ import annotations

import dataclasses
import re
import difflib
from dataclasses import dataclass
from typing import Any, Optional, Union

from nlpt.common.errors import NlptError, UsageError
from nlpt.transformer.derive import follow_overrides, width, width_scaled_std


@dataclass(frozen=True)
class EncoderConfig:
    """Post-LN Transformer encoder with learned positions: BERT, RoBERTa, DistilBERT, ALBERT.

    Every layer: self-attention (Q, K, V, output projections with biases),
    residual + LayerNorm, GELU feed-forward H→F→H with biases, residual + LayerNorm.
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    ffn_size: int = 3072
    max_positions: int = 512
    type_vocab_size: int = 2  # segment embeddings; 0 = none (DistilBERT)
    embedding_size: Optional[int] = None  # ALBERT's factorised embeddings E (None = hidden_size)
    shared_layers: bool = False  # ALBERT: one set of layer weights used by every layer
    pooler: bool = True  # tanh(W·h[CLS] + b) on the bare model
    sentence_head: Optional[str] = "nsp"  # pretraining sentence-pair head: "nsp", "sop" or None
    variant: str = "bert"  # bert | roberta | distilbert | albert
    layer_norm_eps: float = 1e-12
    # builder settings (no effect on counts)
    dropout: float = 0.0  # on embeddings, attention weights and residual branches (BERT: 0.1)
    pad_token_id: Optional[int] = None

    family = "encoder"

    @property
    def embed_size(self) -> int:
        return self.embedding_size or self.hidden_size


@dataclass(frozen=True)
class GPTConfig:
    """Decoder-only Transformer with learned positions, LayerNorm, GELU MLP and biases.

    `norm="pre"` is GPT-2/GPT-3 (LayerNorm before each sub-layer and a final
    LayerNorm); `norm="post"` is GPT-1 (LayerNorm after each residual, no final one).
    """

    vocab_size: int = 50257
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    ffn_size: int = 3072
    max_positions: int = 1024
    norm: str = "pre"
    tie_embeddings: bool = True
    variant: str = "gpt2"  # gpt2 | openai-gpt
    layer_norm_eps: float = 1e-5
    # builder settings (no effect on counts)
    activation: str = "gelu_tanh"  # GPT-2's "gelu_new"; "gelu" = exact erf GELU
    dropout: float = 0.0  # on embeddings, attention weights and residual branches
    init_std: float = 0.02  # N(0, init_std) weights; residual projections scaled by 1/sqrt(2·layers) (GPT-2)
    bos_token_id: Optional[int] = None
    eos_token_id: Optional[int] = None
    pad_token_id: Optional[int] = None

    family = "gpt"


@dataclass(frozen=True)
class LlamaConfig:
    """Decoder-only: RMSNorm, SwiGLU MLP, rotary positions, grouped-query attention (Llama, Mistral, Qwen2).

    With `num_experts > 0` every MLP is a mixture of that many SwiGLU experts
    behind a linear router, `experts_per_token` of them used per token (Mixtral).
    """

    vocab_size: int = 32000
    hidden_size: int = 4096
    num_layers: int = 32
    num_heads: int = 32
    num_kv_heads: int = 32
    ffn_size: int = 11008
    max_positions: int = 4096
    head_dim: Optional[int] = None  # None = hidden_size // num_heads
    qkv_bias: bool = False  # Qwen2: biases on Q, K, V
    o_bias: bool = False  # Llama's attention_bias also puts one on the output projection
    tie_embeddings: bool = False
    rope_theta: float = 10000.0
    sliding_window: Optional[int] = None
    num_experts: int = 0
    experts_per_token: int = 0
    variant: str = "llama"  # llama | mistral | qwen2 | mixtral
    norm_eps: float = 1e-5
    # builder settings (no effect on counts)
    activation: str = "silu"  # gated MLP: "silu" = SwiGLU (Llama), "gelu" = GeGLU
    dropout: float = 0.0  # on attention weights and residual branches
    init_std: float = 0.02  # N(0, init_std) weights, as Llama's initializer_range
    rope_scaling: Optional[float] = None  # linear position-interpolation factor (positions / factor)
    router_aux_loss_coef: float = 0.01  # weight of the Switch/Mixtral load-balancing loss
    router_jitter: float = 0.0  # multiplicative noise on router inputs while training (Switch)
    bos_token_id: Optional[int] = None
    eos_token_id: Optional[int] = None
    pad_token_id: Optional[int] = None

    family = "llama"

    @property
    def attn_head_dim(self) -> int:
        return self.head_dim or self.hidden_size // self.num_heads


@dataclass(frozen=True)
class T5Config:
    """Encoder–decoder with relative position bias (first layer of each stack), RMS LayerNorm, no biases.

    `gated_ffn` is T5 v1.1 / Flan-T5 (gated GELU: two input matrices); `activation`
    names the non-linearity (relu, gelu, silu), gated or not.
    """

    vocab_size: int = 32128
    d_model: int = 512
    d_kv: int = 64
    num_heads: int = 8
    ffn_size: int = 2048
    num_layers: int = 6
    num_decoder_layers: int = 6
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    gated_ffn: bool = False
    tie_embeddings: bool = True
    max_positions: int = 512  # no position table; the context length it was trained with
    variant: str = "t5"
    activation: str = "relu"  # builder setting (no effect on counts): relu | gelu | silu
    dropout: float = 0.0  # builder settings (no effect on counts); T5: 0.1
    bos_token_id: Optional[int] = None
    eos_token_id: Optional[int] = None
    pad_token_id: Optional[int] = None

    family = "t5"


@dataclass(frozen=True)
class BartConfig:
    """Encoder–decoder with learned positions (offset 2), post-LN, biases, LayerNorm on the embeddings."""

    vocab_size: int = 50265
    d_model: int = 768
    num_layers: int = 6
    num_decoder_layers: int = 6
    num_heads: int = 12
    ffn_size: int = 3072
    decoder_ffn_size: Optional[int] = None  # None = ffn_size
    max_positions: int = 1024
    tie_embeddings: bool = True
    variant: str = "bart"
    dropout: float = 0.0  # builder settings (no effect on counts); BART: 0.1
    bos_token_id: Optional[int] = None
    eos_token_id: Optional[int] = None
    pad_token_id: Optional[int] = None

    family = "bart"

    @property
    def dec_ffn(self) -> int:
        return self.decoder_ffn_size or self.ffn_size


@dataclass(frozen=True)
class DeepSeekConfig:
    """DeepSeek-V3 (and R1): multi-head latent attention, dense first layers, then shared + routed experts.

    MLA: queries through a rank-`q_lora_rank` bottleneck, keys and values from a
    cached rank-`kv_lora_rank` latent plus a shared rotary key of
    `qk_rope_head_dim`. MoE layers: `num_shared_experts` always-on experts and
    `experts_per_token` of `num_routed_experts` routed ones, each a SwiGLU MLP of
    width `moe_ffn_size`. `mtp_layers` multi-token-prediction modules exist in
    the released checkpoint but not in the model used for inference.
    """

    vocab_size: int = 129280
    hidden_size: int = 7168
    num_layers: int = 61
    num_heads: int = 128
    q_lora_rank: Optional[int] = 1536
    kv_lora_rank: int = 512
    qk_nope_head_dim: int = 128
    qk_rope_head_dim: int = 64
    v_head_dim: int = 128
    ffn_size: int = 18432
    moe_ffn_size: int = 2048
    num_routed_experts: int = 256
    num_shared_experts: int = 1
    experts_per_token: int = 8
    first_dense_layers: int = 3
    n_group: int = 8
    topk_group: int = 4
    max_positions: int = 163840
    tie_embeddings: bool = False
    mtp_layers: int = 1
    rope_theta: float = 10000.0
    variant: str = "deepseek_v3"
    norm_eps: float = 1e-6

    family = "deepseek"


ModelConfig = Union[EncoderConfig, GPTConfig, LlamaConfig, T5Config, BartConfig, DeepSeekConfig]
FAMILIES = {c.family: c for c in (EncoderConfig, GPTConfig, LlamaConfig, T5Config, BartConfig, DeepSeekConfig)}


@dataclass(frozen=True)
class Entry:
    name: str
    config: Any
    description: str
    aliases: tuple = ()
    context: Optional[int] = None  # default context for FLOPs/KV figures when it differs from max_positions


def _bert(v, h, layers, heads, ffn, **kw):
    return EncoderConfig(vocab_size=v, hidden_size=h, num_layers=layers, num_heads=heads, ffn_size=ffn, **kw)


def _roberta(h, layers, heads, ffn):
    return _bert(50265, h, layers, heads, ffn, max_positions=514, type_vocab_size=1, sentence_head=None,
                 variant="roberta", layer_norm_eps=1e-5)


def _albert(h, layers, heads, ffn):
    return _bert(30000, h, layers, heads, ffn, embedding_size=128, shared_layers=True, sentence_head="sop", variant="albert")


def _gpt3(h, layers, heads):
    return GPTConfig(vocab_size=50257, hidden_size=h, num_layers=layers, num_heads=heads, ffn_size=4 * h, max_positions=2048)


def _llama(v, h, layers, heads, kv, ffn, ctx, **kw):
    return LlamaConfig(vocab_size=v, hidden_size=h, num_layers=layers, num_heads=heads, num_kv_heads=kv, ffn_size=ffn,
                       max_positions=ctx, **kw)


def _t5(d, d_kv, heads, ffn, layers, **kw):
    return T5Config(d_model=d, d_kv=d_kv, num_heads=heads, ffn_size=ffn, num_layers=layers, num_decoder_layers=layers, **kw)


_ENTRIES = [
    # --- post-LN encoders (Devlin et al. 2019; Liu et al. 2019; Sanh et al. 2019; Lan et al. 2020)
    Entry("bert-base", _bert(30522, 768, 12, 12, 3072), "BERT-Base (uncased vocabulary)", ("bert-base-uncased", "bert")),
    Entry("bert-large", _bert(30522, 1024, 24, 16, 4096), "BERT-Large (uncased vocabulary)", ("bert-large-uncased",)),
    Entry("roberta-base", _roberta(768, 12, 12, 3072), "RoBERTa base", ("roberta",), context=512),
    Entry("roberta-large", _roberta(1024, 24, 16, 4096), "RoBERTa large", context=512),
    Entry("distilbert-base", _bert(30522, 768, 6, 12, 3072, type_vocab_size=0, pooler=False, sentence_head=None,
                                   variant="distilbert"), "DistilBERT (6 layers, BERT vocabulary)",
          ("distilbert", "distilbert-base-uncased")),
    Entry("albert-base-v2", _albert(768, 12, 12, 3072), "ALBERT base: E=128 factorised embeddings, shared layers",
          ("albert-base", "albert")),
    Entry("albert-large-v2", _albert(1024, 24, 16, 4096), "ALBERT large", ("albert-large",)),
    Entry("albert-xxlarge-v2", _albert(4096, 12, 64, 16384), "ALBERT xxlarge", ("albert-xxlarge",)),
    # --- GPT decoders (Radford et al. 2018, 2019; Brown et al. 2020, Table 2.1)
    Entry("gpt", GPTConfig(vocab_size=40478, hidden_size=768, num_layers=12, num_heads=12, ffn_size=3072, max_positions=512,
                           norm="post", variant="openai-gpt"), "GPT-1 (post-LN, no final LayerNorm)",
          ("gpt1", "gpt-1", "openai-gpt")),
    Entry("gpt2", GPTConfig(), "GPT-2 small", ("gpt2-small", "gpt-2")),
    Entry("gpt2-medium", GPTConfig(hidden_size=1024, num_layers=24, num_heads=16, ffn_size=4096), "GPT-2 medium"),
    Entry("gpt2-large", GPTConfig(hidden_size=1280, num_layers=36, num_heads=20, ffn_size=5120), "GPT-2 large"),
    Entry("gpt2-xl", GPTConfig(hidden_size=1600, num_layers=48, num_heads=25, ffn_size=6400), "GPT-2 XL"),
    Entry("gpt3-small", _gpt3(768, 12, 12), "GPT-3 Small (125M)", ("gpt3-125m",)),
    Entry("gpt3-medium", _gpt3(1024, 24, 16), "GPT-3 Medium (350M)", ("gpt3-350m",)),
    Entry("gpt3-large", _gpt3(1536, 24, 16), "GPT-3 Large (760M)", ("gpt3-760m",)),
    # The paper lists n_heads=24 with d_head=128 for XL and d_model=5140, 40 heads for 13B; we keep its
    # d_model and n_heads (the count does not depend on the head split in this architecture).
    Entry("gpt3-xl", _gpt3(2048, 24, 24), "GPT-3 XL (1.3B)", ("gpt3-1.3b",)),
    Entry("gpt3-2.7b", _gpt3(2560, 32, 32), "GPT-3 2.7B"),
    Entry("gpt3-6.7b", _gpt3(4096, 32, 32), "GPT-3 6.7B"),
    Entry("gpt3-13b", _gpt3(5140, 40, 40), "GPT-3 13B (d_model 5140 as in the paper)"),
    Entry("gpt3-175b", _gpt3(12288, 96, 96), "GPT-3 175B", ("gpt3", "gpt-3", "davinci")),
    # --- encoder-decoders (Raffel et al. 2020; Chung et al. 2022; Lewis et al. 2020)
    Entry("t5-small", _t5(512, 64, 8, 2048, 6), "T5 small (v1.0)", ("t5",)),
    Entry("t5-base", _t5(768, 64, 12, 3072, 12), "T5 base (v1.0)"),
    Entry("t5-large", _t5(1024, 64, 16, 4096, 24), "T5 large (v1.0)"),
    Entry("t5-3b", _t5(1024, 128, 32, 16384, 24), "T5 3B (v1.0)"),
    Entry("t5-11b", _t5(1024, 128, 128, 65536, 24), "T5 11B (v1.0)"),
    Entry("flan-t5-base", _t5(768, 64, 12, 2048, 12, gated_ffn=True, activation="gelu", tie_embeddings=False),
          "Flan-T5 base (T5 v1.1: gated GELU, untied head)", ("t5-v1_1-base",)),
    Entry("bart-base", BartConfig(), "BART base", ("bart",)),
    Entry("bart-large", BartConfig(d_model=1024, num_layers=12, num_decoder_layers=12, num_heads=16, ffn_size=4096),
          "BART large"),
    # --- RMSNorm + SwiGLU + GQA (Touvron et al. 2023; Meta 2024; Jiang et al. 2023, 2024; Qwen team 2024)
    Entry("llama2-7b", _llama(32000, 4096, 32, 32, 32, 11008, 4096), "Llama 2 7B", ("llama-2-7b",)),
    Entry("llama2-13b", _llama(32000, 5120, 40, 40, 40, 13824, 4096), "Llama 2 13B", ("llama-2-13b",)),
    Entry("llama2-70b", _llama(32000, 8192, 80, 64, 8, 28672, 4096), "Llama 2 70B (GQA, 8 KV heads)", ("llama-2-70b",)),
    Entry("llama3-8b", _llama(128256, 4096, 32, 32, 8, 14336, 8192, rope_theta=500000.0), "Llama 3 8B",
          ("llama-3-8b", "llama3")),
    Entry("llama3-70b", _llama(128256, 8192, 80, 64, 8, 28672, 8192, rope_theta=500000.0), "Llama 3 70B",
          ("llama-3-70b",)),
    Entry("llama3.1-405b", _llama(128256, 16384, 126, 128, 8, 53248, 131072, rope_theta=500000.0), "Llama 3.1 405B",
          ("llama-3.1-405b",), context=8192),
    Entry("mistral-7b", _llama(32000, 4096, 32, 32, 8, 14336, 32768, sliding_window=4096, variant="mistral"),
          "Mistral 7B v0.1 (sliding window 4096)", ("mistral",),
          context=8192),
    Entry("qwen2.5-7b", _llama(152064, 3584, 28, 28, 4, 18944, 131072, qkv_bias=True, rope_theta=1000000.0,
                               variant="qwen2", norm_eps=1e-6), "Qwen2.5 7B (QKV biases)", ("qwen2.5",),
          context=32768),
    # --- mixture of experts
    Entry("mixtral-8x7b", _llama(32000, 4096, 32, 32, 8, 14336, 32768, num_experts=8, experts_per_token=2,
                                 rope_theta=1000000.0, variant="mixtral"), "Mixtral 8x7B (8 experts, top-2)",
          ("mixtral",)),
    Entry("mixtral-8x22b", _llama(32768, 6144, 56, 48, 8, 16384, 65536, num_experts=8, experts_per_token=2,
                                  rope_theta=1000000.0, variant="mixtral"), "Mixtral 8x22B (8 experts, top-2)"),
    # --- small presets for CPU work and tests (`nlpt pretrain --arch gpt-mini`)
    Entry("bert-mini", _bert(8192, 256, 4, 4, 1024, max_positions=128),
          "small BERT preset for CPU pretraining (4 layers, 256 wide, context 128; MLM + NSP)"),
    Entry("t5-mini", _t5(256, 64, 4, 1024, 4, vocab_size=8192, max_positions=128),
          "small T5 preset for CPU pretraining (4 + 4 layers, 256 wide; span corruption)"),
    Entry("bart-mini", BartConfig(vocab_size=8192, d_model=256, num_layers=4, num_decoder_layers=4, num_heads=4,
                                  ffn_size=1024, max_positions=256),
          "small BART preset for CPU pretraining (4 + 4 layers, 256 wide; infilling + sentence permutation)"),
    # initial std: GPT-2 small's 0.02 at width 768 scaled to width 384 (nlpt.transformer.derive)
    Entry("gpt-mini", GPTConfig(vocab_size=8192, hidden_size=384, num_layers=6, num_heads=6, ffn_size=1536, max_positions=256,
                                init_std=width_scaled_std(0.02, 768, 384)),
          "small GPT-2-style preset for CPU pretraining (6 layers, 384 wide, context 256)"),
    Entry("llama-mini", _llama(8192, 384, 6, 6, 2, 1024, 256), "small Llama-style preset for CPU pretraining (GQA 6/2 heads)"),
    Entry("moe-mini", _llama(8192, 384, 4, 6, 2, 512, 256, num_experts=4, experts_per_token=2, variant="mixtral"),
          "small Mixtral-style preset for CPU pretraining (4 experts, top-2)"),
    Entry("deepseek-v3", DeepSeekConfig(), "DeepSeek-V3 / R1: MLA, 1 shared + 8 of 256 routed experts, 3 dense layers",
          ("deepseek-r1", "deepseek-v3-base", "deepseek"), context=4096),  # pre-trained at 4K (report, sec. 4.2)
]

REGISTRY: dict[str, Entry] = {e.name: e for e in _ENTRIES}
ALIASES: dict[str, str] = {a: e.name for e in _ENTRIES for a in e.aliases}


def _norm_name(name: str) -> str:
    name = name.strip().lower().replace("_", "-")
    if "/" in name:  # "meta-llama/Llama-2-7b-hf", "google-bert/bert-base-uncased"
        name = name.rsplit("/", 1)[1]
    return name


def resolve(name: str) -> Entry:
    """The registry entry for a name or alias; `NlptError` with the closest names otherwise."""
    key = _norm_name(name)
    for candidate in (key, key.removesuffix("-hf")):
        if candidate in REGISTRY:
            return REGISTRY[candidate]
        if candidate in ALIASES:
            return REGISTRY[ALIASES[candidate]]
    names = list(REGISTRY) + list(ALIASES)
    close = difflib.get_close_matches(key, names, n=4, cutoff=0.5)
    close = list(dict.fromkeys(ALIASES.get(c, c) for c in close))
    hint = f"; closest: {', '.join(close)}" if close else ""
    raise NlptError(f"unknown model '{name}'{hint} (see `nlpt params --list`)")


# ---------------------------------------------------------------------------------------------
# Hugging Face config.json

HF_MODEL_TYPES = ("bert", "roberta", "distilbert", "albert", "openai-gpt", "gpt2", "t5", "bart", "llama", "mistral",
                  "mixtral", "qwen2", "deepseek_v3")

_REQUIRED = object()


class _Reader:
    def __init__(self, cfg: dict, where: str):
        self.cfg, self.where = cfg, where

    def fail(self, key: str, problem: str) -> NlptError:
        return NlptError(f"{self.where}: field '{key}' {problem}")

    def int(self, key: str, default: Any = _REQUIRED, *, minimum: int = 1):
        value = self.cfg.get(key, default)
        if value is _REQUIRED:
            raise self.fail(key, "is missing")
        if value is None and default is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"must be an integer >= {minimum} (got {value!r})")
        return value

    def bool(self, key: str, default: bool) -> bool:
        value = self.cfg.get(key, default)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false (got {value!r})")
        return value

    def float(self, key: str, default: float) -> float:
        value = self.cfg.get(key, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"must be a number (got {value!r})")
        return float(value)

    def expect(self, key: str, allowed: tuple, default: Any = None):
        value = self.cfg.get(key, default)
        if value not in allowed:
            raise self.fail(key, f"= {value!r} is not supported (supported: {', '.join(map(repr, allowed))})")
        return value


def _hf_rope(r: "_Reader", cfg: dict) -> dict:
    """rope_theta and a linear rope_scaling factor, from the top level (transformers 4) or `rope_parameters`
    (transformers 5 writes the base there); scalings other than linear position interpolation are refused."""
    params = cfg.get("rope_parameters") if isinstance(cfg.get("rope_parameters"), dict) else {}
    scaling = cfg.get("rope_scaling") if isinstance(cfg.get("rope_scaling"), dict) else params
    theta = cfg.get("rope_theta", params.get("rope_theta", 10000.0))
    if isinstance(theta, bool) or not isinstance(theta, (int, float)) or theta <= 0:
        raise r.fail("rope_theta", f"= {theta!r} is not a positive number")
    kind = scaling.get("rope_type", scaling.get("type", "default")) if scaling else "default"
    if kind not in ("default", "linear"):
        raise r.fail("rope_scaling", f"type {kind!r} is not supported (default or linear position interpolation)")
    factor = scaling.get("factor") if kind == "linear" else None
    return {"rope_theta": float(theta), "rope_scaling": float(factor) if factor else None}


def from_hf_config(cfg: dict, where: str = "config.json") -> ModelConfig:
    """A family config from a Hugging Face `config.json` dict; `NlptError` naming the field on problems."""
    if not isinstance(cfg, dict):
        raise NlptError(f"{where}: not a JSON object")
    r = _Reader(cfg, where)
    mt = cfg.get("model_type")
    if mt is None:
        raise r.fail("model_type", "is missing")
    if mt not in HF_MODEL_TYPES:
        raise r.fail("model_type", f"= {mt!r} is not supported (supported: {', '.join(HF_MODEL_TYPES)})")

    if mt in ("bert", "roberta", "albert"):
        r.expect("position_embedding_type", ("absolute",), "absolute")
        kw = dict(vocab_size=r.int("vocab_size"), hidden_size=r.int("hidden_size"), num_layers=r.int("num_hidden_layers"),
                  num_heads=r.int("num_attention_heads"), ffn_size=r.int("intermediate_size"),
                  max_positions=r.int("max_position_embeddings"), type_vocab_size=r.int("type_vocab_size", 2, minimum=0),
                  layer_norm_eps=r.float("layer_norm_eps", 1e-12))
        masked_lm = any(str(a).endswith("ForMaskedLM") for a in cfg.get("architectures") or [])  # no sentence head
        if mt == "roberta":  # positions start after the padding id (None = RoBERTa's 1)
            pad = r.int("pad_token_id", 1, minimum=0)
            return EncoderConfig(sentence_head=None, variant="roberta", pad_token_id=None if pad == 1 else pad, **kw)
        if mt == "albert":
            groups = r.expect("num_hidden_groups", (1, kw["num_layers"]), 1)  # one shared layer, or one per layer
            r.expect("inner_group_num", (1,), 1)
            return EncoderConfig(embedding_size=r.int("embedding_size", 128), shared_layers=groups == 1 != kw["num_layers"],
                                 sentence_head=None if masked_lm else "sop", variant="albert", **kw)
        return EncoderConfig(sentence_head=None if masked_lm else "nsp", **kw)
    if mt == "distilbert":
        return EncoderConfig(vocab_size=r.int("vocab_size"), hidden_size=r.int("dim"), num_layers=r.int("n_layers"),
                             num_heads=r.int("n_heads"), ffn_size=r.int("hidden_dim"),
                             max_positions=r.int("max_position_embeddings"), type_vocab_size=0, pooler=False,
                             sentence_head=None, variant="distilbert")
    if mt in ("gpt2", "openai-gpt"):
        h = r.int("n_embd")
        inner = r.int("n_inner", None) if mt == "gpt2" else None
        return GPTConfig(vocab_size=r.int("vocab_size"), hidden_size=h, num_layers=r.int("n_layer"),
                         num_heads=r.int("n_head"), ffn_size=inner or 4 * h, max_positions=r.int("n_positions"),
                         norm="pre" if mt == "gpt2" else "post", tie_embeddings=r.bool("tie_word_embeddings", True),
                         variant=mt, layer_norm_eps=r.float("layer_norm_epsilon", 1e-5),
                         init_std=r.float("initializer_range", 0.02))
    if mt == "t5":
        proj = r.expect("feed_forward_proj", ("relu", "gated-gelu", "gated-relu", "gelu", "gated-silu"), "relu")
        layers = r.int("num_layers")
        return T5Config(vocab_size=r.int("vocab_size"), d_model=r.int("d_model"), d_kv=r.int("d_kv"),
                        num_heads=r.int("num_heads"), ffn_size=r.int("d_ff"), num_layers=layers,
                        num_decoder_layers=r.int("num_decoder_layers", layers),
                        relative_attention_num_buckets=r.int("relative_attention_num_buckets", 32),
                        relative_attention_max_distance=r.int("relative_attention_max_distance", 128),
                        gated_ffn=proj.startswith("gated-"),
                        # transformers >= 5 writes tie_word_embeddings true for every T5 and says "untied" (no
                        # d_model**-0.5 on the decoder output, its own lm_head) as scale_decoder_outputs false
                        tie_embeddings=r.bool("tie_word_embeddings", True) and r.bool("scale_decoder_outputs", True),
                        activation=proj.removeprefix("gated-"),
                        max_positions=r.int("n_positions", 512))
    if mt == "bart":
        r.expect("add_final_layer_norm", (False,), False)
        ffn = r.int("encoder_ffn_dim")
        dec_ffn = r.int("decoder_ffn_dim")
        return BartConfig(vocab_size=r.int("vocab_size"), d_model=r.int("d_model"), num_layers=r.int("encoder_layers"),
                          num_decoder_layers=r.int("decoder_layers"), num_heads=r.int("encoder_attention_heads"),
                          ffn_size=ffn, decoder_ffn_size=None if dec_ffn == ffn else dec_ffn,
                          max_positions=r.int("max_position_embeddings"),
                          tie_embeddings=r.bool("tie_word_embeddings", True))
    if mt in ("llama", "mistral", "mixtral", "qwen2"):
        h = r.int("hidden_size")
        heads = r.int("num_attention_heads")
        head_dim = r.int("head_dim", None)
        if head_dim is None and h % heads:
            raise r.fail("num_attention_heads", f"= {heads} does not divide hidden_size {h} (set head_dim)")
        if head_dim == h // heads:
            head_dim = None
        kw = dict(vocab_size=r.int("vocab_size"), hidden_size=h, num_layers=r.int("num_hidden_layers"), num_heads=heads,
                  num_kv_heads=r.int("num_key_value_heads", heads), ffn_size=r.int("intermediate_size"),
                  max_positions=r.int("max_position_embeddings"), head_dim=head_dim,
                  tie_embeddings=r.bool("tie_word_embeddings", False), **_hf_rope(r, cfg),
                  norm_eps=r.float("rms_norm_eps", 1e-6 if mt == "qwen2" else 1e-5), variant=mt,
                  init_std=r.float("initializer_range", 0.02))
        if kw["num_heads"] % kw["num_kv_heads"]:
            raise r.fail("num_key_value_heads", f"= {kw['num_kv_heads']} does not divide num_attention_heads {heads}")
        if mt == "llama":
            r.expect("mlp_bias", (False,), False)
            bias = r.bool("attention_bias", False)
            return LlamaConfig(qkv_bias=bias, o_bias=bias, **kw)
        if mt == "qwen2":
            return LlamaConfig(qkv_bias=True, **kw)
        window = r.int("sliding_window", None)
        if mt == "mistral":
            return LlamaConfig(sliding_window=window, **kw)
        experts, k = r.int("num_local_experts"), r.int("num_experts_per_tok")
        if k > experts:
            raise r.fail("num_experts_per_tok", f"= {k} exceeds num_local_experts {experts}")
        return LlamaConfig(sliding_window=window, num_experts=experts, experts_per_token=k, **kw)
    # deepseek_v3
    r.expect("moe_layer_freq", (1,), 1)
    routed, k = r.int("n_routed_experts"), r.int("num_experts_per_tok")
    if k > routed:
        raise r.fail("num_experts_per_tok", f"= {k} exceeds n_routed_experts {routed}")
    layers = r.int("num_hidden_layers")
    return DeepSeekConfig(vocab_size=r.int("vocab_size"), hidden_size=r.int("hidden_size"), num_layers=layers,
                          num_heads=r.int("num_attention_heads"), q_lora_rank=r.int("q_lora_rank", None),
                          kv_lora_rank=r.int("kv_lora_rank"), qk_nope_head_dim=r.int("qk_nope_head_dim"),
                          qk_rope_head_dim=r.int("qk_rope_head_dim"), v_head_dim=r.int("v_head_dim"),
                          ffn_size=r.int("intermediate_size"), moe_ffn_size=r.int("moe_intermediate_size"),
                          num_routed_experts=routed, num_shared_experts=r.int("n_shared_experts", 0, minimum=0),
                          experts_per_token=k, first_dense_layers=min(layers, r.int("first_k_dense_replace", 0, minimum=0)),
                          n_group=r.int("n_group", 1), topk_group=r.int("topk_group", 1),
                          max_positions=r.int("max_position_embeddings"),
                          tie_embeddings=r.bool("tie_word_embeddings", False),
                          mtp_layers=r.int("num_nextn_predict_layers", 0, minimum=0),
                          rope_theta=r.float("rope_theta", 10000.0), norm_eps=r.float("rms_norm_eps", 1e-6))


def config_fields(config: ModelConfig) -> dict:
    """The config as a plain dict (for JSON output), family first."""
    return {"family": config.family, **dataclasses.asdict(config)}


def config_from_dict(data: dict, where: str = "config.json") -> ModelConfig:
    """The dataclass back from `config_fields` output (a run's saved config); `NlptError` naming the field.

    Fields missing from `data` take their defaults (configs saved before a field
    existed still load); unknown fields and wrong types are refused.
    """
    if not isinstance(data, dict):
        raise NlptError(f"{where}: model configuration is not a JSON object")
    family = data.get("family")
    if family not in FAMILIES:
        raise NlptError(f"{where}: field 'family' = {family!r} is not one of {', '.join(FAMILIES)}")
    cls = FAMILIES[family]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key == "family":
            continue
        if key not in fields:
            raise NlptError(f"{where}: field '{key}' is not a {cls.__name__} field")
        default = fields[key].default
        kinds = (type(default),) if default is not None else (int, float, str, bool)
        if isinstance(default, float):
            kinds = (int, float)
        if value is not None and (not isinstance(value, kinds) or (isinstance(value, bool) and not isinstance(default, bool))):
            raise NlptError(f"{where}: field '{key}' has the wrong type ({type(value).__name__})")
        kwargs[key] = float(value) if isinstance(default, float) and value is not None else value
    if "num_decoder_layers" in fields and "num_decoder_layers" not in kwargs and "num_layers" in kwargs:
        kwargs["num_decoder_layers"] = kwargs["num_layers"]  # T5/BART: one depth given is both stacks'
    return cls(**kwargs)  # build() validates what it builds


def validate(config: ModelConfig) -> None:
    """`NlptError` naming the field if a config cannot describe a model."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise NlptError(f"{f.name} must not be negative (got {value})")
    positive = [n for n in ("vocab_size", "hidden_size", "d_model", "num_layers", "num_heads", "ffn_size")
                if hasattr(config, n)]
    for n in positive:
        if getattr(config, n) < 1:
            raise NlptError(f"{n} must be at least 1 (got {getattr(config, n)})")
    if isinstance(config, LlamaConfig):
        if config.head_dim is None and config.hidden_size % config.num_heads:
            raise NlptError(f"num_heads {config.num_heads} does not divide hidden_size {config.hidden_size} (give --head-dim)")
        if config.num_kv_heads < 1 or config.num_heads % config.num_kv_heads:
            raise NlptError(f"kv heads {config.num_kv_heads} must divide num_heads {config.num_heads}")
        if config.num_experts and not 1 <= config.experts_per_token <= config.num_experts:
            raise NlptError(f"experts_per_token {config.experts_per_token} must be between 1 and num_experts {config.num_experts}")
        if config.experts_per_token and not config.num_experts:
            raise NlptError("experts_per_token is set but num_experts is 0")
    if isinstance(config, DeepSeekConfig):
        if not 1 <= config.experts_per_token <= config.num_routed_experts:
            raise NlptError(f"experts_per_token {config.experts_per_token} must be between 1 and "
                            f"num_routed_experts {config.num_routed_experts}")
        if config.first_dense_layers > config.num_layers:
            raise NlptError(f"first_dense_layers {config.first_dense_layers} exceeds num_layers {config.num_layers}")
    if isinstance(config, EncoderConfig) and config.sentence_head not in (None, "nsp", "sop"):
        raise NlptError(f"sentence_head must be nsp, sop or none (got {config.sentence_head!r})")
    if isinstance(config, GPTConfig) and config.norm not in ("pre", "post"):
        raise NlptError(f"norm must be pre or post (got {config.norm!r})")


def check_heads(config: ModelConfig) -> None:
    """`NlptError` if the heads do not split the hidden size (a model that cannot be built).

    Applied to configs from flags and config.json files. Not part of `validate`: the registry keeps two
    GPT-3 sizes with the paper's head counts (gpt3-xl 24 heads of 128 on d_model 2048), counted with
    d_attn = d_model as the paper's totals are.
    """
    if isinstance(config, (EncoderConfig, GPTConfig, BartConfig)):
        width = config.d_model if isinstance(config, BartConfig) else config.hidden_size
        name = "d_model" if isinstance(config, BartConfig) else "hidden_size"
        if width % config.num_heads:  # each head gets width / heads dimensions
            raise NlptError(f"num_heads {config.num_heads} does not divide {name} {width}")


# ---------------------------------------------------------------------------------------------
# custom models from command-line flags

# --family name → registry entry whose config supplies the defaults
FAMILY_BASES = {
    "bert": "bert-base", "roberta": "roberta-base", "distilbert": "distilbert-base", "albert": "albert-base-v2",
    "gpt": "gpt2", "gpt2": "gpt2", "gpt1": "gpt", "llama": "llama2-7b", "mistral": "mistral-7b", "qwen2": "qwen2.5-7b",
    "mixtral": "mixtral-8x7b", "moe": "mixtral-8x7b", "t5": "t5-small", "bart": "bart-base", "deepseek": "deepseek-v3",
}

# flag → field, per family (a flag missing here does not apply to that family)
_FLAG_FIELDS = {
    "encoder": {"layers": "num_layers", "hidden": "hidden_size", "heads": "num_heads", "ffn": "ffn_size",
                "vocab": "vocab_size", "context": "max_positions", "embedding_size": "embedding_size"},
    "gpt": {"layers": "num_layers", "hidden": "hidden_size", "heads": "num_heads", "ffn": "ffn_size",
            "vocab": "vocab_size", "context": "max_positions", "tie": "tie_embeddings"},
    "llama": {"layers": "num_layers", "hidden": "hidden_size", "heads": "num_heads", "kv_heads": "num_kv_heads",
              "head_dim": "head_dim", "ffn": "ffn_size", "vocab": "vocab_size", "context": "max_positions",
              "tie": "tie_embeddings", "experts": "num_experts", "top_k": "experts_per_token"},
    "t5": {"layers": "num_layers", "decoder_layers": "num_decoder_layers", "hidden": "d_model", "heads": "num_heads",
           "head_dim": "d_kv", "ffn": "ffn_size", "vocab": "vocab_size", "context": "max_positions",
           "tie": "tie_embeddings"},
    "bart": {"layers": "num_layers", "decoder_layers": "num_decoder_layers", "hidden": "d_model", "heads": "num_heads",
             "ffn": "ffn_size", "vocab": "vocab_size", "context": "max_positions", "tie": "tie_embeddings"},
    "deepseek": {"layers": "num_layers", "hidden": "hidden_size", "heads": "num_heads", "ffn": "ffn_size",
                 "vocab": "vocab_size", "context": "max_positions", "tie": "tie_embeddings",
                 "experts": "num_routed_experts", "top_k": "experts_per_token", "shared_experts": "num_shared_experts",
                 "moe_ffn": "moe_ffn_size", "dense_layers": "first_dense_layers"},
}


def apply_flags(config: ModelConfig, flags: dict, derive: bool) -> ModelConfig:
    """`config` with the architecture flags given (None = not given) applied.

    Without `derive` (an override of a named model), what derives from the flags given follows them as
    `nlpt.transformer.derive` says (the entry's FFN ratio, head split, both stacks, width-scaled init).
    With `derive` (a `--family` custom model), widths not given follow the ones
    given the way the family's published models do: F = 4H (SwiGLU families:
    8H/3 rounded up to a multiple of 256), KV heads = heads,
    decoder layers = encoder layers, top-k = 2 when experts are added.
    heads = H / the base model's head size (64 for BERT/GPT/BART/T5, 128 for Llama).
    """
    given = {k: v for k, v in flags.items() if v is not None}
    table = _FLAG_FIELDS[config.family]
    for k in given:
        if k not in table:
            raise UsageError(f"--{k.replace('_', '-')} does not apply to the {config.family} family")
    changes = {table[k]: v for k, v in given.items()}
    if "context" in given and config.family in ("llama", "deepseek", "t5") and not derive:
        changes.pop("max_positions")  # no position table: --context only sets the context of the figures
    if derive:
        if "hidden" in given:
            h = given["hidden"]
            if "ffn" not in given and config.family != "deepseek":
                changes["ffn_size"] = 256 * -(-(8 * h // 3) // 256) if config.family == "llama" else 4 * h
            if "heads" not in given and config.family != "deepseek":
                if config.family == "t5":
                    head = config.d_kv
                elif config.family == "llama":
                    head = given.get("head_dim") or config.attn_head_dim
                else:
                    head = width(config) // config.num_heads
                changes["num_heads"] = max(1, h // head)
        if config.family == "llama":
            if "kv_heads" not in given:
                changes["num_kv_heads"] = changes.get("num_heads", config.num_heads)
        if config.family in ("t5", "bart") and "layers" in given and "decoder_layers" not in given:
            changes["num_decoder_layers"] = given["layers"]
        if "hidden" in given and hasattr(config, "init_std"):
            changes["init_std"] = width_scaled_std(config.init_std, width(config), given["hidden"])
    else:  # an override of a named model: what derives from the flags given follows them
        changes.update(follow_overrides(config, given))
    if config.family == "llama":
        if given.get("experts") and "top_k" not in given and not config.experts_per_token:
            changes["experts_per_token"] = min(2, given["experts"])  # adding experts to a dense model
        if given.get("experts") == 0:
            changes["experts_per_token"] = 0
        experts = changes.get("num_experts", config.num_experts)
        if experts and config.variant != "mixtral":
            changes["variant"] = "mixtral"
        elif not experts and config.variant == "mixtral":
            changes["variant"] = "llama"
            changes.setdefault("experts_per_token", 0)
    if config.family == "encoder" and changes.get("embedding_size") == changes.get("hidden_size", config.hidden_size):
        changes["embedding_size"] = None
    result = dataclasses.replace(config, **changes)
    try:  # flags go through the same validation as config.json files, in the flags' own names
        validate(result)
        if derive or {"hidden", "heads"} & set(given):
            check_heads(result)
    except NlptError as exc:
        message = str(exc)
        for flag, field in sorted(table.items(), key=lambda kv: -len(kv[1])):
            message = re.sub(rf"\b{field}\b", f"--{flag.replace('_', '-')}", message)
        raise UsageError(message) from None
    return result
