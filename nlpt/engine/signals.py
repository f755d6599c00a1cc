"""SIGINT, SIGTERM and SIGUSR1 while a stage of a run works: the one stop-signal mechanism of the engine.

Two stages need them handled differently, with the same handlers installed and put back the same way:

* the training loop *notes* the signal (`StopSignals().signum`) and acts on it at the next step boundary:
  every rank agrees, saves a checkpoint and returns, so a requeued job continues where it stopped;
* building token files *raises* `Interrupted` (exit 130/143/138 with a note of what was removed) as soon as
  its temporary folder exists and its removal is certain (`raise_from_now`), so the folder is removed before
  the process ends; a signal that came while the folder was being made is raised then.

Handlers are installed only in the main thread (Python allows no other); elsewhere nothing changes.
Torch-free.
"""

from __future__ import annotations

import signal
import threading
from typing import Optional

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGUSR1") if hasattr(signal, name))


class StopSignals:
    """A context that handles `STOP_SIGNALS` while it is open and puts the previous handlers back on leaving."""

    def __init__(self):
        self.raise_now = False  # `raise_from_now`: raise on a signal rather than note it
        self.note: Optional[str] = None  # what the stage leaves behind, for the exit message
        self.signum = 0  # the last signal received (0: none)
        self._old: dict = {}

    def _handle(self, signum, frame) -> None:
        self.signum = signum
        if self.raise_now:
            self._raise()

    def _raise(self) -> None:
        from nlpt.common.errors import Interrupted

        raise Interrupted(self.signum, self.note)

    def raise_from_now(self, note: Optional[str] = None) -> None:
        """From now on a signal raises `Interrupted(signum, note)` at once; one already noted is raised now."""
        self.note, self.raise_now = note, True
        if self.signum:
            self._raise()

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for s in STOP_SIGNALS:
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._old.items():
            signal.signal(s, handler)
        self._old = {}
