"""The tables `nlpt params` prints (aligned plain text, `nlpt.common.texttable`): the registry list, and one model's document from
`nlpt.transformer.report.build` (parameters, breakdown, the lecture formula, arithmetic, training memory).
"""

from __future__ import annotations

from nlpt.common.texttable import Style, TextTable, write
from nlpt.transformer.params import WEIGHT_DTYPES
from nlpt.transformer.report import gpu_hours_text, human, human_bytes


def count_text(n: int) -> str:
    """An exact count with its short form: 335,141,888  (335.1M)."""
    return f"{n:,}" + (f"  ({human(n)})" if abs(n) >= 1000 else "")


def render_list(models: list[dict]) -> None:
    import sys

    t = TextTable("nlpt params: registry", header=["name", "family", "parameters", "active", "aliases"], right=(2, 3))
    for m in models:
        t.add(m["name"], m["family"], human(m["total"]),
              human(m["active_per_token"]) if m["active_per_token"] is not None else "", ", ".join(m["aliases"]))
    write([t], Style(sys.stdout))


def render(doc: dict) -> None:
    import sys
    import textwrap

    style = Style(sys.stdout)
    p = doc["parameters"]
    cfg = {k: v for k, v in doc["config"].items() if v is not None and k != "family"}
    blocks: list = [f"{style.bold(doc['model'])} — {doc['description']}  "
                    + style.dim(f"({doc['config']['family']} family; counted as {doc['hf_class']})"),
                    *(style.dim(line) for line in textwrap.wrap(", ".join(f"{k}={v}" for k, v in cfg.items()), 100,
                                                                break_long_words=False, break_on_hyphens=False))]

    t = TextTable("Parameters")
    t.add(f"total ({doc['hf_class']}, tied weights once)", count_text(p["total"]))
    t.add("embeddings (lookup tables)", count_text(p["embeddings"]))
    t.add("without embeddings", count_text(p["without_embeddings"]))
    if p["active_per_token"] is not None:
        t.add("active per token", count_text(p["active_per_token"]))
    if p["pretraining_total"] is not None:
        t.add(f"with pretraining heads ({p['pretraining_class']})", count_text(p["pretraining_total"]))
    rep = doc["reported"]
    if rep and rep.get("parameters"):
        extra = f", {rep['active_parameters']} active" if rep.get("active_parameters") else ""
        t.add(f"reported ({rep['source']})", f"{rep['parameters']}{extra}")
    blocks.append(t)

    b = TextTable("Breakdown", header=["component", "per layer", "count", "share"], right=(1, 2, 3))
    total = p["total"] or 1
    part = None
    for r in doc["breakdown"] + doc["pretraining_heads"]:
        if r["part"] != part:
            part = r["part"]
            b.add(part)
        per = f"{r['per_layer']:,}" if r["per_layer"] is not None else ""
        share = f"{100 * r['count'] / total:.2f}%" if r["part"] != "pretraining heads" else ""
        b.add(f"  {r['component']}", per, f"{r['count']:,}", share)
    blocks.append(b)

    lf = doc["lecture_formula"]
    if lf:
        f = TextTable(f"Lecture formula {lf['formula']} = {lf['expression']}")
        f.add("formula", count_text(lf["value"]))
        for item in lf["left_out"]:
            f.add(f"  {item['item']}", f"{item['count']:+,}")
        f.add("exact", count_text(lf["exact"]))
        f.notes.append(lf["note"])
        blocks.append(f)

    fl, mem, kv, tr = doc["flops"], doc["memory"], doc["kv_cache"], doc["training"]
    a = TextTable("Arithmetic")
    a.add(f"forward FLOPs/token at context {fl['context']:,}",
          f"{human(fl['forward_per_token'])}  (2·N {human(fl['params_term'])} + attention "
          f"{human(fl['attention_term'])})")
    a.add("training FLOPs/token (3 × forward)", human(fl["training_per_token"]))
    w = mem["weights_bytes"]
    a.add("weights fp32 / bf16 / int8 / int4", " / ".join(human_bytes(w[k]) for k in WEIGHT_DTYPES))
    if kv:
        a.add(f"KV cache per token ({kv['dtype']})", f"{human_bytes(kv['bytes_per_token'])}  ({kv['bytes_per_token']:,} B)")
        a.add(f"KV cache, context {kv['context']:,} × batch {kv['batch']}", human_bytes(kv["total_bytes"]))
        if "cross_attention_total_bytes" in kv:
            a.add("  + cross-attention cache (source of the same length)", human_bytes(kv["cross_attention_total_bytes"]))
        a.notes.append(kv["note"])
    if tr:
        src = " (reported)" if tr["tokens_source"] == "reported" else ""
        a.add(f"training tokens D{src}", f"{tr['tokens']:,}  ({human(tr['tokens'])})")
        a.add(f"training compute 6·N·D (N = {human(tr['parameters_used'])})", f"{tr['flops_6nd']:.3e} FLOPs")
        a.add("training compute incl. attention", f"{tr['flops_with_attention']:.3e} FLOPs")
        if "reported_flops" in tr:
            a.add("training compute (reported)", f"{tr['reported_flops']:.3e} FLOPs")
        a.add(f"GPU-hours on {tr['gpu']} ({tr['gpu_peak_tflops']:g} TFLOP/s bf16 dense) at MFU {tr['mfu']:g}",
              gpu_hours_text(tr["gpu_hours"]))
        if "reported_gpu_hours" in tr:
            imp = f"  (implied MFU {tr['implied_mfu']:.2f})" if "implied_mfu" in tr else ""
            a.add(f"GPU-hours on {tr['gpu']} (reported)", f"{tr['reported_gpu_hours']:,}{imp}")
    blocks.append(a)
    blocks.append(training_memory_table(doc["training_memory"]))
    tail = ([f"reported figures: {rep['source']}"] if rep else []) + [f"note: {n}" for n in doc["notes"]]
    if tail:
        blocks += [""] + [style.dim(line) for line in tail]
    write(blocks, style)


