"""Word-word co-occurrence counts for GloVe, streamed and memory-bounded.

How the counting works (the design of Stanford GloVe's `cooccur`, written anew):

* Word ids are vocabulary ranks (0 = most frequent). A pair (a, b) whose rank
  product is small, ``(a + 1) * (b + 1) <= P``, lives in a *dense* block: row
  ``a`` holds columns ``0 .. P // (a + 1) - 1``. These are the frequent pairs
  that receive most of the increments; P is the largest value whose block fits
  in the dense share of ``--memory``, at most 32 MB per thread (a small block
  stays in cache: counting gets faster, not slower).
* Every other increment is appended to a buffer of int64 keys that encode the
  pair and (with distance weighting) the distance. A full buffer is sorted and
  reduced in place to a *run* of (pair, value) records sorted by pair. Runs
  stay in memory until their share of the budget (at most 256 MB) is used,
  then they are spilled to files in a temporary directory.
* Each worker thread counts its own byte-range shard of the corpus (numba
  kernels that release the GIL) into its own dense block and buffer; the dense
  blocks are summed at the end.
* The final merge walks the pair space in ranges of rows: for each range it
  takes the matching slice of every run (plain file reads for spilled ones,
  so nothing stays mapped) and of the dense block, merges and reduces them,
  and hands the records (sorted by (word1, word2), like Stanford's merged
  `cooccurrence.bin`) to a *sink*: the trainer's record builder, optionally
  through a `TeeSink` that writes the record file. The dense block and the
  in-memory runs live in anonymous mappings (`Anon`) whose consumed pages are
  given back as the merge advances, so the records being built take the place
  of the counts being merged instead of adding to them.

Windows follow GloVe: a window never crosses a line (sentence) boundary and
out-of-vocabulary tokens are dropped before distances are measured. In the
symmetric mode each pair within the window counts in both orders; in the
left-only mode a record (w1, w2) means that w1 occurs within the window
*before* w2 (what `cooccur -symmetric 0` writes). The increment is 1/distance
with distance weighting, else 1.

File layout (`--save-cooccur`, `--cooccur`): Stanford's `CREC` records, 16
bytes each, little-endian: int32 word1, int32 word2, float64 value, with
1-based word ids = line numbers in the vocabulary file.
"""

from __future__ import annotations

import errno
import mmap
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass

import numpy as np
from numba import njit

from nlpt.common.errors import NlptError
from nlpt.common.process import rss_bytes

REC_DTYPE = np.dtype([("w1", "<i4"), ("w2", "<i4"), ("x", "<f8")])
_GIB = 1 << 30
MIN_BYTES_PER_THREAD = 1 << 20  # smaller inputs are counted by one thread
# Memory plan of the counting stage (fractions of --memory, with caps: a small dense block
# is faster (it stays in cache) and runs spilled early cost little (page cache, read back once).
DENSE_CELLS_PER_THREAD = 4 << 20  # 32 MB per thread at most
BUFFER_ENTRIES_PER_THREAD = 4 << 20  # 64 MB per thread (keys + radix scratch) at most
RUNS_IN_MEMORY_CAP = 256 << 20  # sorted runs kept in memory before they are spilled
MERGE_RANGE_ENTRIES = 1 << 20  # records merged per step (about 64 MB of temporaries)


