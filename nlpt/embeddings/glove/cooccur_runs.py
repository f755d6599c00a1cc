"""Sorted runs of co-occurrence counts: in memory, spilled to disk by partitions of rows, and their merge.

A run is a sorted array of (pair key int64, value float64), pair key =
``word1 * V + word2``. The counting threads hand their reduced buffers to a
`RunStore`:

* Runs stay in memory up to a budget. When it is reached they are merged
  *and summed* before they are written, so a spill holds each pair once,
  however many buffers saw it.
* The pair space is split by word1 into P partitions (row ranges), fixed at
  the first spill so that each holds about the same share of the records seen
  so far. A spill writes one file per partition, merging partition by
  partition and handing the runs' memory back as it goes. A spill file is
  plain 16-byte (key, value) records, read back sequentially through a buffer
  (`_FileRun`); nothing is mapped or searched.
* Partitions are compacted on their own (their files merged and summed into
  one): a partition with `fan_in` files, and, while the files on disk exceed
  `disk_slack` (1.5) x the sum of each partition's largest file, the partition
  with the most bytes beyond its largest file. A partition's largest file is
  at most its final records, so after each spill the disk holds at most 1.5x
  the final records, plus one spill and one partition while it is compacted:
  the log reports the most disk held at once against the final records.
* `merge_runs` walks the partitions in row order, in ranges of rows, and hands
  the summed records, in (word1, word2) order, to a sink (the Stanford record
  order); the consumed parts of the dense block and of the in-memory runs are
  handed back to the system, and each partition's files are deleted once passed.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from nlpt.common.anon import Anon
from nlpt.common.spill import SpillDir

RUN_DTYPE = np.dtype([("k", "<i8"), ("v", "<f8")])
DEFAULT_FAN_IN = 16  # most files per partition (and merged at once)
DEFAULT_PARTITIONS = 64  # row ranges of the pair space, each spilled and compacted on its own
MIN_PARTITION_SPILL = 1 << 20  # bytes of a spill per partition below which fewer partitions are used
DISK_SLACK = 1.5  # spill files on disk stay within this x the sum of the partitions' largest files
FILE_BUFFER_RECORDS = 1 << 20  # per spill file while merging (16 MB), fewer when --memory is small
MERGE_RANGE_ENTRIES = 1 << 20  # records merged per step (about 64 MB of temporaries)


@njit(nogil=True, cache=True)
def _add_row_counts(keys, vocab_size, counts):
    for i in range(keys.shape[0]):
        counts[keys[i] // vocab_size] += 1


@njit(nogil=True, cache=True, error_model="numpy")
def _merge_reduce(keys, vals, out_keys, out_vals):
    """Reduce equal neighbouring keys of a sorted array; return count."""
    n = keys.shape[0]
    m = -1
    last = -1
    for i in range(n):
        k = keys[i]
        if k != last:
            m += 1
            out_keys[m] = k
            out_vals[m] = vals[i]
            last = k
        else:
            out_vals[m] += vals[i]
    return m + 1


@njit(nogil=True, cache=True, error_model="numpy")
def _merge2(ak, av, bk, bv, ok, ov):
    """Merge two sorted runs of distinct keys, summing equal keys; return the number written."""
    i = 0
    j = 0
    m = 0
    na = ak.shape[0]
    nb = bk.shape[0]
    while i < na and j < nb:
        if ak[i] < bk[j]:
            ok[m] = ak[i]
            ov[m] = av[i]
            i += 1
        elif bk[j] < ak[i]:
            ok[m] = bk[j]
            ov[m] = bv[j]
            j += 1
        else:
            ok[m] = ak[i]
            ov[m] = av[i] + bv[j]
            i += 1
            j += 1
        m += 1
    while i < na:
        ok[m] = ak[i]
        ov[m] = av[i]
        i += 1
        m += 1
    while j < nb:
        ok[m] = bk[j]
        ov[m] = bv[j]
        j += 1
        m += 1
    return m


@njit(nogil=True, cache=True, error_model="numpy")
def _dense_range(dense, rowstart, rowlen, row0, row1, vocab_size, out_k, out_v):
    """Non-zero dense cells of rows [row0, row1) as (pair, value), in pair order; return count."""
    m = 0
    for a in range(row0, row1):
        base = rowstart[a]
        for b in range(rowlen[a]):
            v = dense[base + b]
            if v != 0.0:
                out_k[m] = a * vocab_size + b
                out_v[m] = v
                m += 1
    return m


@njit(nogil=True, cache=True, error_model="numpy")
def _dense_nnz_rows(dense, rowstart, rowlen, out):
    for a in range(rowlen.shape[0]):
        base = rowstart[a]
        c = 0
        for b in range(rowlen[a]):
            if dense[base + b] != 0.0:
                c += 1
        out[a] = c


def merge_sorted(runs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """One sorted run with summed values from sorted runs of distinct keys (pairwise, balanced)."""
    runs = [r for r in runs if len(r[0])]
    if not runs:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    while len(runs) > 1:
        nxt = []
        for i in range(0, len(runs) - 1, 2):
            (ak, av), (bk, bv) = runs[i], runs[i + 1]
            ok = np.empty(len(ak) + len(bk), np.int64)
            ov = np.empty(len(ak) + len(bk), np.float64)
            m = _merge2(ak, av, bk, bv, ok, ov)
            nxt.append((ok[:m], ov[:m]))
        if len(runs) % 2:
            nxt.append(runs[-1])
        runs = nxt
    k, v = runs[0]
    return np.ascontiguousarray(k), np.ascontiguousarray(v)


def _records(keys: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """Keys and values as the 16-byte records of a spill file."""
    rec = np.empty(len(keys), RUN_DTYPE)
    rec["k"], rec["v"] = keys, vals
    return rec


def _summed_records(step) -> np.ndarray:
    """One step of `merge_steps` over spill files as sorted, summed records."""
    return _records(*_concat_reduce([p[0] for _, p in step], [p[1] for _, p in step]))


def _concat_reduce(ks: list, vs: list) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, summed records from slices of runs (each sorted, with distinct keys)."""
    if len(ks) == 1:
        return ks[0], vs[0]
    return merge_sorted(list(zip(ks, vs)))


