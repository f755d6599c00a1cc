"""GloVe training: weighted least squares on log co-occurrences, AdaGrad, Hogwild threads.

The objective (Pennington et al. 2014) over the non-zero records (i, j, x):

    J = sum f(x) (w_i . w~_j + b_i + b~_j - log x)^2,   f(x) = min(1, (x / x_max)^alpha)

minimised by AdaGrad as Stanford's `glove.c` does it: the step for each
parameter is ``g / sqrt(G)`` where ``g = eta * f(x) * diff * (other vector)`` is
clipped to ``[-grad_clip, grad_clip]`` and ``G`` (starting at 1) accumulates
``g^2`` after the step. Each reported cost is ``sum 0.5 f(x) diff^2 / records``.

Parallelism: `threads` Python threads (`driver.run_threads`, which also
handles Ctrl-C/SIGTERM through a stop flag) each run a numba kernel (`nogil`) over
their own slice of the records, all updating the shared parameters without
locks (Hogwild). Records are shuffled once globally; every iteration each
thread visits its slice in a fresh random order: blocks of records in a random
order, each block in a random order (cache-friendly). The order of an
iteration depends only on the seed and the iteration number, so with one
thread a resumed run is bit-identical to an uninterrupted one.

Memory: the records are 16 bytes each (int32 word ids, float32 f(x) and
log x), built straight from the merge (`MemorySink`) and shuffled in place.
When they do not fit in --memory beside the parameters (`AutoSink`), they go
to a temporary file instead (`DiskSink`: scattered into buckets of at least
16 MB by a hash of the record number, each bucket shuffled in memory) and each
thread reads its blocks from that file, 32 blocks at a time, in the same random
order as in memory. With a single bucket the order, and so the result, is
exactly that of in-memory training.

Parameters live in two float32 matrices of shape (2V, dim + 1): rows [0, V)
are the main vectors, rows [V, 2V) the context vectors, the last column the
biases; `G` holds the AdaGrad accumulators in the same layout.

Every shuffle draws from splitmix64 seeded by `mix_seed(seed, ...)` (`nlpt.common.rng`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

import numpy as np
from numba import njit

from nlpt.common.output import write_array
from nlpt.common.errors import NlptError
from nlpt.common.rng import mix_seed, splitmix64
from nlpt.embeddings.training.driver import Shared, load_checkpoint, run_threads, save_checkpoint

BLOCK = 1 << 15  # records shuffled and trained together (fits in L2)
# One training record on disk (streaming mode): 16 bytes, like the in-memory columns.
TRAIN_DTYPE = np.dtype([("w1", "<i4"), ("w2", "<i4"), ("fx", "<f4"), ("logx", "<f4")])
DISK_BLOCKS_PER_READ = 32  # blocks each thread reads at a time when training from disk (16 MB)
STATE_KIND, STATE_VERSION = "nlpt-glove-state", 1  # --save-state files (driver checkpoints)
_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}  # not nnan/ninf: the NaN guard must work


@dataclass
class GloveConfig:
    vector_size: int = 100
    iterations: int = 15
    x_max: float = 100.0
    alpha: float = 0.75
    eta: float = 0.05
    grad_clip: float = 100.0
    threads: int = 1
    seed: int = 1


@dataclass
class TrainRecords:
    """Records ready for training (shuffled): word ids, f(x) and log(x)."""

    w1: np.ndarray  # int32
    w2: np.ndarray  # int32
    fx: np.ndarray  # float32
    logx: np.ndarray  # float32

    def __len__(self) -> int:
        return len(self.w1)


@dataclass
class DiskRecords:
    """Shuffled training records in a file of TRAIN_DTYPE (streaming mode); `tmpdir` is removed by `close`."""

    path: str
    n: int
    tmpdir: str | None = None

    def __len__(self) -> int:
        return self.n

    def close(self) -> None:
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None


@dataclass
class GloveState:
    W: np.ndarray  # float32 (2V, dim + 1)
    G: np.ndarray  # float32 (2V, dim + 1)
    epoch: int  # iterations completed
    vocab_hash: str

    @property
    def vocab_size(self) -> int:
        return self.W.shape[0] // 2

    @property
    def dim(self) -> int:
        return self.W.shape[1] - 1


# -- kernels ------------------------------------------------------------------------------


@njit(nogil=True, cache=True)
def _shuffle_records(w1, w2, fx, logx, seed):
    state = np.uint64(seed)
    for i in range(w1.shape[0] - 1, 0, -1):
        state, z = splitmix64(state)
        j = np.int64(z % np.uint64(i + 1))
        w1[i], w1[j] = w1[j], w1[i]
        w2[i], w2[j] = w2[j], w2[i]
        fx[i], fx[j] = fx[j], fx[i]
        logx[i], logx[j] = logx[j], logx[i]


@njit(nogil=True, cache=True)
def _shuffle_rows(rows, seed):
    """The same Fisher-Yates as `_shuffle_records`, on the rows of a 2-d array (records on disk)."""
    state = np.uint64(seed)
    for i in range(rows.shape[0] - 1, 0, -1):
        state, z = splitmix64(state)
        j = np.int64(z % np.uint64(i + 1))
        for c in range(rows.shape[1]):
            rows[i, c], rows[j, c] = rows[j, c], rows[i, c]


@njit(nogil=True, cache=True)
def _bucket_of(first, n, seed, nbuckets, out):
    """Bucket of records first .. first + n - 1 (a hash of the record number)."""
    for i in range(n):
        _, z = splitmix64(np.uint64(seed) + np.uint64(first + i) * np.uint64(0x9E3779B97F4A7C15))
        out[i] = np.int64(z % np.uint64(nbuckets))


@njit(nogil=True, cache=True)
def _prepare(rec_w1, rec_w2, rec_x, x_max, alpha, w1, w2, fx, logx, offset):
    for i in range(rec_w1.shape[0]):
        x = rec_x[i]
        w1[offset + i] = rec_w1[i]
        w2[offset + i] = rec_w2[i]
        fx[offset + i] = 1.0 if x >= x_max else (x / x_max) ** alpha
        logx[offset + i] = np.log(x)


@njit(nogil=True, cache=True)
def _block_order(nblocks, seed):
    """A random order of the blocks of one slice, and the generator state after it."""
    order = np.arange(nblocks)
    state = np.uint64(seed)
    for i in range(nblocks - 1, 0, -1):
        state, z = splitmix64(state)
        j = np.int64(z % np.uint64(i + 1))
        order[i], order[j] = order[j], order[i]
    rng = np.empty(1, dtype=np.uint64)
    rng[0] = state
    return order, rng


@njit(nogil=True, cache=True, fastmath=_FASTMATH, error_model="numpy")
def _train_blocks(w1, w2, fx, logx, starts, lens, W, G, eta, clip, rng, done0, progress, stop, status, tid):
    """Train on blocks [starts[i], starts[i] + lens[i]) in turn, each in a random order (generator state in rng[0]).

    Returns the summed cost. Stops early if stop[0]; status[0] = NaN seen; progress[tid] = done0 + records done.
    """
    V = W.shape[0] // 2
    dim = W.shape[1] - 1
    state = rng[0]
    maxlen = 1
    for bi in range(lens.shape[0]):
        maxlen = max(maxlen, lens[bi])
    perm = np.empty(maxlen, dtype=np.int64)
    cost = 0.0
    done = done0
    for bi in range(starts.shape[0]):
        if stop[0] != 0 or status[0] != 0:
            break
        b0 = starts[bi]
        m = lens[bi]
        for i in range(m):
            perm[i] = b0 + i
        for i in range(m - 1, 0, -1):
            state, z = splitmix64(state)
            j = np.int64(z % np.uint64(i + 1))
            perm[i], perm[j] = perm[j], perm[i]
        for pi in range(m):
            r = perm[pi]
            wa = W[w1[r]]
            wc = W[w2[r] + V]
            ga = G[w1[r]]
            gc = G[w2[r] + V]
            diff = wa[dim] + wc[dim] - logx[r]
            for k in range(dim):
                diff += wa[k] * wc[k]
            fdiff = fx[r] * diff
            if not (np.abs(fdiff) < np.inf):  # NaN or inf
                status[0] = 1
                progress[tid] = done
                rng[0] = state
                return cost
            cost += 0.5 * fdiff * diff
            fdiff *= eta
            for k in range(dim):
                t1 = fdiff * wc[k]
                t2 = fdiff * wa[k]
                t1 = min(max(t1, -clip), clip)
                t2 = min(max(t2, -clip), clip)
                wa[k] -= t1 / np.sqrt(ga[k])
                wc[k] -= t2 / np.sqrt(gc[k])
                ga[k] += t1 * t1
                gc[k] += t2 * t2
            wa[dim] -= fdiff / np.sqrt(ga[dim])
            wc[dim] -= fdiff / np.sqrt(gc[dim])
            ga[dim] += fdiff * fdiff
            gc[dim] += fdiff * fdiff
        done += m
        progress[tid] = done
    rng[0] = state
    return cost


# -- preparation -------------------------------------------------------------------------


class MemorySink:
    """Turns merged records (w1, w2, x) into in-memory training columns as they arrive.

    The columns are sized by the merge's upper bound in anonymous mappings: pages
    never written cost nothing. `finish` shuffles them in place (no copies).
    """

    def __init__(self, x_max: float, alpha: float):
        self.x_max, self.alpha = float(x_max), float(alpha)
        self.n = 0
        self.cols = None

    def begin(self, upper_bound: int) -> None:
        from nlpt.common.anon import Anon

        u = max(1, int(upper_bound))
        self.cols = [Anon(u, np.int32), Anon(u, np.int32), Anon(u, np.float32), Anon(u, np.float32)]
        self.n = 0

    def add(self, w1, w2, x) -> None:
        w1c, w2c, fxc, lxc = (c.a for c in self.cols)
        if self.n + len(w1) > len(w1c):
            raise RuntimeError("more records than the announced upper bound")
        _prepare(np.ascontiguousarray(w1), np.ascontiguousarray(w2), np.ascontiguousarray(x, dtype=np.float64),
                 self.x_max, self.alpha, w1c, w2c, fxc, lxc, self.n)
        self.n += len(w1)

    def finish(self, seed: int) -> TrainRecords:
        if self.cols is None:
            self.begin(0)
        w1, w2, fx, logx = (c.a[: self.n] for c in self.cols)
        _shuffle_records(w1, w2, fx, logx, mix_seed(seed, -1))
        self.cols = None
        return TrainRecords(w1, w2, fx, logx)


class DiskSink:
    """Streaming mode: merged records become a shuffled file of TRAIN_DTYPE records, within `memory_bytes`.

    Each record goes to a bucket file chosen by a hash of its number; each bucket
    is then loaded, shuffled (Fisher-Yates, as in memory) and appended to the
    training file. With one bucket the order is exactly the in-memory one.
    """

    def __init__(self, x_max: float, alpha: float, tmp_parent: str | None, memory_bytes: int, seed: int):
        self.x_max, self.alpha, self.seed = float(x_max), float(alpha), int(seed)
        self.tmp_parent = tmp_parent
        self.bucket_bytes = max(16 << 20, int(memory_bytes) // 2)  # one bucket is shuffled in memory
        self.tmpdir = None
        self.files = []
        self.n = 0

    def begin(self, upper_bound: int) -> None:
        parent = self.tmp_parent or tempfile.gettempdir()
        try:
            self.tmpdir = tempfile.mkdtemp(prefix=".nlpt-glove-", dir=parent)
        except OSError as exc:
            raise NlptError(f"{parent}: cannot create a temporary directory for training records ({exc.strerror})") from None
        self.nb = int(min(512, max(1, -(-int(upper_bound) * TRAIN_DTYPE.itemsize // self.bucket_bytes))))
        self.files = [open(os.path.join(self.tmpdir, f"bucket-{b:04d}.bin"), "wb") for b in range(self.nb)]
        self.counts = np.zeros(self.nb, dtype=np.int64)
        self.n = 0

    def add(self, w1, w2, x) -> None:
        m = len(w1)
        rec = np.empty(m, dtype=TRAIN_DTYPE)
        w1c, w2c = np.empty(m, np.int32), np.empty(m, np.int32)
        fx, logx = np.empty(m, np.float32), np.empty(m, np.float32)
        _prepare(np.ascontiguousarray(w1), np.ascontiguousarray(w2), np.ascontiguousarray(x, dtype=np.float64),
                 self.x_max, self.alpha, w1c, w2c, fx, logx, 0)
        rec["w1"], rec["w2"], rec["fx"], rec["logx"] = w1c, w2c, fx, logx
        del w1c, w2c, fx, logx
        try:
            if self.nb == 1:
                write_array(self.files[0], rec)
                self.counts[0] += m
            else:
                bucket = np.empty(m, dtype=np.int64)
                _bucket_of(self.n, m, mix_seed(self.seed, -2), self.nb, bucket)
                order = np.argsort(bucket, kind="stable")
                rec = rec[order]
                bounds = np.searchsorted(bucket[order], np.arange(self.nb + 1))
                for b in range(self.nb):
                    if bounds[b + 1] > bounds[b]:
                        write_array(self.files[b], rec[bounds[b]: bounds[b + 1]])
                        self.counts[b] += bounds[b + 1] - bounds[b]
        except OSError as exc:
            self._fail(exc)
        self.n += m

    def _fail(self, exc: OSError):
        import errno

        self.close()
        where = self.tmp_parent or tempfile.gettempdir()
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise NlptError(f"{where}: no space left on device for the training records "
                            "(free some space, point --tmp-dir elsewhere or raise --memory)") from None
        raise NlptError(f"{where}: cannot write training records ({exc.strerror})") from None

    def finish(self, seed: int) -> DiskRecords:
        if self.tmpdir is None:
            self.begin(0)
        path = os.path.join(self.tmpdir, "records.bin")
        try:
            for fh in self.files:
                fh.close()
            with open(path, "wb") as out:
                for b in range(self.nb):
                    bpath = os.path.join(self.tmpdir, f"bucket-{b:04d}.bin")
                    rec = np.fromfile(bpath, dtype=TRAIN_DTYPE)
                    os.unlink(bpath)
                    _shuffle_rows(rec.view(np.uint64).reshape(-1, 2), mix_seed(seed, -1 - b))
                    write_array(out, rec)
                    del rec
        except OSError as exc:
            self._fail(exc)
        self.files = []
        return DiskRecords(path, self.n, self.tmpdir)

    def close(self) -> None:
        for fh in self.files:
            fh.close()
        self.files = []
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None


class AutoSink:
    """Keeps the training records in memory when they fit in `memory_bytes` beside `reserved_bytes`
    (parameters and the rest of the process), else streams them to disk (`DiskSink`)."""

    OVERHEAD = 192 << 20  # interpreter, numba, vocabulary

    def __init__(self, x_max: float, alpha: float, memory_bytes: int, reserved_bytes: int, tmp_parent: str | None, seed: int):
        self.args = (x_max, alpha)
        self.room = int(memory_bytes) - int(reserved_bytes) - self.OVERHEAD
        self.tmp_parent, self.seed = tmp_parent, seed
        self.inner = None
        self.on_disk = False

    def begin(self, upper_bound: int) -> None:
        self.on_disk = int(upper_bound) * TRAIN_DTYPE.itemsize > self.room
        if self.on_disk:
            self.inner = DiskSink(*self.args, self.tmp_parent, max(0, self.room), self.seed)
        else:
            self.inner = MemorySink(*self.args)
        self.inner.begin(upper_bound)

    @property
    def n(self) -> int:
        return self.inner.n if self.inner is not None else 0

    def add(self, w1, w2, x) -> None:
        self.inner.add(w1, w2, x)

    def finish(self, seed: int):
        if self.inner is None:
            self.begin(0)
        return self.inner.finish(seed)

    def close(self) -> None:
        if isinstance(self.inner, DiskSink):
            self.inner.close()


def prepare_records(chunks: list[np.ndarray], x_max: float, alpha: float, seed: int) -> TrainRecords:
    """Turn record chunks (REC_DTYPE, 0-based) into shuffled training arrays; chunks are consumed."""
    sink = MemorySink(x_max, alpha)
    sink.begin(sum(len(c) for c in chunks))
    while chunks:
        c = chunks.pop(0)
        sink.add(c["w1"], c["w2"], c["x"])
        del c
    return sink.finish(seed)


def vocab_hash(words: list[str]) -> str:
    h = hashlib.sha256()
    for w in words:
        h.update(w.encode("utf-8") + b"\n")
    return h.hexdigest()


def init_state(vocab_size: int, dim: int, seed: int, words_hash: str) -> GloveState:
    rng = np.random.default_rng(seed)
    W = ((rng.random((2 * vocab_size, dim + 1), dtype=np.float32) - 0.5) / dim).astype(np.float32)
    G = np.ones((2 * vocab_size, dim + 1), dtype=np.float32)
    return GloveState(W, G, 0, words_hash)


# -- state files ---------------------------------------------------------------------------



def save_state(path: str, state: GloveState, config: GloveConfig) -> None:
    """Parameters and AdaGrad state as a driver checkpoint (`.npz` with a JSON header), written atomically."""
    meta = {"kind": STATE_KIND, "version": STATE_VERSION, "epoch": state.epoch, "vocab_hash": state.vocab_hash,
            "x_max": config.x_max, "alpha": config.alpha, "eta": config.eta, "seed": config.seed,
            "vector_size": state.dim}  # (checked before the vocabulary is counted; older states lack it)
    save_checkpoint(path, {"W": state.W, "G": state.G}, meta)


def load_state(path: str, vocab_size: int, dim: int, words_hash: str) -> GloveState:
    arrays, meta = load_checkpoint(path)
    if meta.get("kind") != STATE_KIND or "W" not in arrays or "G" not in arrays:
        raise NlptError(f"{path}: not an nlpt GloVe checkpoint (saved with --checkpoint)")
    W, G = arrays["W"], arrays["G"]
    if W.shape != G.shape or W.ndim != 2 or W.shape[0] != 2 * vocab_size:
        raise NlptError(f"{path}: state is for {W.shape[0] // 2} words, this run has {vocab_size}")
    if W.shape[1] != dim + 1:
        raise NlptError(f"{path}: state has vector size {W.shape[1] - 1}, this run asks for {dim} (--vector-size)")
    if meta.get("vocab_hash") != words_hash:
        raise NlptError(f"{path}: state was saved for a different vocabulary")
    return GloveState(np.ascontiguousarray(W, dtype=np.float32), np.ascontiguousarray(G, dtype=np.float32),
                      int(meta["epoch"]), words_hash)


# -- the training loop -----------------------------------------------------------------------


@dataclass
class EpochReport:
    epoch: int
    cost: float
    seconds: float


def train(records: TrainRecords, state: GloveState, config: GloveConfig, progress=None,
          on_epoch=None) -> list[EpochReport]:
    """Run iterations state.epoch+1 .. config.iterations; `on_epoch(report, state)` after each one.

    `progress`, if given, is a `Progress` counting records over all iterations
    of this run; its `cost` field is updated as iterations finish.
    """
    n = len(records)
    if n == 0:
        raise NlptError("no co-occurrence records to train on")
    threads = max(1, min(int(config.threads), max(1, n // 256)))
    bounds = [n * t // threads for t in range(threads + 1)]
    on_disk = isinstance(records, DiskRecords)
    reports: list[EpochReport] = []
    first = state.epoch
    eta, clip = np.float32(config.eta), np.float32(config.grad_clip)
    for epoch in range(first, config.iterations):
        start = time.perf_counter()
        shared = Shared(threads, n)
        status = np.zeros(1, dtype=np.int64)  # NaN/inf seen
        costs = np.zeros(threads, dtype=np.float64)
        done = shared.counters[:, 0]

        def work(t: int) -> None:
            lo, hi = bounds[t], bounds[t + 1]
            nblocks = (hi - lo + BLOCK - 1) // BLOCK
            order, rng = _block_order(nblocks, mix_seed(config.seed, epoch, t))
            starts = lo + order * BLOCK
            lens = np.minimum(BLOCK, hi - starts)
            if not on_disk:
                costs[t] = _train_blocks(records.w1, records.w2, records.fx, records.logx, starts, lens,
                                         state.W, state.G, eta, clip, rng, 0, done, shared.stop, status, t)
                return
            costs[t] = _train_from_file(records.path, starts, lens, state, eta, clip, rng, done, shared.stop, status, t)

        def on_poll() -> None:
            if progress is not None:
                progress.update((epoch - first) * n + shared.done(), iter=f"{epoch + 1}/{config.iterations}")

        run_threads(threads, work, shared, on_poll, poll_seconds=0.2)
        cost = float(costs.sum()) / n
        if status[0] or not np.isfinite(cost):
            raise NlptError(
                f"the cost became NaN or infinite in iteration {epoch + 1}; training diverged "
                "(lower --eta or --grad-clip, or check the co-occurrence values); no output was written"
            )
        state.epoch = epoch + 1
        report = EpochReport(epoch + 1, cost, time.perf_counter() - start)
        reports.append(report)
        if progress is not None:
            progress.update((epoch + 1 - first) * n, cost=cost)
        if on_epoch is not None:
            on_epoch(report, state)
    return reports


def _train_from_file(path, starts, lens, state, eta, clip, rng, done, stop, status, tid) -> float:
    """Streaming mode: read the blocks of one slice, in their random order, DISK_BLOCKS_PER_READ at a time."""
    buf = np.empty(DISK_BLOCKS_PER_READ * BLOCK, dtype=TRAIN_DTYPE)
    # Contiguous copies of the columns: the kernel is the in-memory one (strided views train ~30% slower).
    cols = (np.empty(len(buf), np.int32), np.empty(len(buf), np.int32), np.empty(len(buf), np.float32), np.empty(len(buf), np.float32))
    raw = buf.view(np.uint8)
    size = TRAIN_DTYPE.itemsize
    cost = 0.0
    finished = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        for g in range(0, len(starts), DISK_BLOCKS_PER_READ):
            if stop[0] or status[0]:
                break
            gl_lens = lens[g: g + DISK_BLOCKS_PER_READ]
            local = np.zeros(len(gl_lens), dtype=np.int64)
            pos = 0
            for i, (s0, m) in enumerate(zip(starts[g: g + DISK_BLOCKS_PER_READ], gl_lens)):
                local[i] = pos
                want, off = int(m) * size, int(s0) * size
                view = memoryview(raw[pos * size: pos * size + want])
                got = 0
                while got < want:
                    k = os.preadv(fd, [view[got:]], off + got)
                    if k <= 0:
                        raise NlptError(f"{path}: training records file ended early")
                    got += k
                pos += int(m)
            for col, name in zip(cols, ("w1", "w2", "fx", "logx")):
                col[:pos] = buf[name][:pos]
            cost += _train_blocks(*cols, local, gl_lens, state.W, state.G, eta, clip, rng, finished, done, stop, status, tid)
            finished += int(gl_lens.sum())
    finally:
        os.close(fd)
    return cost


def output_matrix(state: GloveState, vectors: str = "sum") -> np.ndarray:
    """W + W~ (GloVe -model 2, 'sum') or the main vectors W ('main'), biases excluded."""
    V, dim = state.vocab_size, state.dim
    if vectors == "main":
        return state.W[:V, :dim].copy()
    return state.W[:V, :dim] + state.W[V:, :dim]
