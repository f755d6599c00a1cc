"""Counting at corpus scale: exact word counts that spill sorted runs to disk (any --threads, any
budget), `vocab merge` in bounded memory, GloVe co-occurrences merged in passes of a small fan-in,
the union of several co-occurrence files, and the JSON sidecar of every vectors file."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import random
from collections import Counter

import numpy as np
import pytest

from _cli import nlpt
from nlpt.corpus.reader import ReaderOptions
from nlpt.corpus.tokenize import TokenizerOptions


def _words(rng: random.Random, n: int) -> list[str]:
    """`n` distinct-ish types: long shared prefixes (ties on the first 8 bytes), non-ASCII, cases."""
    stems = ["international", "über", "naïve", "北京", "x", "Prefix"]
    return [f"{rng.choice(stems)}{i}{rng.choice(['', 's', 'É', 'ing'])}" for i in range(n)]


@pytest.fixture(scope="module")
def big_corpus(tmp_path_factory) -> str:
    """~2.5 MB (above the size that counting splits into threads), ~60k types, Zipf-like."""
    rng = random.Random(11)
    words = _words(rng, 60_000)
    cum = list(itertools.accumulate(1.0 / (r + 1) for r in range(len(words))))
    lines = []
    for _ in range(25_000):
        lines.append(" ".join(rng.choices(words, cum_weights=cum, k=rng.randint(1, 30))))
    path = tmp_path_factory.mktemp("scale") / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert os.path.getsize(path) > (2 << 20)
    return str(path)


@pytest.mark.slow
def test_spilled_counts_equal_in_memory_counts_for_any_threads(big_corpus, tmp_path):
    from nlpt.vocab.count import count_words

    opts = ReaderOptions(tokenizer=TokenizerOptions(lower=True))
    ref = tmp_path / "ref.txt"
    in_memory = count_words([big_corpus], opts, threads=1, memory_gb=None)
    assert in_memory.spill is None
    in_memory.write_vocab(str(ref))
    reference = ref.read_bytes()
    text = open(big_corpus, encoding="utf-8").read().lower()
    expected = sorted(Counter(text.split()).items(), key=lambda wc: (-wc[1], wc[0]))
    assert reference.decode("utf-8") == "".join(f"{w} {c}\n" for w, c in expected)
    for threads in (1, 2):  # in process
        result = count_words([big_corpus], opts, threads=threads, memory_gb=1e-6, tmp_dir=str(tmp_path))
        assert result.spill["runs"] >= 3, result.spill  # the budget really forced runs to disk
        result.write_vocab(str(tmp_path / "lib.txt"))
        result.close()
        assert (tmp_path / "lib.txt").read_bytes() == reference, threads
    out = tmp_path / "spill4.txt"  # end to end
    r = nlpt("vocab", big_corpus, "-o", out, "--lower", "--threads", 4, "--memory", "0.001", "--tmp-dir", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["spilled"]["runs"] >= 4
    assert out.read_bytes() == reference
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".nlpt-")], "temporary runs left behind"


def test_many_runs_merged_in_passes_keep_exact_counts(big_corpus, tmp_path):
    """A fan-in of 2 forces extra merge passes; min-count and the ranked runs of the kept words."""
    from nlpt.vocab.count import count_words

    opts = ReaderOptions(tokenizer=TokenizerOptions(split_punct=True))
    full = count_words([big_corpus], opts, threads=1, memory_gb=None)
    spilled = count_words([big_corpus], opts, threads=2, memory_gb=1e-6, min_count=2, tmp_dir=str(tmp_path), fan_in=2)
    try:
        assert spilled.spill["passes"] >= 1 and spilled.spill["runs"] >= 4
        assert spilled.ranked is not None  # even the kept words outgrew the budget
        assert (spilled.types, spilled.tokens, spilled.hapax()) == (full.types, full.tokens, full.hapax())
        spilled.write_vocab(str(tmp_path / "a.txt"), min_count=3, max_size=5000)
        full.write_vocab(str(tmp_path / "b.txt"), min_count=3, max_size=5000)
        assert (tmp_path / "a.txt").read_bytes() == (tmp_path / "b.txt").read_bytes()
        with pytest.raises(Exception, match="raise --memory"):
            spilled.write_vocab(str(tmp_path / "c.txt"), min_count=1)  # words below min_count were not kept
    finally:
        spilled.close()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".nlpt-")]


def test_vocab_merge_of_many_shards_equals_count_of_their_concatenation(big_corpus, tmp_path):
    from nlpt.vocab.count import count_words

    lines = open(big_corpus, encoding="utf-8").read().splitlines(keepends=True)
    shards = []
    for i in range(16):
        text = "".join(lines[i::16])
        src = tmp_path / f"part{i}.txt"
        src.write_text(text, encoding="utf-8")
        counts = tmp_path / f"counts{i}.txt"
        count_words([str(src)], memory_gb=None).write_vocab(str(counts))
        if i % 3 == 0:  # some shards compressed, as a Slurm array job may leave them
            counts.with_suffix(".txt.gz").write_bytes(gzip.compress(counts.read_bytes()))
            counts.unlink()
            counts = counts.with_suffix(".txt.gz")
        shards.append(counts)
    whole = tmp_path / "whole.txt"
    count_words([big_corpus], memory_gb=None).write_vocab(str(whole), min_count=2)
    merged = tmp_path / "merged.txt"
    r = nlpt("vocab", "merge", *shards, "-o", merged, "--min-count", 2, "--memory", "0.001", "--tmp-dir", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["spilled"]["runs"] >= 3 and summary["files"] == 16
    assert merged.read_bytes() == whole.read_bytes()
    # a malformed line is named with its file and line number
    bad = tmp_path / "bad.txt"
    bad.write_text("a 1\nb\tc 2\n", encoding="utf-8")
    r = nlpt("vocab", "merge", bad, "-o", tmp_path / "x.txt")
    assert r.returncode == 1 and "bad.txt:2: expected 'word count'" in r.stderr


# -- GloVe ------------------------------------------------------------------------------


def _brute_force(path, vocab, window):
    counts: dict = {}
    for line in open(path, encoding="utf-8"):
        ids = [vocab.index[t] for t in line.split() if t in vocab.index]
        for p in range(len(ids)):
            for q in range(max(0, p - window), p):
                for key in ((ids[q], ids[p]), (ids[p], ids[q])):
                    counts[key] = counts.get(key, 0.0) + 1.0 / (p - q)
    return counts


def _glove_corpus(tmp_path, lines=1500, seed=5):
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(400)]
    weights = [1.0 / (r + 1) for r in range(400)]
    path = tmp_path / "g.txt"
    path.write_text("\n".join(" ".join(rng.choices(words, weights, k=rng.randint(2, 25))) for _ in range(lines)) + "\n")
    return path


def _vocab_of(path):
    from nlpt.vocab.vocab import Vocab

    return Vocab.from_counts(Counter(path.read_text().split()), 2)


@pytest.mark.slow
@pytest.mark.parametrize("partitions", [1, 5])
def test_glove_counts_with_many_spills_and_small_fan_in_equal_brute_force(tmp_path, partitions):
    from nlpt.embeddings.glove import cooccur as co

    path = _glove_corpus(tmp_path)
    vocab = _vocab_of(path)
    opts = co.CooccurOptions(window=5, memory_gb=1e-9, threads=1, tmp_dir=str(tmp_path), fan_in=2, partitions=partitions)
    chunks, stats = co.count_cooccurrences([str(path)], vocab.words, opts, ReaderOptions())
    rec = np.concatenate(chunks)
    assert stats.spills >= 8 and stats.merge_passes >= 3, stats
    assert stats.partitions == partitions
    assert 0 < stats.temp_peak_bytes <= stats.spilled_bytes
    expected = _brute_force(path, vocab, 5)
    got = {(int(a), int(b)): float(x) for a, b, x in zip(rec["w1"], rec["w2"], rec["x"])}
    assert len(got) == len(rec) == len(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12)
    keys = rec["w1"].astype(np.int64) * len(vocab) + rec["w2"]
    assert np.all(np.diff(keys) > 0)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".nlpt-cooccur-")]


@pytest.mark.slow
def test_partitioned_spills_keep_the_temporary_disk_within_twice_the_records(tmp_path):
    """Hundreds of spills: each partition is compacted on its own, so the disk held at once stays within
    1.5x the final records plus one partition; one partition (no split) may reach 2x plus a spill."""
    from nlpt.embeddings.glove import cooccur as co

    path = _glove_corpus(tmp_path, lines=1200, seed=9)
    vocab = _vocab_of(path)
    ratios = {}
    for partitions in (1, 8):
        opts = co.CooccurOptions(window=5, memory_gb=1e-9, threads=1, tmp_dir=str(tmp_path), partitions=partitions)
        _, stats = co.count_cooccurrences([str(path)], vocab.words, opts, ReaderOptions())
        assert stats.spills >= 100 and stats.temp_ratio == stats.temp_peak_bytes / (16 * stats.records)
        ratios[partitions] = stats.temp_ratio
    assert ratios[8] <= 1.6, ratios
    assert ratios[8] < ratios[1] <= 2.2, ratios


def test_train_glove_reports_the_temporary_disk_within_twice_the_records(tmp_path):
    """Through the CLI: a tiny --memory forces a spill per buffer; the log gives the peak disk against
    the final records (<= 2x) and the partitions, and the saved records equal the brute-force counts."""
    from nlpt.embeddings.glove import cooccur as co

    path = _glove_corpus(tmp_path, lines=1200, seed=4)
    vocab = _vocab_of(path)
    vfile = tmp_path / "v.txt"
    vocab.save(str(vfile))
    r = nlpt("train-glove", path, "--read-vocab", vfile, "-o", tmp_path / "vec.txt", "--iter", 0, "--vector-size", 2,
             "--window", 5, "--min-count", 2, "--memory", 0.0001, "--threads", 1, "--tmp-dir", tmp_path, "--save-cooccur", tmp_path / "c.bin")
    assert r.returncode == 0, r.stderr
    import re

    m = re.search(r"(\d+) spill\(s\): \d+ MB written, at most \d+ MB on disk at once = ([\d.]+)x the final records, "
                  r"(\d+) merge pass\(es\) in (\d+) partition\(s\)", r.stderr)
    assert m, r.stderr
    spills, ratio, partitions = int(m.group(1)), float(m.group(2)), int(m.group(4))
    assert spills >= 50 and partitions >= 2 and 0 < ratio <= 2.0, m.group(0)
    got = co.read_records(str(tmp_path / "c.bin"), len(vocab))
    expected = _brute_force(path, vocab, 5)
    assert len(got) == len(expected)
    for a, b, x in got[:: max(1, len(got) // 2000)]:
        assert x == pytest.approx(expected[(int(a), int(b))], rel=1e-12)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".nlpt-")]


def test_memory_too_small_for_the_parameters_is_refused_before_counting(tmp_path):
    path = _glove_corpus(tmp_path, lines=200)
    r = nlpt("train-glove", path, "-o", tmp_path / "vec.txt", "--vector-size", 300, "--memory", 0.001, "--min-count", 2,
             "--tmp-dir", tmp_path)
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.splitlines() if "--memory" in x]
    assert len(lines) == 1 and "cannot hold GloVe's parameters" in lines[0] and "words of size 300" in lines[0], r.stderr
    assert "Traceback" not in r.stderr and "counting co-occurrences" not in r.stderr
    assert not (tmp_path / "vec.txt").exists()


def test_cooccur_files_train_on_their_union(tmp_path):
    """Counts of two halves (on two nodes, say), saved and given together, equal the counts of the whole."""
    from nlpt.embeddings.glove import cooccur as co

    path = _glove_corpus(tmp_path, seed=8)
    vocab = _vocab_of(path)
    lines = path.read_text().splitlines(keepends=True)
    parts = []
    for i in range(3):
        part = tmp_path / f"half{i}.txt"
        part.write_text("".join(lines[i::3]))
        chunks, _ = co.count_cooccurrences([str(part)], vocab.words, co.CooccurOptions(window=5), ReaderOptions())
        co.write_records(str(tmp_path / f"c{i}.bin"), chunks)
        parts.append(str(tmp_path / f"c{i}.bin"))
    whole, _ = co.count_cooccurrences([str(path)], vocab.words, co.CooccurOptions(window=5), ReaderOptions())
    whole = np.concatenate(whole)
    sink = co.ChunkSink()
    n, stats = co.feed_record_files(parts, len(vocab), sink, memory_gb=1e-9, tmp_dir=str(tmp_path), fan_in=2)
    got = np.concatenate(sink.chunks)
    assert n == len(whole) and stats.spills >= 2
    assert np.array_equal(got["w1"], whole["w1"]) and np.array_equal(got["w2"], whole["w2"])
    assert np.allclose(got["x"], whole["x"], rtol=1e-12, atol=0)
    # end to end: `--cooccur a.bin b.bin c.bin` trains on the union and says so
    vfile = tmp_path / "v.txt"
    vocab.save(str(vfile))
    r = nlpt("train-glove", "--cooccur", *parts, "--read-vocab", vfile, "-o", tmp_path / "u.txt", "--iter", 1,
             "--vector-size", 5, "--threads", 1, "--tmp-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"read {len(whole)} co-occurrence records from the union of 3 files" in r.stderr


def test_every_vectors_file_has_a_sidecar_that_says_how_it_was_made(tmp_path):
    from nlpt.embeddings.formats.sidecar import read_sidecar, sidecar_reader_options

    path = _glove_corpus(tmp_path, lines=300)
    out = tmp_path / "g.vec"
    r = nlpt("train-glove", path, "-o", out, "--iter", 1, "--vector-size", 4, "--lower", "--min-count", 3,
             "--threads", 1, "--format", "text")
    assert r.returncode == 0, r.stderr
    meta = read_sidecar(str(out))
    assert meta["command"] == "train-glove" and meta["dim"] == 4
    assert meta["vocab_size"] == int(out.read_text().split()[0])
    assert meta["reader"]["lower"] is True and meta["reader"]["cjk"] is False
    assert meta["args"]["min_count"] == 3 and meta["args"]["window"] == 10
    opts = sidecar_reader_options(meta)
    assert opts.tokenizer.lower and not opts.tokenizer.split_punct
    import nlpt as package

    assert meta["nlpt_version"] == package.__version__
    assert read_sidecar(str(tmp_path / "none.vec")) is None
    (tmp_path / "bad.vec.json").write_text("{not json")
    with pytest.raises(Exception, match="bad.vec.json: not a readable vectors sidecar"):
        read_sidecar(str(tmp_path / "bad.vec"))


def test_word2vec_outputs_have_sidecars_and_limit_reads_binary_rows_in_place(tmp_path):
    from nlpt.embeddings.formats.sidecar import read_sidecar
    from nlpt.embeddings.formats.vectors import Vectors

    path = _glove_corpus(tmp_path, lines=300)
    out, ctx = tmp_path / "w.bin", tmp_path / "c.bin"
    r = nlpt("train-w2v", path, "-o", out, "--binary", "--size", 6, "--epochs", 1, "--min-count", 3, "--threads", 1,
             "--split-punct", "--save-context", ctx)
    assert r.returncode == 0, r.stderr
    meta, cmeta = read_sidecar(str(out)), read_sidecar(str(ctx))
    full = Vectors.load(str(out))
    assert meta["command"] == "train-w2v" and meta["vocab_size"] == len(full) and meta["dim"] == 6
    assert meta["reader"]["split_punct"] is True and meta["args"]["epochs"] == 1 and meta["args"]["format"] == "binary"
    assert cmeta["matrix"].startswith("context")
    head = Vectors.load(str(out), limit=7)  # memory-mapped: only the first rows are parsed
    assert head.words == full.words[:7] and np.array_equal(head.matrix, full.matrix[:7])


def test_text_vectors_are_written_as_python_formats_them():
    """The numba writer gives exactly f"{x:.9g}" (which round-trips float32) for every kind of value."""
    from nlpt.embeddings.formats.textfloat import format_rows

    rng = np.random.default_rng(1)
    values = np.concatenate([
        rng.standard_normal(20_000), rng.standard_normal(20_000) * 1e-6,
        np.exp(rng.uniform(-100, 87, 20_000)) * rng.choice([-1, 1], 20_000),
        [0.0, -0.0, 1.0, 0.5, 1e9, 999999999.0, 1e-4, 1e-5, 0.0001234, 123456789.0, 1234567.125, 3.4e38, 1.4e-45,
         1e-40, 100.0, 9.999999995, -2.5e-5],
    ]).astype(np.float32)
    rows = values[: len(values) // 7 * 7].reshape(-1, 7)
    words = [f"wörd{i}" for i in range(len(rows))]
    expected = "".join(w + " " + " ".join(f"{x:.9g}" for x in r.tolist()) + "\n" for w, r in zip(words, rows))
    got = format_rows(words, rows)
    assert got == expected.encode("utf-8")
    back = np.array([line.split()[1:] for line in got.decode().splitlines()], dtype=np.float32)
    assert np.array_equal(back.view(np.uint32), rows.view(np.uint32))  # bit-exact round trip
