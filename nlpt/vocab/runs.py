"""Word counts beyond memory: sorted runs on disk and their bounded-memory merge.

When a count table (`ByteCounter`) outgrows its share of `--memory`, it is
written out as a *run*: `key count` lines sorted by key bytes (the order of
`LC_ALL=C sort`), and a fresh table starts. The runs are then merged:

* Each run is read sequentially through its own buffer. A merge step takes,
  from every run, the lines whose key is at most the smallest "last complete
  key" among the buffers, sums them in a small table (exact: keys compared
  byte for byte) and hands that table on; every key is handed on exactly once,
  in increasing key ranges.
* At most `fan_in` runs are merged at once; with more, groups of `fan_in`
  are first merged into one run each (a pass), so memory is
  `fan_in` buffers plus one step's table, whatever the number of runs.
* The final step's consumer (`count_words`, `merge_count_files`) keeps the
  words with count >= min_count in a table sorted by (-count, key); if even
  that outgrows the budget it is spilled as runs in *that* order
  (`RankedRuns`) and merged line by line into the output.

Counts are exact and do not depend on where the cuts between runs fell, so
the result is the same for any number of threads and any budget.
"""

from __future__ import annotations

import heapq
import os
import shutil
import tempfile
import threading
from typing import Iterator

from nlpt.common.output import write_array
from nlpt.common.errors import NlptError

DEFAULT_FAN_IN = 64
MIN_BLOCK = 64 << 10


def _disk_error(where: str, exc: OSError) -> NlptError:
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return NlptError(f"{where}: no space left on device while spilling word counts "
                         "(free some space, point --tmp-dir elsewhere or raise --memory)")
    return NlptError(f"{where}: cannot write word-count runs ({exc.strerror})")


