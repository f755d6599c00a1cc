"""Messages that say what to do (torch missing, --tmp-dir, a full spill disk, the first kernel compilation,
a resumed run's rate) and option combinations that would be silently ignored, refused instead."""

from __future__ import annotations

import importlib.util
import os
import random

import pytest

from _cli import nlpt


@pytest.fixture
def corpus(tmp_path):
    (tmp_path / "c.txt").write_text("the cat sat on the mat\nthe dog sat on the log\n" * 5)
    return tmp_path / "c.txt"


@pytest.fixture
def no_torch(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))


def test_without_torch_the_install_line_comes_first(no_torch, corpus, tmp_path):
    line = "pip install 'nlpt[transformer]'"
    for args in (["finetune", "--train", corpus, "-o", tmp_path / "run"], ["finetune", "predict", "run", "x.tsv"],
                 ["pretrain", corpus, "-o", tmp_path / "run"],  # no --tokenizer: torch is named first
                 ["pretrain", "sample", "run"]):
        code, _, err = nlpt(*args)
        assert code == 1 and err.strip() == f"nlpt: error: `nlpt {args[0]}` needs torch: {line}", (args, err)
    code, out, _ = nlpt("pretrain", "train", "--help")
    assert code == 0 and "--tokenizer" in out  # help needs no torch
    code, _, err = nlpt("pretrain", "add-sentinels")  # needs tokenizers only
    assert code == 2 and "torch" not in err


@pytest.mark.parametrize("command", [["vocab"], ["train-glove", "--min-count", "1"]])
def test_a_missing_tmp_dir_does_not_exist(corpus, tmp_path, command):
    code, _, err = nlpt(*command, corpus, "-o", tmp_path / "out.txt", "--tmp-dir", tmp_path / "nowhere")
    assert code == 1 and err.strip() == f"nlpt: error: {tmp_path / 'nowhere'}: --tmp-dir does not exist"


def test_a_full_spill_disk_says_no_space_left(tmp_path, monkeypatch):
    """The spill files go to /dev/full (ENOSPC on every write); numpy's tofile said "cannot write (None)"."""
    from nlpt.common.spill import SpillDir

    rng = random.Random(0)
    (tmp_path / "many.txt").write_text("\n".join(" ".join(f"w{rng.randrange(10**7)}" for _ in range(10))
                                                 for _ in range(15000)))
    monkeypatch.setattr(SpillDir, "new_path", lambda self, *name: "/dev/full")
    code, _, err = nlpt("vocab", tmp_path / "many.txt", "-o", tmp_path / "v.txt", "--memory", "0.002",
                        "--threads", "1", "-q")
    assert code == 1 and "no space left on device while spilling word counts" in err, err
    assert not (tmp_path / "v.txt").exists()


def test_kernels_compiled_reads_numba_s_cache_index(tmp_path, monkeypatch):
    from nlpt.common import process

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert not process.kernels_compiled("vocab")
    origin = importlib.util.find_spec("nlpt.vocab._fastcount").origin
    where = tmp_path / os.path.dirname(os.path.abspath(origin)).lstrip(os.sep)
    where.mkdir(parents=True)
    index = where / "_fastcount.count_block-10.py311.nbi"
    index.write_bytes(b"")
    assert process.kernels_compiled("vocab")
    old = os.path.getmtime(origin) - 60
    os.utime(index, (old, old))  # older than the source: numba compiles again
    assert not process.kernels_compiled("vocab")


def test_the_first_run_says_it_compiles(corpus, tmp_path, monkeypatch):
    from nlpt.common import process

    monkeypatch.setattr(process, "kernels_compiled", lambda command: False)
    code, _, err = nlpt("vocab", corpus, "-o", tmp_path / "v.txt")
    assert code == 0 and "nlpt: compiling kernels (first run only, ~30 s)" in err.splitlines()
    code, _, err = nlpt("vocab", corpus, "-o", tmp_path / "v.txt", "-q")
    assert code == 0 and err == ""


def test_a_resumed_run_reports_the_rate_of_this_segment(monkeypatch):
    from nlpt.common import progress

    clock = iter([100.0, 100.0, 110.0, 110.0, 110.0])
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    bar = progress.Progress("training", total=2000, unit="words", quiet=True)
    with bar:
        bar.initial = bar.done = 1000  # where the resumed run starts
        bar.update(1500)
        assert bar.rate == 50.0  # 500 words in 10 s, not 1500


@pytest.mark.parametrize("args,message", [
    (["train-w2v", "{c}", "-o", "{d}/v.txt", "--cbow-sum"], "--cbow-sum applies to CBOW (--cbow)"),
    (["train-w2v", "{c}", "-o", "{d}/v.txt", "--max-sentence-length", "1"], "--max-sentence-length 1: a sentence of one word"),
    (["train-subword", "{c}", "-o", "{d}/m.bin", "--max-sentence-length", "1"], "--max-sentence-length 1"),
    (["train-glove", "{c}", "-o", "{d}/g.txt", "--max-sentence-length", "1"], "--max-sentence-length 1"),
    (["train-glove", "{c}", "-o", "{d}/g.txt", "--iter", "0"], "--iter 0 trains nothing"),
    (["vocab", "{c}", "--tokenizer", "bpe", "--size", "300", "--max-vocab", "10", "-o", "{d}/t.json"],
     "--max-vocab: not with --tokenizer (its size is --size)"),
    (["vocab", "{c}", "--tokenizer", "char", "--min-count", "3", "-o", "{d}/t.json"], "--min-count: not with --tokenizer char"),
    (["vocab", "{c}", "--tokenizer", "wordpiece", "--prune-limit", "5000", "-o", "{d}/t.json"], "--prune-limit: not with"),
])
def test_ignored_combinations_are_refused(corpus, tmp_path, args, message):
    args = [a.format(c=corpus, d=tmp_path) for a in args]
    code, _, err = nlpt(*args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert sorted(os.listdir(tmp_path)) == ["c.txt"]


def test_shard_refuses_stdin_before_creating_its_folder(tmp_path):
    code, _, err = nlpt("corpus", "shard", "-", "-n", "2", "-o", tmp_path / "new" / "part-")
    assert code == 2 and "cannot shard stdin" in err
    assert not (tmp_path / "new").exists()
    _, out, _ = nlpt("corpus", "shard", "--help")
    assert "not stdin" in out
