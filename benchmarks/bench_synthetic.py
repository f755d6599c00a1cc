#!/usr/bin/env python
"""What the README's first command gives on the embedded synthetic corpus, beside gensim.

Trains on data/synthetic.txt with `nlpt train-w2v` at its defaults (skip-gram, and
CBOW with `--cbow`) and with gensim 4.4 at the same settings (dim 100, window 5,
negative 5, min-count 5, 5 epochs, 2 threads), in the same run, and evaluates every
vector set, plus random vectors as the floor, with `nlpt.embeddings.evaluate` on
data/synthetic-questions.txt (3CosAdd) and data/synthetic-similarity.tsv (Spearman).

    .venv/bin/python benchmarks/bench_synthetic.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "data", "synthetic.txt")
QUESTIONS = os.path.join(ROOT, "data", "synthetic-questions.txt")
PAIRS = os.path.join(ROOT, "data", "synthetic-similarity.tsv")


def nlpt_row(out: str, extra: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nlpt", "train-w2v", CORPUS, "-o", out, "--threads", "2", "--quiet", *extra],
                   check=True, cwd=ROOT)
    return time.perf_counter() - t


def gensim_row(out: str, sg: int) -> float:
    from gensim.models import Word2Vec
    from gensim.models.word2vec import LineSentence

    t = time.perf_counter()
    model = Word2Vec(LineSentence(CORPUS), vector_size=100, window=5, min_count=5, negative=5, sample=1e-3,
                     sg=sg, epochs=5, workers=2, seed=1)
    elapsed = time.perf_counter() - t
    model.wv.save_word2vec_format(out, binary=True)
    return elapsed


def main() -> None:
    from nlpt.embeddings.evaluate import analogy, similarity
    from nlpt.embeddings.formats.vectors import Vectors

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = [
            ("nlpt skip-gram (README command)", lambda p: nlpt_row(p, [])),
            ("nlpt CBOW (--cbow)", lambda p: nlpt_row(p, ["--cbow"])),
            ("gensim 4.4 skip-gram", lambda p: gensim_row(p, 1)),
            ("gensim 4.4 CBOW", lambda p: gensim_row(p, 0)),
        ]
        for i, (name, train) in enumerate(runs):
            path = os.path.join(tmp, f"v{i}.bin")
            seconds = train(path)
            rows.append((name, seconds, Vectors.load(path)))
        trained = rows[0][2]
        rng = np.random.default_rng(0)
        rows.append(("random vectors (floor)", None, Vectors(trained.words, rng.standard_normal(trained.matrix.shape))))
        print(f"corpus: {os.path.relpath(CORPUS, ROOT)}; 5 epochs, dim 100, window 5, negative 5, 2 threads")
        print(f"{'vectors':34} {'train s':>8} {'analogy %':>10} {'sem %':>7} {'syn %':>7} {'rho':>7}")
        for name, seconds, vectors in rows:
            a = analogy(vectors, QUESTIONS)
            s = similarity(vectors, PAIRS)
            t = f"{seconds:8.1f}" if seconds is not None else f"{'':8}"
            print(f"{name:34} {t} {100 * a.accuracy:10.1f} {100 * a.semantic_accuracy:7.1f} "
                  f"{100 * a.syntactic_accuracy:7.1f} {s.spearman:7.3f}")
    print("reproduce: .venv/bin/python benchmarks/bench_synthetic.py")


if __name__ == "__main__":
    main()
