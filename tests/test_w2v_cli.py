"""`nlpt train-w2v` end to end through the CLI: formats, gensim, vocabularies, errors, signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from _cli import ROOT, needs_synthetic, nlpt, synthetic_head
from nlpt.embeddings.formats.vectors import Vectors

pytestmark = needs_synthetic


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The first ~60k tokens of the synthetic corpus."""
    return synthetic_head(tmp_path_factory, 6000, "small.txt")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The first ~15k tokens of the synthetic corpus."""
    return synthetic_head(tmp_path_factory, 1500, "tiny.txt")


def test_text_and_binary_hold_the_same_vectors_and_gensim_reads_both(small, tmp_path):
    txt, binf, ctx, voc = (str(tmp_path / n) for n in ("v.txt", "v.bin", "ctx.txt", "vocab.txt"))
    common = ["--size", "24", "--epochs", "1", "--threads", "1", "--seed", "5", "--quiet"]
    r = nlpt("train-w2v", small, "-o", txt, "--save-context", ctx, "--save-vocab", voc, *common)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # --quiet
    r = nlpt("train-w2v", small, "-o", binf, "--binary", *common)
    assert r.returncode == 0, r.stderr
    a, b = Vectors.load(txt), Vectors.load(binf)
    assert a.words == b.words and a.dim == 24
    assert np.array_equal(a.matrix, b.matrix)  # same seed, one thread, and lossless text
    c = Vectors.load(ctx)
    assert c.words == a.words and not np.array_equal(c.matrix, a.matrix)
    # the vocabulary file lists the same words, by descending count
    vocab_lines = open(voc, encoding="utf-8").read().split("\n")[:-1]
    assert [line.split()[0] for line in vocab_lines] == a.words
    counts = [int(line.split()[1]) for line in vocab_lines]
    assert counts == sorted(counts, reverse=True) and min(counts) >= 5
    gensim_kv = pytest.importorskip("gensim.models").KeyedVectors
    for path, binary in ((txt, False), (binf, True)):
        kv = gensim_kv.load_word2vec_format(path, binary=binary)
        assert kv.index_to_key == a.words
        assert np.array_equal(kv.vectors, a.matrix)


def test_read_vocab_max_vocab_and_cbow_hs(small, tmp_path):
    voc = tmp_path / "vocab.txt"
    voc.write_text("the 100\nof 50\nand 40\nto 30\nnotincorpus 20\nrare 1\n")
    out = str(tmp_path / "v.txt")
    r = nlpt("train-w2v", small, "-o", out, "--read-vocab", str(voc), "--min-count", "2", "--max-vocab", "4",
             "--cbow", "--hs", "--negative", "0", "--size", "8", "--epochs", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    assert Vectors.load(out).words == ["the", "of", "and", "to"]


@pytest.mark.parametrize(
    "setup, args, message",
    [
        ("empty", [], "empty corpus"),
        ("tiny", ["--min-count", "5"], "no word occurs at least 5 times"),
        ("badvocab", ["--read-vocab", "{tmp}/bad.vocab"], "bad.vocab:2: count 'many' is not an integer"),
        ("tiny", ["--negative", "0"], "nothing to train"),
        ("tiny", ["-o", "{tmp}/missing/dir/v.txt"], "does not exist"),
    ],
)
def test_bad_input_gives_one_line_errors(tmp_path, setup, args, message):
    corpus = tmp_path / "c.txt"
    corpus.write_text({"empty": "", "tiny": "a b c\nd e\n", "badvocab": "a b\n"}[setup])
    (tmp_path / "bad.vocab").write_text("a 5\nb many\n")
    args = [a.format(tmp=tmp_path) for a in args]
    out = [] if "-o" in args else ["-o", str(tmp_path / "v.txt")]
    r = nlpt("train-w2v", str(corpus), *out, *args, "-q")  # (-q: no "compiling kernels" note on a first run)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nlpt: error:"), r.stderr
    assert message in lines[0]
    assert not (tmp_path / "v.txt").exists()


@pytest.mark.parametrize("args, message", [(["--size", "0"], "Invalid value for '--size'"),
                                           (["--alpha", "nan"], "Invalid value for '--alpha': 'nan' is not a finite number"),
                                           (["--window", "x"], "Invalid value for '--window': 'x' is not an integer"),
                                           (["--min-alpha-ratio", "2"], "Invalid value for '--min-alpha-ratio': 2 is out of range (it must be >= 0 and <= 1)")])
def test_bad_option_values_are_usage_errors(tmp_path, args, message):
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c\n")
    r = nlpt("train-w2v", str(corpus), "-o", str(tmp_path / "v.txt"), *args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr


@pytest.mark.slow
def test_training_process_loads_no_scipy_linalg(tiny, tmp_path):
    """Memory: numba's scipy.linalg import is avoided (~25 MB resident)."""
    code = (
        "import sys, nlpt.cli\n"
        "sys.argv = ['nlpt'] + sys.argv[1:]\n"
        "try:\n    nlpt.cli.main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print(sorted(m for m in ('scipy.linalg', 'numba') if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", code, "train-w2v", tiny, "-o", str(tmp_path / "v.txt"), "--size", "8",
                        "--epochs", "1", "--min-count", "2", "--quiet"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "['numba']"  # numba did the work, without scipy.linalg
    assert len(Vectors.load(str(tmp_path / "v.txt")).words) > 100


def _start_long_run(corpus, out, extra=()):
    proc = subprocess.Popen(
        [sys.executable, "-m", "nlpt", "train-w2v", corpus, "-o", out, "--epochs", "200", "--size", "16",
         "--threads", "2", *extra],
        stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "NLPT_LOG_INTERVAL": "0.2"},
    )
    deadline = time.time() + 60
    for line in proc.stderr:  # wait until training has started
        if "train-w2v" in line and "words/s" in line or time.time() > deadline:
            break
    return proc


