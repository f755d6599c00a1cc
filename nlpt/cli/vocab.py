"""`nlpt vocab`: word counts, merges of shard counts, subword tokenizers."""

from __future__ import annotations

import typer

from nlpt.cli.defaultgroup import DefaultGroup

app = typer.Typer(cls=DefaultGroup, help="Vocabularies: word counts, merges of shard counts, subword tokenizers.", no_args_is_help=True)
