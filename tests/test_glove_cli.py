"""`nlpt train-glove` end to end: planted analogies, formats, co-occurrence files, resume, bad input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from _cli import SYNTHETIC, needs_synthetic, synthetic_head
from _cli import nlpt as run_nlpt
from nlpt.embeddings.formats.vectors import Vectors

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "data" / "synthetic-questions.txt"


def nlpt(*args, cwd=None):
    """The CLI with progress lines off."""
    return run_nlpt(*args, env={"NLPT_LOG_INTERVAL": "0"}, cwd=cwd)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    """The first 8000 lines of the synthetic corpus (fast to count and train)."""
    return Path(synthetic_head(tmp_path_factory, 8000, "small.txt"))


@pytest.mark.slow
@needs_synthetic
def test_planted_analogies_are_learnt(tmp_path):
    from nlpt.embeddings.evaluate import analogy

    out = tmp_path / "vectors.txt"
    r = nlpt("train-glove", SYNTHETIC, "-o", out, "--vector-size", 50, "--iter", 15, "--threads", 2, "--x-max", 10)
    assert r.returncode == 0, r.stderr
    assert "iter 15/15: cost" in r.stderr
    vectors = Vectors.load(str(out))
    assert vectors.dim == 50 and len(vectors) > 4000
    result = analogy(vectors, str(QUESTIONS))
    assert result.total > 1000
    assert result.accuracy > 0.4, result.sections


@needs_synthetic
def test_cooccur_file_round_trip_trains_identically(tmp_path, small_corpus):
    common = ["--vector-size", 10, "--iter", 3, "--threads", 1, "--seed", 3, "--min-count", 3, "-q"]
    direct = tmp_path / "direct.txt"
    r = nlpt("train-glove", small_corpus, "-o", direct, "--save-cooccur", tmp_path / "c.bin",
             "--save-vocab", tmp_path / "v.txt", *common)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # --quiet
    size = (tmp_path / "c.bin").stat().st_size
    assert size > 0 and size % 16 == 0
    again = tmp_path / "again.txt"
    r = nlpt("train-glove", "--cooccur", tmp_path / "c.bin", "--read-vocab", tmp_path / "v.txt", "-o", again, *common)
    assert r.returncode == 0, r.stderr
    assert direct.read_bytes() == again.read_bytes()


@pytest.mark.slow
@needs_synthetic
def test_formats_and_main_vectors(tmp_path, small_corpus):
    common = ["--vector-size", 6, "--iter", 1, "--min-count", 3, "-q"]
    for fmt in ("glove", "text", "binary"):
        out = tmp_path / f"v.{fmt}"
        r = nlpt("train-glove", small_corpus, "-o", out, "--format", fmt, *common)
        assert r.returncode == 0, r.stderr
        v = Vectors.load(str(out))
        assert v.dim == 6
    first = (tmp_path / "v.glove").read_text().split("\n", 1)[0].split()
    assert len(first) == 7  # GloVe text: no header line
    one = ["--seed", 1, "--threads", 1]  # a single thread: the same seed gives the same vectors
    r = nlpt("train-glove", small_corpus, "-o", tmp_path / "main.txt", "--model", 1, *one, *common)
    r2 = nlpt("train-glove", small_corpus, "-o", tmp_path / "main2.txt", "--vectors", "main", *one, *common)
    r3 = nlpt("train-glove", small_corpus, "-o", tmp_path / "sum.txt", "--model", 2, "--save-state", tmp_path / "s.npz",
              *one, *common)
    assert r.returncode == r2.returncode == r3.returncode == 0, r.stderr + r2.stderr + r3.stderr
    main, main2, total = (Vectors.load(str(tmp_path / n)) for n in ("main.txt", "main2.txt", "sum.txt"))
    assert main.words == main2.words == total.words
    assert np.array_equal(main.matrix, main2.matrix)  # --model 1 is --vectors main
    # W + W~ from the saved state: --model 1 wrote W, --model 2 wrote W + W~ (the state holds [W; W~] with biases)
    with np.load(tmp_path / "s.npz") as state:
        W = state["W"][:, :6]
    n = len(main.words)
    assert np.allclose(main.matrix, W[:n], atol=1e-6)
    assert np.allclose(total.matrix, W[:n] + W[n:], atol=1e-5)
    assert not np.allclose(main.matrix, total.matrix)


@pytest.mark.slow
@needs_synthetic
def test_resume_continues_from_saved_state(tmp_path, small_corpus):
    common = ["--vector-size", 8, "--threads", 1, "--seed", 9, "--min-count", 3]
    r = nlpt("train-glove", small_corpus, "-o", tmp_path / "straight.txt", "--iter", 4, *common)
    assert r.returncode == 0, r.stderr
    r = nlpt("train-glove", small_corpus, "-o", tmp_path / "half.txt", "--iter", 2, "--save-state", tmp_path / "s.npz", *common)
    assert r.returncode == 0, r.stderr
    r = nlpt("train-glove", small_corpus, "-o", tmp_path / "resumed.txt", "--iter", 4, "--resume", tmp_path / "s.npz", *common)
    assert r.returncode == 0, r.stderr
    assert "resuming from" in r.stderr and "iter 3/4" in r.stderr and "iter 1/4" not in r.stderr
    assert (tmp_path / "resumed.txt").read_bytes() == (tmp_path / "straight.txt").read_bytes()
    assert (tmp_path / "half.txt").read_bytes() != (tmp_path / "straight.txt").read_bytes()


def test_nan_guard_via_cli(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c d a b c d e\n" * 50, encoding="utf-8")
    out = tmp_path / "v.txt"
    r = nlpt("train-glove", corpus, "-o", out, "--eta", "1e30", "--grad-clip", "1e30", "--vector-size", 5, "--iter", 3)
    assert r.returncode == 1
    assert "NaN or infinite" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_bad_input(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    r = nlpt("train-glove", empty, "-o", tmp_path / "v.txt")
    assert r.returncode == 1 and "empty corpus" in r.stderr

    rare = tmp_path / "rare.txt"
    rare.write_text("one two three four\n", encoding="utf-8")
    r = nlpt("train-glove", rare, "-o", tmp_path / "v.txt")
    assert r.returncode == 1 and "no word occurs at least 5 times" in r.stderr

    r = nlpt("train-glove", rare, "-o", tmp_path / "v.txt", "--min-count", 1, "--window", 1, "--max-sentence-length", 1)
    assert r.returncode == 2 and "--max-sentence-length 1: a sentence of one word has no context" in r.stderr
    lonely = tmp_path / "lonely.txt"
    lonely.write_text("one\ntwo\n", encoding="utf-8")
    r = nlpt("train-glove", lonely, "-o", tmp_path / "v.txt", "--min-count", 1)
    assert r.returncode == 1 and "no co-occurrences" in r.stderr

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("a 10\nb 5\nc 2\n", encoding="utf-8")
    short = tmp_path / "short.bin"
    short.write_bytes(b"\x01" * 33)
    r = nlpt("train-glove", "--cooccur", short, "--read-vocab", vocab, "-o", tmp_path / "v.txt")
    assert r.returncode == 1 and f"{short}: size 33 bytes is not a multiple of 16" in r.stderr

    wrong = tmp_path / "wrong.bin"
    rec = np.zeros(2, dtype=[("w1", "<i4"), ("w2", "<i4"), ("x", "<f8")])
    rec["w1"], rec["w2"], rec["x"] = [1, 2], [2, 7], [1.0, 2.0]
    rec.tofile(wrong)
    r = nlpt("train-glove", "--cooccur", wrong, "--read-vocab", vocab, "-o", tmp_path / "v.txt")
    assert r.returncode == 1 and "record 2 has word id 7 outside 1..3" in r.stderr

    r = nlpt("train-glove", "--cooccur", wrong, "-o", tmp_path / "v.txt")
    assert r.returncode == 2 and "--read-vocab" in r.stderr
    r = nlpt("train-glove", "-o", tmp_path / "v.txt", "--iter", 1)
    assert r.returncode == 2
    assert not (tmp_path / "v.txt").exists()


@pytest.mark.slow
@needs_synthetic
def test_small_memory_trains_from_disk_identically(tmp_path, small_corpus):
    common = ["--vector-size", 10, "--iter", 3, "--threads", 1, "--seed", 3, "--min-count", 3, "--tmp-dir", tmp_path]
    r = nlpt("train-glove", small_corpus, "-o", tmp_path / "mem.txt", "--save-vocab", tmp_path / "v.txt",
             "--save-cooccur", tmp_path / "c.bin", *common)
    assert r.returncode == 0, r.stderr
    assert "training from" not in r.stderr and "peak memory (MiB): vocabulary" in r.stderr
    assert re.search(r"peak memory \(MiB\): .*, training \d+, output \d+$", r.stderr, re.M), r.stderr
    r = nlpt("train-glove", small_corpus, "-o", tmp_path / "disk.txt", "--memory", 0.001, *common)
    assert r.returncode == 0, r.stderr
    assert "spill(s)" in r.stderr and "training from" in r.stderr  # counting spilled, training streamed
    assert (tmp_path / "disk.txt").read_bytes() == (tmp_path / "mem.txt").read_bytes()
    r = nlpt("train-glove", "--cooccur", tmp_path / "c.bin", "--read-vocab", tmp_path / "v.txt", "-o", tmp_path / "file.txt",
             "--memory", 0.001, *common)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "file.txt").read_bytes() == (tmp_path / "mem.txt").read_bytes()
    names = sorted(p.name for p in tmp_path.iterdir())  # no temporary file left; each vectors file has its sidecar
    assert names == ["c.bin", "disk.txt", "disk.txt.json", "file.txt", "file.txt.json", "mem.txt", "mem.txt.json", "v.txt"]