@pytest.mark.slow
def test_sigterm_writes_nothing(small, tmp_path):
    out = tmp_path / "v.txt"
    proc = _start_long_run(small, str(out))
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=60)[1]  # workers notice the stop flag and return
    assert proc.returncode == 143, rest
    assert "interrupted by SIGTERM" in rest
    assert os.listdir(tmp_path) == []  # no output, no temporary file


@pytest.mark.slow
def test_checkpoint_on_interrupt_then_resume(tiny, tmp_path):
    out = tmp_path / "v.txt"
    ck = tmp_path / "state.ckpt"
    proc = _start_long_run(tiny, str(out), ["--checkpoint", str(ck), "--seed", "3"])
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=30)[1]
    assert proc.returncode == 130, rest
    assert ck.exists() and not out.exists()
    # one line says it stopped and what it kept (before, a log line said so and the error line "no partial output")
    assert rest.strip().splitlines()[-1] == (f"nlpt: error: interrupted by SIGINT; training state saved to {ck}; "
                                             "rerun the same command to resume"), rest
    # different settings are refused
    r = nlpt("train-w2v", tiny, "-o", str(out), "--epochs", "200", "--size", "32", "--threads", "2",
             "--checkpoint", str(ck), "--seed", "3")
    assert r.returncode == 1 and "different settings" in r.stderr and not out.exists()
    # resuming finishes the remaining epochs (fewer than 200 from scratch), then removes the checkpoint
    from nlpt.embeddings.training.driver import load_checkpoint

    epoch = load_checkpoint(str(ck))[1]["epoch"]
    assert 0 <= epoch < 200
    r = nlpt("train-w2v", tiny, "-o", str(out), "--epochs", "200", "--size", "16", "--threads", "2",
             "--checkpoint", str(ck), "--seed", "3", env={"NLPT_LOG_INTERVAL": "1000"})
    assert r.returncode == 0, r.stderr
    assert f"resuming from {ck}: epoch {epoch + 1}/200" in r.stderr
    assert out.exists() and not ck.exists()
    assert Vectors.load(str(out)).dim == 16
