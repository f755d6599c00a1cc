"""nlpt.embeddings.evaluate: analogies, word-pair similarity, neighbours."""

from __future__ import annotations

import numpy as np
import pytest

from nlpt.common.errors import NlptError
from nlpt.embeddings import evaluate as ev
from nlpt.embeddings.formats.vectors import Vectors


def _planted(noise: float, seed: int = 0, n_pairs: int = 12, dim: int = 16):
    """Pairs (x_i, y_i) with y_i = x_i + offset (+ noise), plus filler words."""
    rng = np.random.default_rng(seed)
    offset = rng.normal(size=dim)
    words, rows = [], []
    for i in range(n_pairs):
        x = rng.normal(size=dim)
        words += [f"x{i}", f"y{i}"]
        rows += [x, x + offset + noise * rng.normal(size=dim)]
    for i in range(40):
        words.append(f"filler{i}")
        rows.append(rng.normal(size=dim))
    return Vectors(words, np.array(rows, dtype=np.float32))


def _questions(tmp_path, n_pairs=12, extra="", name="gram-pairs"):
    lines = [f": {name}"]
    for i in range(n_pairs):
        for j in range(n_pairs):
            if i != j:
                lines.append(f"x{i} y{i} x{j} y{j}")
    path = tmp_path / "q.txt"
    path.write_text("\n".join(lines) + "\n" + extra)
    return str(path)


def test_planted_analogies_are_all_correct_and_random_vectors_are_not(tmp_path):
    q = _questions(tmp_path)
    res = ev.analogy(_planted(0.0), q)
    assert res.total == 12 * 11 and res.oov == 0
    assert res.correct == res.total and res.accuracy == 1.0
    assert res.syntactic == (res.total, res.total) and res.semantic == (0, 0)
    rng = np.random.default_rng(5)
    rand = Vectors(_planted(0.0).words, rng.normal(size=(64, 16)).astype(np.float32))
    assert ev.analogy(rand, q).accuracy < 0.2


def test_question_words_are_excluded(tmp_path):
    # With a tiny offset, b - a + c is closest to c itself; it must not be the answer.
    v = _planted(0.0)
    m = v.matrix.copy()
    m[1::2][:12] = m[0::2][:12] + 0.01  # y_i = x_i + tiny offset
    q = _questions(tmp_path)
    res = ev.analogy(Vectors(v.words, m), q)
    assert res.correct > 0.9 * res.total  # y_j is the nearest once x_j is excluded


def test_oov_case_insensitive_and_restrict(tmp_path):
    v = _planted(0.0)
    extra = ": capital-common\nX0 Y0 X1 Y1\nx0 y0 nosuchword y1\n"
    q = _questions(tmp_path, extra=extra)
    res = ev.analogy(v, q)
    assert res.oov == 1
    assert res.sections["capital-common"] == (1, 1)
    assert res.semantic == (1, 1)
    assert res.total == 12 * 11 + 1
    # restricting to the first 4 words makes every question touching x2.. out of vocabulary
    small = ev.analogy(v, q, restrict=4)
    assert small.total == 2 + 1  # x0 y0 x1 y1 and x1 y1 x0 y0, plus the upper-case one
    assert small.oov == res.oov + res.total - small.total


def test_matches_gensim_on_noisy_vectors(tmp_path):
    gensim = pytest.importorskip("gensim")
    from gensim.models import KeyedVectors

    v = _planted(0.8, seed=3)
    q = _questions(tmp_path, extra=": family\nx0 y0 X3 y3\nx1 y1 zzz y2\n")
    kv = KeyedVectors(v.dim)
    kv.add_vectors(v.words, v.matrix)
    score, sections = kv.evaluate_word_analogies(q, restrict_vocab=30000, case_insensitive=True)
    ours = ev.analogy(v, q)
    assert 0 < ours.correct < ours.total  # the comparison means something
    total = sections[-1]
    assert ours.correct == len(total["correct"])
    assert ours.total == len(total["correct"]) + len(total["incorrect"])
    assert ours.accuracy == pytest.approx(score)
    del gensim


def test_similarity_spearman_and_oov(tmp_path):
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(30)]
    v = Vectors(words, rng.normal(size=(30, 8)).astype(np.float32))
    lines = ["# comment", "# Word 1\tWord 2\tHuman (mean)"]
    gold = []
    for i in range(20):
        a, b = words[i], words[(i * 7 + 3) % 30]
        score = float(rng.integers(0, 5))  # ties on purpose
        gold.append((a, b, score))
        lines.append(f"{a.upper()}\t{b}\t{score}")
    lines.append("w1\tunknownword\t5.0")
    path = tmp_path / "ws.tsv"
    path.write_text("\n".join(lines) + "\n")
    res = ev.similarity(v, str(path))
    assert res.pairs == 20 and res.oov == 1
    assert res.oov_ratio == pytest.approx(1 / 21)
    scipy_stats = pytest.importorskip("scipy.stats")
    unit = v.normalized()
    cos = [float(unit[v.index[a]] @ unit[v.index[b]]) for a, b, _ in gold]
    expected = scipy_stats.spearmanr([g for *_, g in gold], cos).statistic
    assert res.spearman == pytest.approx(expected, abs=1e-9)


def test_spearman_ties_and_perfect():
    assert ev.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert ev.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert list(ev.rankdata([3, 1, 3, 2])) == [3.5, 1.0, 3.5, 2.0]
    assert np.isnan(ev.spearman([1], [2]))


def test_neighbours():
    words = ["a", "b", "c", "d"]
    m = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]], dtype=np.float32)
    v = Vectors(words, m)
    nb = ev.neighbours(v, "a", k=2)
    assert [w for w, _ in nb] == ["b", "c"]
    assert nb[0][1] == pytest.approx(0.9 / np.hypot(0.9, 0.1), rel=1e-5)
    assert [w for w, _ in ev.neighbours(v, "A", k=3)] == ["b", "c", "d"]  # case-insensitive fallback
    with pytest.raises(NlptError):
        ev.neighbours(v, "zzz")


def test_bad_files(tmp_path):
    v = _planted(0.0)
    bad = tmp_path / "bad.txt"
    bad.write_text(": s\na b c\n")
    with pytest.raises(NlptError, match="expected 4 words"):
        ev.analogy(v, str(bad))
    with pytest.raises(NlptError, match="no such"):
        ev.analogy(v, str(tmp_path / "missing.txt"))
    bad.write_text("a\tb\t1\nc\td\tnotanumber\n")
    with pytest.raises(NlptError, match="not a number"):
        ev.similarity(v, str(bad))
