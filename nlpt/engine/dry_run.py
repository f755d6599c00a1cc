"""`nlpt pretrain … --dry-run`: everything a run would resolve, and what it would cost, without doing it.

A planned run fails late and expensively when the tokenizer lacks a special
token, the global batch does not divide, or the model does not fit; the dry run
resolves the same options the real run does (model config, objective and its
special tokens, tokenizer against the vocabulary, global batch and gradient
accumulation, steps from --max-steps/--max-tokens), counts the tokens (exactly
from the token files when they exist and match the corpus and tokenizer, else
estimated from the corpus bytes and the tokenizer's tokens per byte on a
sample), and prices the run: FLOPs per optimizer step (`nlpt params`' exact
count with attention), memory per rank, and the time at an assumed MFU on a
named GPU (`nlpt.transformer.hardware`). It reads only; it writes nothing.
"""

from __future__ import annotations

import json
import os
from typing import Optional

from nlpt.common.errors import NlptError, UsageError

SAMPLE_BYTES = 1 << 20  # text read to measure the tokenizer's tokens per byte when there are no token files
DEFAULT_GPU = "h100"
DEFAULT_MFU = 0.4


def _token_counts(o, paths: list, token_dir: str, reader) -> Optional[dict]:
    """Exact counts from existing token files that a real run would reuse (same inputs, tokenizer, options)."""
    from nlpt.engine.tokens import _fingerprint

    meta_path = os.path.join(token_dir, "meta.json")
    if not os.path.isfile(meta_path):
        return None
    try:
        with open(meta_path, encoding="utf-8") as fh:
            meta = json.load(fh)
        if meta.get("key") != _fingerprint(paths, o.tokenizer, reader, o.val_fraction):
            return None
        return {"source": "token files", "token_dir": token_dir, "total": int(meta["n_tokens"]),
                "train": int(meta["split_token"]), "val": int(meta["n_tokens"]) - int(meta["split_token"]),
                "bytes": int(meta.get("bytes", 0))}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _estimate_tokens(o, paths: list, tokenizer, reader) -> dict:
    """Tokens estimated from the corpus size and the tokenizer's tokens per byte on its first `SAMPLE_BYTES`."""
    from nlpt.corpus.reader import ReadStats, as_sources, iter_text
    from nlpt.tokenizer.inputs import encode_lines

    size = sum(os.path.getsize(p) for p in paths)
    sample, read = [], 0
    for text in iter_text(as_sources(paths), reader, ReadStats()):
        sample.append(text)
        read += len(text.encode("utf-8"))
        if read >= SAMPLE_BYTES:
            break
    lines = "".join(sample).splitlines(keepends=True)
    tokens = sum(len(ids) for ids in encode_lines(tokenizer, [line for line in lines if line.strip()])) if lines else 0
    if not tokens:
        raise NlptError(f"{paths[0]}: no tokens found")
    per_byte = tokens / max(1, read)
    total = int(round(size * per_byte))
    val = int(round(total * o.val_fraction))
    compressed = any(p.endswith((".gz", ".bz2", ".xz")) for p in paths)
    return {"source": "estimate", "total": total, "train": total - val, "val": val, "bytes": size,
            "tokens_per_byte": round(per_byte, 4), "sample_bytes": read,
            "note": "estimated from the corpus bytes and the tokens per byte of a sample"
                    + ("; compressed inputs count their compressed size, so this is low" if compressed else "")}


def _memory(model, o, context: int, world: int, strategy: str) -> dict:
    """Bytes per rank of one training step (`nlpt params`' arithmetic: `nlpt.transformer.memory`), on the device
    the run asks for (CPU and GPU take different attention and loss paths)."""
    from nlpt.transformer.memory import training_memory

    doc = training_memory(model, o.batch, context, o.precision, world, "fsdp" if strategy == "fsdp" else "ddp",
                          o.activation_checkpointing,
                          device="cpu" if o.device == "cpu" else "cuda")
    b = doc["bytes"]
    return {"weights_bytes": b["weights"] + b["half_weight_copies"], "gradients_bytes": b["gradients"],
            "optimizer_bytes": b["optimizer"], "activations_bytes": b["activations"],
            "other_bytes": b["ddp_buckets"] + b["fsdp_gathered"] + b["temporary"], "total_bytes": b["total"],
            "device": doc["device"], "checkpointing": doc["checkpointing"], "breakdown": b, "notes": doc["notes"]}