class _FileRun:
    """A spill file read sequentially in buffers of 16-byte records (a reader of `merge_steps`)."""

    def __init__(self, path: str, buffer_records: int):
        self.path = path
        self.fh = open(path, "rb")
        self.block = max(1024, int(buffer_records))
        self.buf = np.empty(0, RUN_DTYPE)
        self.i = 0
        self.eof = False

    def _fill(self) -> bool:
        if self.i < len(self.buf):
            return True
        if self.eof:
            return False
        self.buf = np.fromfile(self.fh, dtype=RUN_DTYPE, count=self.block)
        self.i = 0
        if len(self.buf) == 0:
            self.eof = True
            self.fh.close()
            return False
        return True

    def take_below(self, hi_key: int):
        """The records with key < hi_key not yet taken, as (keys, values), or None."""
        ks, vs = [], []
        while self._fill():
            keys = self.buf["k"]
            j = self.i + int(np.searchsorted(keys[self.i :], hi_key, side="left"))
            if j > self.i:
                ks.append(np.ascontiguousarray(keys[self.i : j]))
                vs.append(np.ascontiguousarray(self.buf["v"][self.i : j]))
            self.i = j
            if j < len(self.buf):
                break
        if not ks:
            return None
        return (ks[0], vs[0]) if len(ks) == 1 else (np.concatenate(ks), np.concatenate(vs))

    def take_through(self, key: int):
        return self.take_below(key + 1)

    def last_key(self) -> int | None:
        return int(self.buf["k"][-1]) if self._fill() else None

    def release(self) -> None:
        pass

    def close(self) -> None:
        self.fh.close()


def _take_below(cursors, hi_key: int, ks: list, vs: list) -> None:
    """Append each run's next pairs with keys below `hi_key` to `ks`/`vs` (runs are file or memory cursors)."""
    for c in cursors:
        got = c.take_below(hi_key)
        if got is not None:
            ks.append(got[0])
            vs.append(got[1])


class _MemRun:
    """An in-memory run read in increasing key ranges, handing back the pages it has passed."""

    def __init__(self, k: Anon, v: Anon):
        self.k, self.v = k, v
        self.pos = 0

    def take_below(self, hi_key: int):
        i0 = self.pos
        i1 = i0 + int(np.searchsorted(self.k.a[i0:], hi_key, side="left"))
        if i1 == i0:
            return None
        self.pos = i1
        return self.k.a[i0:i1], self.v.a[i0:i1]

    def release(self) -> None:
        self.k.release_to(self.pos)
        self.v.release_to(self.pos)

    def close(self) -> None:
        pass


