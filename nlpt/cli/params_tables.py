"""The tables `nlpt params` prints (rich): the registry list, and one model's document from
`nlpt.transformer.report.build` (parameters, breakdown, the lecture formula, arithmetic, training memory).
"""

from __future__ import annotations

from nlpt.transformer.params import WEIGHT_DTYPES
from nlpt.transformer.report import gpu_hours_text, human, human_bytes


def count_text(n: int) -> str:
    """An exact count with its short form: 335,141,888  (335.1M)."""
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
    t.add_row(f"total ({doc['hf_class']}, tied weights once)", count_text(p["total"]))
    t.add_row("embeddings (lookup tables)", count_text(p["embeddings"]))
    t.add_row("without embeddings", count_text(p["without_embeddings"]))
    if p["active_per_token"] is not None:
        t.add_row("active per token", count_text(p["active_per_token"]))
    if p["pretraining_total"] is not None:
        t.add_row(f"with pretraining heads ({p['pretraining_class']})", count_text(p["pretraining_total"]))
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
        f.add_row("formula", count_text(lf["value"]))
        for item in lf["left_out"]:
            f.add_row(f"  {item['item']}", f"{item['count']:+,}")
        f.add_row("exact", count_text(lf["exact"]))
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
    a.add_row("weights fp32 / bf16 / int8 / int4", " / ".join(human_bytes(w[k]) for k in WEIGHT_DTYPES))
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
