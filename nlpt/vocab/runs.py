"""Word counts beyond memory: sorted runs on disk and their bounded-memory merge.

When a count table (`ByteCounter`) outgrows its share of `--memory`, it is
written out as a *run*: `key count` lines sorted by key bytes (the order of
`LC_ALL=C sort`), and a fresh table starts. The runs are then merged:

* The runs are merged by `nlpt.common.spill.merge_steps` (the spill machinery
  GloVe's co-occurrence counts use too): each run is read sequentially through
  its own buffer, and a merge step takes, from every run, the lines whose key is
  at most the smallest "last complete key" among the buffers; the step's lines
  are summed in a small table (exact: keys compared byte for byte) that is
  handed on, so every key is handed on exactly once, in increasing key ranges.
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
from typing import Iterator

from nlpt.common.errors import NlptError
from nlpt.common.spill import SpillDir, merge_steps

DEFAULT_FAN_IN = 64
MIN_BLOCK = 64 << 10


class CountRuns(SpillDir):
    """Runs of `key count` lines sorted by key, and their merge (see the module docstring)."""

    def __init__(self, tmp_dir: str | None = None, fan_in: int = DEFAULT_FAN_IN):
        super().__init__(tmp_dir, ".nlpt-counts-", "word counts", "word-count runs")
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
            block = _block(budget_bytes, len(group))
            path, _ = self.merge_into(group, lambda p: _RunReader(p, block), _key_ordered_lines)
            out.append(path)
        self.paths = out
        self.passes += 1


class _RunReader:
    """A run read sequentially through a buffer of whole lines (a reader of `merge_steps`)."""

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

    def last_key(self) -> bytes | None:
        if not self.fill():
            return None
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

    def take_through(self, boundary: bytes):
        """The buffered lines with key <= boundary not yet taken (uint8 array), or None."""
        import numpy as np

        cut = self.cut(boundary)
        if cut <= self.pos:
            return None
        part = np.frombuffer(self.buf, dtype=np.uint8, count=cut - self.pos, offset=self.pos)
        self.pos = cut
        return part

    def close(self) -> None:
        self.fh.close()


def _block(budget_bytes: int, runs: int) -> int:
    return max(MIN_BLOCK, int(budget_bytes) // (4 * runs))


def _summed(step) -> object:
    """One merge step's lines summed in a table (`ByteCounter`)."""
    from nlpt.vocab._fastcount import ByteCounter

    table = ByteCounter()
    for r, part in step:
        if table.add_lines(part) >= 0:
            raise NlptError(f"{r.fh.name}: damaged word-count run (malformed line)")
    return table


def _key_ordered_lines(step):
    table = _summed(step)
    return table.format_array(table.key_order())


def merge_ranges(paths: list[str], budget_bytes: int) -> Iterator[object]:
    """Merge key-sorted runs: tables of summed counts over increasing key ranges."""
    if not paths:
        return
    block = _block(budget_bytes, len(paths))
    readers = [_RunReader(p, block) for p in paths]
    try:
        for step in merge_steps(readers):
            yield _summed(step)
    finally:
        for r in readers:
            r.close()


class RankedRuns(SpillDir):
    """The kept words when they outgrow memory: runs sorted by (-count, key), merged into the output."""

    def __init__(self, tmp_dir: str | None = None):
        super().__init__(tmp_dir, ".nlpt-vocab-", "word counts", "word-count runs")
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