_STATE_ROWS = (("weights", "weights (fp32 master copy)"), ("half_weight_copies", "autocast half copies of the matrices"),
               ("gradients", "gradients (fp32)"), ("optimizer", "AdamW moments m, v (fp32) and step counters"),
               ("ddp_buckets", "DDP gradient buckets"), ("fsdp_gathered", "FSDP2 gathered weights and gradients"))


def training_memory_table(tm: dict) -> TextTable:
    """The per-rank training memory table of `nlpt params` (the document's `training_memory`)."""
    b = tm["bytes"]
    title = (f"Training memory per rank: batch {tm['batch']} × context {tm['context']:,}"
             + (f" (decoder {tm['decoder_context']:,})" if tm["decoder_context"] else "")
             + f", {tm['precision']}, {tm['ranks']} rank{'s' if tm['ranks'] > 1 else ''}"
             + (f" ({tm['strategy']})" if tm["ranks"] > 1 else "")
             + (", activation checkpointing" if tm["checkpointing"] else ""))
    t = TextTable(title)
    for key, label in _STATE_ROWS:
        if b[key]:
            t.add(label, human_bytes(b[key]))
    ckpt = "" if not tm["checkpointing"] else f" (without checkpointing {human_bytes(tm['activations_without_checkpointing'])})"
    t.add(f"activations saved for backward{ckpt}", human_bytes(b["activations"]))
    for part, info in tm["activations_per_layer"].items():
        how = "recomputed in backward, per layer" if tm["checkpointing"] else "per layer"
        t.add(f"  {part}: {how} × {info['layers']}", human_bytes(info["bytes"]))
    parts: dict = {}
    for item in tm["activation_items"]:
        if "layers" not in item["part"] or tm["checkpointing"]:
            parts[item["part"]] = parts.get(item["part"], 0) + item["bytes"]
    for part, n in parts.items():
        t.add(f"  {part}" + (" (kept)" if "layers" in part else ""), human_bytes(n))
    t.add(f"temporary peak: {tm['temporary_item']}", human_bytes(b["temporary"]))
    t.add("total per rank", human_bytes(b["total"]))
    t.notes += tm["notes"]
    return t
