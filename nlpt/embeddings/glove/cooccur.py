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
  reduced in place to a *run* of (pair, value) records sorted by pair, handed
  to a `RunStore` (`nlpt.embeddings.glove.cooccur_runs`): runs are merged and summed
  in memory before they spill, one file per partition of rows; each partition
  is compacted on its own, so the temporary disk stays within about 1.5x the
  final records; files are read back sequentially, and the final merge walks
  the partitions in row order, handing records (sorted by (word1, word2), like
  Stanford's merged `cooccurrence.bin`) to a *sink*.
* Each worker thread counts its own byte-range shard of the corpus (numba
  kernels that release the GIL) into its own dense block and buffer; the dense
  blocks are summed at the end.

Windows follow GloVe: a window never crosses a line (sentence) boundary and
out-of-vocabulary tokens are dropped before distances are measured. In the
symmetric mode each pair within the window counts in both orders; in the
left-only mode a record (w1, w2) means that w1 occurs within the window
*before* w2 (what `cooccur -symmetric 0` writes). The increment is 1/distance
with distance weighting, else 1.

The record files (`--save-cooccur`, `--cooccur`) are Stanford's layout:
`nlpt.embeddings.glove.cooccur_records`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
from numba import njit

from nlpt.common.anon import Anon
from nlpt.common.errors import NlptError
from nlpt.common.process import rss_bytes
from nlpt.corpus.bytes import align_shards  # noqa: F401 - re-exported
from nlpt.embeddings.glove.cooccur_records import (  # noqa: F401 - the record format, re-exported
    REC_DTYPE, ChunkSink, TeeSink, feed_record_file, iter_record_file, read_records, record_count, write_records,
)
from nlpt.embeddings.glove.cooccur_runs import (  # noqa: F401
    DEFAULT_FAN_IN, DEFAULT_PARTITIONS, RunStore, merge_runs, union_record_files,
)
_GIB = 1 << 30
MIN_BYTES_PER_THREAD = 1 << 20  # smaller inputs are counted by one thread
# Memory plan of the counting stage (fractions of --memory, with caps: a small dense block
# is faster (it stays in cache) and runs spilled early cost little (page cache, read back once).
DENSE_CELLS_PER_THREAD = 4 << 20  # 32 MB per thread at most
BUFFER_ENTRIES_PER_THREAD = 4 << 20  # 64 MB per thread (keys + radix scratch) at most
RUNS_IN_MEMORY_CAP = 256 << 20  # sorted runs kept in memory before they are merged and spilled


@dataclass
class CooccurOptions:
    window: int = 10
    symmetric: bool = True
    distance_weighting: bool = True
    memory_gb: float = 4.0
    threads: int = 1
    tmp_dir: str | None = None  # where the spill directory is created ($TMPDIR if None)
    fan_in: int = DEFAULT_FAN_IN  # most spill files per partition (merged at once)
    partitions: int | None = None  # row ranges spilled and compacted on their own (None: from the budget)


@dataclass
class CooccurStats:
    tokens: int = 0  # in-vocabulary tokens counted
    records: int = 0
    dense_p: int = 0  # rank-product bound of the dense block
    runs: int = 0  # sorted runs produced
    spills: int = 0  # times the runs were written to disk
    spilled_bytes: int = 0
    temp_peak_bytes: int = 0  # most bytes of spilled runs on disk at once
    merge_passes: int = 0  # partition compactions before the final merge
    partitions: int = 0  # row ranges the spills were split into
    seconds: float = 0.0
    read_stats: object = None

    @property
    def temp_ratio(self) -> float:
        """Most temporary disk held at once over the final records (16 bytes each)."""
        return self.temp_peak_bytes / max(1, 16 * self.records)


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
    from nlpt.embeddings.training.driver import CorpusStream, Shared, run_threads

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
        runs_budget = min(RUNS_IN_MEMORY_CAP, int(0.25 * budget))
        # file buffers while merging: a quarter of the runs' share (a merge step holds them ~3 times over)
        store = RunStore(runs_budget, opts.tmp_dir, V, opts.fan_in, buffer_records=max(1024, runs_budget // 64),
                         partitions=opts.partitions)
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
        workers.clear()  # release the per-thread tables (the closure above still names the list)
        if on_merge is not None:
            on_merge()
        stats.records = merge_runs(store, dense, layout, V, sink)
        stats.runs, stats.spills, stats.spilled_bytes = store.runs, store.spills, store.spilled_bytes
        stats.temp_peak_bytes, stats.merge_passes, stats.partitions = store.peak_disk, store.passes, store.partitions
    finally:
        if store is not None:
            store.cleanup()
        stream.close()
    stats.seconds = time.perf_counter() - start
    return (sink.chunks if own_sink else sink), stats


def feed_record_files(paths: list[str], vocab_size: int, sink, memory_gb: float = 4.0, tmp_dir: str | None = None,
                      fan_in: int = DEFAULT_FAN_IN):
    """Pass one co-occurrence file, or the union of several (equal pairs summed), to `sink`.

    Returns (records, None) for one file, else (records, CooccurStats of the merge)."""
    if len(paths) == 1:
        return feed_record_file(paths[0], vocab_size, sink), None
    budget = max(1 << 20, int(memory_gb * _GIB) - rss_bytes())
    n, store = union_record_files(paths, vocab_size, sink, budget // 2, tmp_dir, fan_in)
    stats = CooccurStats(records=n, runs=store.runs, spills=store.spills, spilled_bytes=store.spilled_bytes,
                         temp_peak_bytes=store.peak_disk, merge_passes=store.passes,
                         partitions=store.partitions)
    return n, stats


__all__ = [
    "REC_DTYPE", "CooccurOptions", "CooccurStats", "count_cooccurrences", "dense_layout",
    "read_records", "write_records", "RunStore", "Anon", "ChunkSink", "TeeSink", "iter_record_file",
    "feed_record_file", "feed_record_files", "record_count", "merge_runs", "align_shards",
]
