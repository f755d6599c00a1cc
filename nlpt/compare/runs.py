"""`nlpt pretrain` / `nlpt finetune` run folders side by side, read from what the runs saved.

RUN_DIR/config.json gives the architecture (`model`, or `encoder` for finetune
runs: a registry dataclass as `config_fields` writes it) and the objective or
task; RUN_DIR/metrics.jsonl (one JSON object per line: step, tokens,
elapsed_s, split, loss, ...metrics) gives tokens seen, wall time, the final
losses and downstream scores. Parameters are counted from the saved
architecture exactly as `nlpt params` counts it. Pure Python: no torch.
"""

from __future__ import annotations

import json
import math
import os
from typing import Optional

from nlpt.common.errors import NlptError
from nlpt.common.runfolder import read_json
from nlpt.compare.table import Column, Table

_BOOKKEEPING = {"step", "tokens", "elapsed_s", "split", "loss", "lr", "epoch", "ppl", "time"}


def read_metrics(path: str) -> tuple:
    """(records, skipped): every JSON object of metrics.jsonl; a torn last line (a run still writing) is skipped."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        raise NlptError(f"{path}: no such file (the run has logged nothing yet?)") from None
    except UnicodeDecodeError as exc:
        raise NlptError(f"{path}: not UTF-8 text ({exc.reason})") from None
    records, skipped = [], 0
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            if n == len(lines):
                skipped += 1
                continue
            raise NlptError(f"{path}:{n}: not a JSON object") from None
        if not isinstance(rec, dict):
            raise NlptError(f"{path}:{n}: not a JSON object")
        records.append(rec)
    return records, skipped


def _number(v) -> Optional[float]:
    """A metric value as float; NaN/inf kept (flagged by the table), None for anything else."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def summary(path: str) -> dict:
    """One run as a flat record (plus `curves` for the plot and `metrics` per split)."""
    from nlpt.transformer import params as P
    from nlpt.transformer.config_file import config_from_json
    from nlpt.transformer.taxonomy import classify

    cfg_path = os.path.join(path, "config.json")
    cfg = read_json(cfg_path, missing=f"{cfg_path}: no such file (not a run folder?)", want_object=True)
    records, skipped = read_metrics(os.path.join(path, "metrics.jsonl"))
    fmt = str(cfg.get("format", ""))
    finetune = fmt.startswith("nlpt-finetune") or "task" in cfg
    model = cfg.get("model") if isinstance(cfg.get("model"), dict) else cfg.get("encoder")
    arch = params = active = kind = None
    if isinstance(model, dict) and "family" in model:
        mc = config_from_json(model, cfg_path)
        count = P.count(mc)
        params, active = count.total, (count.active if count.is_moe else None)
        kind = classify(mc).kind
        arch = getattr(mc, "variant", mc.family)
    task = cfg.get("task") if isinstance(cfg.get("task"), dict) else {}
    objective = cfg.get("objective") or (f"finetune: {task.get('kind')}" if finetune else None)

    by_split: dict = {}
    for rec in records:
        by_split.setdefault(rec.get("split", "train"), []).append(rec)
    last = records[-1] if records else {}
    train, val, test = (by_split.get(s, [{}])[-1] for s in ("train", "val", "test"))
    val_loss = _number(val.get("loss"))
    ppl = _number(val.get("ppl"))
    if ppl is None and val_loss is not None and not finetune:
        ppl = math.exp(val_loss) if val_loss < 700 else math.inf
    scores = {f"{s}_{k}": _number(v) for s, rec in (("val", val), ("test", test)) for k, v in rec.items()
              if k not in _BOOKKEEPING and _number(v) is not None}
    x = "tokens" if records and all(_number(r.get("tokens")) for r in records) else "step"
    curves = {s: [(r.get(x), _number(r.get("loss"))) for r in recs if _number(r.get("loss")) is not None]
              for s, recs in by_split.items()}
    return {
        "run": path, "type": "finetune" if finetune else "pretrain", "architecture": arch, "kind": kind,
        "objective": objective, "parameters": params, "active_per_token": active,
        "steps": last.get("step"), "tokens": max((r.get("tokens") or 0 for r in records), default=None),
        "elapsed_s": _number(last.get("elapsed_s")),
        "train_loss": _number(train.get("loss")), "val_loss": val_loss, "val_ppl": ppl, **scores,
        "records": len(records), "torn_lines": skipped, "curve_x": x, "curves": curves,
    }


def _time(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def compare(paths: list) -> Table:
    rows = [summary(p) for p in paths]
    score_keys = sorted({k for r in rows for k in r if k.startswith(("val_", "test_"))} - {"val_loss", "val_ppl"})
    for r in rows:
        for k in score_keys:
            r.setdefault(k, None)
    columns = [
        Column("run", "run", align="left"), Column("type", "type", align="left"),
        Column("architecture", "architecture", align="left"), Column("objective", "objective", align="left"),
        Column("parameters", "parameters"), Column("active_per_token", "active/token", optional=True),
        Column("steps", "steps"), Column("tokens", "tokens"),
        Column("elapsed_s", "wall time", fmt=_time), Column("train_loss", "train loss", fmt=lambda v: f"{v:.4f}"),
        Column("val_loss", "val loss", fmt=lambda v: f"{v:.4f}"),
        Column("val_ppl", "val ppl", fmt=lambda v: f"{v:,.2f}", optional=True),
    ] + [Column(k, k.replace("_", " "), fmt=lambda v: f"{v:.4f}", optional=True) for k in score_keys]
    notes = ["final values: the last train/val/test lines of each metrics.jsonl; val ppl = exp(val loss) "
             "(pretraining); parameters counted from the saved architecture as `nlpt params` counts it"]
    for r in rows:
        if r["torn_lines"]:
            notes.append(f"{r['run']}: last line of metrics.jsonl incomplete (run still writing?); skipped")
        if not r["records"]:
            notes.append(f"{r['run']}: metrics.jsonl has no records yet")
    return Table("runs", rows, columns, notes=notes)
