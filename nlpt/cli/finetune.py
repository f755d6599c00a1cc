"""`nlpt finetune`."""

from __future__ import annotations

import typer

from nlpt.cli._notbuilt import not_built

COMMAND = {"help": "Fine-tune a pretrained checkpoint or static embeddings on a downstream task (not built yet).", "context_settings": {"allow_extra_args": True, "ignore_unknown_options": True}}


def finetune(ctx: typer.Context) -> None:
    not_built("finetune")
