"""Architectures side by side: the lecture's taxonomy, exact sizes, and published figures marked "reported".

Every computed figure comes from `nlpt.transformer.report.summary` (what
`nlpt params` prints); taxonomy rows from `nlpt.transformer.taxonomy`;
published figures from `nlpt.transformer.reported`, always with their source.
A model without a public architecture (o3-mini) is a reported-only row: its
computed figures are None ("unknown"), never estimated. Pure Python.
"""

from __future__ import annotations

from typing import Optional

from nlpt.compare.table import Column, Table
from nlpt.transformer.registry import norm_name
from nlpt.transformer import report
from nlpt.transformer import taxonomy as T
from nlpt.transformer.reported import REPORTED, REPORTED_ONLY, REPORTED_ONLY_ALIASES

UNKNOWN = "not published"
_REPORTED_KEYS = ("parameters", "active_parameters", "training_tokens", "gpu_hours", "gpu", "training_cost_usd",
                  "training_cost_basis", "context_window", "strengths", "source")


def reported_only_name(item: str) -> Optional[str]:
    """The REPORTED_ONLY key for a name or alias, else None."""
    key = norm_name(item)
    return key if key in REPORTED_ONLY else REPORTED_ONLY_ALIASES.get(key)


def _reported(names: list) -> dict:
    """reported_* fields merged from REPORTED entries (later names win), None where nothing is published."""
    merged: dict = {}
    sources = []
    for name in names:
        merged.update(REPORTED.get(name, {}))
        if REPORTED.get(name, {}).get("source"):
            sources.append(REPORTED[name]["source"])
    merged["source"] = "; ".join(sources) or None
    return {f"reported_{k}": merged.get(k) for k in _REPORTED_KEYS}


def _computed_keys() -> list:
    return list(report.summary(report.resolve_model("gpt2", None, {})).keys())


def row(item: str) -> dict:
    """One model: the argument, taxonomy, `report.summary` figures and reported figures (stable keys)."""
    only = reported_only_name(item)
    if only is not None:
        e = REPORTED_ONLY[only]
        out = {"argument": item, **{k: None for k in _computed_keys()}}
        out.update(model=only, description=e["description"], source="reported", family=None,
                   kind=UNKNOWN, attention_pattern=UNKNOWN, objective=UNKNOWN, applications=None, adaptation=None,
                   nlpt_pretrain="no", max_positions=None)
        out.update({f"reported_{k}": e.get(k) for k in _REPORTED_KEYS})
        return out
    res = report.resolve_model(item, None, {})
    s = report.summary(res, kv_dtype="bf16")
    taxon = T.classify(res.config)
    names = [res.reported_key] if res.reported_key else []
    if res.reported_key:
        alias = norm_name(item)
        if alias != res.reported_key and alias in REPORTED:
            names.append(alias)
    tax = taxon.as_dict()
    del tax["nlpt_family"]
    return {"argument": item, **s, **tax, "nlpt_pretrain": T.nlpt_builder(taxon),
            "max_positions": res.config.max_positions, **_reported(names)}


def _human(n) -> str:
    return report.human(n)


def _layers(r: dict) -> Optional[str]:
    if r["layers"] is None:
        return None
    return f"{r['layers']} + {r['decoder_layers']}" if r["decoder_layers"] is not None else str(r["layers"])


def _heads(r: dict) -> Optional[str]:
    if r["heads"] is None:
        return None
    if r["attention"] == "mla":
        return f"{r['heads']} (MLA latent cache)"
    return str(r["heads"]) if r["kv_heads"] == r["heads"] else f"{r['heads']} ({r['kv_heads']} KV)"


def _ffn(r: dict) -> Optional[str]:
    if r["ffn"] is None:
        return None
    if not r["experts"]:
        return f"{r['ffn']:,}"
    shared = f" + {r['shared_experts']} shared" if r["shared_experts"] else ""
    return f"{r['expert_ffn']:,} × {r['experts']} experts{shared}, top-{r['experts_per_token']}"


def _active(r: dict) -> Optional[str]:
    if r["source"] == "reported":
        return None
    v = r["active_per_token"]
    return "all (dense)" if v is None else f"{v:,} ({_human(v)})"


