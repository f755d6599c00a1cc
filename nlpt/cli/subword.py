"""`nlpt train-subword`."""

from __future__ import annotations

import typer

from nlpt.cli._notbuilt import not_built

COMMAND = {"help": "fastText-style character n-gram embeddings with vectors for unseen words (not built yet).", "context_settings": {"allow_extra_args": True, "ignore_unknown_options": True}}


def train_subword(ctx: typer.Context) -> None:
    not_built("train-subword")