class _TempFiles:
    """Numbered files in one temporary directory, with the disk they hold now and at most."""

    def __init__(self, tmp_dir: str | None, prefix: str):
        self.parent = tmp_dir or tempfile.gettempdir()
        self.prefix = prefix
        self.dir: str | None = None
        self.n = 0
        self.disk = 0
        self.peak = 0
        self.written = 0
        self.lock = threading.Lock()

    def new_path(self) -> str:
        with self.lock:
            if self.dir is None:
                try:
                    self.dir = tempfile.mkdtemp(prefix=self.prefix, dir=self.parent)
                except OSError as exc:
                    raise NlptError(f"{self.parent}: cannot create a temporary directory ({exc.strerror})") from None
            self.n += 1
            return os.path.join(self.dir, f"run-{self.n:06d}.txt")

    def write(self, path: str, arr) -> None:
        try:
            with open(path, "wb") as fh:
                write_array(fh, arr)
        except OSError as exc:
            raise _disk_error(self.dir or self.parent, exc) from None
        self.added(len(arr))

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

    def cleanup(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            self.disk = 0


class CountRuns(_TempFiles):
    """Runs of `key count` lines sorted by key, and their merge (see the module docstring)."""

    def __init__(self, tmp_dir: str | None = None, fan_in: int = DEFAULT_FAN_IN):
        super().__init__(tmp_dir, ".nlpt-counts-")
        self.fan_in = max(2, int(fan_in))
        self.paths: list[str] = []
        self.spills = 0
        self.passes = 0

    def __len__(self) -> int:
        return len(self.paths)

    def spill(self, table) -> None:
        """Write `table` as a run (by key); the caller drops the table afterwards."""
        if len(table) == 0:
            return
        path = self.new_path()
        self.write(path, table.format_array(table.key_order()))
        with self.lock:
            self.paths.append(path)
            self.spills += 1

    def ranges(self, budget_bytes: int) -> Iterator[object]:
        """Tables (`ByteCounter`) of consecutive key ranges holding the summed counts of every run."""
        while len(self.paths) > self.fan_in:
            self._pass(budget_bytes)
        paths, self.paths = self.paths, []
        for table in merge_ranges(paths, budget_bytes):
            yield table
        for p in paths:
            self.remove(p)

    def _pass(self, budget_bytes: int) -> None:
        """Merge the runs in groups of `fan_in` into one run per group."""
        out = []
        paths = self.paths
        for g in range(0, len(paths), self.fan_in):
            group = paths[g : g + self.fan_in]
            if len(group) == 1:
                out.append(group[0])
                continue
            path = self.new_path()
            try:
                with open(path, "wb") as fh:
                    for table in merge_ranges(group, budget_bytes):
                        arr = table.format_array(table.key_order())
                        write_array(fh, arr)
                        self.added(len(arr))
            except OSError as exc:
                raise _disk_error(self.dir or self.parent, exc) from None
            for p in group:
                self.remove(p)
            out.append(path)
        self.paths = out
        self.passes += 1


class _RunReader:
    """A run read sequentially through a buffer of whole lines."""

    def __init__(self, path: str, block: int):
        self.fh = open(path, "rb")
        self.block = block
        self.buf = b""
        self.pos = 0
        self.end = 0  # just past the last complete line in buf
        self.eof = False

    def fill(self) -> bool:
        """Make sure the buffer holds at least one complete line; False when the run is done."""
        if self.pos < self.end and self.end - self.pos >= self.block // 4:
            return True
        rest = self.buf[self.pos :]
        while not self.eof:
            data = self.fh.read(self.block)
            if not data:
                self.eof = True
                break
            rest += data
            if b"\n" in data and len(rest) >= self.block // 4:
                break
        if self.eof and rest and not rest.endswith(b"\n"):
            rest += b"\n"
        self.buf, self.pos = rest, 0
        self.end = rest.rfind(b"\n") + 1
        if self.end == 0:
            self.fh.close()
            return False
        return True

    def last_key(self) -> bytes:
        s = self.buf.rfind(b"\n", self.pos, self.end - 1) + 1
        if s == 0:
            s = self.pos
        return self.buf[s : self.buf.rfind(b" ", s, self.end - 1)]

    def cut(self, boundary: bytes) -> int:
        """Offset just past the last line whose key is <= boundary (lines are sorted by key)."""
        buf = self.buf
        lo, hi = self.pos, self.end
        while lo < hi:
            mid = (lo + hi) // 2
            s = buf.rfind(b"\n", lo, mid) + 1
            if s == 0 or s < lo:
                s = lo
            e = buf.index(b"\n", s)
            if buf[s : buf.rfind(b" ", s, e)] <= boundary:
                lo = e + 1
            else:
                hi = s
        return lo


def merge_ranges(paths: list[str], budget_bytes: int) -> Iterator[object]:
    """Merge key-sorted runs: tables of summed counts over increasing key ranges."""
    import numpy as np

    from nlpt.vocab._fastcount import ByteCounter

    if not paths:
        return
    block = max(MIN_BLOCK, int(budget_bytes) // (4 * len(paths)))
    readers = [_RunReader(p, block) for p in paths]
    try:
        while True:
            readers = [r for r in readers if r.fill()]
            if not readers:
                return
            boundary = min(r.last_key() for r in readers)
            table = ByteCounter()
            for r in readers:
                cut = r.cut(boundary)
                if cut > r.pos:
                    part = np.frombuffer(r.buf, dtype=np.uint8, count=cut - r.pos, offset=r.pos)
                    if table.add_lines(part) >= 0:
                        raise NlptError(f"{r.fh.name}: damaged word-count run (malformed line)")
                    r.pos = cut
            yield table
    finally:
        for r in readers:
            r.fh.close()


class RankedRuns(_TempFiles):
    """The kept words when they outgrow memory: runs sorted by (-count, key), merged into the output."""

    def __init__(self, tmp_dir: str | None = None):
        super().__init__(tmp_dir, ".nlpt-vocab-")
        self.paths: list[str] = []

    def spill(self, table) -> None:
        if len(table) == 0:
            return
        path = self.new_path()
        self.write(path, table.format_array(table.sorted_entries(1)))
        self.paths.append(path)

    def write_merged(self, fh, table, min_count: int = 1, max_size: int | None = None) -> int:
        """Write every run and `table` merged in (-count, key) order: the words with count >= min_count,
        at most max_size of them; returns the number of lines written."""
        def lines(f):
            for line in f:
                w, c = line.rsplit(b" ", 1)
                yield (-int(c), w), line

        files = [open(p, "rb") for p in self.paths]
        try:
            sources = [lines(f) for f in files]
            if table is not None and len(table):
                sources.append(lines(table.format(table.sorted_entries(1)).splitlines(keepends=True)))
            n = 0
            out = []
            for (neg, _), line in heapq.merge(*sources, key=lambda kv: kv[0]):
                if (max_size is not None and n >= max_size) or -neg < min_count:
                    break
                out.append(line)
                n += 1
                if len(out) >= 65536:
                    fh.write(b"".join(out))
                    out = []
            fh.write(b"".join(out))
            return n
        finally:
            for f in files:
                f.close()
