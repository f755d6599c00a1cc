"""Reading a Hugging Face `config.json` into a config dataclass, for every model type nlpt counts or builds.

Each field read is checked (type, range, supported values) so that a bad file is one line naming the field.
Pure Python: importing this module must not import numpy, numba or torch.
"""

from __future__ import annotations

import math
from typing import Any

from nlpt.common.errors import NlptError
from nlpt.transformer.configs import (
    BartConfig, DeepSeekConfig, EncoderConfig, GPTConfig, LlamaConfig, ModelConfig, T5Config,
)

HF_MODEL_TYPES = ("bert", "roberta", "distilbert", "albert", "openai-gpt", "gpt2", "t5", "bart", "llama", "mistral",
                  "mixtral", "qwen2", "deepseek_v3")

_REQUIRED = object()

# transformers' activation names (ACT2FN) nlpt computes alike -> nlpt's name; any other is refused on import
HF_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "relu": "relu",
                  "silu": "silu", "swish": "silu"}
# OpenAI GPT's own table: its "gelu" is the tanh approximation
OPENAI_GPT_ACTIVATIONS = {"gelu": "gelu_tanh", "relu": "relu", "silu": "silu", "swish": "silu"}


def hf_activation(name: str) -> str:
    """transformers' name for nlpt's activation `name`, as an export writes it (the inverse of HF_ACTIVATIONS)."""
    return {"gelu_tanh": "gelu_new"}.get(name, name)


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
        if not math.isfinite(value) or value <= 0:  # epsilons, standard deviations, rotary bases
            raise self.fail(key, f"must be a finite positive number (got {value!r})")
        return float(value)

    def activation(self, key: str, default: str, names: dict = HF_ACTIVATIONS, allowed: tuple = ()) -> str:
        """nlpt's name of the non-linearity the field names; a name nlpt does not compute alike (or not among
        `allowed` nlpt names, when given) is refused rather than read as another."""
        value = self.cfg.get(key, default)
        mine = names.get(value) if isinstance(value, str) else None
        if mine is None or (allowed and mine not in allowed):
            ok = [k for k, v in names.items() if not allowed or v in allowed]
            raise self.fail(key, f"= {value!r} is not supported (supported: {', '.join(map(repr, ok))})")
        return mine

    def expect(self, key: str, allowed: tuple, default: Any = None):
        value = self.cfg.get(key, default)
        if value not in allowed:
            raise self.fail(key, f"= {value!r} is not supported (supported: {', '.join(map(repr, allowed))})")
        return value


def _hf_rope(r: "_Reader", cfg: dict) -> dict:
    """rope_theta and a linear rope_scaling factor, from the top level (transformers 4) or `rope_parameters`
    (transformers 5 writes the base there); scalings other than linear position interpolation are refused."""
    for key in ("rope_parameters", "rope_scaling"):
        if cfg.get(key) is not None and not isinstance(cfg.get(key), dict):
            raise r.fail(key, f"must be an object (got {cfg.get(key)!r})")
    params = cfg.get("rope_parameters") or {}
    scaling = cfg.get("rope_scaling") or params
    theta = cfg.get("rope_theta", params.get("rope_theta", 10000.0))
    if isinstance(theta, bool) or not isinstance(theta, (int, float)) or not math.isfinite(theta) or theta <= 0:
        raise r.fail("rope_theta", f"= {theta!r} is not a positive number")
    kind = scaling.get("rope_type", scaling.get("type", "default")) if scaling else "default"
    if kind not in ("default", "linear"):
        raise r.fail("rope_scaling", f"type {kind!r} is not supported (default or linear position interpolation)")
    factor = scaling.get("factor") if kind == "linear" else None
    if factor is not None and (isinstance(factor, bool) or not isinstance(factor, (int, float))
                               or not math.isfinite(factor) or factor <= 0):
        raise r.fail("rope_scaling", f"factor {factor!r} is not a positive number")
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
                  layer_norm_eps=r.float("layer_norm_eps", 1e-12),
                  activation=r.activation("hidden_act", "gelu_new" if mt == "albert" else "gelu"))
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
                             sentence_head=None, variant="distilbert", activation=r.activation("activation", "gelu"))
    if mt in ("gpt2", "openai-gpt"):
        h = r.int("n_embd")
        inner = r.int("n_inner", None) if mt == "gpt2" else None
        if mt == "gpt2":  # attention scaled by 1/sqrt(head size), as nlpt's, and by nothing else
            r.expect("scale_attn_weights", (True,), True)
            r.expect("scale_attn_by_inverse_layer_idx", (False,), False)
        act = (r.activation("activation_function", "gelu_new") if mt == "gpt2"
               else r.activation("afn", "gelu", OPENAI_GPT_ACTIVATIONS))
        return GPTConfig(vocab_size=r.int("vocab_size"), hidden_size=h, num_layers=r.int("n_layer"),
                         num_heads=r.int("n_head"), ffn_size=inner or 4 * h, max_positions=r.int("n_positions"),
                         norm="pre" if mt == "gpt2" else "post", tie_embeddings=r.bool("tie_word_embeddings", True),
                         variant=mt, layer_norm_eps=r.float("layer_norm_epsilon", 1e-5), activation=act,
                         init_std=r.float("initializer_range", 0.02))
    if mt == "t5":
        proj = r.expect("feed_forward_proj", ("relu", "gated-gelu", "gated-relu", "gelu", "gated-silu"), "relu")
        if r.float("layer_norm_epsilon", 1e-6) != 1e-6:  # nlpt's T5 norms use T5's 1e-6
            raise r.fail("layer_norm_epsilon", f"= {cfg['layer_norm_epsilon']!r} is not supported (supported: 1e-06)")
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
        r.expect("normalize_before", (False,), False)
        r.expect("scale_embedding", (False,), False)  # nlpt's BART adds embeddings unscaled, as bart-base/large
        r.activation("activation_function", "gelu", allowed=("gelu",))
        heads = r.int("encoder_attention_heads")
        if r.int("decoder_attention_heads", heads) != heads:
            raise r.fail("decoder_attention_heads", f"= {cfg['decoder_attention_heads']!r} is not supported (nlpt's "
                                                    f"BART has encoder_attention_heads {heads} in both stacks)")
        ffn = r.int("encoder_ffn_dim")
        dec_ffn = r.int("decoder_ffn_dim")
        return BartConfig(vocab_size=r.int("vocab_size"), d_model=r.int("d_model"), num_layers=r.int("encoder_layers"),
                          num_decoder_layers=r.int("decoder_layers"), num_heads=heads,
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
                  activation=r.activation("hidden_act", "silu", allowed=("silu", "gelu")),
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

