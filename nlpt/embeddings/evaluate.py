"""Intrinsic evaluation of word vectors: analogies, word-pair similarity, neighbours.

Shared by every embedding trainer (word2vec, GloVe, subword) and `nlpt compare`.

Conventions follow gensim's `KeyedVectors.evaluate_word_analogies` and
`evaluate_word_pairs` with `case_insensitive=True`, so numbers are comparable
with gensim's:

- words are compared upper-cased; when several vocabulary words differ only in
  case, the most frequent one (the first in the file) stands for them all;
- analogies (3CosAdd): the answer to `a : b :: c : ?` is the word among the
  `restrict` most frequent whose unit vector has the largest dot product with
  `b̂ - â + ĉ`, the three question words (in any case) excluded; questions with
  a word outside the restricted vocabulary are skipped and counted as `oov`;
- sections whose name starts with `gram` are syntactic, the others semantic;
- similarity: Spearman's rho between the gold scores and the cosine of the two
  words' vectors, over the pairs whose words are both known; `oov` counts the rest.

Subword models (a fastText `.bin` read as `nlpt.embeddings.subword.subword.SubwordVectors`)
can also give vectors for words outside the vocabulary. With `oov="ngrams"` such
question and pair words are scored through their character n-grams instead of
being skipped (`ngram_words` counts them); an analogy whose answer is outside the
searched vocabulary then counts as answered wrongly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from nlpt.common.errors import NlptError
from nlpt.embeddings.formats.vectors import Vectors, unit_rows

DEFAULT_RESTRICT = 30_000
_BATCH = 256


# -- results ----------------------------------------------------------------------


@dataclass
class AnalogyResult:
    correct: int = 0
    total: int = 0  # questions answered (all four words known)
    oov: int = 0  # questions skipped for an unknown word
    sections: dict = field(default_factory=dict)  # name -> (correct, total)
    semantic: tuple = (0, 0)  # (correct, total) over non-`gram` sections
    syntactic: tuple = (0, 0)  # (correct, total) over `gram` sections
    ngram_words: int = 0  # words outside the vocabulary scored through their n-grams (oov="ngrams")

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def semantic_accuracy(self) -> float:
        return self.semantic[0] / self.semantic[1] if self.semantic[1] else 0.0

    @property
    def syntactic_accuracy(self) -> float:
        return self.syntactic[0] / self.syntactic[1] if self.syntactic[1] else 0.0

    @property
    def questions(self) -> int:
        return self.total + self.oov

    def as_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "semantic_accuracy": self.semantic_accuracy,
            "syntactic_accuracy": self.syntactic_accuracy,
            "correct": self.correct,
            "total": self.total,
            "oov": self.oov,
            "ngram_words": self.ngram_words,
            "sections": {k: {"correct": c, "total": t} for k, (c, t) in self.sections.items()},
        }


@dataclass
class SimilarityResult:
    spearman: float  # nan when fewer than two pairs are known
    pairs: int  # pairs evaluated
    oov: int  # pairs skipped
    ngram_words: int = 0  # words outside the vocabulary scored through their n-grams (oov="ngrams")

    @property
    def oov_ratio(self) -> float:
        n = self.pairs + self.oov
        return self.oov / n if n else 0.0

    def as_dict(self) -> dict:
        return {
            "spearman": None if np.isnan(self.spearman) else self.spearman,
            "pairs": self.pairs,
            "oov": self.oov,
            "oov_ratio": self.oov_ratio,
            "ngram_words": self.ngram_words,
        }


# -- helpers ------------------------------------------------------------------------


def _upper_index(words: list[str], limit: int | None) -> dict[str, int]:
    """UPPER-CASED word -> row of its most frequent spelling, among the first `limit` words."""
    n = len(words) if limit is None else min(limit, len(words))
    index: dict[str, int] = {}
    for i in range(n - 1, -1, -1):  # reversed: the most frequent spelling wins
        index[words[i].upper()] = i
    return index


def _read_lines(path: str, what: str) -> list[str]:
    """The lines of an evaluation file (gzip/bzip2/xz or `-` too, through `nlpt.common.inputs`)."""
    from nlpt.common.inputs import read_all

    if path != "-" and not os.path.exists(path):
        raise NlptError(f"{path}: no such {what} file")
    data = read_all(path)
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise NlptError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def read_analogies(path: str) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """Sections of a questions-words file: [(name, [(a, b, c, expected), ...]), ...]."""
    sections: list[tuple[str, list]] = []
    for lineno, line in enumerate(_read_lines(path, "analogy"), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(":"):
            sections.append((line[1:].strip(), []))
            continue
        parts = line.split()
        if len(parts) != 4:
            raise NlptError(f"{path}:{lineno}: expected 4 words in an analogy question, got {len(parts)}")
        if not sections:
            sections.append(("analogies", []))
        sections[-1][1].append(tuple(parts))
    if not any(q for _, q in sections):
        raise NlptError(f"{path}: no analogy questions found")
    return sections


def read_pairs(path: str) -> list[tuple[str, str, float]]:
    """Word pairs with a gold score: `word1 word2 score` per line (tabs or spaces), `#` comments."""
    pairs = []
    for lineno, line in enumerate(_read_lines(path, "similarity"), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        parts = [p.strip() for p in parts if p.strip()]
        if len(parts) < 3:
            raise NlptError(f"{path}:{lineno}: expected 'word1 word2 score', got {line.strip()[:60]!r}")
        try:
            score = float(parts[2])
        except ValueError:
            if not pairs:  # a header line such as 'Word 1, Word 2, Human (mean)'
                continue
            raise NlptError(f"{path}:{lineno}: score {parts[2][:20]!r} is not a number") from None
        pairs.append((parts[0], parts[1], score))
    if not pairs:
        raise NlptError(f"{path}: no word pairs found")
    return pairs


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sorted_x = x[order]
    i = 0
    n = len(x)
    while i < n:
        j = i
        while j + 1 < n and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def spearman(x, y) -> float:
    """Spearman's rank correlation (Pearson on tie-averaged ranks); nan if undefined."""
    if len(x) < 2:
        return float("nan")
    rx, ry = rankdata(x), rankdata(y)
    rx -= rx.mean()
    ry -= ry.mean()
    denom = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / denom) if denom > 0 else float("nan")


