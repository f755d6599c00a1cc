"""Jobs started with closed standard descriptors (cron, daemons): they run, and fail only when the result
has nowhere to go — exit 1 and no traceback, never "internal error"."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from _cli import ROOT

pytestmark = pytest.mark.slow  # each test starts a process of its own


@pytest.fixture
def corpus(tmp_path):
    """Twenty copies of two lines: 7 word types with </s>, "the" 80 times."""
    (tmp_path / "c.txt").write_text("the cat sat on the mat\nthe dog sat on the log\n" * 20)
    return tmp_path / "c.txt"


def run_closed(args, close: tuple, cwd):
    """`python -m nlpt ARGS` with the descriptors in `close` closed in the child; stdout/stderr captured when open."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("NLPT_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "nlpt", *map(str, args)],
        preexec_fn=lambda: [os.close(fd) for fd in close],
        stdin=None if 0 in close else subprocess.DEVNULL,
        stdout=None if 1 in close else subprocess.PIPE,
        stderr=None if 2 in close else subprocess.PIPE,
        text=True, cwd=cwd, env=env, timeout=300,
    )


def test_closed_stderr_with_quiet_runs_silently(corpus, tmp_path):
    r = run_closed(["corpus", "stats", corpus, "-q"], (2,), tmp_path)
    assert r.returncode == 0 and "tokens" in r.stdout
    r = run_closed(["train-w2v", corpus, "-o", tmp_path / "w.txt", "--min-count", 1, "--size", 8, "--epochs", 1,
                    "--threads", 1, "-q"], (2,), tmp_path)
    assert r.returncode == 0 and (tmp_path / "w.txt").read_text().startswith("7 8\n")  # 6 words and </s>


def test_closed_stderr_without_quiet_still_runs(corpus, tmp_path):
    r = run_closed(["vocab", corpus, "-o", tmp_path / "v.txt"], (2,), tmp_path)
    assert r.returncode == 0 and (tmp_path / "v.txt").read_text().startswith("the 80\n")


def test_closed_stdout_when_it_is_the_result_fails_with_one_line(corpus, tmp_path):
    for args in (["params", "gpt2"], ["corpus", "stats", corpus, "-q"], ["vocab", corpus, "-q"]):
        r = run_closed(args, (1,), tmp_path)
        assert r.returncode == 1, (args, r.stderr)
        assert r.stderr.strip() == "nlpt: error: standard output (closed): cannot write (bad file descriptor)", r.stderr


def test_all_closed_and_no_stdin(corpus, tmp_path):
    r = run_closed(["vocab", corpus, "-o", tmp_path / "v.txt"], (0, 1, 2), tmp_path)
    assert r.returncode == 0 and (tmp_path / "v.txt").exists()
    r = run_closed(["params", "gpt2"], (0, 1, 2), tmp_path)
    assert r.returncode == 1  # its result had nowhere to go
    r = run_closed(["corpus", "tokenize", "-", "-o", tmp_path / "t.txt"], (0,), tmp_path)  # stdin closed: empty
    assert r.returncode == 0 and (tmp_path / "t.txt").read_text() == ""
