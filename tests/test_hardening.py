"""Hardening, end to end through the CLI in temporary folders: outputs onto devices, FIFOs,
symlinks and inputs; closed pipes; compressed and stdin inputs for every file option; NaN guards;
checkpoints that refuse other inputs; impossible architectures; subword sizes; usage errors; cosmetics.

Device nodes are created with os.mknod inside the test's folder (root only; skipped visibly otherwise):
no test touches a real system file.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading

import pytest

from _cli import ROOT, SYNTHETIC, needs_synthetic, nlpt

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="os.mknod of character devices needs root (CI runs as root)")
TEXT = "the cat sat on the mat\nthe dog sat on the log\n" * 3


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "ok.txt"
    path.write_text(TEXT)
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The first 3,000 lines of the synthetic corpus: enough for word2vec to run for a moment."""
    path = tmp_path_factory.mktemp("small") / "s.txt"
    with open(SYNTHETIC, encoding="utf-8") as fh:
        path.write_text("".join(next(fh) for _ in range(3000)))
    return path


def closed_pipe_run(*args, cwd=None):
    """Run nlpt with stdout a pipe whose reader is already gone: every write meets EPIPE."""
    r, w = os.pipe()
    os.close(r)
    try:
        return subprocess.run([sys.executable, "-m", "nlpt", *map(str, args)], stdout=w, stderr=subprocess.PIPE,
                              text=True, cwd=cwd, timeout=120, env={**os.environ, "NLPT_DEBUG": ""})
    finally:
        os.close(w)


# -- 1. outputs that are not regular files ------------------------------------------------------


@needs_root
def test_output_onto_character_device_is_written_directly(tmp_path, corpus):
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    w2v = ["train-w2v", corpus, "--min-count", 1, "--size", 4, "--epochs", 1, "--threads", 1]
    for args in (["corpus", "tokenize", corpus], ["vocab", corpus], w2v):
        r = nlpt(*args, "-o", null, "-q")
        assert r.returncode == 0, r.stderr
        assert stat.S_ISCHR(os.stat(null).st_mode), args  # still the device, not a regular file
    assert sorted(os.listdir(tmp_path)) == ["null", "ok.txt"]  # no temporary file, no sidecar beside it


