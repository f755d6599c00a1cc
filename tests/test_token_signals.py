"""Signals while `nlpt pretrain` builds its token files: exit 130/143/138 with a note, the temporary folder
removed; a later run removes what a killed builder left behind (and nothing of a live one's)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("torch")
pytest.importorskip("tokenizers")

from _cli import ROOT, char_tokenizer_file, nlpt_main, synthetic_head  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return synthetic_head(tmp_path_factory, 300)


@pytest.fixture(scope="module")
def tok(corpus, tmp_path_factory):
    return char_tokenizer_file(tmp_path_factory, corpus)


def tiny(corpus, tok, run):
    return ["pretrain", corpus, "-o", run, "--tokenizer", tok, "--arch", "gpt-mini", "--layers", 1, "--hidden", 16,
            "--heads", 2, "--ffn", 32, "--context", 16, "--vocab", 64, "--batch", 2, "--max-steps", 1,
            "--eval-batches", 1, "--threads", 1, "--cpu-matmul", "torch", "-q"]


@pytest.mark.parametrize("signum", [signal.SIGUSR1, signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_building_token_files_removes_the_temporary_folder(signum, tok, tmp_path):
    # the corpus is a FIFO nobody writes to: the builder waits in it, its temporary folder made, until the signal
    fifo = tmp_path / "corpus.fifo"
    os.mkfifo(fifo)
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "nlpt", *map(str, tiny(str(fifo), tok, run))], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tokens = run / "tokens"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if tokens.is_dir() and any(n.startswith(".tokens.") for n in os.listdir(tokens)):
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    temporary = [n for n in os.listdir(tokens) if n.startswith(".tokens.")]
    assert len(temporary) == 1
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert f"interrupted by {signal.Signals(signum).name}; the token files were not finished" in err
    assert temporary[0] in err and "Traceback" not in err and err.count("\n") == 1, err
    assert os.listdir(tokens) == []


def test_a_later_run_removes_what_dead_builders_left(corpus, tok, tmp_path, capsys):
    run = tmp_path / "run"
    tokens = run / "tokens"
    tokens.mkdir(parents=True)
    host = socket.gethostname().replace(".", "-")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])  # a process id that is gone once it is waited for
    dead.wait()
    left = [f".tokens.{host}.{dead.pid}.abc", f".tokens.{host}.{os.getpid()}.live", f".tokens.otherhost.{dead.pid}.x"]
    for name in left:
        (tokens / name).mkdir()
        (tokens / name / "tokens.bin").write_bytes(b"\0" * 10)
    code, _, err = nlpt_main(*tiny(corpus, tok, run), capsys=capsys)
    assert code == 0, err
    names = os.listdir(tokens)
    assert left[0] not in names  # its builder is gone
    assert left[1] in names and left[2] in names  # a live builder's, another machine's: not ours to judge
    assert "meta.json" in names
