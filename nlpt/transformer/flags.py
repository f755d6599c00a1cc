"""Architecture flags (`--layers`, `--hidden`, `--heads`, ...) applied to a config: `nlpt params` and
`nlpt pretrain` share them. A flag names a field per family; what follows from the flags given is
`nlpt.transformer.derive`'s rule set; the result goes through `validate` in the flags' own names.

Pure Python: importing this module must not import numpy, numba or torch.
"""

from __future__ import annotations

import dataclasses
import re

from nlpt.common.errors import NlptError, UsageError
from nlpt.transformer.configs import ModelConfig
from nlpt.transformer.derive import follow_custom, follow_overrides
from nlpt.transformer.validate import check_heads, validate

# --family name → registry entry whose config supplies the defaults
FAMILY_BASES = {
    "bert": "bert-base", "roberta": "roberta-base", "distilbert": "distilbert-base", "albert": "albert-base-v2",
    "gpt": "gpt2", "gpt2": "gpt2", "gpt1": "gpt", "llama": "llama2-7b", "mistral": "mistral-7b", "qwen2": "qwen2.5-7b",
    "mixtral": "mixtral-8x7b", "moe": "mixtral-8x7b", "t5": "t5-small", "bart": "bart-base", "deepseek": "deepseek-v3",
}

# flag → field, per family (a flag missing here does not apply to that family)
FLAG_FIELDS = {
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

    What the flags given do not set follows them by `nlpt.transformer.derive`'s rules: without `derive` (an
    override of a named model) the entry's own proportions (`follow_overrides`), with `derive` (a `--family`
    custom model) the family's published ones (`follow_custom`). Adding experts to a dense Llama uses top-2.
    """
    given = {k: v for k, v in flags.items() if v is not None}
    table = FLAG_FIELDS[config.family]
    for k in given:
        if k not in table:
            raise UsageError(f"--{k.replace('_', '-')} does not apply to the {config.family} family")
    changes = {table[k]: v for k, v in given.items()}
    if "context" in given and config.family in ("llama", "deepseek", "t5") and not derive:
        changes.pop("max_positions")  # no position table: --context only sets the context of the figures
    changes.update(follow_custom(config, given) if derive else follow_overrides(config, given))
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

