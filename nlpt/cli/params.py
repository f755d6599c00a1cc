"""`nlpt params`."""

from __future__ import annotations

import typer

from nlpt.cli._notbuilt import not_built

COMMAND = {"help": "Parameter, FLOP and memory arithmetic for Transformer architectures.", "context_settings": {"allow_extra_args": True, "ignore_unknown_options": True}}


def params(ctx: typer.Context) -> None:
    not_built("params")