@needs_root
def test_full_device_reports_enospc_naming_the_path(tmp_path, corpus):
    full = tmp_path / "full"
    os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    r = nlpt("corpus", "tokenize", corpus, "-o", full, "-q")
    assert r.returncode == 1
    assert r.stderr.strip() == f"nlpt: error: {full}: cannot write (no space left on device)"
    assert stat.S_ISCHR(os.stat(full).st_mode)
    # standard output on a full device: named as such, no traceback from the interpreter's last flush
    with open(full, "w") as fh:
        p = subprocess.run([sys.executable, "-m", "nlpt", "corpus", "tokenize", str(corpus), "-q"], stdout=fh,
                           stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 1 and p.stderr.strip() == "nlpt: error: standard output: cannot write (no space left on device)"


def test_output_onto_fifo_reaches_its_reader(tmp_path, corpus):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    r = nlpt("corpus", "tokenize", corpus, "-o", fifo, "-q")
    reader.join(30)
    assert r.returncode == 0, r.stderr
    assert got and got[0].decode().splitlines() == [line for line in TEXT.splitlines()]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_output_onto_proc_self_fd_writes_to_that_descriptor(corpus):
    r = nlpt("corpus", "tokenize", corpus, "-o", "/proc/self/fd/1", "-q", process=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == TEXT.splitlines()


def test_symlink_output_replaces_its_target(tmp_path, corpus):
    target = tmp_path / "target.txt"
    target.write_text("old\n")
    link = tmp_path / "link.txt"
    link.symlink_to(target.name)
    r = nlpt("vocab", corpus, "-o", link, "-q")
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == "target.txt"
    assert target.read_text().splitlines()[0] == "the 12"


def test_output_onto_an_input_is_refused(tmp_path, corpus):
    before = corpus.read_bytes()
    os.link(corpus, tmp_path / "hard.txt")
    (tmp_path / "sym.txt").symlink_to(corpus)
    cases = [
        ["corpus", "tokenize", corpus, "-o", f"{tmp_path}/./ok.txt"],
        ["corpus", "tokenize", corpus, "-o", tmp_path / "hard.txt"],
        ["vocab", corpus, "-o", tmp_path / "sym.txt"],
        ["vocab", "--tokenizer", "bpe", corpus, "-o", corpus],
        ["vocab", "merge", corpus, "-o", corpus],
        ["train-w2v", tmp_path, "-o", corpus],  # a directory input holds the output
        ["train-w2v", corpus, "-o", tmp_path / "v.txt", "--save-vocab", corpus],
        ["train-glove", corpus, "-o", corpus],
        ["corpus", "shard", corpus, "-n", "1", "-o", tmp_path / "x"],
    ]
    (tmp_path / "x00.txt").symlink_to(corpus)
    for args in cases:
        r = nlpt(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert "is the same file as the input" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert corpus.read_bytes() == before
    r = nlpt("train-w2v", corpus, "-o", tmp_path / "v.txt", "--save-vocab", tmp_path / "v.txt")
    assert r.returncode == 2 and "name the same file" in r.stderr


# -- 7. closed pipes ------------------------------------------------------------------------------


@pytest.mark.slow  # a process per case
@pytest.mark.parametrize("args", [
    ["corpus", "tokenize", "{corpus}"],
    ["corpus", "stats", "{corpus}", "--json"],
    ["corpus", "download", "--list"],
    ["vocab", "{corpus}"],
    ["vocab", "merge", "{counts}"],
    ["params", "deepseek-r1"],
    ["params", "--list"],
    ["compare", "bert-base", "gpt2"],
    ["compare", "{vectors}", "-n", "cat"],
    ["--help"],
])
def test_closed_pipe_exits_141_quietly(tmp_path, corpus, args):
    counts = tmp_path / "counts.txt"
    counts.write_text("the 6\ncat 3\n")
    vectors = tmp_path / "v.txt"
    vectors.write_text("3 2\nthe 1 0\ncat 0 1\ndog 1 1\n")
    args = [a.format(corpus=corpus, counts=counts, vectors=vectors) for a in args]
    r = closed_pipe_run(*args)
    assert r.returncode == 141, (args, r.returncode, r.stderr)
    assert "error" not in r.stderr and "Traceback" not in r.stderr and "Exception" not in r.stderr


@pytest.mark.slow
@needs_synthetic
def test_closed_pipe_train_w2v_to_stdout(small):
    r = closed_pipe_run("train-w2v", small, "-o", "-", "--size", 8, "--epochs", 1, "-q")
    assert r.returncode == 141, r.stderr
    assert r.stderr == ""


# -- 8. compressed and stdin inputs for every file option -------------------------------------------


def test_compressed_and_stdin_count_files(tmp_path, corpus):
    gz = tmp_path / "c.txt.gz"
    gz.write_bytes(gzip.compress(b"the 6\ncat 3\n"))
    r = nlpt("vocab", "merge", gz, "-q")
    assert r.returncode == 0 and r.stdout == "the 6\ncat 3\n", r.stderr
    r = nlpt("vocab", "merge", "-", gz, "-q", input="cat 2\nmat 1\n")
    assert r.returncode == 0 and r.stdout == "the 6\ncat 5\nmat 1\n", r.stderr
    r = nlpt("corpus", "stats", corpus, "--vocab", gz, "--json", "-q")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["vocab"]["size"] == 2
    r = nlpt("vocab", "merge", "-", "-", input="a 1\n")
    assert r.returncode == 2 and "only once" in r.stderr


def test_compressed_and_stdin_vector_files(tmp_path):
    text = "3 2\nthe 1 0\ncat 0.9 0.1\ndog 0 1\n"
    gz = tmp_path / "v.txt.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    for item, stdin in ((gz, None), ("-", text)):
        r = nlpt("compare", item, "-n", "the", "--json", input=stdin)
        assert r.returncode == 0, r.stderr
        row = json.loads(r.stdout)["rows"][0]
        assert row["words"] == 3 and row["neighbours"]["the"][0][0] == "cat"


@needs_synthetic
def test_read_vocab_compressed(tmp_path, small):
    vocab = tmp_path / "vocab.txt.gz"
    r = nlpt("vocab", small, "--min-count", 5, "-q")
    vocab.write_bytes(gzip.compress(r.stdout.encode()))
    r = nlpt("train-w2v", small, "-o", tmp_path / "v.txt", "--read-vocab", vocab, "--size", 8, "--epochs", 1, "-q")
    assert r.returncode == 0, r.stderr
    assert int((tmp_path / "v.txt").read_text().split()[0]) == len(gzip.decompress(vocab.read_bytes()).splitlines())


# -- 9. errors name the path and the operation ------------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux /proc")
def test_read_error_names_the_path():
    # reading /proc/self/mem at offset 0 fails with EIO for everyone (nothing is written anywhere)
    for args in (["corpus", "stats", "/proc/self/mem"], ["vocab", "merge", "/proc/self/mem"]):
        r = nlpt(*args)
        assert r.returncode == 1
        assert r.stderr.strip().splitlines()[-1] == "nlpt: error: /proc/self/mem: cannot read (input/output error)"


# -- 3. NaN vectors ------------------------------------------------------------------------------------


@needs_synthetic
def test_diverging_word2vec_stops_and_writes_nothing(tmp_path, small):
    out = tmp_path / "a.txt"
    r = nlpt("train-w2v", small, "-o", out, "--alpha", 0.9, "--epochs", 1, "--threads", 1, "-q")
    assert r.returncode == 1, r.stderr
    assert "training diverged" in r.stderr and "--alpha" in r.stderr
    assert not out.exists()
    for bad in ("10", "inf", "nan", "-1"):
        r = nlpt("train-w2v", small, "-o", out, "--alpha", bad)
        assert r.returncode == 2 and "--alpha" in r.stderr, (bad, r.stderr)


def test_compare_json_never_prints_nan(tmp_path):
    vectors = tmp_path / "v.txt"
    vectors.write_text("3 2\nthe 1 0\ncat nan 1\ndog inf 1\n")
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("the cat 1\nthe dog 2\ncat dog 3\n")
    r = nlpt("compare", vectors, "--similarity", pairs, "--json")
    assert r.returncode == 0, r.stderr

    def refuse(name):
        raise AssertionError(f"non-JSON constant {name}")

    doc = json.loads(r.stdout, parse_constant=refuse)
    assert doc["rows"][0]["non_finite_vectors"] == 2


# -- 4. checkpoints refuse other inputs --------------------------------------------------------------


@pytest.mark.slow
@needs_synthetic
def test_checkpoint_refuses_other_inputs(tmp_path, small):
    check = tmp_path / "ck.npz"
    proc = subprocess.Popen([sys.executable, "-m", "nlpt", "train-w2v", str(small), "-o", str(tmp_path / "v.txt"),
                             "--checkpoint", str(check), "--epochs", "200", "--threads", "1", "--size", "8"],
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "NLPT_LOG_INTERVAL": "0.2"})
    for line in proc.stderr:
        if "skip-gram" in line:  # training has started
            break
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130 and check.exists()
    other = tmp_path / "other.txt"
    other.write_bytes(small.read_bytes() + b"one more line\n")
    r = nlpt("train-w2v", other, "-o", tmp_path / "v.txt", "--checkpoint", check, "--epochs", 200, "--threads", 1,
             "--size", 8)
    assert r.returncode == 1 and "checkpoint was made on other input files" in r.stderr, r.stderr
    assert check.exists() and not (tmp_path / "v.txt").exists()
    damaged = tmp_path / "bad.npz"
    damaged.write_bytes(b"not a checkpoint")
    r = nlpt("train-w2v", small, "-o", tmp_path / "v.txt", "--checkpoint", damaged)
    assert r.returncode == 1 and "not a valid nlpt checkpoint" in r.stderr and "pickle" not in r.stderr


@needs_synthetic
def test_glove_resume_past_the_requested_iterations(tmp_path, small):
    state = tmp_path / "s.npz"
    common = ["--vector-size", 4, "--min-count", 5, "--threads", 1, "-q"]
    r = nlpt("train-glove", small, "-o", tmp_path / "g.txt", "--iter", 2, "--save-state", state, *common)
    assert r.returncode == 0, r.stderr
    r = nlpt("train-glove", small, "-o", tmp_path / "g1.txt", "--iter", 1, "--resume", state, *common)
    assert r.returncode == 2 and "already at iteration 2, past --iter 1" in r.stderr
    assert not (tmp_path / "g1.txt").exists()


# -- 5. impossible architectures ----------------------------------------------------------------------


def test_impossible_architectures_refused_from_flags_and_files(tmp_path):
    for args in (["--family", "gpt", "--hidden", "768", "--heads", "7"], ["--family", "gpt", "--hidden", "770"],
                 ["gpt2", "--heads", "7"], ["--family", "bert", "--hidden", "100", "--heads", "3"]):
        r = nlpt("params", *args)
        assert r.returncode == 2 and "does not divide --hidden" in r.stderr, (args, r.stderr)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_type": "gpt2", "n_embd": 768, "n_head": 7, "n_layer": 2, "vocab_size": 100,
                                  "n_positions": 64}))
    r = nlpt("params", config)
    assert r.returncode == 1 and r.stderr.strip() == f"nlpt: error: {config}: num_heads 7 does not divide hidden_size 768"
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    r = nlpt("params", deep)
    assert r.returncode == 1 and "nested too deeply" in r.stderr and "internal error" not in r.stderr