# -- the evaluations --------------------------------------------------------------------


def _check_oov_mode(vectors: Vectors, oov: str) -> bool:
    """True when words outside the vocabulary are to be scored through their n-grams."""
    if oov not in ("skip", "ngrams"):
        raise NlptError(f"unknown out-of-vocabulary mode {oov!r} (skip or ngrams)")
    if oov == "ngrams" and not hasattr(vectors, "vectors_for"):
        raise NlptError("scoring unknown words through n-grams needs a subword model (.bin)")
    return oov == "ngrams"


def _ngram_units(vectors: Vectors, words: list[str]) -> tuple[dict[str, int], np.ndarray]:
    """Unit n-gram vectors of `words` (upper-cased keys); words without any n-gram are left out.

    Queried in lower case when the vocabulary's most frequent words are all lower-case
    (a `--lower` model), else as written."""
    if not words:
        return {}, np.zeros((0, vectors.dim), np.float32)
    lower = all(w == w.lower() for w in vectors.words[:1000])
    m = vectors.vectors_for([w.lower() if lower else w for w in words])
    ok = np.linalg.norm(m, axis=1) > 0
    keep = [w for w, good in zip(words, ok) if good]
    return {w.upper(): i for i, w in enumerate(keep)}, unit_rows(m[ok])


def analogy(vectors: Vectors, path: str, restrict: int | None = DEFAULT_RESTRICT, oov: str = "skip") -> AnalogyResult:
    """3CosAdd accuracy on a questions-words file over the `restrict` most frequent words.

    `oov="ngrams"` (subword models): question words outside the vocabulary get their n-gram vectors.
    """
    ngrams = _check_oov_mode(vectors, oov)
    sections = read_analogies(path)
    upper = _upper_index(vectors.words, restrict)
    n = len(vectors.words) if restrict is None else min(restrict, len(vectors.words))
    unit = unit_rows(vectors.matrix[:n])
    row_upper = [w.upper() for w in vectors.words[:n]]
    result = AnalogyResult()
    if ngrams:  # rows n.. of `unit`: the unknown question words' n-gram vectors
        unknown = list(dict.fromkeys(w for _, qs in sections for q in qs for w in q[:3] if w.upper() not in upper))
        extra, extra_unit = _ngram_units(vectors, unknown)
        result.ngram_words = len(extra)
        upper_q = dict(upper)
        for w, i in extra.items():
            upper_q[w] = n + i
        unit_q = np.vstack([unit, extra_unit])
    else:
        upper_q, unit_q = upper, unit
    sem = [0, 0]
    syn = [0, 0]
    for name, questions in sections:
        known = []
        for q in questions:
            qa = tuple(w.upper() for w in q)
            if all(w in upper_q for w in qa[:3]) and (ngrams or qa[3] in upper):
                known.append(qa)
            else:
                result.oov += 1
        correct = 0
        for start in range(0, len(known), _BATCH):
            batch = known[start : start + _BATCH]
            ia = np.fromiter((upper_q[q[0]] for q in batch), np.int64, len(batch))
            ib = np.fromiter((upper_q[q[1]] for q in batch), np.int64, len(batch))
            ic = np.fromiter((upper_q[q[2]] for q in batch), np.int64, len(batch))
            target = unit_q[ib] - unit_q[ia] + unit_q[ic]
            scores = target @ unit.T  # (batch, n)
            # Exclude the question words, in every spelling present.
            rows = np.arange(len(batch))
            for ix in (ia, ib, ic):
                inside = ix < n
                scores[rows[inside], ix[inside]] = -np.inf
            best = np.argmax(scores, axis=1)
            for k, q in enumerate(batch):
                guess = int(best[k])
                while row_upper[guess] in q[:3]:  # another spelling of a question word
                    scores[k, guess] = -np.inf
                    guess = int(np.argmax(scores[k]))
                if row_upper[guess] == q[3]:
                    correct += 1
        result.sections[name] = (correct, len(known))
        result.correct += correct
        result.total += len(known)
        bucket = syn if name.lower().startswith("gram") else sem
        bucket[0] += correct
        bucket[1] += len(known)
    result.semantic = tuple(sem)
    result.syntactic = tuple(syn)
    return result


