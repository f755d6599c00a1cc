"""`nlpt query`: vectors and nearest neighbours of any word, for pipelines (fastText's
`print-word-vectors` and `nn`)."""

from __future__ import annotations

from typing import List, Optional

import typer

from nlpt.cli import options as o

app = o.App(
    help=(
        "Vectors and nearest neighbours of words given as arguments or read from stdin (whitespace-separated). "
        "With a fastText .bin model (nlpt train-subword, or fastText's) any word has a vector, from its "
        "character n-grams; with word2vec/GloVe files only the vocabulary's words do."
    ),
    no_args_is_help=True,
)

MODEL = typer.Argument(..., metavar="MODEL", help="A fastText .bin model, or word2vec text/binary or GloVe vectors.", show_default=False)
WORDS = typer.Argument(None, metavar="WORD", help="Words to query [default: read from stdin].", show_default=False)


def _words(words: Optional[List[str]]):
    """The query words: the arguments, else stdin's tokens (yielded line by line, so pipes stream)."""
    import sys

    if words:
        yield list(words)
        return
    for line in sys.stdin:
        tokens = line.split()
        if tokens:
            yield tokens


def _print(lines) -> None:
    """Each batch's lines as soon as they are ready (pipes stream)."""
    import sys

    for text in lines:
        sys.stdout.write(text)
        sys.stdout.flush()


@app.command("vectors")
def vectors(model: str = MODEL, words: Optional[List[str]] = WORDS, quiet: bool = o.QUIET) -> None:
    """Print `word v1 ... vd` for each word (fastText's print-word-vectors; zeros for a word with no vector)."""
    from nlpt.embeddings.query import vector_lines

    _print(vector_lines(model, _words(words), quiet, words_from_stdin=not words))


@app.command("nn")
def nn(model: str = MODEL, words: Optional[List[str]] = WORDS,
       k: int = o.int_option(10, "--k", "-k", min=1, help="Neighbours per word."),
       as_json: bool = typer.Option(False, "--json", help="One JSON object per word: {\"word\": ..., \"neighbours\": [[word, cosine], ...]}."),
       quiet: bool = o.QUIET) -> None:
    """Print the k nearest vocabulary words of each word by cosine (fastText's nn): `word<TAB>neighbour<TAB>cosine`."""
    from nlpt.embeddings.query import neighbour_lines

    _print(neighbour_lines(model, _words(words), k, as_json, quiet, words_from_stdin=not words))