# -- 6. subword sizes ------------------------------------------------------------------------------------


def test_subword_size_bounds(tmp_path, corpus):
    out = tmp_path / "tok.json"
    for size in (1, 100, 1_000_000_000):
        r = nlpt("vocab", "--tokenizer", "bpe", "--size", size, "-o", out, corpus)
        assert r.returncode == 2 and "between 261" in r.stderr, r.stderr
    r = nlpt("vocab", "--tokenizer", "bpe", "--size", 300, "-o", out, corpus, "-q")
    assert r.returncode == 0, r.stderr
    entries = len(json.loads(out.read_text())["model"]["vocab"])
    assert entries < 300 and f"has {entries} entries, fewer than --size 300" in r.stderr


# -- 10. usage errors before any work --------------------------------------------------------------------


def test_ordinary_mistakes_are_usage_errors(tmp_path, corpus):
    for cmd in ("train-w2v", "train-glove"):
        r = nlpt(cmd, corpus, "-o", tmp_path / "v.txt", "--seed", "-1")
        assert r.returncode == 2 and "--seed" in r.stderr and "internal error" not in r.stderr, r.stderr
    huge = tmp_path / "huge.txt"
    huge.write_text("the 100000000000000000000000000\n")
    r = nlpt("train-w2v", corpus, "-o", tmp_path / "v.txt", "--read-vocab", huge)
    assert r.returncode == 1 and f"{huge}:1: count of 'the' exceeds" in r.stderr and "internal" not in r.stderr
    r = nlpt("train-w2v", corpus, "-o", tmp_path / "v.txt", "--window", "100000000000000000000")
    assert r.returncode == 2 and r.stderr.startswith("nlpt: error: --window 100000000000000000000: too large")
    r = nlpt("corpus", "stats", tmp_path / "missing.txt", "--debug")  # --debug after the subcommand
    assert r.returncode == 1 and "Traceback" in r.stderr and "No such option" not in r.stderr
    r = nlpt("train-w2v", corpus, "-o", tmp_path / "v.txt", "--bogus")
    assert r.returncode == 2 and r.stderr.strip() == "nlpt: error: No such option: --bogus (see 'nlpt train-w2v --help')"
    r = nlpt("train-w2v", corpus, "-o", tmp_path / "v.txt", "--thread", "2")
    assert r.returncode == 2 and "did you mean --threads" in r.stderr


