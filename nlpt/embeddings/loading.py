"""Vectors from any file nlpt reads: word2vec text/binary, GloVe text or a fastText `.bin` model.

This sits above both the vector formats (`formats.vectors`) and the subword
trainer (`subword.subword`), so that neither imports the other: a fastText model
is read as `SubwordVectors`, which answer for words outside the vocabulary too
(through their character n-grams); every other file as `Vectors`.
"""

from __future__ import annotations

import os

from nlpt.embeddings.formats.vectors import Vectors


def load_vectors(path: str, fmt: str | None = None, limit: int | None = None) -> Vectors:
    """`Vectors.load(path, fmt, limit)`, or `SubwordVectors` when `path` is a fastText model and no
    format is given; `limit` keeps only the first rows."""
    if fmt is None and path != "-" and os.path.isfile(path):
        from nlpt.embeddings.subword.fasttext_bin import is_fasttext_bin

        if is_fasttext_bin(path):  # fastText's magic number, which no compressed or text file starts with
            from nlpt.embeddings.subword.subword import SubwordVectors

            return SubwordVectors.load_bin(path, limit)
    return Vectors.load(path, fmt, limit)
