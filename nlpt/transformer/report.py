"""`nlpt params`: resolve the model and compute every figure, as one JSON-ready document (`build`) that the
CLI prints as JSON or as tables (`nlpt.cli.params_tables`).

No numpy, numba or torch: the standard library only.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

from nlpt.common.errors import NlptError, UsageError
from nlpt.transformer.configs import BartConfig, DeepSeekConfig, EncoderConfig, GPTConfig, LlamaConfig, ModelConfig, T5Config, config_fields
from nlpt.transformer.registry import REGISTRY, norm_name, resolve
from nlpt.transformer import params as P
from nlpt.transformer.hardware import GPUS
from nlpt.transformer.memory import training_memory
from nlpt.transformer.reported import REPORTED, REPORTED_ONLY, REPORTED_ONLY_ALIASES


@dataclasses.dataclass
class Resolved:
    label: str
    source: str  # registry | config | custom
    description: str
    config: ModelConfig
    context: int
    reported_key: Optional[str] = None


def resolve_model(model: Optional[str], family: Optional[str], flags: dict) -> Resolved:
    """The model named, read from config.json, or described by flags (flags also override the first two)."""
    any_flag = any(v is not None for v in flags.values())
    if model is None and family is None:
        raise UsageError("give a model name (see --list), a config.json path, or --family with architecture flags")
    if model is not None and family is not None:
        raise UsageError("give either a model (name or config.json) or --family, not both")
    if family is not None:
        from nlpt.transformer.flags import FAMILY_BASES, apply_flags

        key = family.lower()
        if key not in FAMILY_BASES:
            raise UsageError(f"unknown --family '{family}' (choose from {', '.join(FAMILY_BASES)})")
        base = REGISTRY[FAMILY_BASES[key]].config
        cfg = apply_flags(base, flags, derive=True)
        desc = f"custom {key} model"
        return Resolved(f"custom-{key}", "custom", desc, cfg, flags.get("context") or cfg.max_positions)
    if os.path.exists(model) or model.endswith(".json"):
        from nlpt.transformer.config_file import config_from_path

        cfg = config_from_path(model)
        label, source, desc, ctx, rep = model, "config", f"{type(cfg).__name__} from {model}", cfg.max_positions, None
    else:
        if norm_name(model) in REPORTED_ONLY or norm_name(model) in REPORTED_ONLY_ALIASES:
            raise NlptError(f"{model}: architecture not published, nothing to count; its reported figures: "
                            f"nlpt compare {model}")
        entry = resolve(model)
        cfg, label, source, desc = entry.config, entry.name, "registry", entry.description
        ctx, rep = entry.context or cfg.max_positions, entry.name
    if any_flag:
        arch = {k: v for k, v in flags.items() if k != "context"}
        if any(v is not None for v in arch.values()):
            from nlpt.transformer.flags import apply_flags

            cfg = apply_flags(cfg, arch, derive=False)
            changed = ", ".join(f"{k.replace('_', '-')}={v}" for k, v in arch.items() if v is not None)
            label, rep = f"{label} (modified: {changed})", None
            source = "custom"
        if flags.get("context"):
            ctx = flags["context"]
    return Resolved(label, source, desc, cfg, ctx, rep)


def build(res: Resolved, *, context: Optional[int] = None, batch: int = 1, tokens: Optional[str] = None,
          gpu: Optional[str] = None, mfu: float = 0.4, kv_dtype: str = "bf16", precision: str = "bf16",
          ranks: int = 1, strategy: str = "ddp", checkpointing: bool = False) -> dict:
    """Every figure for one model, as the JSON document `nlpt params --json` prints (stable keys)."""
    cnt = P.count(res.config)
    ctx = context or res.context
    rep = REPORTED.get(res.reported_key) if res.reported_key else None
    if gpu is not None and gpu not in GPUS:
        import difflib
        close = difflib.get_close_matches(gpu.lower(), list(GPUS), n=3, cutoff=0.4)
        raise UsageError(f"unknown --gpu '{gpu}'" + (f"; closest: {', '.join(close)}" if close else "")
                         + f" (choose from {', '.join(GPUS)})")
    if not 0 < mfu <= 1:
        raise UsageError(f"--mfu {mfu} must be in (0, 1]")
    n_tokens, tokens_source = None, None
    if tokens is not None:
        try:
            n_tokens = P.parse_count(tokens, "--tokens")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        tokens_source = "flag"
    elif rep and rep.get("training_tokens"):
        n_tokens, tokens_source = rep["training_tokens"], "reported"
    gpu_name = gpu or (rep.get("gpu") if rep and rep.get("gpu") else "h100")
    training = None
    if n_tokens is not None:
        training = P.training(cnt, n_tokens, ctx, gpu_name, mfu)
        training["tokens_source"] = tokens_source
        if rep and rep.get("gpu_hours") and rep.get("gpu") == gpu_name:
            training["reported_gpu_hours"] = rep["gpu_hours"]
            if tokens_source == "reported":
                peak = GPUS[gpu_name].peak_tflops * 1e12
                training["implied_mfu"] = training["flops_with_attention"] / (rep["gpu_hours"] * 3600 * peak)
        if rep and rep.get("training_flops"):
            training["reported_flops"] = rep["training_flops"]
    notes = list(cnt.extra_notes)
    learned = isinstance(res.config, (EncoderConfig, GPTConfig, BartConfig))
    if learned and ctx > res.config.max_positions:
        notes.append(f"context {ctx:,} exceeds the model's {res.config.max_positions:,} learned positions")
    if isinstance(res.config, GPTConfig) and res.config.hidden_size % res.config.num_heads:
        notes.append(f"hidden size {res.config.hidden_size} is not a multiple of {res.config.num_heads} heads "
                     "(as printed in the paper); counts and FLOPs use d_attn = hidden size")
    return {
        "model": res.label,
        "description": res.description,
        "source": res.source,
        "config": config_fields(res.config),
        "hf_class": cnt.hf_class,
        "parameters": {
            "total": cnt.total,
            "embeddings": cnt.embeddings,
            "without_embeddings": cnt.without_embeddings,
            "active_per_token": cnt.active if cnt.is_moe else None,
            "pretraining_class": cnt.pretraining_class,
            "pretraining_total": cnt.pretraining_total,
        },
        "breakdown": [r.as_dict() for r in cnt.rows],
        "pretraining_heads": [r.as_dict() for r in cnt.pretraining_rows],
        "lecture_formula": P.lecture_formula(cnt),
        "flops": P.flops(cnt, ctx),
        "memory": P.memory(cnt),
        "training_memory": training_memory(res.config, batch, ctx, precision, ranks, strategy, checkpointing),
        "kv_cache": P.kv_cache(cnt, ctx, batch, kv_dtype),
        "training": training,
        "reported": rep,
        "notes": notes,
    }


def list_models() -> list[dict]:
    out = []
    for e in REGISTRY.values():
        cnt = P.count(e.config)
        out.append({"name": e.name, "family": e.config.family, "hf_class": cnt.hf_class, "total": cnt.total,
                    "active_per_token": cnt.active if cnt.is_moe else None, "aliases": list(e.aliases),
                    "description": e.description})
    return out


# ----------------------------------------------------------------------------------------------------------------
# human output

def human(n: float) -> str:
    """109482240 → '109.5M'."""
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.4g}{suffix}" if abs(n) / div < 1000 else f"{n / div:,.0f}{suffix}"
    return f"{n:g}"


def human_bytes(n: float) -> str:
    for div, suffix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= div:
            return f"{n / div:,.1f} {suffix}" if n / div >= 10 else f"{n / div:.2f} {suffix}"
    return f"{n:,.0f} B"


# ----------------------------------------------------------------------------------------------------------------
# one-row summaries (`nlpt compare NAME...`): every figure is read from `build`, the document `nlpt params` prints

def _attention_shape(cfg: ModelConfig) -> tuple[int, Optional[int], str]:
    """(heads, key/value heads, kind): kind is mha, gqa, mqa or mla (DeepSeek's latent cache: no K/V heads)."""
    heads = cfg.num_heads
    if isinstance(cfg, DeepSeekConfig):
        return heads, None, "mla"
    kv = cfg.num_kv_heads if isinstance(cfg, LlamaConfig) else heads
    return heads, kv, "mha" if kv == heads else ("mqa" if kv == 1 else "gqa")


def summary(res: Resolved, kv_dtype: str = "bf16") -> dict:
    """One architecture as a flat dict of stable keys (exact integers), taken from `build(res)` unchanged."""
    doc = build(res, kv_dtype=kv_dtype)
    cfg, p = res.config, doc["parameters"]
    heads, kv_heads, attention = _attention_shape(cfg)
    encdec = isinstance(cfg, (T5Config, BartConfig))
    experts = shared = expert_ffn = top_k = None
    if isinstance(cfg, LlamaConfig) and cfg.num_experts:
        experts, top_k, shared, expert_ffn = cfg.num_experts, cfg.experts_per_token, 0, cfg.ffn_size
    elif isinstance(cfg, DeepSeekConfig):
        experts, top_k, shared, expert_ffn = (cfg.num_routed_experts, cfg.experts_per_token, cfg.num_shared_experts,
                                              cfg.moe_ffn_size)
    kv = doc["kv_cache"]
    return {
        "model": doc["model"],
        "description": doc["description"],
        "source": doc["source"],
        "family": cfg.family,
        "variant": getattr(cfg, "variant", None),
        "hf_class": doc["hf_class"],
        "layers": cfg.num_layers,
        "decoder_layers": cfg.num_decoder_layers if encdec else None,
        "hidden": cfg.d_model if encdec else cfg.hidden_size,
        "heads": heads,
        "kv_heads": kv_heads,
        "attention": attention,
        "ffn": cfg.ffn_size,
        "experts": experts,
        "experts_per_token": top_k,
        "shared_experts": shared,
        "expert_ffn": expert_ffn,
        "vocab": cfg.vocab_size,
        "context": doc["flops"]["context"],
        "total": p["total"],
        "embeddings": p["embeddings"],
        "without_embeddings": p["without_embeddings"],
        "active_per_token": p["active_per_token"],
        "forward_flops_per_token": doc["flops"]["forward_per_token"],
        "weights_bytes_bf16": doc["memory"]["weights_bytes"]["bf16"],
        "kv_cache_dtype": kv_dtype,
        "kv_cache_bytes_per_token": kv["bytes_per_token"] if kv else None,
    }


def gpu_hours_text(hours: float) -> str:
    """Whole hours when there are many, three significant digits below 100 (a small run is a fraction, not 0)."""
    return f"{hours:,.0f}" if hours >= 100 else f"{hours:.3g}"