def test_shard_creates_the_prefix_folder(tmp_path, corpus):
    r = nlpt("corpus", "shard", corpus, "-n", 2, "-o", "shards/part-", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    parts = sorted(os.listdir(tmp_path / "shards"))
    assert parts == ["part-00.txt", "part-01.txt"]
    assert "".join((tmp_path / "shards" / p).read_text() for p in parts) == TEXT


def test_small_corpus_stats_do_not_load_numba(corpus):
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "nlpt", "corpus", "stats", str(corpus), "-q"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "tokens" in r.stdout
    assert "numba" not in r.stderr


# -- 12. cosmetics ------------------------------------------------------------------------------------------


def test_progress_units_and_overshoot(capsys):
    from nlpt.common.progress import Progress

    with Progress("reading", total=4_040_000, unit="B", interval=1e9, tty=False) as bar:
        bar.update(5_000_000)
    line = capsys.readouterr().err
    assert "100.0%" in line and "4.04 MB of 4.04 MB" in line and re.search(r" [kMG]?B/s", line) and "M B" not in line
    with Progress("train", total=4_040_000, unit="words", interval=1e9, tty=False) as bar:
        bar.update(4_060_000)
    line = capsys.readouterr().err
    assert "100.0%" in line and "4.04M/4.04M words" in line


def test_neighbours_name_the_spelling_found(tmp_path):
    vectors = tmp_path / "v.txt"
    vectors.write_text("3 2\nParis 1 0\nlondon 0.9 0.1\nrome 0 1\n")
    r = nlpt("compare", vectors, "-n", "paris")
    assert r.returncode == 0, r.stderr
    assert "(as Paris) london 0.994  rome 0.000" in r.stdout


def test_tokenize_help_says_lines_are_kept():
    r = nlpt("corpus", "tokenize", "--help")
    assert r.returncode == 0 and "one normalised, space-separated sentence per line" not in r.stdout
    assert "no sentence splitting" in " ".join(r.stdout.split())
