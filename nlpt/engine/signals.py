"""SIGINT, SIGTERM, SIGUSR1 and SIGHUP while a stage of a run works: the one stop-signal mechanism of the engine.

Two stages need them handled differently, with the same handlers installed and put back the same way:

* the training loop *notes* the signal (`StopSignals().signum`) and acts on it at the next step boundary:
  every rank agrees, saves a checkpoint and returns, so a requeued job continues where it stopped;
* building token files *raises* `Interrupted` (exit 130/143/138 with a note of what was removed) as soon as
  its temporary folder exists and its removal is certain (`raise_from_now`), so the folder is removed before
  the process ends; a signal that came while the folder was being made is raised then.

Handlers are installed only in the main thread (Python allows no other), and not for a signal the process
ignores (`nohup`); see `nlpt.common.errors.install_stop_handler`.
Torch-free.
"""

from __future__ import annotations

import signal
from typing import Optional

from nlpt.common.errors import STOP_SIGNALS, install_stop_handler

__all__ = ["STOP_SIGNALS", "StopSignals"]


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
        self._old = install_stop_handler(self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._old.items():
            signal.signal(s, handler)
        self._old = {}
