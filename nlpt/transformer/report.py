"""`nlpt params`: resolve the model, compute every figure, and print a table or JSON.

No numpy, numba or torch: rich (tables) and the standard library only.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

from nlpt.common.errors import NlptError, UsageError
from nlpt.transformer.configs import BartConfig, DeepSeekConfig, EncoderConfig, GPTConfig, LlamaConfig, ModelConfig, T5Config, config_fields
from nlpt.transformer.flags import FAMILY_BASES, apply_flags
from nlpt.transformer.config_file import config_from_path
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
        key = family.lower()
        if key not in FAMILY_BASES:
            raise UsageError(f"unknown --family '{family}' (choose from {', '.join(FAMILY_BASES)})")
        base = REGISTRY[FAMILY_BASES[key]].config
        cfg = apply_flags(base, flags, derive=True)
        desc = f"custom {key} model"
        return Resolved(f"custom-{key}", "custom", desc, cfg, flags.get("context") or cfg.max_positions)
    if os.path.exists(model) or model.endswith(".json"):
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


def _int(n: int) -> str:
    return f"{n:,}" + (f"  ({human(n)})" if abs(n) >= 1000 else "")


def _console():
    """rich's Console, except that a closed pipe raises BrokenPipeError (rich exits 1 itself) for `nlpt.cli.main`."""
    from rich.console import Console

    class PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError

    return PipeConsole()


def render_list(models: list[dict]) -> None:
    from rich.table import Table

    t = Table(title="nlpt params: registry", title_justify="left")
    for col, kw in (("name", {"no_wrap": True}), ("family", {"no_wrap": True}),
                    ("parameters", {"justify": "right", "no_wrap": True}), ("active", {"justify": "right", "no_wrap": True}),
                    ("aliases", {"overflow": "fold"})):
        t.add_column(col, **kw)
    for m in models:
        t.add_row(m["name"], m["family"], human(m["total"]),
                  human(m["active_per_token"]) if m["active_per_token"] is not None else "",
                  ", ".join(m["aliases"]))
    _console().print(t)


def render(doc: dict) -> None:
    from rich.table import Table

    con = _console()
    p = doc["parameters"]
    cfg = {k: v for k, v in doc["config"].items() if v is not None and k != "family"}
    con.print(f"[bold]{doc['model']}[/bold] — {doc['description']}  [dim]({doc['config']['family']} family; "
              f"counted as {doc['hf_class']})[/dim]", highlight=False)
    con.print("[dim]" + ", ".join(f"{k}={v}" for k, v in cfg.items()) + "[/dim]", highlight=False)

    t = Table(title="Parameters", title_justify="left", show_header=False)
    t.add_column("what")
    t.add_column("count", justify="right")
    t.add_row(f"total ({doc['hf_class']}, tied weights once)", _int(p["total"]))
    t.add_row("embeddings (lookup tables)", _int(p["embeddings"]))
    t.add_row("without embeddings", _int(p["without_embeddings"]))
    if p["active_per_token"] is not None:
        t.add_row("active per token", _int(p["active_per_token"]))
    if p["pretraining_total"] is not None:
        t.add_row(f"with pretraining heads ({p['pretraining_class']})", _int(p["pretraining_total"]))
    rep = doc["reported"]
    if rep and rep.get("parameters"):
        extra = f", {rep['active_parameters']} active" if rep.get("active_parameters") else ""
        t.add_row(f"reported ({rep['source']})", f"{rep['parameters']}{extra}")
    con.print(t)

    b = Table(title="Breakdown", title_justify="left")
    for col, kw in (("component", {}), ("per layer", {"justify": "right"}), ("count", {"justify": "right"}),
                    ("share", {"justify": "right"})):
        b.add_column(col, **kw)
    total = p["total"] or 1
    part = None
    for r in doc["breakdown"] + doc["pretraining_heads"]:
        if r["part"] != part:
            part = r["part"]
            b.add_row(f"[bold]{part}[/bold]", "", "", "")
        per = f"{r['per_layer']:,}" if r["per_layer"] is not None else ""
        share = f"{100 * r['count'] / total:.2f}%" if r["part"] != "pretraining heads" else ""
        b.add_row(f"  {r['component']}", per, f"{r['count']:,}", share)
    con.print(b)

    lf = doc["lecture_formula"]
    if lf:
        f = Table(title=f"Lecture formula {lf['formula']} = {lf['expression']}", title_justify="left", show_header=False)
        f.add_column("what")
        f.add_column("count", justify="right")
        f.add_row("formula", _int(lf["value"]))
        for item in lf["left_out"]:
            f.add_row(f"  {item['item']}", f"{item['count']:+,}")
        f.add_row("exact", _int(lf["exact"]))
        f.add_row("[dim]" + lf["note"] + "[/dim]", "")
        con.print(f)

    fl, mem, kv, tr = doc["flops"], doc["memory"], doc["kv_cache"], doc["training"]
    a = Table(title="Arithmetic", title_justify="left", show_header=False)
    a.add_column("what")
    a.add_column("value", justify="right")
    a.add_row(f"forward FLOPs/token at context {fl['context']:,}",
              f"{human(fl['forward_per_token'])}  (2·N {human(fl['params_term'])} + attention "
              f"{human(fl['attention_term'])})")
    a.add_row("training FLOPs/token (3 × forward)", human(fl["training_per_token"]))
    w = mem["weights_bytes"]
    a.add_row("weights fp32 / bf16 / int8 / int4", " / ".join(human_bytes(w[k]) for k in P.WEIGHT_DTYPES))
    if kv:
        a.add_row(f"KV cache per token ({kv['dtype']})", f"{human_bytes(kv['bytes_per_token'])}  ({kv['bytes_per_token']:,} B)")
        a.add_row(f"KV cache, context {kv['context']:,} × batch {kv['batch']}", human_bytes(kv["total_bytes"]))
        if "cross_attention_total_bytes" in kv:
            a.add_row("  + cross-attention cache (source of the same length)", human_bytes(kv["cross_attention_total_bytes"]))
        a.add_row(f"[dim]{kv['note']}[/dim]", "")
    if tr:
        src = " (reported)" if tr["tokens_source"] == "reported" else ""
        a.add_row(f"training tokens D{src}", f"{tr['tokens']:,}  ({human(tr['tokens'])})")
        a.add_row(f"training compute 6·N·D (N = {human(tr['parameters_used'])})", f"{tr['flops_6nd']:.3e} FLOPs")
        a.add_row("training compute incl. attention", f"{tr['flops_with_attention']:.3e} FLOPs")
        if "reported_flops" in tr:
            a.add_row("training compute (reported)", f"{tr['reported_flops']:.3e} FLOPs")
        a.add_row(f"GPU-hours on {tr['gpu']} ({tr['gpu_peak_tflops']:g} TFLOP/s bf16 dense) at MFU {tr['mfu']:g}",
                  gpu_hours_text(tr["gpu_hours"]))
        if "reported_gpu_hours" in tr:
            imp = f"  (implied MFU {tr['implied_mfu']:.2f})" if "implied_mfu" in tr else ""
            a.add_row(f"GPU-hours on {tr['gpu']} (reported)", f"{tr['reported_gpu_hours']:,}{imp}")
    con.print(a)
    render_training_memory(con, doc["training_memory"])
    if rep:
        con.print(f"[dim]reported figures: {rep['source']}[/dim]", highlight=False)
    for n in doc["notes"]:
        con.print(f"[dim]note: {n}[/dim]", highlight=False)


