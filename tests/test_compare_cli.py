"""`nlpt compare`: evaluation of several vector files side by side."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _cli import nlpt
from nlpt.embeddings import evaluate as ev
from nlpt.embeddings.formats.vectors import Vectors


@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(0)
    offset = rng.normal(size=12)
    words, rows = [], []
    for i in range(8):
        x = rng.normal(size=12)
        words += [f"x{i}", f"y{i}"]
        rows += [x, x + offset]
    good = Vectors(words, np.array(rows, np.float32))
    noisy = Vectors(words, good.matrix + rng.normal(scale=1.5, size=good.matrix.shape).astype(np.float32))
    good.save(str(tmp_path / "good.txt"), "text")
    noisy.save(str(tmp_path / "noisy.bin"), "binary")
    q = tmp_path / "q.txt"
    q.write_text(": gram-test\n" + "".join(f"x{i} y{i} x{j} y{j}\n" for i in range(8) for j in range(8) if i != j)
                 + ": capitals\nx0 y0 x1 nothere\n")
    s = tmp_path / "s.tsv"
    s.write_text("# gold\n" + "".join(f"x{i}\ty{i}\t{9 - i * 0.1}\n" for i in range(8))
                 + "".join(f"x{i}\ty{(i + 3) % 8}\t{1 + i * 0.1}\n" for i in range(8)) + "x0\tzzz\t3\n")
    return tmp_path, good, noisy, str(q), str(s)


def test_json_side_by_side(files):
    tmp, good, noisy, q, s = files
    r = nlpt("compare", str(tmp / "good.txt"), str(tmp / "noisy.bin"), "--analogies", q, "--similarity", s,
             "--neighbours", "x0,y0", "--neighbours", "nosuch", "--k", "3", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["comparison"] == "vectors" and out["analogies"] == q and out["similarity"] == s
    assert [v["path"] for v in out["rows"]] == [str(tmp / "good.txt"), str(tmp / "noisy.bin")]
    g, n = out["rows"]
    assert g["analogy_accuracy"] > 0.9 and g["analogy_answered"] == 56 and g["analogy_oov"] == 1
    assert g["analogy_syntactic"] == g["analogy_accuracy"]
    assert g["analogy_correct"] == ev.analogy(good, q).correct
    expected = ev.analogy(noisy, q)
    assert n["analogy_correct"] == expected.correct < 56
    assert g["similarity_pairs"] == 16 and g["similarity_oov"] == 1
    assert g["similarity_spearman"] == pytest.approx(ev.similarity(good, s).spearman)
    assert [w for w, _ in g["neighbours"]["x0"]] == [w for w, _ in ev.neighbours(good, "x0", 3)]
    assert g["neighbours"]["nosuch"] is None
    assert g["words"] == 16 and g["dim"] == 12 and g["non_finite_vectors"] == 0


def test_table(files):
    tmp, *_, q, s = files
    r = nlpt("compare", str(tmp / "good.txt"), str(tmp / "noisy.bin"), "-a", q, "-s", s, "-n", "x1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:5] == ["vectors", "words", "dim", "analogy%", "sem%"]
    assert lines[1].startswith(str(tmp / "good.txt")) and lines[1].split()[1:3] == ["16", "12"]
    assert lines[2].startswith(str(tmp / "noisy.bin"))
    assert "neighbours of 'x1'" in lines[0]
    first = ev.neighbours(Vectors.load(str(tmp / "good.txt")), "x1", 1)[0]
    assert f"{first[0]} {first[1]:.3f}" in lines[1]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"3 x\nfoo 1 2\n", "not numbers"),
        (b"2 0\nfoo\n", "bad header"),
        (b"2 3\nfoo 1 2 3\nbar 1 2\n", "expected 3 values, got 2"),
        (b"3 2\nfoo 1 2\nbar 1 2\n", "header says 3 vectors, file has 2"),
        (b"2 4\nfoo \x00\x00\x80?\x00\x00\x80?", "truncated"),
    ],
)
def test_bad_vector_files(tmp_path, content, message):
    p = tmp_path / "bad.vec"
    p.write_bytes(content)
    r = nlpt("compare", str(p))
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nlpt: error:") and message in lines[0], r.stderr
