"""word2vec training on the embedded synthetic corpus: the planted analogies must be learnt."""

from __future__ import annotations

import os

import numpy as np
import pytest

from _cli import synthetic_head
from nlpt.corpus.reader import ReaderOptions
from nlpt.embeddings import evaluate as ev
from nlpt.embeddings.formats.vectors import Vectors
from nlpt.embeddings.word2vec.w2v import W2VConfig, init_model, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "data", "synthetic.txt")
QUESTIONS = os.path.join(ROOT, "data", "synthetic-questions.txt")
PAIRS = os.path.join(ROOT, "data", "synthetic-similarity.tsv")

# every test trains on the whole synthetic corpus
pytestmark = [pytest.mark.skipif(not os.path.exists(CORPUS), reason="data/synthetic.txt missing"), pytest.mark.slow]


def _train(corpus=CORPUS, **kw):
    kw.setdefault("size", 40)
    kw.setdefault("threads", 1)
    return train([corpus], ReaderOptions(), W2VConfig(**kw), quiet=True)


@pytest.fixture(scope="module")
def head(tmp_path_factory) -> str:
    """The first 5,000 lines: enough for the tests that compare two trainings rather than learn analogies."""
    return synthetic_head(tmp_path_factory, 5000)


def _accuracy(model, matrix=None):
    v = Vectors(model.vocab.words, model.syn0 if matrix is None else matrix)
    return ev.analogy(v, QUESTIONS).accuracy


@pytest.mark.parametrize(
    "kw, threshold",
    [
        (dict(epochs=2), 0.5),  # skip-gram, negative sampling
        (dict(epochs=3, cbow=True), 0.5),  # CBOW (mean), negative sampling
        (dict(epochs=2, hs=True, negative=0), 0.8),  # skip-gram, hierarchical softmax
        (dict(epochs=2, hs=True, negative=0, cbow=True), 0.8),  # CBOW, hierarchical softmax
    ],
    ids=["sg-ns", "cbow-ns", "sg-hs", "cbow-hs"],
)
def test_planted_analogies_are_learnt(kw, threshold):
    model = _train(**kw)
    acc = _accuracy(model)
    assert acc >= threshold, (kw, acc)
    # the same vocabulary with untrained vectors answers nothing
    assert _accuracy(model, init_model(model.vocab, model.config).syn0) < 0.02
    assert model.stats["words_processed"] == model.stats["train_words"] * kw["epochs"]
    rho = ev.similarity(Vectors(model.vocab.words, model.syn0), PAIRS).spearman
    assert rho > 0.4, rho


def test_two_threads_hs_and_ns_together_and_cbow_sum():
    model = _train(epochs=2, hs=True, negative=3, threads=2)
    assert _accuracy(model) >= 0.8
    assert model.syn1 is not None and model.syn1neg is not None
    assert np.abs(model.syn1).sum() > 0 and np.abs(model.syn1neg).sum() > 0
    cbow_sum = _train(epochs=2, cbow=True, cbow_mean=False, hs=True, negative=0, size=20)
    assert _accuracy(cbow_sum) >= 0.5


def test_input_and_output_matrices_are_not_swapped(tmp_path):
    # A vocabulary word that never occurs in the corpus is never a context word,
    # so its input vector keeps its random initial value, while its output
    # vector is trained (it is drawn as a negative sample).
    from nlpt.vocab.vocab import read_counts

    counts = {}
    with open(CORPUS, encoding="utf-8") as fh:
        for line in fh:
            for w in line.split():
                counts[w] = counts.get(w, 0) + 1
    counts["zzzunseen"] = max(counts.values())
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("".join(f"{w} {c}\n" for w, c in counts.items()))
    assert read_counts(str(vocab_file))["zzzunseen"] > 0
    config = W2VConfig(size=16, epochs=1, threads=1, seed=3)
    model = train([CORPUS], ReaderOptions(), config, read_vocab=str(vocab_file), quiet=True, drop_unseen=False)
    i = model.vocab.index["zzzunseen"]
    initial = init_model(model.vocab, W2VConfig(size=16, seed=3)).syn0
    assert np.array_equal(model.syn0[i], initial[i])
    assert np.abs(model.syn1neg[i]).max() > 1e-3
    j = model.vocab.index["the"]
    assert not np.array_equal(model.syn0[j], initial[j])


@pytest.mark.parametrize("cbow", [False, True], ids=["sg", "cbow"])
def test_kernel_reads_rows_through_the_table(cbow, head):
    # Word w stored in row perm[w] (a table that is not the identity, so the kernel takes its general
    # path) trains exactly the same vectors as plain word2vec (the identity table, read directly).
    from nlpt.embeddings.word2vec.w2v import InputRows

    class Permuted(InputRows):
        def table(self, words):
            self.perm = np.random.default_rng(0).permutation(len(words)).astype(np.int32)
            return np.arange(len(words) + 1, dtype=np.int64), self.perm

        def init_input(self, n_words, config):
            plain = super().init_input(n_words, config)
            moved = np.empty_like(plain)
            moved[self.perm] = plain
            return moved

    config = dict(size=16, epochs=1, threads=1, seed=7, cbow=cbow)
    plain = _train(head, **config)
    rows = Permuted()
    moved = train([head], ReaderOptions(), W2VConfig(**config), quiet=True, inputs=rows)
    assert moved.vocab.words == plain.vocab.words
    assert np.array_equal(moved.syn0[rows.perm], plain.syn0)
    assert np.array_equal(moved.syn1neg, plain.syn1neg)
    assert not np.array_equal(moved.syn0, plain.syn0)


def test_seed_reproducible_with_one_thread(head):
    a = _train(head, epochs=1, size=16, seed=7)
    b = _train(head, epochs=1, size=16, seed=7)
    c = _train(head, epochs=1, size=16, seed=8)
    assert np.array_equal(a.syn0, b.syn0) and np.array_equal(a.syn1neg, b.syn1neg)
    assert not np.array_equal(a.syn0, c.syn0)
