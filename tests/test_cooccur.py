"""Co-occurrence counting: exact counts, spilling, the Stanford record layout, bad files."""

from __future__ import annotations

import errno
import os
import random
import struct

import numpy as np
import pytest

from nlpt.common.errors import NlptError
from nlpt.corpus.reader import ReaderOptions
from nlpt.embeddings.glove import cooccur as co
from nlpt.vocab.vocab import Vocab


def _write_fixture(path, seed=7, lines=400):
    """Zipf-ish words over 60 types, lines of 0..25 tokens, a few rare (OOV) words and blank lines."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(60)]
    out = []
    for _ in range(lines):
        n = rng.randint(0, 25)
        toks = []
        for _ in range(n):
            if rng.random() < 0.05:
                toks.append(f"rare{rng.randint(0, 10_000)}")  # seen once: outside the vocabulary
            else:
                toks.append(words[min(59, int(rng.paretovariate(0.8)) - 1)])
        out.append(" ".join(toks))
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def _brute_force(path, vocab, window, symmetric, weighting):
    """Independent reference: every pair within the window of each line, OOV dropped first."""
    counts = {}
    for line in path.read_text(encoding="utf-8").split("\n"):
        ids = [vocab.index[t] for t in line.split() if t in vocab.index]
        for p in range(len(ids)):
            for q in range(max(0, p - window), p):
                w = 1.0 / (p - q) if weighting else 1.0
                counts[(ids[q], ids[p])] = counts.get((ids[q], ids[p]), 0.0) + w
                if symmetric:
                    counts[(ids[p], ids[q])] = counts.get((ids[p], ids[q]), 0.0) + w
    return counts


def _vocab(path, min_count=2):
    from collections import Counter

    return Vocab.from_counts(Counter(path.read_text(encoding="utf-8").split()), min_count)


def _count(path, vocab, **kw):
    threads = kw.pop("threads", 1)
    opts = co.CooccurOptions(threads=threads, tmp_dir=str(path.parent), **kw)
    chunks, stats = co.count_cooccurrences([str(path)], vocab.words, opts, ReaderOptions())
    rec = np.concatenate(chunks)
    return rec, stats


def _as_dict(rec):
    return {(int(a), int(b)): float(x) for a, b, x in zip(rec["w1"], rec["w2"], rec["x"])}


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("weighting", [True, False])
@pytest.mark.parametrize("memory", [1.0, 1e-9])  # all in memory; tiny: dense block of 0-few cells, many spills
def test_counts_equal_brute_force(tmp_path, symmetric, weighting, memory):
    path = _write_fixture(tmp_path / "corpus.txt")
    vocab = _vocab(path)
    window = 4
    rec, stats = _count(path, vocab, window=window, symmetric=symmetric, distance_weighting=weighting, memory_gb=memory)
    expected = _brute_force(path, vocab, window, symmetric, weighting)
    got = _as_dict(rec)
    assert len(got) == len(rec)  # no duplicate pairs
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12), key
    keys = rec["w1"].astype(np.int64) * len(vocab) + rec["w2"]
    assert np.all(np.diff(keys) > 0), "records must be sorted by (word1, word2)"
    if memory < 1e-6:
        assert stats.spills >= 2 and stats.runs >= stats.spills
    else:
        assert stats.spills == 0
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".nlpt-cooccur-")], "temporary files left behind"


def test_threads_and_spills_give_the_same_counts(tmp_path, monkeypatch):
    monkeypatch.setattr(co, "MIN_BYTES_PER_THREAD", 0)  # shard even a small file
    path = _write_fixture(tmp_path / "corpus.txt", seed=3, lines=600)
    vocab = _vocab(path)
    one, _ = _count(path, vocab, window=5, memory_gb=1.0, threads=1)
    many, stats = _count(path, vocab, window=5, memory_gb=1e-9, threads=3)
    assert stats.spills >= 1
    assert np.array_equal(one["w1"], many["w1"]) and np.array_equal(one["w2"], many["w2"])
    assert np.allclose(one["x"], many["x"], rtol=1e-12, atol=0)


def test_dense_layout_is_the_rank_product_rule():
    p, rowstart, rowlen = co.dense_layout(50, 300)
    assert 0 < p < 50 * 50
    assert int(rowlen.sum()) <= 300
    for a in range(50):
        for b in range(50):
            assert (b < rowlen[a]) == ((a + 1) * (b + 1) <= p)
    assert np.array_equal(rowstart[1:], np.cumsum(rowlen)[:-1])
    p_all, _, rowlen_all = co.dense_layout(10, 1000)
    assert p_all == 100 and rowlen_all.tolist() == [10] * 10


def test_record_file_layout_and_round_trip(tmp_path):
    rec = np.zeros(3, dtype=co.REC_DTYPE)
    rec["w1"] = [0, 0, 4]
    rec["w2"] = [1, 4, 2]
    rec["x"] = [0.5, 3.25, 1.0 / 3.0]
    path = tmp_path / "cooc.bin"
    co.write_records(str(path), [rec[:2], rec[2:]])
    raw = path.read_bytes()
    assert len(raw) == 3 * 16
    fields = [struct.unpack_from("<iid", raw, 16 * i) for i in range(3)]
    assert fields == [(1, 2, 0.5), (1, 5, 3.25), (5, 3, 1.0 / 3.0)]  # 1-based ids, float64 values
    back = co.read_records(str(path), 5)
    assert back.dtype == co.REC_DTYPE
    assert back["w1"].tolist() == [0, 0, 4] and back["w2"].tolist() == [1, 4, 2]
    assert back["x"].tolist() == rec["x"].tolist()


def test_bad_record_files(tmp_path):
    short = tmp_path / "short.bin"
    short.write_bytes(b"\x00" * 20)
    with pytest.raises(NlptError, match="not a multiple of 16"):
        co.read_records(str(short), 10)
    out_of_range = tmp_path / "range.bin"
    out_of_range.write_bytes(struct.pack("<iid", 1, 2, 1.0) + struct.pack("<iid", 3, 11, 1.0))
    with pytest.raises(NlptError, match=r"record 2 has word id 11 outside 1\.\.10"):
        co.read_records(str(out_of_range), 10)
    zero = tmp_path / "zero.bin"
    zero.write_bytes(struct.pack("<iid", 0, 2, 1.0))
    with pytest.raises(NlptError, match="word id 0"):
        co.read_records(str(zero), 10)
    bad_value = tmp_path / "nan.bin"
    bad_value.write_bytes(struct.pack("<iid", 1, 2, float("nan")))
    with pytest.raises(NlptError, match="must be positive"):
        co.read_records(str(bad_value), 10)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(NlptError, match="empty"):
        co.read_records(str(empty), 10)


def test_disk_full_while_spilling_is_a_clear_error_and_cleans_up(tmp_path, monkeypatch):
    path = _write_fixture(tmp_path / "corpus.txt")
    vocab = _vocab(path)
    real_open = open

    def full_open(name, mode="r", *args, **kwargs):
        if "w" in mode and os.path.basename(str(name)).startswith("runs-"):
            raise OSError(errno.ENOSPC, "No space left on device", str(name))
        return real_open(name, mode, *args, **kwargs)

    from nlpt.common import spill

    monkeypatch.setattr(spill, "open", full_open, raising=False)
    with pytest.raises(NlptError, match="no space left on device while spilling") as info:
        _count(path, vocab, window=4, memory_gb=1e-9)
    assert ".nlpt-cooccur-" in str(info.value)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".nlpt-cooccur-")]


def test_record_file_is_read_in_blocks_with_global_record_numbers(tmp_path):
    rec = np.zeros(10, dtype=co.REC_DTYPE)
    rec["w1"], rec["w2"], rec["x"] = np.arange(1, 11) % 3 + 1, 1, np.arange(1, 11)
    rec["w1"][7] = 9  # the 8th record, in the third block of 3
    path = tmp_path / "c.bin"
    rec.tofile(path)
    with pytest.raises(NlptError, match="record 8 has word id 9 outside 1..3"):
        list(co.iter_record_file(str(path), 3, block=3))
    rec["w1"][7] = 1
    rec.tofile(path)
    sink = co.ChunkSink()
    assert co.feed_record_file(str(path), 3, sink) == 10
    got = np.concatenate(sink.chunks)
    assert np.array_equal(got["w1"], rec["w1"] - 1) and np.array_equal(got["x"], rec["x"])


def test_tee_sink_writes_the_stanford_layout(tmp_path):
    path = _write_fixture(tmp_path / "c.txt", lines=200)
    vocab = _vocab(path)
    inner = co.ChunkSink()
    with open(tmp_path / "tee.bin", "wb") as fh:
        opts = co.CooccurOptions(window=4, memory_gb=1e-9, tmp_dir=str(tmp_path))
        sink, stats = co.count_cooccurrences([str(path)], vocab.words, opts, ReaderOptions(), sink=co.TeeSink(fh, inner))
    assert stats.spills > 0 and stats.records == sum(len(c) for c in inner.chunks)
    assert np.array_equal(co.read_records(str(tmp_path / "tee.bin"), len(vocab)), np.concatenate(inner.chunks))
