"""Sorted runs on disk and their merge in bounded memory: the spill machinery of every counter that
outgrows `--memory`.

Two counters use it, each with its own run format: the word counts of `nlpt.vocab.count`
(`key count` text lines sorted by key bytes, `nlpt.vocab.runs`) and GloVe's co-occurrence counts
(16-byte (pair key, value) records sorted by key, `nlpt.embeddings.glove.cooccur_runs`). What they
share lives here, so a fix to spilling or merging is made once:

* `SpillDir`: numbered run files in one temporary directory, made on first use and removed at the
  end, with the disk they hold now (`disk`), at most (`peak`) and in all (`written`), and one wording
  for a full or unwritable disk that names what was being spilled;
* `merge_steps`: the k-way merge in bounded memory. Every run is read sequentially through its own
  buffer; a step takes, from every run, the entries whose key is at most the smallest *last buffered
  key* among the runs and hands them on together. Every key is handed on in exactly one step, in
  increasing key order, so the caller sums equal keys within a step and memory stays at one buffer
  per run plus one step, however many runs there are;
* `SpillDir.merge_into`: runs merged into one new run (a merge pass or a compaction), deleting them.

A run format provides a reader with `last_key()` (the last complete key buffered, refilling the
buffer when it is used up; None once the run is done), `take_through(key)` (the entries with keys
at most `key` not yet taken, or None) and `close()`.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import threading
from typing import Callable, Iterator

from nlpt.common.errors import NlptError
from nlpt.common.output import write_array


class SpillDir:
    """Numbered run files in one temporary directory, with the disk they hold.

    `what` names the counts in the "no space left" error ("word counts"), `runs` the files in
    other write errors ("word-count runs"), `dir_note` is added to a failed directory creation."""

    def __init__(self, tmp_parent: str | None, prefix: str, what: str, runs: str, dir_note: str = ""):
        self.parent = tmp_parent or tempfile.gettempdir()
        self.prefix = prefix
        self.what, self.runs_name, self.dir_note = what, runs, dir_note
        self.dir: str | None = None
        self.n = 0
        self.disk = 0  # bytes of run files on disk now
        self.peak = 0  # the most at once
        self.written = 0  # in all (spills and merges)
        self.lock = threading.RLock()

    def new_path(self, stem: str = "run", suffix: str = ".txt") -> str:
        """A fresh file name in the directory (made now if it is the first): `STEM-NNNNNN.SUFFIX`."""
        with self.lock:
            if self.dir is None:
                try:
                    self.dir = tempfile.mkdtemp(prefix=self.prefix, dir=self.parent)
                except OSError as exc:
                    raise NlptError(f"{self.parent}: cannot create a temporary directory{self.dir_note} "
                                    f"({exc.strerror})") from None
            self.n += 1
            return os.path.join(self.dir, f"{stem}-{self.n:06d}{suffix}")

    def disk_error(self, exc: OSError) -> NlptError:
        where = self.dir or self.parent
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return NlptError(f"{where}: no space left on device while spilling {self.what} "
                             "(free some space, point --tmp-dir elsewhere or raise --memory)")
        return NlptError(f"{where}: cannot write {self.runs_name} ({exc.strerror})")

    def write_to(self, fh, arr) -> int:
        """Append a numpy array's bytes to an open run file and count them; returns the bytes written."""
        write_array(fh, arr)
        self.added(arr.nbytes)
        return arr.nbytes

    def write(self, path: str, arr) -> int:
        """Write a whole run file (see `write_to`); a failed write is `disk_error`."""
        try:
            with open(path, "wb") as fh:
                return self.write_to(fh, arr)
        except OSError as exc:
            raise self.disk_error(exc) from None

    def added(self, nbytes: int) -> None:
        with self.lock:
            self.disk += nbytes
            self.written += nbytes
            self.peak = max(self.peak, self.disk)

    def remove(self, path: str) -> None:
        size = os.path.getsize(path)
        os.unlink(path)
        with self.lock:
            self.disk -= size

    def merge_into(self, paths: list[str], open_run: Callable[[str], object], combine: Callable[[list], object],
                   stem: str = "run", suffix: str = ".txt") -> tuple[str, int]:
        """Merge the runs `paths` (read by `open_run(path)`) into one new run, deleting them:
        `combine(pieces)` turns each step of `merge_steps` into the array written. Returns (path, bytes)."""
        path = self.new_path(stem, suffix)
        readers = [open_run(p) for p in paths]
        written = 0
        try:
            with open(path, "wb") as fh:
                for pieces in merge_steps(readers):
                    written += self.write_to(fh, combine(pieces))
        except OSError as exc:
            raise self.disk_error(exc) from None
        finally:
            for r in readers:
                r.close()
        for p in paths:
            self.remove(p)
        return path, written

    def cleanup(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            self.disk = 0


def merge_steps(readers: list) -> Iterator[list[tuple[object, object]]]:
    """The merge of sorted runs in steps of increasing key ranges: each step is the list of
    (reader, entries) of the runs that have entries up to the smallest last buffered key."""
    live = list(readers)
    while True:
        lasts = [(r, r.last_key()) for r in live]
        live = [r for r, k in lasts if k is not None]
        if not live:
            return
        boundary = min(k for _, k in lasts if k is not None)
        step = []
        for r in live:
            piece = r.take_through(boundary)
            if piece is not None:
                step.append((r, piece))
        yield step