class Anon:
    """A numpy array in its own anonymous mapping, so that consumed prefixes can be handed back
    to the system (`release_to`) while the rest is still in use. Pages never written cost nothing,
    so an array may be sized by an upper bound."""

    def __init__(self, n: int, dtype):
        dtype = np.dtype(dtype)
        self.mm = mmap.mmap(-1, max(1, int(n) * dtype.itemsize), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self.a = np.frombuffer(self.mm, dtype=dtype, count=int(n))
        self.itemsize = dtype.itemsize
        self.freed = 0

    def release_to(self, n: int) -> None:
        """Give back the whole pages below element n (their contents are lost)."""
        end = (int(n) * self.itemsize) // mmap.PAGESIZE * mmap.PAGESIZE
        if end > self.freed:
            self.mm.madvise(mmap.MADV_DONTNEED, self.freed, end - self.freed)
            self.freed = end


@dataclass
class CooccurOptions:
    window: int = 10
    symmetric: bool = True
    distance_weighting: bool = True
    memory_gb: float = 4.0
    threads: int = 1
    tmp_dir: str | None = None  # where the spill directory is created


@dataclass
class CooccurStats:
    tokens: int = 0  # in-vocabulary tokens counted
    records: int = 0
    dense_p: int = 0  # rank-product bound of the dense block
    runs: int = 0  # sorted runs produced
    spills: int = 0  # times the runs were written to disk
    spilled_bytes: int = 0
    seconds: float = 0.0
    read_stats: object = None


# -- dense block layout ----------------------------------------------------------


def _dense_entries(vocab_size: int, p: int) -> int:
    if p <= 0 or vocab_size <= 0:
        return 0
    a = np.arange(1, vocab_size + 1, dtype=np.int64)
    return int(np.minimum(vocab_size, p // a).sum())


def dense_layout(vocab_size: int, max_entries: int) -> tuple[int, np.ndarray, np.ndarray]:
    """The largest rank-product bound P whose dense block has <= max_entries cells.

    Returns (P, rowstart int64[V], rowlen int64[V]); pair (a, b) is dense iff b < rowlen[a].
    """
    V = int(vocab_size)
    if V * V <= max_entries:
        p = V * V
    else:
        lo, hi = 0, V * V
        while lo < hi:  # largest p with entries(p) <= max_entries
            mid = (lo + hi + 1) // 2
            if _dense_entries(V, mid) <= max_entries:
                lo = mid
            else:
                hi = mid - 1
        p = lo
    a = np.arange(1, V + 1, dtype=np.int64)
    rowlen = np.minimum(V, p // a) if p > 0 else np.zeros(V, dtype=np.int64)
    rowstart = np.zeros(V, dtype=np.int64)
    if V > 1:
        np.cumsum(rowlen[:-1], out=rowstart[1:])
    return p, rowstart, rowlen.astype(np.int64)


# -- numba kernels ------------------------------------------------------------------


@njit(nogil=True, cache=True, error_model="numpy")
def _count_kernel(ids, starts, s, p, window, symmetric, weighting, rowstart, rowlen, dense, buf, nbuf, vocab_size):
    """Count sentences from (s, p) on; return (s, p, nbuf) when the buffer is full or at the end."""
    nsent = starts.shape[0] - 1
    cap = buf.shape[0]
    need = 2 * window
    mult = window if weighting else 1
    while s < nsent:
        lo = starts[s]
        hi = starts[s + 1]
        if p < lo:
            p = lo
        while p < hi:
            if nbuf + need > cap:
                return s, p, nbuf
            b = np.int64(ids[p])
            q0 = p - window
            if q0 < lo:
                q0 = lo
            for q in range(p - 1, q0 - 1, -1):
                a = np.int64(ids[q])
                d = p - q
                w = 1.0 / d if weighting else 1.0
                if b < rowlen[a]:
                    dense[rowstart[a] + b] += w
                    if symmetric:
                        dense[rowstart[b] + a] += w
                else:
                    extra = d - 1 if weighting else 0
                    buf[nbuf] = (a * vocab_size + b) * mult + extra
                    nbuf += 1
                    if symmetric:
                        buf[nbuf] = (b * vocab_size + a) * mult + extra
                        nbuf += 1
            p += 1
        s += 1
    return s, p, nbuf


@njit(nogil=True, cache=True, error_model="numpy")
def _radix_sort(keys, tmp, nbits):
    """LSD radix sort of non-negative int64 keys in place (tmp: scratch of the same size)."""
    n = keys.shape[0]
    shift = 0
    src = keys
    dst = tmp
    counts = np.zeros(1 << 11, dtype=np.int64)
    swapped = False
    while shift < nbits:
        counts[:] = 0
        for i in range(n):
            counts[(src[i] >> shift) & 2047] += 1
        total = 0
        for r in range(2048):
            c = counts[r]
            counts[r] = total
            total += c
        for i in range(n):
            r = (src[i] >> shift) & 2047
            dst[counts[r]] = src[i]
            counts[r] += 1
        src, dst = dst, src
        swapped = not swapped
        shift += 11
    if swapped:
        for i in range(n):
            keys[i] = tmp[i]


@njit(nogil=True, cache=True, error_model="numpy")
def _reduce_sorted(keys, mult, weighting, vals):
    """Sum increments of equal pairs in sorted buffer keys, in place: pairs to keys[:m], sums to vals[:m]; return m."""
    n = keys.shape[0]
    m = 0
    i = 0
    while i < n:
        pair = keys[i] // mult
        total = 0.0
        while i < n and keys[i] // mult == pair:
            if weighting:
                total += 1.0 / (keys[i] % mult + 1)
            else:
                total += 1.0
            i += 1
        keys[m] = pair
        vals[m] = total
        m += 1
    return m


@njit(nogil=True, cache=True)
def _add_row_counts(keys, vocab_size, counts):
    for i in range(keys.shape[0]):
        counts[keys[i] // vocab_size] += 1


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


# -- runs and spilling ----------------------------------------------------------------


class RunStore:
    """Sorted runs of (pair key int64, value float64): in memory up to a budget, then spilled to files.

    An in-memory run is a pair of `Anon` arrays, so the merge can hand back what it has consumed.
    A spill file holds, per run, its keys then its values.
    """

    def __init__(self, budget_bytes: int, tmp_parent: str | None, vocab_size: int):
        self.budget = max(1, int(budget_bytes))
        self.tmp_parent = tmp_parent
        self.tmpdir: str | None = None
        self.mem: list[tuple[Anon, Anon]] = []
        self.mem_bytes = 0
        self.files: list[tuple[str, list[tuple[int, int]]]] = []  # path, [(byte offset of keys, length)]
        self.row_counts = np.zeros(vocab_size, dtype=np.int64)  # upper bound of records per row
        self.vocab_size = vocab_size
        self.entries = 0  # in all runs
        self.runs = 0
        self.spills = 0
        self.spilled_bytes = 0
        self.lock = threading.Lock()

    def add(self, keys: np.ndarray, vals: np.ndarray) -> None:
        """Store a run (copied out of the caller's buffers)."""
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

    def _ensure_tmpdir(self) -> str:
        if self.tmpdir is None:
            parent = self.tmp_parent or tempfile.gettempdir()
            try:
                self.tmpdir = tempfile.mkdtemp(prefix=".nlpt-cooccur-", dir=parent)
            except OSError as exc:
                raise NlptError(f"{parent}: cannot create a temporary directory for co-occurrence runs ({exc.strerror})") from None
        return self.tmpdir

    def spill(self) -> None:
        """Write the in-memory runs to one file and free them."""
        if not self.mem:
            return
        tmpdir = self._ensure_tmpdir()
        path = os.path.join(tmpdir, f"runs-{len(self.files):05d}.bin")
        index = []
        offset = 0
        try:
            with open(path, "wb") as fh:
                for k, v in self.mem:
                    k.a.tofile(fh)
                    v.a.tofile(fh)
                    index.append((offset, len(k.a)))
                    offset += 16 * len(k.a)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise NlptError(
                    f"{tmpdir}: no space left on device while spilling co-occurrence records "
                    "(free some space, point --tmp-dir elsewhere or raise --memory)"
                ) from None
            raise NlptError(f"{tmpdir}: cannot write co-occurrence runs ({exc.strerror})") from None
        self.files.append((path, index))
        self.spills += 1
        self.spilled_bytes += offset
        self.mem = []
        self.mem_bytes = 0

    def cursors(self) -> list["_RunCursor"]:
        out = [_RunCursor(k, v) for k, v in self.mem]
        for path, index in self.files:
            out.extend(_RunCursor(None, None, path, off, n) for off, n in index)
        return out

    def cleanup(self) -> None:
        self.mem = []
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None


class _RunCursor:
    """Reads a run in increasing key ranges, handing back what was read (in memory) or reading
    slices with plain file reads (spilled: nothing stays mapped)."""

    def __init__(self, k: Anon | None, v: Anon | None, path: str | None = None, offset: int = 0, n: int = 0):
        self.k, self.v, self.path, self.offset = k, v, path, offset
        self.n = len(k.a) if k is not None else n
        self.pos = 0

    def _file_search(self, key: int) -> int:
        """First index >= pos whose key is >= key, by binary search with single-value reads (no mapping)."""
        lo, hi = self.pos, self.n
        with open(self.path, "rb") as fh:
            fd = fh.fileno()
            while lo < hi:
                mid = (lo + hi) // 2
                if int.from_bytes(os.pread(fd, 8, self.offset + 8 * mid), "little", signed=True) < key:
                    lo = mid + 1
                else:
                    hi = mid
        return lo

    def take_below(self, hi_key: int) -> tuple[np.ndarray, np.ndarray] | None:
        i0 = self.pos
        if self.k is not None:
            i1 = i0 + int(np.searchsorted(self.k.a[i0:], hi_key, side="left"))
        else:
            i1 = self._file_search(hi_key)
        if i1 == i0:
            return None
        self.pos = i1
        if self.k is not None:
            return self.k.a[i0:i1], self.v.a[i0:i1]
        with open(self.path, "rb") as fh:
            ks = np.fromfile(fh, dtype=np.int64, count=i1 - i0, offset=self.offset + 8 * i0)
            fh.seek(self.offset + 8 * self.n + 8 * i0)
            vs = np.fromfile(fh, dtype=np.float64, count=i1 - i0)
        return ks, vs

    def release(self) -> None:
        if self.k is not None:
            self.k.release_to(self.pos)
            self.v.release_to(self.pos)


# -- shards on line boundaries ------------------------------------------------------


def _line_boundary(path: str, pos: int, cache: dict, limit: int = 1 << 20) -> int:
    """`pos` moved to the start of the next line (just past the first newline at or after pos - 1).

    A window never crosses a line, so cutting shards at line starts makes the
    counts independent of the number of threads. If no newline follows within
    `limit` bytes (one huge line), the cut stays where it was.
    """
    key = (path, pos)
    if key not in cache:
        with open(path, "rb") as fh:
            fh.seek(max(0, pos - 1))
            block = fh.read(limit)
        i = block.find(b"\n")
        cache[key] = pos if i < 0 else max(0, pos - 1) + i + 1
    return cache[key]


def align_shards(shards):
    """Move byte-range cuts of `plan_shards` to line starts (dropping ranges that become empty)."""
    from nlpt.corpus.reader import Source

    cache: dict = {}
    out = []
    for shard in shards:
        new = []
        for src in shard:
            if src.start == 0 and src.end is None:
                new.append(src)
                continue
            start = _line_boundary(src.path, src.start, cache) if src.start > 0 else 0
            end = src.end
            if end is not None:
                end = _line_boundary(src.path, end, cache)
                if end >= os.path.getsize(src.path):
                    end = None
            if end is None or start < end:
                new.append(Source(src.path, start, end))
        out.append(new)
    return out


# -- the counter -------------------------------------------------------------------


class _Worker:
    def __init__(self, dense_entries: int, buffer_entries: int, layout, opts: CooccurOptions, vocab_size: int, store: RunStore):
        self.p, self.rowstart, self.rowlen = layout
        self.dense = Anon(max(1, dense_entries), np.float64)  # zero-filled by the system, page by page
        self.buf = np.empty(buffer_entries, dtype=np.int64)
        self.tmp = None
        self.nbuf = 0
        self.opts = opts
        self.V = vocab_size
        self.store = store
        mult = opts.window if opts.distance_weighting else 1
        self.mult = mult
        self.nbits = max(1, int(vocab_size * vocab_size * mult).bit_length())
        self.tokens = 0
        self.bytes_done = 0

    def count(self, ids: np.ndarray, starts: np.ndarray) -> None:
        s, p = 0, 0
        nsent = len(starts) - 1
        o = self.opts
        while True:
            s, p, self.nbuf = _count_kernel(
                ids, starts, s, p, o.window, o.symmetric, o.distance_weighting,
                self.rowstart, self.rowlen, self.dense.a, self.buf, self.nbuf, self.V,
            )
            if s >= nsent:
                break
            self.flush()
        self.tokens += len(ids)

    def flush(self) -> None:
        n = self.nbuf
        if n == 0:
            return
        keys = self.buf[:n]
        if self.tmp is None:
            self.tmp = np.empty_like(self.buf)
        _radix_sort(keys, self.tmp[:n], self.nbits)
        vals = self.tmp[:n].view(np.float64)  # the scratch is free again
        m = _reduce_sorted(keys, self.mult, self.opts.distance_weighting, vals)
        self.nbuf = 0
        self.store.add(keys[:m], vals[:m])


class ChunkSink:
    """Collects merged records as REC_DTYPE chunks (0-based ids)."""

    def __init__(self):
        self.chunks: list[np.ndarray] = []

    def begin(self, upper_bound: int) -> None:
        pass

    def add(self, w1: np.ndarray, w2: np.ndarray, x: np.ndarray) -> None:
        rec = np.empty(len(w1), dtype=REC_DTYPE)
        rec["w1"], rec["w2"], rec["x"] = w1, w2, x
        self.chunks.append(rec)


def _stanford(w1, w2, x) -> np.ndarray:
    """Records (0-based ids) in Stanford's CREC layout: 1-based ids."""
    out = np.empty(len(w1), dtype=REC_DTYPE)
    out["w1"] = w1 + 1
    out["w2"] = w2 + 1
    out["x"] = x
    return out


class TeeSink:
    """Writes merged records to a Stanford record file (an open binary file) and passes them on."""

    def __init__(self, fh, inner):
        self.fh, self.inner = fh, inner

    def begin(self, upper_bound: int) -> None:
        self.inner.begin(upper_bound)

    def add(self, w1, w2, x) -> None:
        _stanford(w1, w2, x).tofile(self.fh)
        self.inner.add(w1, w2, x)


def count_cooccurrences(paths, words: list[str], opts: CooccurOptions, reader_opts, progress=None, sink=None, on_merge=None):
    """Count co-occurrences of `paths` over the vocabulary `words` (id = position).

    The merged records (0-based ids, sorted by (word1, word2)) go to `sink`:
    `sink.begin(upper_bound)` once, then `sink.add(w1 int32, w2 int32, x float64)`
    per range of rows. Without a sink, returns (list of REC_DTYPE chunks, stats);
    with one, (sink, stats). `progress`, if given, is a `Progress` in bytes read;
    `on_merge()` is called when counting ends and the merge starts. Input is
    read through the trainers' `CorpusStream` (numba byte tokenizer when the
    tokenizer options allow it), one line-aligned byte-range shard per thread.
    """
    from nlpt.corpus.reader import ReadStats
    from nlpt.embeddings.driver import CorpusStream, Shared, run_threads

    start = time.perf_counter()
    V = len(words)
    if V <= 0:
        raise NlptError("empty vocabulary: nothing to count")
    threads = max(1, int(opts.threads))
    total_bytes = sum(os.path.getsize(p) for p in paths if p != "-")
    if total_bytes < MIN_BYTES_PER_THREAD * 2:
        threads = 1
    # --memory bounds the whole process: what it holds already (interpreter, vocabulary) is not available.
    budget = max(1 << 12, int(opts.memory_gb * _GIB) - rss_bytes())
    stream = CorpusStream(paths, words, reader_opts, threads)
    store = None
    own_sink = sink is None
    if own_sink:
        sink = ChunkSink()
    try:
        stream.shards = align_shards(stream.shards)
        threads = len(stream.shards)
        dense_budget = min(DENSE_CELLS_PER_THREAD, int(0.10 * budget) // threads // 8)
        buffer_entries = max(64 * (opts.window + 1), min(BUFFER_ENTRIES_PER_THREAD, int(0.10 * budget) // threads // 16))
        layout = dense_layout(V, dense_budget)
        dense_cells = int(layout[2].sum())
        store = RunStore(min(RUNS_IN_MEMORY_CAP, int(0.25 * budget)), opts.tmp_dir, V)
        stats = CooccurStats(dense_p=layout[0])
        workers = [_Worker(dense_cells, buffer_entries, layout, opts, V, store) for _ in range(threads)]

        def work(t: int) -> None:
            w = workers[t]
            for chunk in stream.chunks(t, stop=shared.stop):
                if shared.stop[0]:
                    return
                w.count(chunk.ids, chunk.starts)
            w.flush()

        def on_poll() -> None:
            if progress is not None:
                progress.update(sum(s.bytes for s in stream.stats))

        shared = Shared(threads, total_bytes)
        run_threads(threads, work, shared, on_poll, poll_seconds=0.2)
        merged_stats = ReadStats()
        for s in stream.stats:
            merged_stats.merge(s)
        merged_stats.files = len(paths)
        stats.read_stats = merged_stats
        stats.tokens = sum(w.tokens for w in workers)
        # Sum the dense blocks into the first one; free the rest and the buffers.
        dense = workers[0].dense
        for w in workers[1:]:
            np.add(dense.a, w.dense.a, out=dense.a)
            w.dense = None
        for w in workers:
            w.buf = w.tmp = None
        del workers
        if on_merge is not None:
            on_merge()
        stats.records = merge_runs(store, dense, layout, V, sink)
        stats.runs, stats.spills, stats.spilled_bytes = store.runs, store.spills, store.spilled_bytes
    finally:
        if store is not None:
            store.cleanup()
        stream.close()
    stats.seconds = time.perf_counter() - start
    return (sink.chunks if own_sink else sink), stats


def merge_runs(store: RunStore, dense: Anon, layout, vocab_size: int, sink) -> int:
    """Merge the dense block and all runs into sorted, reduced records passed to `sink`; return their number.

    Walks rows in ranges of about MERGE_RANGE_ENTRIES entries, handing back the
    consumed parts of the dense block and of the in-memory runs as it goes.
    """
    p, rowstart, rowlen = layout
    V = vocab_size
    dense_rows = np.zeros(V, dtype=np.int64)
    _dense_nnz_rows(dense.a, rowstart, rowlen, dense_rows)
    per_row = dense_rows + store.row_counts
    cum = np.cumsum(per_row)
    sink.begin(int(dense_rows.sum()) + store.entries)
    cursors = store.cursors()
    total = 0
    row0 = 0
    done_before = 0
    while row0 < V:
        row1 = int(np.searchsorted(cum, done_before + MERGE_RANGE_ENTRIES, side="right"))
        row1 = min(V, max(row0 + 1, row1))
        hi_key = row1 * V
        ks, vs = [], []
        n_dense = int(dense_rows[row0:row1].sum())
        if n_dense:
            k = np.empty(n_dense, dtype=np.int64)
            v = np.empty(n_dense, dtype=np.float64)
            _dense_range(dense.a, rowstart, rowlen, row0, row1, V, k, v)
            ks.append(k)
            vs.append(v)
        dense.release_to(rowstart[row1] if row1 < V else len(dense.a))
        for c in cursors:
            part = c.take_below(hi_key)
            if part is not None:
                ks.append(part[0])
                vs.append(part[1])
        if ks:
            if len(ks) == 1:
                keys, vals = ks[0], vs[0]
            else:
                allk = np.concatenate(ks)
                allv = np.concatenate(vs)
                del ks, vs
                order = np.argsort(allk, kind="stable")
                keys, vals = allk[order], allv[order]
                del allk, allv, order
                m = _merge_reduce(keys, vals, keys, vals)  # in place: writes never pass reads
                keys, vals = keys[:m], vals[:m]
            w1 = (keys // V).astype(np.int32)
            w2 = (keys - w1.astype(np.int64) * V).astype(np.int32)
            sink.add(w1, w2, vals)
            total += len(w1)
            del keys, vals, w1, w2
        ks, vs = [], []
        for c in cursors:
            c.release()
        done_before = int(cum[row1 - 1])
        row0 = row1
    return total


# -- Stanford binary record files -------------------------------------------------------


def write_records(path: str, chunks: list[np.ndarray]) -> None:
    """Write records (0-based ids) as Stanford CREC records with 1-based ids."""
    from nlpt.common.output import atomic_output

    with atomic_output(path, "wb") as fh:
        for c in chunks:
            _stanford(c["w1"], c["w2"], c["x"]).tofile(fh)


def record_count(path: str) -> int:
    """Number of records in a Stanford co-occurrence file, checking its size."""
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        raise NlptError(f"{path}: no such co-occurrence file") from None
    if size == 0:
        raise NlptError(f"{path}: empty co-occurrence file")
    if size % REC_DTYPE.itemsize:
        raise NlptError(
            f"{path}: size {size} bytes is not a multiple of {REC_DTYPE.itemsize}; "
            "not a GloVe co-occurrence file (int32 word1, int32 word2, float64 value) or truncated"
        )
    return size // REC_DTYPE.itemsize


def iter_record_file(path: str, vocab_size: int, block: int = 1 << 20):
    """Read a Stanford co-occurrence file in blocks, checking it: yields REC_DTYPE arrays with 0-based ids."""
    record_count(path)
    first = 0
    with open(path, "rb") as fh:
        while True:
            rec = np.fromfile(fh, dtype=REC_DTYPE, count=block)
            if len(rec) == 0:
                return
            for name in ("w1", "w2"):
                col = rec[name]
                bad = np.flatnonzero((col < 1) | (col > vocab_size))
                if len(bad):
                    i = int(bad[0])
                    raise NlptError(
                        f"{path}: record {first + i + 1} has word id {int(col[i])} outside 1..{vocab_size} "
                        "(the vocabulary given with --read-vocab does not match this file)"
                    )
            x = rec["x"]
            bad = np.flatnonzero(~np.isfinite(x) | (x <= 0))
            if len(bad):
                i = int(bad[0])
                raise NlptError(f"{path}: record {first + i + 1} has value {float(x[i])!r}; co-occurrence values must be positive")
            rec["w1"] -= 1
            rec["w2"] -= 1
            first += len(rec)
            yield rec


def read_records(path: str, vocab_size: int) -> np.ndarray:
    """Read a whole Stanford co-occurrence file, checking it; return records with 0-based ids."""
    return np.concatenate(list(iter_record_file(path, vocab_size)))


def feed_record_file(path: str, vocab_size: int, sink) -> int:
    """Pass a co-occurrence file to `sink` block by block; return the number of records."""
    sink.begin(record_count(path))
    n = 0
    for rec in iter_record_file(path, vocab_size):
        sink.add(rec["w1"], rec["w2"], rec["x"])
        n += len(rec)
    return n


__all__ = [
    "REC_DTYPE", "CooccurOptions", "CooccurStats", "count_cooccurrences", "dense_layout",
    "read_records", "write_records", "RunStore", "Anon", "ChunkSink", "TeeSink", "iter_record_file",
    "feed_record_file", "record_count",
]

