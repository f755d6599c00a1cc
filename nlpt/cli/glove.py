"""`nlpt train-glove`."""

from __future__ import annotations

import typer

from nlpt.cli._notbuilt import not_built

COMMAND = {"help": "Train GloVe vectors from a co-occurrence count.", "context_settings": {"allow_extra_args": True, "ignore_unknown_options": True}}


def train_glove(ctx: typer.Context) -> None:
    not_built("train-glove")
