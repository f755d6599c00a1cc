"""Whether a config can describe a model: the checks every config goes through, wherever it came from (the
registry, flags, an nlpt run's or a Hugging Face config.json); `NlptError` naming the field.

Pure Python: importing this module must not import numpy, numba or torch.
"""

from __future__ import annotations

import dataclasses

from nlpt.common.errors import NlptError
from nlpt.transformer.configs import BartConfig, DeepSeekConfig, EncoderConfig, GPTConfig, LlamaConfig, ModelConfig


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

