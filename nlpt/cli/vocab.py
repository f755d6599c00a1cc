"""`nlpt vocab`: word counts, merges of shard counts, subword tokenizers."""

from __future__ import annotations

from typing import List, Optional

import typer

from nlpt.cli.defaultgroup import DefaultGroup
from nlpt.cli.options import CJK, FORCE_BINARY, INPUTS, LOWER, NFKC, QUIET, SPLIT_PUNCT, THREADS, reader_options

app = typer.Typer(
    cls=DefaultGroup,
    help=(
        "Vocabularies: word counts, merges of shard counts, subword tokenizers. "
        "`nlpt vocab FILES...` runs `count` (the default subcommand)."
    ),
    no_args_is_help=True,
)

OUTPUT = typer.Option("-", "--output", "-o", help="Output file, or - for stdout.")
MIN_COUNT = typer.Option(1, "--min-count", min=1, help="Keep words seen at least this many times.")
MAX_SIZE = typer.Option(None, "--max-size", min=1, help="Keep at most this many words (the most frequent).", show_default=False)
JSON_SUMMARY = typer.Option(False, "--json", help="Print a JSON summary on stdout (needs -o FILE).")


def _check_json_output(as_json: bool, output: str) -> None:
    if as_json and output == "-":
        from nlpt.common.errors import UsageError

        raise UsageError("--json prints the summary on stdout, so the vocabulary needs -o FILE")

COUNT_HELP = """Count words and write `word count` lines sorted by count.

The format is that of `word2vec -save-vocab` and GloVe's `vocab_count`;
every nlpt trainer reads it back with `--read-vocab`. Counting runs on
byte-offset shards of the input with --threads workers; memory stays bounded
by pruning the rarest words when more than --prune-limit distinct words are
held (as word2vec's ReduceVocab does), and the pruning is reported.

Subword mode: `--tokenizer bpe|wordpiece --size N -o tokenizer.json` trains a
byte-pair-encoding or WordPiece tokenizer (Hugging Face `tokenizers`) on the
same text instead, and saves its tokenizer.json.

Examples:

  nlpt vocab corpus/ -o vocab.txt --min-count 5

  nlpt vocab part-*.txt.gz --lower --max-size 100000 > vocab.txt

  nlpt vocab --tokenizer bpe --size 8000 -o tokenizer.json corpus.txt
"""


@app.command("count", help=COUNT_HELP)
def count(
    inputs: List[str] = INPUTS,
    output: str = OUTPUT,
    min_count: int = MIN_COUNT,
    max_size: Optional[int] = MAX_SIZE,
    prune_limit: int = typer.Option(
        21_000_000, "--prune-limit", min=1000, help="Distinct words held in memory before the rarest are pruned."
    ),
    tokenizer: Optional[str] = typer.Option(
        None, "--tokenizer", metavar="bpe|wordpiece", help="Train a subword tokenizer instead of counting words.", show_default=False
    ),
    size: int = typer.Option(30_000, "--size", min=1, help="Subword vocabulary size (with --tokenizer)."),
    lower: bool = LOWER,
    nfkc: bool = NFKC,
    split_punct: bool = SPLIT_PUNCT,
    cjk: bool = CJK,
    force_binary: bool = FORCE_BINARY,
    threads: Optional[int] = THREADS,
    quiet: bool = QUIET,
    json: bool = JSON_SUMMARY,
) -> None:
    _check_json_output(json, output)
    opts = reader_options(lower, nfkc, split_punct, cjk, force_binary=force_binary)
    if tokenizer is not None:
        from nlpt.vocab.subword import train_tokenizer_cli

        train_tokenizer_cli(inputs, output, tokenizer, size, min_count, opts, quiet, json)
        return
    from nlpt.common.output import check_writable
    from nlpt.vocab.count import run_count

    check_writable(output)
    run_count(inputs, output, min_count, max_size, prune_limit, opts, threads, quiet, json)


@app.command("merge")
def merge(
    inputs: List[str] = typer.Argument(..., help="Count files (`word count` lines) to sum, e.g. one per shard.", show_default=False),
    output: str = OUTPUT,
    min_count: int = MIN_COUNT,
    max_size: Optional[int] = MAX_SIZE,
    quiet: bool = QUIET,
    json: bool = JSON_SUMMARY,
) -> None:
    """Sum count files made on shards into one vocabulary (for Slurm array jobs, say).

    Example: nlpt vocab merge counts-*.txt -o vocab.txt --min-count 5
    """
    from nlpt.common.output import check_writable
    from nlpt.vocab.count import run_merge

    _check_json_output(json, output)
    check_writable(output)
    run_merge(inputs, output, min_count, max_size, quiet, json)