_STATE_ROWS = (("weights", "weights (fp32 master copy)"), ("half_weight_copies", "autocast half copies of the matrices"),
               ("gradients", "gradients (fp32)"), ("optimizer", "AdamW moments m, v (fp32) and step counters"),
               ("ddp_buckets", "DDP gradient buckets"), ("fsdp_gathered", "FSDP2 gathered weights and gradients"))


def render_training_memory(con, tm: dict) -> None:
    """The per-rank training memory table of `nlpt params` (the document's `training_memory`)."""
    from rich.table import Table

    b = tm["bytes"]
    title = (f"Training memory per rank: batch {tm['batch']} × context {tm['context']:,}"
             + (f" (decoder {tm['decoder_context']:,})" if tm["decoder_context"] else "")
             + f", {tm['precision']}, {tm['ranks']} rank{'s' if tm['ranks'] > 1 else ''}"
             + (f" ({tm['strategy']})" if tm["ranks"] > 1 else "")
             + (", activation checkpointing" if tm["checkpointing"] else ""))
    t = Table(title=title, title_justify="left", show_header=False)
    t.add_column("what")
    t.add_column("bytes", justify="right")
    for key, label in _STATE_ROWS:
        if b[key]:
            t.add_row(label, human_bytes(b[key]))
    ckpt = "" if not tm["checkpointing"] else f" (without checkpointing {human_bytes(tm['activations_without_checkpointing'])})"
    t.add_row(f"activations saved for backward{ckpt}", human_bytes(b["activations"]))
    for part, info in tm["activations_per_layer"].items():
        how = "recomputed in backward, per layer" if tm["checkpointing"] else "per layer"
        t.add_row(f"  {part}: {how} × {info['layers']}", human_bytes(info["bytes"]))
    parts: dict = {}
    for item in tm["activation_items"]:
        if "layers" not in item["part"] or tm["checkpointing"]:
            parts[item["part"]] = parts.get(item["part"], 0) + item["bytes"]
    for part, n in parts.items():
        t.add_row(f"  {part}" + (" (kept)" if "layers" in part else ""), human_bytes(n))
    t.add_row(f"temporary peak: {tm['temporary_item']}", human_bytes(b["temporary"]))
    t.add_row("[bold]total per rank[/bold]", f"[bold]{human_bytes(b['total'])}[/bold]")
    for n in tm["notes"]:
        t.add_row(f"[dim]{n}[/dim]", "")
    con.print(t)


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
