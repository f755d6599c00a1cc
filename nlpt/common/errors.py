"""Errors a user can act on.

Commands raise `NlptError` with a message that names the file and the problem;
the CLI prints it as one line and exits non-zero, never with a traceback
(unless `--debug`).
"""

from __future__ import annotations

import contextlib
import signal

# The signals that stop a command cleanly (temporary files removed, checkpoint written where there is one):
# Ctrl-C, kill/scancel/preemption, Slurm's warning before the time limit (`--signal=USR1@N`), a hang-up.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGUSR1", "SIGHUP") if hasattr(signal, name))


def install_stop_handler(handler) -> dict:
    """Make `handler` handle each of `STOP_SIGNALS` that this process does not ignore, and return the previous
    handlers. An ignored one stays ignored: `nohup` (SIGHUP) and a shell's background job (SIGINT) asked for
    that, as coreutils respect. Only the main thread may install handlers: elsewhere nothing changes."""
    import threading

    old: dict = {}
    if threading.current_thread() is not threading.main_thread():
        return old
    for s in STOP_SIGNALS:
        if signal.getsignal(s) != signal.SIG_IGN:
            old[s] = signal.signal(s, handler)
    return old


class NlptError(Exception):
    """A failure caused by input, arguments or environment: one line, exit 1."""

    exit_code = 1


class PeerGone(NlptError):
    """A peer rank died mid-collective. The process group is broken, and the backend's destructors can abort
    the process (SIGABRT) while the interpreter exits, so the CLI reports this in its one line and ends the
    process at once, without running them."""


class UsageError(NlptError):
    """Bad arguments or option combinations: exit 2, like a parse error."""

    exit_code = 2


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM/SIGINT (SIGUSR1 where a stage asks for it) so cleanup code runs;
    `note` says what was left behind, for the exit message."""

    def __init__(self, signum: int = 2, note: str | None = None):
        super().__init__(signum)
        self.signum = signum
        self.note = note


@contextlib.contextmanager
def stop_note(note):
    """While open, a stop signal that passes (`Interrupted`, or Ctrl-C's bare KeyboardInterrupt) ends the command
    with `note` in its one line: what exists and how to continue (a checkpoint kept, a finished run's missing
    export), instead of "no partial output was written". `note` is a string, or a callable that returns one when
    the signal comes (None: nothing to add); a note a deeper stage gave comes first."""
    try:
        yield
    except KeyboardInterrupt as exc:
        text = note() if callable(note) else note
        if not text:
            raise
        inner = getattr(exc, "note", None)
        raise Interrupted(getattr(exc, "signum", signal.SIGINT), f"{inner}; {text}" if inner else text) from None


def stop_report(signum: int, step: int, checkpoint: str) -> str:
    """The line a checkpointed run (pretrain, finetune) ends with when a signal stopped it: where it stopped and
    how to continue. The exit status is `signal_exit(signum)`."""
    return f"stopped by {signal_name(signum)} at step {step}; checkpoint {checkpoint}; rerun the same command to continue"


def interrupted_report(signum: int, note: str | None = None) -> str:
    """The line a command without checkpoints ends with when a signal stopped it; `note` says what was left."""
    return f"interrupted by {signal_name(signum)}; {note or 'no partial output was written'}"


def signal_exit(signum: int) -> int:
    """The exit status of a command a signal stopped, as a shell reports it: 128 + the signal (130 for SIGINT)."""
    return 128 + signum


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError: 'PATH: reason'."""
    reason = exc.strerror or str(exc)
    if exc.filename is not None:
        return f"{exc.filename}: {reason[:1].lower() + reason[1:]}"
    return reason


def exception_reason(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message for a one-line error, its type name when the message is empty."""
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__
