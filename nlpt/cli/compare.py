"""`nlpt compare`."""

from __future__ import annotations

import typer

from nlpt.cli._notbuilt import not_built

COMMAND = {"help": "Compare embeddings, architectures and checkpoints side by side.", "context_settings": {"allow_extra_args": True, "ignore_unknown_options": True}}


def compare(ctx: typer.Context) -> None:
    not_built("compare")
