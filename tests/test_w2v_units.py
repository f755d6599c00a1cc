"""Building blocks of the word2vec trainer: sampling tables, Huffman tree, byte encoder, kernels."""

from __future__ import annotations

import heapq

import numpy as np
import pytest
from numba import njit

from nlpt.corpus.reader import ReaderOptions, ReadStats, as_sources, iter_encoded
from nlpt.embeddings.training.bytescan import BlockEncoder, ByteVocab
from nlpt.embeddings.training.driver import CorpusStream
from nlpt.embeddings.word2vec.huffman import Huffman
from nlpt.common.rng import rng_next, seed_state
from nlpt.embeddings.word2vec.sampling import AliasTable, alias_draw, subsample_thresholds


@njit(cache=True)
def _histogram(prob, alias, n, state):
    out = np.zeros(prob.shape[0], np.int64)
    for _ in range(n):
        state = rng_next(state)
        out[alias_draw(state, prob, alias)] += 1
    return out


def test_alias_table_draws_unigram_to_the_075():
    counts = np.array([5000, 1000, 300, 120, 50, 20, 9, 5, 5, 1] * 5, dtype=np.int64)
    table = AliasTable(counts, 0.75)
    expected = counts ** 0.75 / (counts ** 0.75).sum()
    assert np.allclose(table.distribution, expected)
    n = 2_000_000
    hist = _histogram(table.prob, table.alias, n, seed_state(3, 0))
    exp = expected * n
    chi2 = float(((hist - exp) ** 2 / exp).sum())
    assert chi2 < 100, chi2  # 49 degrees of freedom: a wrong table gives thousands
    # the exponent matters: a table of raw counts is clearly rejected
    raw = counts / counts.sum() * n
    assert float(((hist - raw) ** 2 / raw).sum()) > 10_000


def test_subsampling_thresholds_follow_word2vec():
    counts = np.array([1_000_000, 10_000, 100, 1], dtype=np.int64)
    thr = subsample_thresholds(counts, 1e-3)
    t = 1e-3 * counts.sum()
    keep = np.minimum((np.sqrt(counts / t) + 1) * t / counts, 1.0)
    assert np.allclose(thr / 2**32, keep, atol=1e-9)
    assert thr[-1] == 2**32 and thr[0] < 2**32 * 0.1
    assert (subsample_thresholds(counts, 0) == 2**32).all()


def test_huffman_is_an_optimal_prefix_code():
    rng = np.random.default_rng(0)
    counts = np.sort(rng.integers(1, 1000, size=200))[::-1].copy()
    tree = Huffman.build(counts)
    codes = ["".join(str(b) for b in tree.codes[w, : tree.lengths[w]]) for w in range(len(counts))]
    assert len(set(codes)) == len(codes)
    for a in codes:  # prefix-free
        assert not any(b != a and b.startswith(a) for b in codes)
    # optimal: total cost equals a textbook Huffman construction
    heap = [int(c) for c in counts]
    heapq.heapify(heap)
    cost = 0
    while len(heap) > 1:
        x, y = heapq.heappop(heap), heapq.heappop(heap)
        cost += x + y
        heapq.heappush(heap, x + y)
    assert int((counts * tree.lengths).sum()) == cost
    # paths start at the root (row V-2) and stay inside the inner-node matrix
    assert (tree.points[:, 0] == len(counts) - 2).all()
    for w in range(len(counts)):
        assert (tree.points[w, : tree.lengths[w]] < len(counts) - 1).all()
    # same path prefix => same inner node
    assert tree.points[0, 0] == tree.points[1, 0]


def test_byte_encoder_matches_the_reader(tmp_path):
    text = (
        "the cat\u00a0sat on\tthe mat\n"  # NBSP and tab split tokens, as str.split() does
        "\n   \n"
        "unknown words dropped the the the\u3000cat\x1cdog\n"
        "caf\xe9 na\u00efve \u2003cat " + "the " * 25 + "\n"
    ).encode("utf-8") + b"bad \xff\xfe bytes cat\n"
    path = tmp_path / "c.txt"
    path.write_bytes(text)
    words = ["the", "cat", "sat", "on", "mat", "dog", "café", "naïve", "\ufffd\ufffd", "bytes"]
    opts = ReaderOptions(max_sentence=7)
    ref = list(iter_encoded(as_sources([str(path)]), {w: i for i, w in enumerate(words)}, opts, ReadStats()))
    ref_ids = np.concatenate([c.ids for c in ref])
    ref_sents = [list(c.ids[c.starts[i]: c.starts[i + 1]]) for c in ref for i in range(len(c.starts) - 1)]
    stream = CorpusStream([str(path)], words, opts, 1)
    chunks = list(stream.chunks(0))
    ids = np.concatenate([c.ids for c in chunks])
    sents = [list(c.ids[c.starts[i]: c.starts[i + 1]]) for c in chunks for i in range(len(c.starts) - 1)]
    assert list(ids) == list(ref_ids)
    assert sents == ref_sents
    assert sum(c.tokens_read for c in chunks) == sum(c.tokens_read for c in ref)
    assert stream.stats[0].total_invalid == 2


