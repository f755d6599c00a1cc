"""`nlpt query`'s work: the vectors and nearest neighbours of words, as the lines it prints
(fastText's `print-word-vectors` and `nn`).

Each function takes the query words in batches (one per input line, so pipes stream) and yields
one string of output lines per batch; the words without a vector are said once at the end, on
stderr through `nlpt.common.progress`.
"""

from __future__ import annotations

from typing import Iterable, Iterator


def load_for_query(model: str, quiet: bool, words_from_stdin: bool = False):
    """The vectors, without rows holding NaN or inf (said on stderr: their words have no vector); a model read
    from standard input while the words are read from it too is refused."""
    from nlpt.common.plan import OutputPlan
    from nlpt.common.progress import log
    from nlpt.embeddings.loading import load_vectors

    plan = OutputPlan().read("MODEL", model).write("the output", "-")
    plan.read("the query words (no WORD given)", "-" if words_from_stdin else None).check()
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


def vector_lines(model: str, batches: Iterable[list[str]], quiet: bool, words_from_stdin: bool = False) -> Iterator[str]:
    """`word v1 ... vd` lines for each batch of words (zeros for a word with no vector)."""
    v = load_for_query(model, quiet, words_from_stdin)
    missing: list = []
    for batch in batches:
        m, miss = _vectors_of(v, batch)
        missing += miss
        yield "".join(w + " " + " ".join(f"{x:.9g}" for x in row.tolist()) + "\n" for w, row in zip(batch, m))
    _no_vector(missing, "printed as zeros", quiet)


def neighbour_lines(model: str, batches: Iterable[list[str]], k: int, as_json: bool, quiet: bool,
                    words_from_stdin: bool = False) -> Iterator[str]:
    """The k nearest vocabulary words of each word by cosine: `word<TAB>neighbour<TAB>cosine` lines, or one
    JSON object per word (`{"word": ..., "neighbours": [[word, cosine], ...]}`, null without a vector)."""
    from nlpt.common import jsontext
    from nlpt.common.errors import NlptError
    from nlpt.embeddings import evaluate as ev

    v = load_for_query(model, quiet, words_from_stdin)
    unit = v.normalized()
    unknown: list = []
    for batch in batches:
        out = []
        for w in batch:
            try:
                nb = ev.neighbours(v, w, k, unit=unit)
            except NlptError:
                nb = None
                unknown.append(w)
            if as_json:
                out.append(jsontext.dumps({"word": w, "neighbours": None if nb is None else [[n, round(s, 6)] for n, s in nb]},
                                      ensure_ascii=False) + "\n")
            elif nb is not None:
                out.extend(f"{w}\t{n}\t{s:.6f}\n" for n, s in nb)
        yield "".join(out)
    _no_vector(unknown, "no neighbours", quiet)
