"""Options shared by every command that reads a corpus, defined once.

Typer options are plain default values, so commands reuse these objects in
their signatures and call `reader_options(...)` to build the reader's config.
"""

from __future__ import annotations

from typing import List, Optional

import typer

INPUTS = typer.Argument(..., help="Input files, globs, directories (recursive) or - for stdin; .gz/.bz2/.xz read transparently.", show_default=False)
LOWER = typer.Option(False, "--lower", help="Lower-case the text.")
NFKC = typer.Option(False, "--nfkc", help="Apply Unicode NFKC normalisation.")
SPLIT_PUNCT = typer.Option(False, "--split-punct", help="Split punctuation from words (each mark becomes a token).")
CJK = typer.Option(False, "--cjk", help="Make each Han/Kana/Hangul character a token (no segmenter needed).")
MAX_SENTENCE = typer.Option(10_000, "--max-sentence-length", min=1, help="Cut lines into sentences of at most this many tokens.")
FORCE_BINARY = typer.Option(False, "--force-binary", help="Read files that contain NUL bytes (NULs become spaces).")
THREADS = typer.Option(None, "--threads", "-t", min=1, help="Worker threads [default: SLURM_CPUS_PER_TASK or the CPUs available].", show_default=False)
QUIET = typer.Option(False, "--quiet", "-q", help="No progress or information on stderr.")
JSON = typer.Option(False, "--json", help="Print the result as JSON on stdout.")

# The word-vector trainers' shared options (train-w2v and train-subword spell them the same way).
CBOW = typer.Option(False, "--cbow", help="Train CBOW instead of skip-gram.")
SIZE = typer.Option(100, "--size", "--dim", min=1, help="Vector dimension.")
MIN_COUNT = typer.Option(5, "--min-count", min=1, help="Ignore words rarer than this.")
MAX_VOCAB = typer.Option(None, "--max-vocab", min=1, help="Keep at most this many of the most frequent words.", show_default=False)
READ_VOCAB = typer.Option(None, "--read-vocab", help="Read the vocabulary ('word count' lines) instead of counting the corpus.", show_default=False)
SAVE_VOCAB = typer.Option(None, "--save-vocab", help="Write the vocabulary ('word count' lines).", show_default=False)
CHECKPOINT = typer.Option(None, "--checkpoint", help="On interruption (and after each epoch) save a resumable state here; if it exists, resume from it.", show_default=False)


def reader_options(
    lower: bool = False,
    nfkc: bool = False,
    split_punct: bool = False,
    cjk: bool = False,
    max_sentence_length: int = 10_000,
    force_binary: bool = False,
):
    """Build `ReaderOptions` from the shared CLI flags."""
    from nlpt.corpus.reader import ReaderOptions
    from nlpt.corpus.tokenize import TokenizerOptions

    return ReaderOptions(
        tokenizer=TokenizerOptions(lower=lower, nfkc=nfkc, split_punct=split_punct, cjk=cjk),
        max_sentence=max_sentence_length,
        force_binary=force_binary,
    )


__all__ = [
    "INPUTS", "LOWER", "NFKC", "SPLIT_PUNCT", "CJK", "MAX_SENTENCE", "FORCE_BINARY",
    "THREADS", "QUIET", "JSON", "reader_options", "List", "Optional",
]