class RunStore(SpillDir):
    """Sorted runs of (pair key, value): in memory up to a budget, then spilled as one file per
    partition of rows, each partition compacted on its own (see the module docstring)."""

    def __init__(self, budget_bytes: int, tmp_parent: str | None, vocab_size: int, fan_in: int = DEFAULT_FAN_IN,
                 buffer_records: int = FILE_BUFFER_RECORDS, partitions: int | None = None,
                 disk_slack: float = DISK_SLACK):
        super().__init__(tmp_parent, ".nlpt-cooccur-", "co-occurrence records", "co-occurrence runs",
                         dir_note=" for co-occurrence runs")
        self.budget = max(1, int(budget_bytes))
        self.mem: list[tuple[Anon, Anon]] = []
        self.mem_bytes = 0
        self.vocab_size = vocab_size
        self.row_counts = np.zeros(vocab_size, dtype=np.int64)  # upper bound of records per row
        self.fan_in = max(2, int(fan_in))
        self.buffer_records = max(1024, int(buffer_records))
        if partitions is None:  # DEFAULT_PARTITIONS, fewer when a spill would give them less than 1 MB each
            partitions = min(DEFAULT_PARTITIONS, max(4, self.budget // MIN_PARTITION_SPILL))
        self.n_partitions = max(1, int(partitions))
        self.disk_slack = max(1.0, float(disk_slack))
        self.bounds: np.ndarray | None = None  # row bounds of the partitions, fixed at the first spill
        self.parts: list[list[tuple[str, int]]] = []  # per partition: (path, bytes) of its spill files
        self.entries = 0  # in all runs
        self.runs = 0
        self.spills = 0
        self.passes = 0  # partition compactions

    def add(self, keys: np.ndarray, vals: np.ndarray) -> None:
        """Store a run (sorted, distinct keys; copied out of the caller's buffers)."""
        m = len(keys)
        if m == 0:
            return
        k, v = Anon(m, np.int64), Anon(m, np.float64)
        k.a[:] = keys
        v.a[:] = vals
        with self.lock:
            _add_row_counts(k.a, self.vocab_size, self.row_counts)
            self.mem.append((k, v))
            self.mem_bytes += 16 * m
            self.entries += m
            self.runs += 1
            if self.mem_bytes > self.budget:
                self.spill()

    @property
    def files(self) -> list[str]:
        return [p for part in self.parts for p, _ in part]

    @property
    def partitions(self) -> int:
        return len(self.parts)

    @property
    def spilled_bytes(self) -> int:
        """Bytes written: spills and compactions."""
        return self.written

    @property
    def peak_disk(self) -> int:
        return self.peak

    def _new_path(self, part: int) -> str:
        return self.new_path(f"runs-{part:04d}", ".bin")

    def _plan_partitions(self) -> np.ndarray:
        """Row bounds of the partitions: about equal shares of the records per row seen so far."""
        V = self.vocab_size
        weight = self.row_counts + 1  # rows not seen yet still get a share
        cum = np.cumsum(weight)
        cuts = np.searchsorted(cum, cum[-1] * np.arange(1, self.n_partitions) / self.n_partitions, side="right")
        return np.unique(np.concatenate([[0], np.clip(cuts, 1, V - 1) if V > 1 else [], [V]]).astype(np.int64))

    def spill(self) -> None:
        """Merge (and sum) the in-memory runs, partition by partition, into one spill file per
        partition, handing the runs' memory back as it goes; then compact (see `_compact`)."""
        if not self.mem:
            return
        if self.bounds is None:
            self.bounds = self._plan_partitions()
            self.parts = [[] for _ in range(len(self.bounds) - 1)]
        runs, self.mem, self.mem_bytes = self.mem, [], 0
        cursors = [_MemRun(k, v) for k, v in runs]
        del runs
        V = self.vocab_size
        for part in range(len(self.parts)):
            hi_key = int(self.bounds[part + 1]) * V
            ks, vs = [], []
            _take_below(cursors, hi_key, ks, vs)
            if ks:
                keys, vals = _concat_reduce(ks, vs)
                del ks, vs
                path = self._new_path(part)
                n = self.write(path, _records(keys, vals))
                self.parts[part].append((path, n))
                del keys, vals
            for c in cursors:
                c.release()
        self.spills += 1
        self._compact()

    def _compact(self) -> None:
        """Keep every partition within `fan_in` files, and the disk within `disk_slack` x the sum of
        each partition's largest file (each at most that partition's final records): merge the
        partition with the most surplus (bytes beyond its largest file) until it holds."""
        for part, files in enumerate(self.parts):
            if len(files) >= self.fan_in:
                self._compact_partition(part)
        while True:
            largest = [max((n for _, n in files), default=0) for files in self.parts]
            if self.disk <= self.disk_slack * sum(largest):
                return
            surplus = [sum(n for _, n in files) - big for files, big in zip(self.parts, largest)]
            part = int(np.argmax(surplus))
            if surplus[part] <= 0:
                return
            self._compact_partition(part)

    def _compact_partition(self, part: int) -> None:
        """Merge a partition's spill files into one (summing equal keys), deleting them."""
        group = self.parts[part]
        if len(group) < 2:
            return
        per_file = self.buffer_records // max(1, len(group))
        path, n = self.merge_into([p for p, _ in group], lambda p: _FileRun(p, per_file), _summed_records,
                                  f"runs-{part:04d}", ".bin")
        self.parts[part] = [(path, n)]
        self.passes += 1

    def finish(self) -> None:
        """Before the final merge: at most `fan_in` files in every partition (already kept by `_compact`)."""
        for part, files in enumerate(self.parts):
            if len(files) > self.fan_in:
                self._compact_partition(part)

    def partition_cursors(self):
        """(row bound, cursors over that partition's files) for each partition, in row order."""
        bounds = self.bounds if self.bounds is not None else np.array([0, self.vocab_size], np.int64)
        for part in range(len(bounds) - 1):
            files = [p for p, _ in self.parts[part]] if self.parts else []
            per_file = max(1024, self.buffer_records // max(1, len(files)))
            yield int(bounds[part + 1]), [_FileRun(p, per_file) for p in files]

    def drop_partition(self, part_cursors: list) -> None:
        """Close and delete the files of a partition the final merge has passed."""
        for c in part_cursors:
            c.close()
            self.remove(c.path)

    def cleanup(self) -> None:
        self.mem = []
        super().cleanup()


def merge_runs(store: RunStore, dense: Anon | None, layout, vocab_size: int, sink) -> int:
    """Merge the dense block and all runs into sorted, summed records passed to `sink`; return their number.

    Walks the partitions in row order, each in ranges of rows of about MERGE_RANGE_ENTRIES
    entries, with only that partition's files open; hands back the consumed parts of the dense
    block and of the in-memory runs, and deletes each partition's files once it is passed.
    """
    p, rowstart, rowlen = layout
    V = vocab_size
    store.finish()
    dense_rows = np.zeros(V, dtype=np.int64)
    if dense is not None:
        _dense_nnz_rows(dense.a, rowstart, rowlen, dense_rows)
    cum = np.cumsum(dense_rows + store.row_counts)
    sink.begin(int(dense_rows.sum()) + store.entries)
    mem = [_MemRun(k, v) for k, v in store.mem]
    total = 0
    row0 = 0
    for row_end, files in store.partition_cursors():
        cursors = mem + files
        try:
            while row0 < row_end:
                done_before = int(cum[row0 - 1]) if row0 else 0
                row1 = int(np.searchsorted(cum, done_before + MERGE_RANGE_ENTRIES, side="right"))
                row1 = min(row_end, max(row0 + 1, row1))
                hi_key = row1 * V
                ks, vs = [], []
                n_dense = int(dense_rows[row0:row1].sum())
                if n_dense:
                    k = np.empty(n_dense, dtype=np.int64)
                    v = np.empty(n_dense, dtype=np.float64)
                    _dense_range(dense.a, rowstart, rowlen, row0, row1, V, k, v)
                    ks.append(k)
                    vs.append(v)
                if dense is not None:
                    dense.release_to(rowstart[row1] if row1 < V else len(dense.a))
                _take_below(cursors, hi_key, ks, vs)
                if ks:
                    keys, vals = _concat_reduce(ks, vs)
                    del ks, vs
                    w1 = (keys // V).astype(np.int32)
                    w2 = (keys - w1.astype(np.int64) * V).astype(np.int32)
                    sink.add(w1, w2, vals)
                    total += len(w1)
                    del keys, vals, w1, w2
                ks, vs = [], []
                for c in mem:
                    c.release()
                row0 = row1
        finally:
            store.drop_partition(files)
    return total


def union_record_files(paths: list[str], vocab_size: int, sink, budget_bytes: int, tmp_dir: str | None,
                       fan_in: int = DEFAULT_FAN_IN) -> tuple[int, RunStore]:
    """Pass the union of Stanford record files (counts of equal pairs summed) to `sink`, in
    (word1, word2) order, within about `budget_bytes`: each block is sorted into a run (files
    need not be sorted), runs spill and merge as in counting. Returns (records, the store's figures)."""
    from nlpt.embeddings.glove.cooccur_records import iter_record_file

    V = vocab_size
    store = RunStore(max(1 << 16, budget_bytes // 4), tmp_dir, V, fan_in,
                     buffer_records=max(1024, budget_bytes // 4 // 16))
    try:
        for path in paths:
            for rec in iter_record_file(path, V, block=max(1024, min(1 << 20, budget_bytes // 64))):
                keys = rec["w1"].astype(np.int64) * V + rec["w2"]
                order = np.argsort(keys, kind="stable")
                keys, vals = keys[order], rec["x"][order]
                m = _merge_reduce(keys, vals, keys, vals)
                store.add(keys[:m], vals[:m])
        layout = (0, np.zeros(V, np.int64), np.zeros(V, np.int64))
        n = merge_runs(store, None, layout, V, sink)
    finally:
        store.cleanup()
    return n, store
