"""`nlpt pretrain`."""

from __future__ import annotations

import typer

from nlpt.cli._notbuilt import not_built

COMMAND = {"help": "Transformer pretraining (GPT-like, BERT-like, T5/BART-like) with torch (not built yet).", "context_settings": {"allow_extra_args": True, "ignore_unknown_options": True}}


def pretrain(ctx: typer.Context) -> None:
    not_built("pretrain")
