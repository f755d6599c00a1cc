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


def _load(model: str, quiet: bool):
    """The vectors, without rows holding NaN or inf (said on stderr: their words have no vector)."""
    from nlpt.common.plan import OutputPlan
    from nlpt.common.progress import log
    from nlpt.embeddings.loading import load_vectors

    OutputPlan().read("MODEL", model).write("the output", "-").check()
    v, bad = load_vectors(model).without_non_finite()
    if bad:
        log(f"{model}: {bad:,} vector{'s hold' if bad != 1 else ' holds'} NaN or inf values: skipped (as words "
            "without a vector)", quiet)
    return v


def _no_vector(missing: list, what: str, quiet: bool) -> None:
    """Name the words that had no vector (the first ten, and how many in all)."""
    from nlpt.common.progress import log

    if missing:
        shown = ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else "")
        log(f"{len(missing)} word{'s' if len(missing) != 1 else ''} had no vector (not in the vocabulary and no "
            f"known n-gram): {shown}; {what}", quiet)


def _vectors_of(v, words: list[str]):
    """(matrix, the words without a vector): subword models answer any word, others give zeros."""
    import numpy as np

    if hasattr(v, "vectors_for"):
        m = v.vectors_for(words)
        return m, [w for w, row in zip(words, m) if not row.any()]
    m = np.zeros((len(words), v.dim), np.float32)
    missing = []
    for i, w in enumerate(words):
        j = v.index.get(w)
        if j is None:
            missing.append(w)
        else:
            m[i] = v.matrix[j]
    return m, missing


@app.command("vectors")
def vectors(model: str = MODEL, words: Optional[List[str]] = WORDS, quiet: bool = o.QUIET) -> None:
    """Print `word v1 ... vd` for each word (fastText's print-word-vectors; zeros for a word with no vector)."""
    import sys


    v = _load(model, quiet)
    missing: list = []
    for batch in _words(words):
        m, miss = _vectors_of(v, batch)
        missing += miss
        sys.stdout.write("".join(w + " " + " ".join(f"{x:.9g}" for x in row.tolist()) + "\n"
                                 for w, row in zip(batch, m)))
        sys.stdout.flush()
    _no_vector(missing, "printed as zeros", quiet)


@app.command("nn")
def nn(model: str = MODEL, words: Optional[List[str]] = WORDS,
       k: int = o.int_option(10, "--k", "-k", min=1, help="Neighbours per word."),
       as_json: bool = typer.Option(False, "--json", help="One JSON object per word: {\"word\": ..., \"neighbours\": [[word, cosine], ...]}."),
       quiet: bool = o.QUIET) -> None:
    """Print the k nearest vocabulary words of each word by cosine (fastText's nn): `word<TAB>neighbour<TAB>cosine`."""
    import json
    import sys

    from nlpt.common.errors import NlptError
    from nlpt.embeddings import evaluate as ev

    v = _load(model, quiet)
    unit = v.normalized()
    unknown: list = []
    for batch in _words(words):
        out = []
        for w in batch:
            try:
                nb = ev.neighbours(v, w, k, unit=unit)
            except NlptError:
                nb = None
                unknown.append(w)
            if as_json:
                out.append(json.dumps({"word": w, "neighbours": None if nb is None else [[n, round(s, 6)] for n, s in nb]},
                                      ensure_ascii=False) + "\n")
            elif nb is not None:
                out.extend(f"{w}\t{n}\t{s:.6f}\n" for n, s in nb)
        sys.stdout.write("".join(out))
        sys.stdout.flush()
    _no_vector(unknown, "no neighbours", quiet)
