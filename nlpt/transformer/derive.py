"""What follows from a size override of a named model (`--arch gpt-mini --hidden 128`, `nlpt params gpt2 --layers 6`).

A registry entry is a consistent whole: its FFN is a fixed multiple of its width, its heads split that width,
its encoder and decoder are equally deep, and its initialisation suits its width. Overriding one number must
keep the rest consistent, or the model trained is not the model the user described (a 128-wide model with
the 384-wide preset's FFN of 1536 and an initialisation tuned for width 768). So, unless given themselves:

- the FFN width keeps the entry's ratio to the hidden size (gpt-mini: 4 × H; llama-mini: 8/3 × H);
- the heads keep splitting the width: the head size is the new width / heads (T5 and Llama with an explicit
  head size keep the entry's ratio of attention width to model width), Llama keeps its query groups;
- `--layers` on T5 and BART sets both stacks (different depths are a deliberate `--decoder-layers`);
- the initial standard deviation of GPT and Llama weights keeps the variance each input contributes:
  σ = σ_entry · √(H_entry / H), the rule by which GPT-2 small's 0.02 at width 768 gives gpt-mini's
  0.0283 at 384 and 0.049 at 128. A model at its entry's width keeps the entry's (published) σ.

A custom `--family` model (`nlpt params --family llama --hidden 2048`) starts from the family's registry entry
and follows the family's published proportions instead (`follow_custom`): F = 4H (SwiGLU: 8H/3 rounded up
to a multiple of 256), heads of the entry's head size, as many KV heads as heads; both stacks and the
initialisation follow as above.

Pure Python (no torch): `nlpt params` and `--help` import it.
"""

from __future__ import annotations

import math
from typing import Any

from nlpt.common.errors import UsageError


def width(config: Any) -> int:
    """The model width (hidden size; d_model for T5 and BART)."""
    return getattr(config, "hidden_size", None) or config.d_model


def width_scaled_std(std: float, entry_width: int, new_width: int) -> float:
    """σ · √(entry width / new width): the same variance per input at the new width (6 significant digits)."""
    return float(f"{std * math.sqrt(entry_width / new_width):.6g}")


def follow_overrides(config: Any, given: dict) -> dict:
    """The fields of `config` (a registry or file config) that follow the override flags `given`, as changes.

    `given` uses `apply_flags`' flag names (hidden, heads, head_dim, ffn, layers, decoder_layers, kv_heads,
    moe_ffn) and holds only flags the user gave. UsageError when the heads cannot split the new width.
    """
    changes: dict = {}
    old = width(config)
    new = given.get("hidden", old)
    if new != old:
        scale = new / old
        if "ffn" not in given and hasattr(config, "ffn_size"):
            changes["ffn_size"] = max(1, round(config.ffn_size * scale))
        if getattr(config, "decoder_ffn_size", None):
            changes["decoder_ffn_size"] = max(1, round(config.decoder_ffn_size * scale))
        if "moe_ffn" not in given and hasattr(config, "moe_ffn_size"):
            changes["moe_ffn_size"] = max(1, round(config.moe_ffn_size * scale))
        if hasattr(config, "init_std"):
            changes["init_std"] = width_scaled_std(config.init_std, old, new)
    heads = given.get("heads", config.num_heads)
    explicit_head = config.d_kv if config.family == "t5" else getattr(config, "head_dim", None)
    if explicit_head is not None and "head_dim" not in given and {"hidden", "heads"} & set(given):
        attention = explicit_head * config.num_heads * new / old  # the entry's attention width, scaled
        if attention % heads:
            raise UsageError(f"--heads {heads} does not split the attention width {attention:g} of --hidden {new}")
        head = int(attention // heads)
        if config.family == "t5":
            changes["d_kv"] = head
        else:
            changes["head_dim"] = None if head * heads == new else head
    if config.family == "llama" and "heads" in given and "kv_heads" not in given:
        group = config.num_heads // config.num_kv_heads  # queries per key/value head
        if heads % group == 0:
            changes["num_kv_heads"] = heads // group
    changes.update(_both_stacks(config, given))
    return changes


def follow_custom(config: Any, given: dict) -> dict:
    """The fields of a custom `--family` model (`config`: the family's registry entry) that follow the flags
    `given` the way the family's published models do, as changes (see the module's rules)."""
    changes: dict = {}
    if "hidden" in given and config.family != "deepseek":
        h = given["hidden"]
        if "ffn" not in given:
            changes["ffn_size"] = 256 * -(-(8 * h // 3) // 256) if config.family == "llama" else 4 * h
        if "heads" not in given:
            if config.family == "t5":
                head = config.d_kv
            elif config.family == "llama":
                head = given.get("head_dim") or config.attn_head_dim
            else:
                head = width(config) // config.num_heads
            changes["num_heads"] = max(1, h // head)
    if config.family == "llama" and "kv_heads" not in given:
        changes["num_kv_heads"] = given.get("heads", changes.get("num_heads", config.num_heads))
    if "hidden" in given and hasattr(config, "init_std"):
        changes["init_std"] = width_scaled_std(config.init_std, width(config), given["hidden"])
    changes.update(_both_stacks(config, given))
    return changes


def _both_stacks(config: Any, given: dict) -> dict:
    """`--layers` on T5 and BART sets both stacks unless `--decoder-layers` is given."""
    if config.family in ("t5", "bart") and "layers" in given and "decoder_layers" not in given:
        return {"num_decoder_layers": given["layers"]}
    return {}


INIT_RULE = ("weights N(0, std); a registry model at its own width keeps its published std, another width gets "
             "std_entry * sqrt(width_entry / width) (the same variance per input; gpt-mini: GPT-2 small's 0.02 at "
             "768 scaled to 384)")


def init_record(config: Any) -> Any:
    """The initialisation as the run's config.json records it: the std and the rule that chose it (None: the
    family's published scheme, not width-scaled: BERT and BART N(0, 0.02), T5 N(0, d_model^-1/2))."""
    if not hasattr(config, "init_std"):
        return None
    return {"std": config.init_std, "rule": INIT_RULE}
