"""Pretrained models scored on the same text side by side: `nlpt pretrain eval` and `nlpt compare --eval-data`.

Each source (an `nlpt pretrain` run folder or a Hugging Face folder of any
family) is loaded as `nlpt finetune` loads it and scored by
`nlpt.engine.evaluate`: loss and perplexity per token of its own tokenizer, and
bits per byte, which does not depend on the tokenizer, so models with
different vocabularies are compared on the same bytes.
"""

from __future__ import annotations

import os

from nlpt.common.errors import NlptError, UsageError
from nlpt.compare.table import Column, Table


def check_texts(paths: list) -> None:
    if not paths:
        raise UsageError("give the text to evaluate on with --data FILE")
    for path in paths:
        if not os.path.isfile(path):
            raise NlptError(f"{path}: no such file" if not os.path.exists(path) else f"{path}: not a file")


def evaluate_source(source: str, paths: list, **options) -> dict:
    """`nlpt.engine.evaluate.evaluate` of the model in a run or Hugging Face folder, with "source" added."""
    from nlpt.models.sources import source_kind

    check_texts(paths)
    source_kind(source)  # a one-line error for what is not a model folder, before torch loads anything
    from nlpt.engine import load_pretrained
    from nlpt.engine.evaluate import evaluate

    model, tokenizer, _ = load_pretrained(source, need_head=True)
    return {"source": source, "tokenizer_entries": tokenizer.get_vocab_size(),
            **evaluate(model, tokenizer, paths, **options)}


def compare(sources: list, paths: list, **options) -> Table:
    """One row per source: its scores on all of `paths` together."""
    from nlpt.models.sources import source_kind

    check_texts(paths)
    for s in sources:  # every folder checked before the first model is scored
        source_kind(s)
    rows = []
    for s in sources:
        doc = evaluate_source(s, paths, **options)
        doc.pop("files")
        rows.append(doc)
    columns = [
        Column("source", "source", align="left"), Column("family", "family", align="left"),
        Column("tokenizer_entries", "vocabulary"), Column("tokens", "tokens"), Column("context", "context"),
        Column("stride", "stride"), Column("loss", "loss", fmt=lambda v: f"{v:.4f}"),
        Column("ppl", "perplexity", fmt=lambda v: f"{v:,.3f}"),
        Column("bits_per_byte", "bits/byte", fmt=lambda v: f"{v:.4f}"),
    ]
    notes = [f"on {', '.join(paths)} ({rows[0]['bytes']:,} bytes); loss and perplexity per token of each model's "
             "tokenizer; bits per byte = nats / ln 2 / UTF-8 bytes, independent of the tokenizer"]
    kinds = {r["definition"] for r in rows}
    for d in sorted(kinds):
        fams = sorted({r["family"] for r in rows if r["definition"] == d})
        notes.append(f"{', '.join(fams)}: {d}")
    if len(kinds) > 1:
        notes.append("masked models' figures are pseudo-likelihoods (context on both sides): compare them with "
                     "each other, not with decoders")
    return Table("evals", rows, columns, notes=notes)