def similarity(vectors: Vectors, path: str, restrict: int | None = None, oov: str = "skip") -> SimilarityResult:
    """Spearman's rho between gold scores and cosine similarities of word pairs.

    `oov="ngrams"` (subword models): words outside the vocabulary get their n-gram vectors.
    """
    ngrams = _check_oov_mode(vectors, oov)
    pairs = read_pairs(path)
    upper = _upper_index(vectors.words, restrict)
    extra: dict[str, int] = {}
    extra_unit = np.zeros((0, vectors.dim), np.float32)
    if ngrams:
        unknown = list(dict.fromkeys(w for a, b, _ in pairs for w in (a, b) if w.upper() not in upper))
        extra, extra_unit = _ngram_units(vectors, unknown)
    gold, va, vb = [], [], []
    n_oov = 0
    for a, b, score in pairs:
        ka, kb = upper.get(a.upper()), upper.get(b.upper())
        ea, eb = extra.get(a.upper()), extra.get(b.upper())
        if (ka is None and ea is None) or (kb is None and eb is None):
            n_oov += 1
            continue
        gold.append(score)
        va.append(("v", ka) if ka is not None else ("x", ea))
        vb.append(("v", kb) if kb is not None else ("x", eb))
    used = len({w for a, b, _ in pairs for w in (a.upper(), b.upper()) if w in extra and w not in upper})
    if not gold:
        return SimilarityResult(float("nan"), 0, n_oov, used)

    def rows(refs):
        known = unit_rows(vectors.matrix[np.array([i if kind == "v" else 0 for kind, i in refs])])
        for j, (kind, i) in enumerate(refs):
            if kind == "x":
                known[j] = extra_unit[i]
        return known.astype(np.float64)

    cos = np.einsum("ij,ij->i", rows(va), rows(vb))
    return SimilarityResult(spearman(np.array(gold), cos), len(gold), n_oov, used)


def lookup(vectors: Vectors, word: str) -> int | None:
    """Row of `word`: exact spelling first, else case-insensitive (most frequent spelling)."""
    i = vectors.index.get(word)
    if i is not None:
        return i
    target = word.upper()
    for j, w in enumerate(vectors.words):
        if w.upper() == target:
            return j
    return None


def neighbours(vectors: Vectors, word: str, k: int = 10, unit: np.ndarray | None = None) -> list[tuple[str, float]]:
    """The `k` words with the highest cosine similarity to `word` (itself excluded).

    Raises NlptError if the word is unknown. Pass `unit` (unit-length rows) to
    reuse it across calls.
    """
    i = lookup(vectors, word)
    if unit is None:
        unit = vectors.normalized()
    if i is None:  # a subword model gives any word a vector from its n-grams
        q = vectors.vectors_for([word])[0] if hasattr(vectors, "vectors_for") else np.zeros(1, np.float32)
        norm = float(np.linalg.norm(q))
        if norm == 0.0:
            raise NlptError(f"{word!r} is not in the vocabulary")
        scores = unit @ (q / norm)
    else:
        scores = unit @ unit[i]
        scores[i] = -np.inf
    k = min(k, len(vectors.words) - 1)
    if k <= 0:
        return []
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(vectors.words[j], float(scores[j])) for j in top]


__all__ = [
    "AnalogyResult", "SimilarityResult", "analogy", "similarity", "neighbours", "lookup",
    "read_analogies", "read_pairs", "spearman", "rankdata", "DEFAULT_RESTRICT",
]