def test_byte_encoder_lower_option(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("The CAT sat\nÉTÉ Été\n")
    words = ["the", "cat", "sat", "été"]
    from nlpt.corpus.tokenize import TokenizerOptions

    opts = ReaderOptions(tokenizer=TokenizerOptions(lower=True))
    stream = CorpusStream([str(path)], words, opts, 1)
    ids = np.concatenate([c.ids for c in stream.chunks(0)])
    assert list(ids) == [0, 1, 2, 3, 3]


def test_block_encoder_direct():
    enc = BlockEncoder(ByteVocab(["a", "bb"]), max_sentence=10_000)
    ids, starts, read = enc.encode(b"a bb c\nbb\n\nc c\n a")
    assert list(ids) == [0, 1, 1, 0]
    assert list(starts) == [0, 2, 3, 4]
    assert read == 7


@pytest.mark.parametrize("n_in, outs", [(1, [4, 0, 2]), (4, [4, 0, 2]), (5, [4, 0, 0]), (3, [1, 3, 3, 3, 0, 2])])
def test_out_block_is_a_logistic_regression_step(n_in, outs):
    from nlpt.embeddings.word2vec.kernels import out_block

    rng = np.random.default_rng(n_in)
    d, nout = 8, len(outs)
    inp = rng.normal(size=(n_in, d)).astype(np.float32)
    syn1 = rng.normal(size=(5, d)).astype(np.float32)
    outs = np.array(outs, dtype=np.int64)
    labels = np.array([1] + [0] * (nout - 1), dtype=np.float32)
    grad = np.zeros((n_in, d), np.float32)
    G = np.zeros((n_in, nout), np.float32)
    before = syn1.copy()
    alpha = 0.1
    loss = out_block(inp, n_in, syn1, outs, labels, nout, alpha, grad, G, True)
    # reference, in float64 with the exact sigmoid (the kernel uses a 2048-cell table over [-6, 6])
    f = inp.astype(np.float64) @ before[outs].T.astype(np.float64)
    sig = 1 / (1 + np.exp(-f))
    g = (labels - sig) * alpha
    assert np.allclose(grad, g @ before[outs], atol=1e-3)
    delta = np.zeros_like(before, dtype=np.float64)
    np.add.at(delta, outs, g.T @ inp)  # a row drawn twice gets both updates
    assert np.allclose(syn1 - before, delta, atol=1e-3)
    assert np.abs(grad).max() > 0.02  # the tolerance is small next to the values
    untouched = sorted(set(range(5)) - set(outs.tolist()))
    assert np.array_equal(syn1[untouched], before[untouched])
    ref_loss = -(np.log(sig[:, 0]).sum() + np.log(1 - sig[:, 1:]).sum())
    assert loss == pytest.approx(ref_loss, rel=1e-5)


@pytest.mark.parametrize("outs", [[4, 0, 2, 1], [4, 0, 0, 3]], ids=["distinct", "negative-twice"])
def test_cbow_out_row_is_word2vec_cs_sequential_step(outs):
    # CBOW's single input row: each output row in turn scores the (unchanged) input, adds its share to
    # the input gradient and is updated; a row drawn twice sees its first update (word2vec.c's order)
    from nlpt.embeddings.word2vec.kernels import _out_row

    rng = np.random.default_rng(5)
    d = 8
    inp = rng.normal(size=d).astype(np.float32)
    syn1 = rng.normal(size=(5, d)).astype(np.float32)
    outs = np.array(outs, dtype=np.int64)
    labels = np.array([1] + [0] * (len(outs) - 1), dtype=np.float32)
    grad = np.zeros(d, np.float32)
    ref = syn1.astype(np.float64)
    ref_grad = np.zeros(d)
    ref_loss = 0.0
    alpha = 0.1
    for o, lab in zip(outs, labels):
        f = float(inp @ ref[o])
        sig = 1 / (1 + np.exp(-f))
        ref_loss -= np.log(sig if lab else 1 - sig)
        g = (lab - sig) * alpha
        ref_grad += g * ref[o]
        ref[o] += g * inp
    loss = _out_row(inp, grad, syn1, outs, labels, np.int64(len(outs)), np.float32(alpha), np.int64(d), True)
    assert np.allclose(grad, ref_grad, atol=1e-3) and np.abs(grad).max() > 0.02
    assert np.allclose(syn1, ref, atol=1e-3)
    assert loss == pytest.approx(ref_loss, rel=1e-5)


_SPACES = ["\u00a0", "\u3000", "\x1c", "\x1f", "\u0085", "\u2028", "\u2029", "\u202f", "\u205f", "\u1680",
           "\u2000", "\u200a", "\x0b", "\x0c", "\r", "\t"]


def _tricky_corpus(rng) -> bytes:
    """Words joined by ASCII and Unicode whitespace, with case, ligatures, full-width letters and bad bytes."""
    vocab = [f"w{i}" for i in range(2000)] + ["café", "CAFÉ", "naïve", "ΟΔΟΣ", "ﬁne", "ＡＢＣ", "x\u200by", "Straße"]
    lines = []
    for _ in range(3000):
        words = rng.choice(vocab, size=rng.integers(0, 25))
        seps = rng.choice([" "] * 12 + _SPACES, size=len(words))
        lines.append("".join(w + s for w, s in zip(words, seps)))
    return "\n".join(lines).encode("utf-8") + b"\nbad \xff byte x\xe2\x80 y ab\xc3cd\r\n"


@pytest.mark.slow
@pytest.mark.parametrize("lower, nfkc, split_punct", [(False, False, False), (True, False, False),
                                                      (True, True, False), (False, False, True)])
def test_counted_vocab_is_exactly_what_the_encoder_reads(tmp_path, lower, nfkc, split_punct):
    """The trainers count with `count_vocab` and encode with `CorpusStream`: same tokens, same counts."""
    from nlpt.corpus.tokenize import TokenizerOptions
    from nlpt.vocab.count import count_vocab, count_words

    text = _tricky_corpus(np.random.default_rng(0))
    p1, p2 = tmp_path / "a.txt", tmp_path / "b.txt"
    p1.write_bytes(text)
    p2.write_bytes(text[: len(text) // 3])
    paths = [str(p1), str(p2)]
    opts = ReaderOptions(tokenizer=TokenizerOptions(lower=lower, nfkc=nfkc, split_punct=split_punct), chunk_bytes=4096)
    reference = count_words(paths, opts, threads=1, engine="python")  # Counter of the reader's tokens
    for min_count in (1, 5):
        counted = count_vocab(paths, opts, threads=3, min_count=min_count)
        vocab = counted.vocab
        assert counted.tokens == sum(reference.counts.values())
        assert counted.types == len(reference.counts)
        assert dict(zip(vocab.words, vocab.counts)) == {w: c for w, c in reference.counts.items() if c >= min_count}
        stream = CorpusStream(paths, vocab.words, opts, 3)
        assert stream.fast == (not split_punct)
        seen = np.zeros(len(vocab), np.int64)
        read = 0
        for t in range(len(stream.shards)):
            for c in stream.chunks(t):  # c.ids is the encoder's buffer, reused by the next chunk: use it now
                seen += np.bincount(c.ids, minlength=len(vocab))
                read += c.tokens_read
        assert read == counted.tokens  # every token read...
        assert seen.tolist() == vocab.counts  # ...is the word counted, as often
    assert counted.stats.total_invalid == 3  # only a.txt holds the bad bytes
    assert any("\ufffd" in w for w in reference.counts)  # the bad bytes became U+FFFD in words
    assert any(len(w) > 1 and not w.isascii() for w in vocab.words)


def test_count_vocab_max_size_and_no_table_left(tmp_path):
    from nlpt.vocab.count import count_vocab

    path = tmp_path / "c.txt"
    path.write_text("a a a a b b b c c d e e\n")
    counted = count_vocab([str(path)], ReaderOptions(), 1, min_count=2, max_size=2)
    assert counted.vocab.words == ["a", "b"] and counted.vocab.counts == [4, 3]
    assert (counted.tokens, counted.types) == (12, 5)
    assert not hasattr(counted, "table")


def test_utf8_check_agrees_with_pythons_decoder():
    """The trainers' reading path checks blocks with a numba validator instead of decoding them."""
    import random

    from nlpt.vocab.count import is_utf8

    rng = random.Random(0)
    good = [b"a", b" ", b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\xed\x9f\xbf", b"\xf4\x8f\xbf\xbf"]
    bad = [b"\x80", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",
           b"\xff", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xe2\x28\xa1"]
    seen = set()
    for _ in range(5000):
        parts = [rng.choice(good) for _ in range(rng.randint(0, 6))]
        if rng.random() < 0.5:
            parts.insert(rng.randint(0, len(parts)), rng.choice(bad))
        if rng.random() < 0.3:
            parts = [bytes(rng.randrange(256) for _ in range(rng.randint(1, 5)))]
        block = b"".join(parts)
        try:
            block.decode("utf-8")
            valid = True
        except UnicodeDecodeError:
            valid = False
        assert is_utf8(block) == valid, block
        seen.add(valid)
    assert seen == {True, False}