def _kv(r: dict) -> Optional[str]:
    if r["source"] == "reported":
        return None
    v = r["kv_cache_bytes_per_token"]
    return "none (encoder)" if v is None else report.human_bytes(v)


def _reported_cell(v) -> str:
    return f"{v} (reported)"


def _cost(r: dict) -> Optional[str]:
    v = r["reported_training_cost_usd"]
    if v is None:
        return None
    basis = f"{r['reported_training_cost_basis']}; " if r["reported_training_cost_basis"] else ""
    return f"${v / 1e6:,.3f}M ({basis}reported)"


COLUMNS = [
    Column("name", "model", align="left"),
    Column("kind", "architecture", align="left"),
    Column("attention_pattern", "attention", align="left"),
    Column("objective", "pretraining objective", align="left"),
    Column("applications", "typical applications", align="left", missing="unknown"),
    Column("adaptation", "used on a task by", align="left", missing="unknown"),
    Column("nlpt_pretrain", "nlpt pretrain", align="left"),
    Column("layers", "layers", text=_layers, missing="unknown"),
    Column("hidden", "hidden size", missing="unknown"),
    Column("heads", "heads", text=_heads, missing="unknown"),
    Column("ffn", "FFN", text=_ffn, missing="unknown"),
    Column("vocab", "vocabulary", missing="unknown"),
    Column("max_positions", "max positions", missing="unknown"),
    Column("total", "parameters (exact)", missing="unknown"),
    Column("active_per_token", "active per token", text=_active, missing="unknown"),
    Column("forward_flops_per_token", "GFLOPs/token", fmt=lambda v: f"{v / 1e9:,.2f}", missing="unknown"),
    Column("context", "at context", missing="unknown"),
    Column("weights_bytes_bf16", "bf16 weights", fmt=report.human_bytes, missing="unknown"),
    Column("kv_cache_bytes_per_token", "KV cache/token (bf16)", text=_kv, missing="unknown"),
    Column("reported_parameters", "reported parameters", fmt=_reported_cell, missing="unknown"),
    Column("reported_active_parameters", "reported active", fmt=_reported_cell, missing="unknown", optional=True),
    Column("reported_training_tokens", "training tokens", fmt=lambda v: f"{_human(v)} (reported)", missing="unknown",
           optional=True),
    Column("reported_gpu_hours", "training GPU-hours", fmt=lambda v: f"{v:,} (reported)", missing="unknown",
           optional=True),
    Column("reported_gpu", "training GPU", missing="unknown", optional=True),
    Column("reported_training_cost_usd", "training cost", text=_cost, missing="unknown", optional=True),
    Column("reported_context_window", "context window", fmt=_reported_cell, missing="unknown", optional=True),
    Column("reported_strengths", "strengths", align="left", fmt=_reported_cell, missing="unknown", optional=True),
    Column("reported_source", "sources", align="left", missing="unknown", optional=True),
]


def compare(items: list) -> Table:
    """The architecture comparison for registry names, aliases, config.json paths and reported-only names."""
    rows = []
    for item in items:
        r = row(item)
        r["name"] = r["model"] if r["argument"] == r["model"] else f"{r['argument']} ({r['model']})"
        rows.append(r)
    notes = []
    for r in rows:
        if r["source"] == "reported":
            notes.append(f"{r['name']}: architecture, parameters and training cost not published; "
                         f"figures marked (reported) are from {r['reported_source']}")
    computed = [r for r in rows if r["source"] != "reported"]
    if computed:
        classes = ", ".join(f"{r['model']}: {r['hf_class']}" for r in computed)
        notes.append(f"parameters: exact, tied weights once, as the Hugging Face class counts them ({classes}); "
                     "GFLOPs/token: forward pass per token at the context shown (2·N + attention); KV cache: "
                     "key/value per token (MLA: its compressed latent); details: nlpt params NAME")
    sources = sorted({r["reported_source"] for r in computed if r["reported_source"]})
    if sources:
        notes.append("reported figures: " + "; ".join(sources))
    return Table("architectures", rows, COLUMNS, notes=notes, transpose=True)


def bars(table: Table) -> list:
    """(name, total, active per token) for the parameter bar chart; reported-only models have None."""
    return [(r["name"], r["total"], r["active_per_token"] if r["active_per_token"] is not None else r["total"])
            for r in table.rows]
