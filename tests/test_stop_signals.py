"""The engine's one stop-signal mechanism (torch-free): noted for the loop, raised for the token builder (a
signal that came before the builder's temporary folder existed is raised once its removal is certain), the
previous handlers put back; and the command line's handling of the same signals in every command (one line,
128 + the signal, no temporary file left; a signal the process was started ignoring stays ignored)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests._cli import ROOT

from nlpt.common.errors import Interrupted
from nlpt.engine.signals import StopSignals

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1 (POSIX)")


def test_a_signal_is_noted_and_the_handlers_put_back():
    before = signal.getsignal(signal.SIGUSR1)
    with StopSignals() as stop:
        os.kill(os.getpid(), signal.SIGUSR1)
        assert stop.signum == signal.SIGUSR1  # noted, nothing raised
    assert signal.getsignal(signal.SIGUSR1) is before


def test_a_signal_noted_earlier_is_raised_with_the_note_once_raising_is_asked():
    with StopSignals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        with pytest.raises(Interrupted) as caught:
            stop.raise_from_now("the folder was removed")
    assert caught.value.signum == signal.SIGTERM and caught.value.note == "the folder was removed"


def test_after_raise_from_now_a_signal_raises_at_once():
    with pytest.raises(Interrupted) as caught:
        with StopSignals() as stop:
            stop.raise_from_now("note")
            os.kill(os.getpid(), signal.SIGUSR1)
            pytest.fail("the signal did not raise")
    assert caught.value.signum == signal.SIGUSR1


def _tokenize_waiting_on_a_fifo(tmp_path, preexec_fn=None):
    """`nlpt corpus tokenize FIFO -o out.txt` that has read a first block and waits for more, its temporary
    output file made: the moment a signal must leave nothing behind."""
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen([sys.executable, "-m", "nlpt", "corpus", "tokenize", str(fifo), "-o", str(tmp_path / "out.txt")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn)
    writer = os.open(fifo, os.O_WRONLY)
    os.write(writer, b"one two three\n" * 1000)
    deadline = time.time() + 60
    while time.time() < deadline and not any(n.endswith(".tmp") for n in os.listdir(tmp_path)):
        time.sleep(0.05)
    return proc, writer


@pytest.mark.parametrize("signum", [signal.SIGUSR1, signal.SIGHUP])
def test_slurms_warning_and_a_hang_up_stop_a_command_cleanly(signum, tmp_path):
    # SIGUSR1 (`sbatch --signal=USR1@90`) and SIGHUP used to end the process at once, leaving the temporary output
    proc, writer = _tokenize_waiting_on_a_fifo(tmp_path)
    try:
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        os.close(writer)
    assert proc.returncode == 128 + signum, err
    assert err == f"nlpt: error: interrupted by {signal.Signals(signum).name}; no partial output was written\n"
    assert sorted(os.listdir(tmp_path)) == ["in.fifo"]


def test_a_signal_ignored_at_start_stays_ignored(tmp_path):
    # `nohup nlpt ...`: the hang-up is ignored and the command finishes its work
    proc, writer = _tokenize_waiting_on_a_fifo(tmp_path, lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    try:
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        os.write(writer, b"four\n")
    finally:
        os.close(writer)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert (tmp_path / "out.txt").read_text().endswith("one two three\nfour\n")


def test_a_later_run_removes_the_temporary_output_a_killed_run_left(tmp_path):
    # SIGKILL cannot be handled: the killed writer's temporary file stays until the next write of that output
    proc, writer = _tokenize_waiting_on_a_fifo(tmp_path)
    try:
        proc.kill()
        proc.communicate(timeout=60)
    finally:
        os.close(writer)
    left = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert len(left) == 1 and f".{proc.pid}." in left[0], left
    host = left[0].split(".")[3]
    live = f".out.txt.{host}.{os.getpid()}.abc.tmp"  # a live writer's, another machine's: not ours to judge
    other = f".out.txt.otherhost.{proc.pid}.abc.tmp"
    for name in (live, other):
        (tmp_path / name).write_text("")
    (tmp_path / "small.txt").write_text("a b\n")
    r = subprocess.run([sys.executable, "-m", "nlpt", "corpus", "tokenize", str(tmp_path / "small.txt"), "-o",
                        str(tmp_path / "out.txt"), "-q"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(tmp_path)) == sorted([live, other, "in.fifo", "out.txt", "small.txt"])
