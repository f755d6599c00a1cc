"""`nlpt train-w2v`."""

from __future__ import annotations

import typer

from nlpt.cli._notbuilt import not_built

COMMAND = {"help": "Train word2vec (skip-gram/CBOW, negative sampling/hierarchical softmax).", "context_settings": {"allow_extra_args": True, "ignore_unknown_options": True}}


def train_w2v(ctx: typer.Context) -> None:
    not_built("train-w2v")
