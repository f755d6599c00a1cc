"""Progress reporting that suits both a terminal and a batch job.

On a TTY a rich progress bar is drawn on stderr. Elsewhere (cron, Slurm, a
pipe) a plain line is logged every `interval` seconds, with no carriage
returns, so log files stay readable. `quiet=True` prints nothing.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def _fmt_count(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.2f}{unit}"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.3g}"


def _fmt_amount(x: float, unit: str) -> str:
    """`5.00 MB`, `28.71 MB/s` for bytes (SI prefix glued to the unit), `4.06M words` otherwise."""
    if unit in ("B", "B/s"):
        for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
            if abs(x) >= scale:
                return f"{x / scale:.2f} {prefix}{unit}"
        return f"{x:.0f} {unit}"
    return f"{_fmt_count(x)} {unit}".rstrip()


def _fmt_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def _fmt_fields(fields: dict[str, Any]) -> str:
    parts = []
    for key, value in fields.items():
        if isinstance(value, float):
            parts.append(f"{key} {value:.4g}")
        else:
            parts.append(f"{key} {value}")
    return "  ".join(parts)


def log(message: str, quiet: bool = False) -> None:
    """One informational line on stderr (suppressed by --quiet)."""
    if not quiet:
        print(f"nlpt: {message}", file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """A warning line on stderr, shown even with --quiet."""
    print(f"nlpt: warning: {message}", file=sys.stderr, flush=True)


class Progress:
    """Progress of one job measured in `unit`s (bytes, words, records...).

    Use as a context manager; call `update(done, **fields)` with the absolute
    amount done (cheap to call often: output is rate-limited).
    """

    def __init__(
        self,
        description: str,
        total: float | None = None,
        unit: str = "",
        quiet: bool = False,
        interval: float | None = None,
        tty: bool | None = None,
    ):
        self.description = description
        self.total = total
        self.unit = unit
        self.quiet = quiet
        self.tty = sys.stderr.isatty() if tty is None else tty
        if interval is None:
            interval = float(os.environ.get("NLPT_LOG_INTERVAL", "10"))
        self.interval = interval
        self.done = 0.0
        self.initial = 0.0  # done before this process started (a resumed run): not part of its rate
        self.fields: dict[str, Any] = {}
        self.stopped_by = 0  # a stop signal ended the job early: the last plain line says so, not "done"
        self._start = time.perf_counter()
        self._last_log = self._start
        self._rich = None
        self._task = None

    # -- context management -------------------------------------------------
    def __enter__(self) -> "Progress":
        self._start = time.perf_counter()
        self._last_log = self._start
        if not self.quiet and self.tty:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress as RichProgress,
                TaskProgressColumn,
                TextColumn,
                TimeRemainingColumn,
            )

            self._rich = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[extra]}"),
                console=Console(stderr=True),
                transient=False,
            )
            self._rich.__enter__()
            self._task = self._rich.add_task(self.description, total=self.total, rate="", extra="")
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._rich is not None:
            self._rich.__exit__(exc_type, exc, tb)
            self._rich = None
        elif not self.quiet and exc_type is None:
            self._emit(final=True)

    # -- reporting ------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    @property
    def rate(self) -> float:
        e = self.elapsed
        return (self.done - self.initial) / e if e > 0 else 0.0

    def advance(self, amount: float, **fields: Any) -> None:
        self.update(self.done + amount, **fields)

    def update(self, done: float, **fields: Any) -> None:
        self.done = float(done)
        self.fields.update(fields)
        if self.quiet:
            return
        if self._rich is not None:
            rate = _fmt_amount(self.rate, f"{self.unit}/s") if self.unit else ""
            done = min(self.done, self.total) if self.total else self.done
            self._rich.update(self._task, completed=done, rate=rate, extra=_fmt_fields(self.fields))
            return
        now = time.perf_counter()
        if now - self._last_log >= self.interval:
            self._last_log = now
            self._emit()

    def _emit(self, final: bool = False) -> None:
        parts = [f"{self.description}:"]
        # a resumed run (or an estimated total) can pass the total: never show more than 100 %
        done = min(self.done, self.total) if self.total else self.done
        if self.total:
            parts.append(f"{100.0 * done / self.total:5.1f}%")
            if self.unit == "B":
                parts.append(f"{_fmt_amount(done, 'B')} of {_fmt_amount(self.total, 'B')}")
            else:
                parts.append(f"{_fmt_count(done)}/{_fmt_amount(self.total, self.unit)}")
        else:
            parts.append(_fmt_amount(done, self.unit))
        if self.unit:
            parts.append(_fmt_amount(self.rate, f"{self.unit}/s"))
        if final and self.stopped_by:
            from nlpt.common.errors import signal_name

            parts.append(f"stopped by {signal_name(self.stopped_by)} after {_fmt_duration(self.elapsed)}")
        elif final:
            parts.append(f"done in {_fmt_duration(self.elapsed)}")
        elif self.total and 0 < self.done < self.total:
            eta = self.elapsed * (self.total - self.done) / self.done
            parts.append(f"eta {_fmt_duration(eta)}")
        if self.fields:
            parts.append(_fmt_fields(self.fields))
        print("nlpt: " + "  ".join(parts), file=sys.stderr, flush=True)