def check_plan_options(gpu: Optional[str], mfu: float, ranks: Optional[int]) -> None:
    """UsageError for --gpu, --mfu or --ranks values the plan cannot price with."""
    from nlpt.transformer.hardware import GPUS

    if gpu is not None and gpu not in GPUS:
        raise UsageError(f"--gpu must be one of {', '.join(GPUS)} (got {gpu!r})")
    if not 0 < mfu <= 1:
        raise UsageError(f"--mfu must be in (0, 1] (got {mfu})")
    if ranks is not None and ranks < 1:
        raise UsageError(f"--ranks must be at least 1 (got {ranks})")


def plan(o, *, gpu: Optional[str] = None, mfu: float = DEFAULT_MFU, ranks: Optional[int] = None) -> dict:
    """The plan of `pretrain(o)`: every resolved setting, token counts, steps, FLOPs, memory and time.

    `ranks` is the number of processes the run will have (default: the launcher's, else 1). Raises the same
    one-line errors the real run would raise before training; reads the tokenizer and at most a sample of the
    corpus; writes nothing."""
    from nlpt.corpus.reader import ReaderOptions, expand_inputs
    from nlpt.engine.launch import resolve_launch
    from nlpt.engine.resume import plan_pretrain
    from nlpt.engine.options import split_global_batch, steps_of
    from nlpt.engine.run import check_inputs
    from nlpt.transformer.configs import config_fields
    from nlpt.transformer.params import count, flops, training

    gpu = gpu or DEFAULT_GPU
    check_plan_options(gpu, mfu, ranks)
    o, objective, context, tokenizer = check_inputs(o)
    model = o.model
    reader = o.reader or ReaderOptions()
    world = ranks or resolve_launch(os.environ).world
    global_batch, accum = split_global_batch(o.batch, o.global_batch, world)
    strategy = (o.strategy if o.strategy != "auto" else "ddp") if world > 1 else "single"
    paths = expand_inputs(o.corpus)
    token_dir = o.token_dir or os.path.join(o.run_dir, "tokens")
    tokens = _token_counts(o, paths, token_dir, reader) or _estimate_tokens(o, paths, tokenizer, reader)

    tokens_per_step = global_batch * context
    steps = steps_of(o, tokens_per_step)
    run_tokens = steps * tokens_per_step
    cnt = count(model)
    per_token = flops(cnt, context)["training_per_token"]
    priced = training(cnt, run_tokens, context, gpu, mfu)  # `nlpt params`' FLOPs and GPU-hours of these tokens
    seconds = priced["gpu_hours"] * 3600.0 / world
    found = plan_pretrain(o, config_fields(model), objective, context, global_batch)  # the run's own checks
    if found.finished:
        resume = {"state": "finished", "checkpoint": found.found.path, "how": found.finished}
    elif found.found:
        resume = {"state": "continue", "checkpoint": found.found.path, "step": found.found.step,
                  "changes": [{"name": c.name, "then": c.then, "now": c.now} for c in found.changes]}
    else:
        resume = {"state": "new"}
    return {
        "dry_run": True,
        "run_dir": o.run_dir,
        "resume": resume,
        "model": {"family": model.family, "variant": getattr(model, "variant", None), "parameters": cnt.total,
                  "config": config_fields(model)},
        "objective": objective,
        "tokenizer": {"path": o.tokenizer, "entries": tokenizer.get_vocab_size(), "model_vocab": model.vocab_size},
        "corpus": {"files": len(paths), "bytes": sum(os.path.getsize(p) for p in paths)},
        "tokens": tokens,
        "batch": {"micro_batch": o.batch, "ranks": world, "accumulation": accum, "global_batch": global_batch,
                  "context": context, "tokens_per_step": tokens_per_step, "strategy": strategy,
                  "precision": o.precision},
        "steps": {"total": steps, "tokens": run_tokens,
                  "epochs": round(run_tokens / tokens["train"], 3) if tokens["train"] else None,
                  "warmup": o.warmup, "schedule": o.schedule},
        "flops": {"per_token": per_token, "per_step": per_token * tokens_per_step, "run": priced["flops_with_attention"]},
        "memory_per_rank": _memory(model, o, context, world, strategy),
        "time": {"gpu": gpu, "gpu_note": priced["gpu_note"], "peak_tflops": priced["gpu_peak_tflops"], "mfu": mfu,
                 "gpus": world, "seconds_per_step": seconds / steps, "seconds": seconds, "gpu_hours": priced["gpu_hours"]},
    }


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} TiB"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def render(p: dict) -> list:
    """The plan as lines of text (the CLI prints them)."""
    m, t, b, s, f, mem, tm = (p["model"], p["tokens"], p["batch"], p["steps"], p["flops"], p["memory_per_rank"],
                              p["time"])
    resume = p["resume"]
    state = {"new": "a new run", "finished": f"left alone: finished ({resume.get('how')})"}.get(
        resume["state"], f"continued from {resume.get('checkpoint')}")
    counted = (f"{t['total']:,} tokens ({t['train']:,} train, {t['val']:,} validation) from the token files"
               if t["source"] == "token files" else
               f"about {t['total']:,} tokens ({t['tokens_per_byte']} per byte on a {_bytes(t['sample_bytes'])} sample "
               f"of {_bytes(p['corpus']['bytes'])})")
    lines = [
        f"dry run: nothing is written; {p['run_dir']} would be {state}",
        f"model      {m['variant'] or m['family']} ({m['family']}), {m['parameters']:,} parameters; objective {p['objective']}",
        f"tokenizer  {p['tokenizer']['path']}: {p['tokenizer']['entries']:,} entries (model vocabulary "
        f"{p['tokenizer']['model_vocab']:,})",
        f"corpus     {p['corpus']['files']} file{'s' if p['corpus']['files'] != 1 else ''}, {counted}",
        f"batch      {b['micro_batch']} sequences × {b['ranks']} rank{'s' if b['ranks'] != 1 else ''} × "
        f"{b['accumulation']} accumulation = {b['global_batch']} sequences of {b['context']} = "
        f"{b['tokens_per_step']:,} tokens per step ({b['strategy']}, {b['precision']})",
        f"steps      {s['total']:,} ({s['tokens']:,} tokens"
        + (f", {s['epochs']} epochs of the training split" if s["epochs"] is not None else "") + ")",
        f"FLOPs      {f['per_step']:.3e} per step, {f['run']:.3e} in all",
        f"memory     per rank ({mem['device']}{', activation checkpointing' if mem['checkpointing'] else ''}): "
        f"weights {_bytes(mem['weights_bytes'])} + gradients {_bytes(mem['gradients_bytes'])} + optimizer "
        f"{_bytes(mem['optimizer_bytes'])} + activations {_bytes(mem['activations_bytes'])} + buffers and "
        f"temporaries {_bytes(mem['other_bytes'])} = {_bytes(mem['total_bytes'])}",
        f"time       {_duration(tm['seconds'])} on {tm['gpus']} × {tm['gpu']} ({tm['peak_tflops']:g} TFLOP/s peak) at "
        f"MFU {tm['mfu']:g}: {tm['seconds_per_step']:.3g} s per step, {tm['gpu_hours']:.3g} GPU-hours",
    ]
    if t.get("note") and t["source"] != "token files" and "compressed" in t["note"]:
        lines.append(f"note       {t['note']}")
    return lines
