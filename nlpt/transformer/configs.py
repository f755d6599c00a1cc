"""Transformer architectures: one small config dataclass per family.

These are the objects that `nlpt params` counts and that the Transformer
pretrainer builds its models from, so the count and the model cannot disagree.
Each field is something a model builder needs; `variant` only says which
published implementation the config follows (it names the Hugging Face classes
whose parameter counts people quote, and for encoders decides which
pretraining heads exist). `config_fields` and `config_from_dict` are the
dataclasses' own JSON form (a run folder's config.json "model").

Pure Python: importing this module must not import numpy, numba or torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional, Union

from nlpt.common.errors import NlptError


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
    activation: str = "gelu"  # feed-forward and MLM head: "gelu" = exact erf GELU (BERT), "gelu_tanh" (ALBERT's gelu_new)
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

