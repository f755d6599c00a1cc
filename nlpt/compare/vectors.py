"""Vector files side by side: analogies (3CosAdd), word similarity (Spearman), neighbours, and a 2-D PCA.

The evaluations are `nlpt.embeddings.evaluate`'s (gensim's conventions); this
module only lays the results out as one record per file.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from nlpt.common.errors import NlptError
from nlpt.compare.table import Column, Table


def _pct(v: float) -> str:
    return f"{100 * v:.1f}"


def trained_text(path: str):
    """(normaliser of query words, how the vectors' corpus was tokenized) from the vectors' sidecar (the JSON nlpt
    writes beside every vectors file), or (None, None) when it has none (other tools' files, stdin)."""
    if path == "-":
        return None, None
    from nlpt.corpus.tokenize import make_normaliser
    from nlpt.embeddings.formats.sidecar import read_sidecar, sidecar_reader_options

    meta = read_sidecar(path)
    if meta is None:
        return None, None
    options = sidecar_reader_options(meta).tokenizer
    on = [name.replace("_", "-") for name in ("lower", "nfkc", "split_punct", "cjk") if getattr(options, name)]
    return make_normaliser(options), ", ".join(on) or "whitespace only"


def row(path: str, fmt: Optional[str], analogies: Optional[str], similarity: Optional[str], words: list, k: int,
        restrict: Optional[int]) -> dict:
    from nlpt.embeddings import evaluate as ev
    from nlpt.embeddings.loading import load_vectors

    normalise, trained = trained_text(path)
    v, bad = load_vectors(path, fmt).without_non_finite()
    # a subword model (fastText .bin) scores words outside its vocabulary through their n-grams
    oov = "ngrams" if hasattr(v, "vectors_for") else "skip"
    r: dict = {"path": path, "words": len(v) + bad, "dim": v.dim, "non_finite_vectors": bad, "oov_mode": oov,
               "trained_tokenization": trained}
    if analogies:
        a = ev.analogy(v, analogies, restrict, oov=oov)
        r.update(analogy_accuracy=a.accuracy, analogy_semantic=a.semantic_accuracy,
                 analogy_syntactic=a.syntactic_accuracy, analogy_correct=a.correct, analogy_answered=a.total,
                 analogy_oov=a.oov, analogy_sections=a.as_dict()["sections"], analogy_ngram_words=a.ngram_words)
    if similarity:
        s = ev.similarity(v, similarity, oov=oov)
        r.update(similarity_spearman=s.spearman, similarity_pairs=s.pairs, similarity_oov=s.oov,
                 similarity_oov_ratio=s.oov_ratio, similarity_ngram_words=s.ngram_words)
    if words:
        unit = v.normalized()
        nb = {}
        for w in words:
            q = normalise(w) if normalise else w  # a query word is normalised as the vectors' corpus was
            try:
                nb[w] = [[n, s] for n, s in ev.neighbours(v, q, k, unit=unit)]
            except NlptError:  # an unknown word is reported, not fatal
                nb[w] = None
            i = ev.lookup(v, q)
            if i is not None and v.words[i] != w:  # found case-insensitively: say which spelling answered
                r.setdefault("neighbours_found_as", {})[w] = v.words[i]
        r["neighbours"] = nb
    return r


def _found_as(r: dict, w: str) -> str:
    """'(as Paris) ' when `w` matched another spelling; neighbours are separated by two spaces (words have none)."""
    other = r.get("neighbours_found_as", {}).get(w)
    return f"(as {other}) " if other else ""


def compare(paths: list, *, fmt: Optional[str] = None, analogies: Optional[str] = None,
            similarity: Optional[str] = None, words: Optional[list] = None, k: int = 10,
            restrict: Optional[int] = None) -> Table:
    words = words or []
    for p in (analogies, similarity):
        if p and not os.path.isfile(p):
            raise NlptError(f"{p}: no such evaluation file")
    rows = [row(p, fmt, analogies, similarity, words, k, restrict) for p in paths]
    columns = [Column("path", "vectors", align="left"), Column("words", "words"), Column("dim", "dim")]
    if analogies:
        columns += [Column("analogy_accuracy", "analogy%", fmt=_pct), Column("analogy_semantic", "sem%", fmt=_pct),
                    Column("analogy_syntactic", "syn%", fmt=_pct), Column("analogy_answered", "answered"),
                    Column("analogy_oov", "oov")]
    if similarity:
        columns += [Column("similarity_spearman", "rho", fmt=lambda v: f"{v:.3f}", missing="n/a"),
                    Column("similarity_pairs", "pairs"),
                    Column("similarity_oov_ratio", "oov%", fmt=_pct)]
    for w in words:
        columns.append(Column(f"neighbours_{w}", f"neighbours of {w!r}", align="left", missing="(not in vocabulary)",
                              text=lambda r, w=w: None if r["neighbours"][w] is None else
                              _found_as(r, w) + "  ".join(f"{n} {s:.3f}" for n, s in r["neighbours"][w])))
    notes = []
    if analogies:
        notes.append(f"analogies: {os.path.basename(analogies)} (3CosAdd over the {restrict or 'all'} most frequent "
                     "words, question words excluded; answered = questions with all words known)")
    if similarity:
        notes.append(f"similarity: {os.path.basename(similarity)} (Spearman rho over known pairs)")
    for r in rows:
        if r["oov_mode"] == "ngrams":
            counts = [f"{r[key]} {what}" for key, what in (("analogy_ngram_words", "analogy words"),
                                                          ("similarity_ngram_words", "similarity words")) if key in r]
            notes.append(f"{r['path']}: subword model: words outside its vocabulary are scored through their "
                         f"character n-grams" + (f" ({', '.join(counts)})" if counts else "")
                         + (", an analogy whose answer is outside the searched words counts as wrong" if analogies
                            else ""))
        if r["trained_tokenization"] and words:
            notes.append(f"{r['path']}: query words normalised as the vectors were trained "
                         f"({os.path.basename(r['path'])}.json: {r['trained_tokenization']})")
        if r["non_finite_vectors"]:
            bad = r["non_finite_vectors"]
            notes.append(f"{r['path']}: {bad:,} vector{'s hold' if bad != 1 else ' holds'} NaN or inf values: "
                         "skipped (as words without a vector)")
    meta = {"analogies": analogies, "similarity": similarity, "restrict": restrict}
    return Table("vectors", rows, columns, notes=notes, meta=meta)


def pca_points(path: str, words: list, fmt: Optional[str] = None) -> tuple:
    """(known words, their 2-D PCA coordinates [n, 2], explained variance ratio of the two axes)."""
    from nlpt.embeddings import evaluate as ev
    from nlpt.embeddings.loading import load_vectors

    normalise, _ = trained_text(path)
    v = load_vectors(path, fmt)
    known = [(w, ev.lookup(v, normalise(w) if normalise else w)) for w in words]
    known = [(w, i) for w, i in known if i is not None]
    if len(known) < 2:
        raise NlptError(f"{path}: fewer than two of the words to plot are in the vocabulary")
    m = v.matrix[[i for _, i in known]].astype(np.float64)
    m -= m.mean(axis=0)
    _, s, vt = np.linalg.svd(m, full_matrices=False)
    coords = m @ vt[:2].T
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    var = (s ** 2) / max((s ** 2).sum(), 1e-300)
    return [w for w, _ in known], coords, [float(x) for x in var[:2]]
