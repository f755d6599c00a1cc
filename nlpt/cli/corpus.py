"""`nlpt corpus`: read, clean, tokenize, count, shard and download corpora."""

from __future__ import annotations

import typer

app = typer.Typer(help="Read, clean, tokenize, count, shard and download text corpora.", no_args_is_help=True)
