"""Whether a config can describe a model: the checks every config goes through, wherever it came from (the
registry, flags, an nlpt run's or a Hugging Face config.json); `NlptError` naming the field.

Pure Python: importing this module must not import numpy, numba or torch.
"""

from __future__ import annotations

import dataclasses
import typing

from nlpt.common.errors import NlptError
from nlpt.common.values import ValueRule
from nlpt.transformer.configs import BartConfig, DeepSeekConfig, EncoderConfig, GPTConfig, LlamaConfig, ModelConfig

# The non-linearities the model builders know (`nlpt.models.layers.activation_fn`; Llama's gated MLP takes two)
ACTIVATIONS = ("gelu_tanh", "gelu", "relu", "silu")
LLAMA_ACTIVATIONS = ("silu", "gelu")
# The published implementations each family follows (`variant`)
VARIANTS = {"encoder": ("bert", "roberta", "distilbert", "albert"), "gpt": ("gpt2", "openai-gpt"),
            "llama": ("llama", "mistral", "qwen2", "mixtral"), "t5": ("t5",), "bart": ("bart",),
            "deepseek": ("deepseek_v3",)}
# The real-valued fields' bounds (the value rule of options and recipes); every real field must be finite
_ABOVE_ZERO = ValueRule(float, 0.0, low_open=True)
FLOAT_RANGES = {
    "dropout": ValueRule(float, 0.0, 1.0),
    "layer_norm_eps": _ABOVE_ZERO,
    "norm_eps": _ABOVE_ZERO,
    "init_std": _ABOVE_ZERO,
    "rope_theta": _ABOVE_ZERO,
    "rope_scaling": _ABOVE_ZERO,
    "router_aux_loss_coef": ValueRule(float, 0.0),
    "router_jitter": ValueRule(float, 0.0, 0.999),
}
TOKEN_ID_FIELDS = ("bos_token_id", "eos_token_id", "pad_token_id")


def _kind(hint) -> tuple[type, bool]:
    """(the field's type, whether it may be None) from its annotation (int, Optional[int], ...)."""
    args = typing.get_args(hint)
    if type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return hint, False


def _check_values(config: ModelConfig) -> None:
    """Each field of the type its annotation says, real numbers finite and within their ranges."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        kind, optional = _kind(hints[f.name])
        if value is None and optional:
            continue
        if kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
        if not ok:
            what = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(kind, kind.__name__)
            raise NlptError(f"{f.name} must be {what} (got {value!r})")
        if kind is float:
            rule = FLOAT_RANGES.get(f.name, ValueRule(float))
            problem = rule.problem(float(value))
            if problem == "finite":
                raise NlptError(f"{f.name} must be a finite number (got {value!r})")
            if problem == "range" and rule.high is not None and value > rule.high:
                raise NlptError(f"{f.name} must be at most {rule.high:g} (got {value!r})")
            if problem == "range":
                raise NlptError(f"{f.name} must be {'above' if rule.low_open else 'at least'} {rule.low:g} (got {value!r})")


def validate(config: ModelConfig) -> None:
    """`NlptError` naming the field if a config cannot describe a model."""
    _check_values(config)
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise NlptError(f"{f.name} must not be negative (got {value})")
    variants = VARIANTS.get(config.family, ())
    if config.variant not in variants:
        raise NlptError(f"variant must be one of {', '.join(variants)} for the {config.family} family "
                        f"(got {config.variant!r})")
    activation = getattr(config, "activation", None)
    allowed = LLAMA_ACTIVATIONS if isinstance(config, LlamaConfig) else ACTIVATIONS
    if activation is not None and activation not in allowed:
        raise NlptError(f"activation {activation!r} is not supported for the {config.family} family "
                        f"({', '.join(allowed)})")
    for name in TOKEN_ID_FIELDS:
        token = getattr(config, name, None)
        if token is not None and token >= config.vocab_size:
            raise NlptError(f"{name} {token} is not below vocab_size {config.vocab_size}")
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

