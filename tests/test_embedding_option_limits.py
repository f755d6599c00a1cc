"""Limits of the embedding commands' options and inputs, end to end through the CLI: values that used to fail
deep inside (an internal error, a hang, or only after training) are usage errors before any work, and standard
input is read by one option at most.

The corpus of most cases does not exist: an option checked before any work is refused (exit 2) ahead of the
missing file (exit 1).
"""

from __future__ import annotations

import pytest

from _cli import nlpt


def one_line_usage_error(r, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nlpt: error: "), r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    for word in words:
        assert word in lines[0], r.stderr


@pytest.fixture
def missing(tmp_path):
    return str(tmp_path / "no-such-corpus.txt")


# -- seeds and the settings a fastText .bin records as 32-bit integers ------------------------------------


@pytest.mark.parametrize("command", ["train-w2v", "train-subword"])
@pytest.mark.parametrize("seed", ["-1", "4294967296"])
def test_trainer_seed_range(tmp_path, missing, command, seed):
    one_line_usage_error(nlpt(command, missing, "-o", tmp_path / "out", "--seed", seed, "-q"), "--seed")


@pytest.mark.parametrize("option", ["--maxn", "--epochs", "--window", "--size", "--negative", "--min-count"])
def test_subword_settings_must_fit_the_bin_header(tmp_path, missing, option):
    extra = ["--minn", "1"] if option == "--maxn" else []
    r = nlpt("train-subword", missing, "-o", tmp_path / "m.bin", option, "2147483648", *extra, "-q")
    one_line_usage_error(r, option, "32-bit")
    assert not (tmp_path / "m.bin").exists()


# -- memory budgets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["vocab", "count"], ["vocab", "merge"], ["train-glove"]])
@pytest.mark.parametrize("memory", ["1e30", "1e12", "0", "-1"])
def test_memory_budget_upper_bound(tmp_path, missing, command, memory):
    r = nlpt(*command, missing, "-o", tmp_path / "out", "--memory", memory, "-q")
    one_line_usage_error(r, "--memory")


# -- thread counts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["train-w2v"], ["train-subword"], ["train-glove"], ["vocab", "count"],
                                     ["corpus", "stats"]])
def test_thread_count_upper_bound(tmp_path, missing, command):
    args = [*command, missing, "--threads", "100000", "-q"]
    if command[0] != "corpus":
        args += ["-o", tmp_path / "out"]
    one_line_usage_error(nlpt(*args), "--threads")


def test_refused_thread_is_a_one_line_error():
    import threading

    from nlpt.common.errors import NlptError
    from nlpt.common.threads import start_all

    class Refused(threading.Thread):
        def start(self):
            raise RuntimeError("can't start new thread")

    started = threading.Thread(target=lambda: None)
    with pytest.raises(NlptError, match=r"cannot start worker thread 2 of 2 .*--threads"):
        start_all([started, Refused(target=lambda: None)])
    started.join()


# -- shards: one open file each ---------------------------------------------------------------------------


def test_shards_beyond_the_open_file_limit(tmp_path, missing, monkeypatch):
    resource = pytest.importorskip("resource")
    monkeypatch.setattr(resource, "getrlimit", lambda what: (256, 256))
    r = nlpt("corpus", "shard", missing, "-n", "1000", "-o", tmp_path / "s-")
    one_line_usage_error(r, "--shards 1000", "ulimit -n")
    assert list(tmp_path.iterdir()) == []


def test_shards_within_the_limit_still_written(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(f"line {i} of the corpus\n" for i in range(50)))
    r = nlpt("corpus", "shard", corpus, "-n", "40", "-o", tmp_path / "out" / "s-", "-q")
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "out").iterdir())) == 40


# -- standard input is read once --------------------------------------------------------------------------


VEC = "3 2\nthe 1 0\ncat 0.9 0.1\ndog 0 1\n"


@pytest.mark.parametrize("sub", ["vectors", "nn"])
def test_query_model_and_words_both_from_stdin(sub):
    r = nlpt("query", sub, "-", input=VEC)
    one_line_usage_error(r, "standard input", "MODEL")
    r = nlpt("query", sub, "-", "the", input=VEC)  # words as arguments: the model may come from stdin
    assert r.returncode == 0 and r.stdout.startswith("the"), r.stderr


@pytest.mark.parametrize("args", [
    ["train-subword", "-", "--read-vocab", "-"],
    ["train-subword", "-", "--init", "-"],
    ["train-w2v", "-", "--read-vocab", "-"],
    ["train-glove", "--cooccur", "-", "--read-vocab", "-"],
])
def test_trainers_read_stdin_once(tmp_path, args):
    r = nlpt(*args, "-o", tmp_path / "out", "-q", input="the 5\ncat 5\n")
    one_line_usage_error(r, "standard input")
    assert not (tmp_path / "out").exists()


# -- the negative-sampling exponent -----------------------------------------------------------------------


def test_unigram_weights_stay_finite_for_any_exponent():
    import numpy as np

    from nlpt.embeddings.word2vec.sampling import AliasTable

    counts = np.array([100.0, 10.0, 1.0, 5.0])
    plain = counts ** 0.75
    assert np.allclose(AliasTable(counts, 0.75).distribution, plain / plain.sum())
    # the limits of the power: all draws on the most (large exponent) or least (large negative) frequent word
    assert AliasTable(counts, 1e30).distribution.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert AliasTable(counts, -1e30).distribution.tolist() == [0.0, 0.0, 1.0, 0.0]
    assert AliasTable(np.array([3.0, 0.0]), -1.0).distribution.tolist() == [1.0, 0.0]


@pytest.mark.parametrize("command", ["train-w2v", "train-subword"])
def test_huge_ns_exponent_is_not_an_overflow(tmp_path, command, recwarn):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat and the dog sat on the log\n" * 20)
    out = tmp_path / ("v.vec" if command == "train-w2v" else "m.bin")
    r = nlpt(command, corpus, "-o", out, "--ns-exponent", "1e30", "--min-count", "1", "--epochs", "1",
             "--size", "8", "--threads", "1", "-q")
    assert r.returncode == 0, r.stderr
    overflows = [str(w.message) for w in recwarn if "overflow" in str(w.message)]
    assert not overflows and "overflow" not in r.stderr, (overflows, r.stderr)
