"""`nlpt vocab`: word counts, merges of shard counts, subword tokenizers."""

from __future__ import annotations

from typing import List, Optional

import typer

from nlpt.cli.defaultgroup import DefaultGroup
from nlpt.cli.options import (CJK, FORCE_BINARY, INPUTS, LOWER, NFKC, QUIET, SPLIT_PUNCT, THREADS, App, int_option,
                              memory_option, reader_options)
from nlpt.common import jsontext

app = App(
    cls=DefaultGroup,
    help=(
        "Vocabularies: word counts, merges of shard counts, subword tokenizers. "
        "`nlpt vocab FILES...` runs `count` (the default subcommand)."
    ),
    no_args_is_help=True,
)

OUTPUT = typer.Option("-", "--output", "-o", metavar="PATH", help="Output file, or - for stdout.")
MIN_COUNT = int_option(1, "--min-count", min=1, help="Keep words seen at least this many times.")
MAX_SIZE = int_option(None, "--max-vocab", min=1, help="Keep at most this many words (the most frequent).", show_default=False)
MAX_SIZE_OLD = int_option(None, "--max-size", min=1, hidden=True, help="Old name of --max-vocab.", show_default=False)
JSON_SUMMARY = typer.Option(False, "--json", help="Print a JSON summary on stdout (needs -o FILE).")
MEMORY = memory_option("Memory budget in GB: count tables beyond it are spilled to disk as sorted runs and merged (counts stay exact).")
TMP_DIR = typer.Option(None, "--tmp-dir", metavar="PATH", help="Where to spill count runs [default: $TMPDIR].", show_default=False)


COUNT_HELP = """Count words and write `word count` lines sorted by count.

The format is that of `word2vec -save-vocab` and GloVe's `vocab_count`;
every nlpt trainer reads it back with `--read-vocab`. Counting runs on
byte-offset shards of the input with --threads workers; memory stays bounded
within --memory: tables that outgrow it are spilled as sorted runs and merged,
so counts are exact and the same for any --threads. --prune-limit N prunes
the rarest words instead (word2vec's ReduceVocab; reported).

Subword mode: `--tokenizer bpe|wordpiece|char --size N -o tokenizer.json` trains a
byte-pair-encoding or WordPiece tokenizer (Hugging Face `tokenizers`) on the
same text instead, and saves its tokenizer.json.

Examples:

  nlpt vocab corpus/ -o vocab.txt --min-count 5

  nlpt vocab part-*.txt.gz --lower --max-vocab 100000 > vocab.txt

  nlpt vocab --tokenizer bpe --size 8000 -o tokenizer.json corpus.txt
"""


@app.command("count", help=COUNT_HELP)
def count(
    inputs: List[str] = INPUTS,
    output: str = OUTPUT,
    min_count: int = MIN_COUNT,
    max_size: Optional[int] = MAX_SIZE,
    max_size_old: Optional[int] = MAX_SIZE_OLD,
    memory: float = MEMORY,
    tmp_dir: Optional[str] = TMP_DIR,
    prune_limit: Optional[int] = int_option(
        None, "--prune-limit", min=1000, show_default=False,
        help="Instead of spilling, prune the rarest words when more than this many distinct words are held "
        "(word2vec's ReduceVocab: approximate counts, reported).",
    ),
    tokenizer: Optional[str] = typer.Option(
        None, "--tokenizer", metavar="bpe|wordpiece|char", help="Train a subword (or character) tokenizer instead of counting words.", show_default=False
    ),
    size: int = int_option(30_000, "--size", help="Subword vocabulary size (with --tokenizer): bpe 261 or more (256 bytes + 5 special tokens), wordpiece 6 or more, char 2 or more."),
    lower: bool = LOWER,
    nfkc: bool = NFKC,
    split_punct: bool = SPLIT_PUNCT,
    cjk: bool = CJK,
    force_binary: bool = FORCE_BINARY,
    threads: Optional[int] = THREADS,
    quiet: bool = QUIET,
    json: bool = JSON_SUMMARY,
) -> None:
    from nlpt.vocab.jobs import vocab_count

    _print_summary(vocab_count(inputs, output, min_count=min_count, max_size=max_size if max_size is not None else max_size_old,
                               prune_limit=prune_limit, memory=memory, tmp_dir=tmp_dir, tokenizer=tokenizer, size=size,
                               ropts=reader_options(lower, nfkc, split_punct, cjk, force_binary=force_binary),
                               threads=threads, quiet=quiet, as_json=json), json)


@app.command("merge")
def merge(
    inputs: List[str] = typer.Argument(..., metavar="FILE", help="Count files (`word count` lines) to sum, e.g. one per shard.", show_default=False),
    output: str = OUTPUT,
    min_count: int = MIN_COUNT,
    max_size: Optional[int] = MAX_SIZE,
    max_size_old: Optional[int] = MAX_SIZE_OLD,
    memory: float = MEMORY,
    tmp_dir: Optional[str] = TMP_DIR,
    quiet: bool = QUIET,
    json: bool = JSON_SUMMARY,
) -> None:
    """Sum count files made on shards into one vocabulary (for Slurm array jobs, say).

    Exact within --memory: counts that do not fit are spilled as sorted runs and
    merged, so a hundred shard files of millions of words each merge in a small budget.

    Example: nlpt vocab merge counts-*.txt -o vocab.txt --min-count 5
    """
    from nlpt.vocab.jobs import vocab_merge

    _print_summary(vocab_merge(inputs, output, min_count=min_count, max_size=max_size if max_size is not None else max_size_old,
                               memory=memory, tmp_dir=tmp_dir, quiet=quiet, as_json=json), json)


def _print_summary(summary: dict, as_json: bool) -> None:
    if as_json:
        print(jsontext.dumps(summary, "summary", indent=2))
