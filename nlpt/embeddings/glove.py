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

Parameters live in two float32 matrices of shape (2V, dim + 1): rows [0, V)
are the main vectors, rows [V, 2V) the context vectors, the last column the
biases; `G` holds the AdaGrad accumulators in the same layout.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import numpy as np
from numba import njit

from nlpt.common.errors import NlptError
from nlpt.embeddings.driver import Shared, run_threads

BLOCK = 1 << 15  # records shuffled and trained together (fits in L2)
STATE_VERSION = 1
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


# -- random numbers (splitmix64) -----------------------------------------------------


@njit(cache=True, inline="always")
def _splitmix(x):
    x = x + np.uint64(0x9E3779B97F4A7C15)
    z = x
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return x, z


def _mix_seed(*parts: int) -> int:
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        h.update(int(p).to_bytes(8, "little", signed=True))
    return int.from_bytes(h.digest(), "little") & ((1 << 63) - 1)


# -- kernels ------------------------------------------------------------------------------


@njit(nogil=True, cache=True)
def _shuffle_records(w1, w2, fx, logx, seed):
    state = np.uint64(seed)
    for i in range(w1.shape[0] - 1, 0, -1):
        state, z = _splitmix(state)
        j = np.int64(z % np.uint64(i + 1))
        w1[i], w1[j] = w1[j], w1[i]
        w2[i], w2[j] = w2[j], w2[i]
        fx[i], fx[j] = fx[j], fx[i]
        logx[i], logx[j] = logx[j], logx[i]


@njit(nogil=True, cache=True)
def _prepare(rec_w1, rec_w2, rec_x, x_max, alpha, w1, w2, fx, logx, offset):
    for i in range(rec_w1.shape[0]):
        x = rec_x[i]
        w1[offset + i] = rec_w1[i]
        w2[offset + i] = rec_w2[i]
        fx[offset + i] = 1.0 if x >= x_max else (x / x_max) ** alpha
        logx[offset + i] = np.log(x)


@njit(nogil=True, cache=True, fastmath=_FASTMATH, error_model="numpy")
def _train_slice(w1, w2, fx, logx, lo, hi, W, G, eta, clip, seed, block, progress, stop, status, tid):
    """One iteration over records [lo, hi): returns the summed cost. Stops early if stop[0]; status[0] = NaN seen."""
    V = W.shape[0] // 2
    dim = W.shape[1] - 1
    n = hi - lo
    nblocks = (n + block - 1) // block
    order = np.arange(nblocks)
    state = np.uint64(seed)
    for i in range(nblocks - 1, 0, -1):
        state, z = _splitmix(state)
        j = np.int64(z % np.uint64(i + 1))
        order[i], order[j] = order[j], order[i]
    perm = np.empty(block, dtype=np.int64)
    cost = 0.0
    done = 0
    for bi in range(nblocks):
        if stop[0] != 0 or status[0] != 0:
            break
        b0 = lo + order[bi] * block
        b1 = min(b0 + block, hi)
        m = b1 - b0
        for i in range(m):
            perm[i] = b0 + i
        for i in range(m - 1, 0, -1):
            state, z = _splitmix(state)
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
        done += b1 - b0
        progress[tid] = done
    return cost


# -- preparation -------------------------------------------------------------------------


def prepare_records(chunks: list[np.ndarray], x_max: float, alpha: float, seed: int) -> TrainRecords:
    """Turn record chunks (REC_DTYPE, 0-based) into shuffled training arrays; chunks are consumed."""
    n = sum(len(c) for c in chunks)
    w1 = np.empty(n, dtype=np.int32)
    w2 = np.empty(n, dtype=np.int32)
    fx = np.empty(n, dtype=np.float32)
    logx = np.empty(n, dtype=np.float32)
    offset = 0
    while chunks:
        c = chunks.pop(0)
        _prepare(np.ascontiguousarray(c["w1"]), np.ascontiguousarray(c["w2"]), np.ascontiguousarray(c["x"]),
                 float(x_max), float(alpha), w1, w2, fx, logx, offset)
        offset += len(c)
        del c
    _shuffle_records(w1, w2, fx, logx, _mix_seed(seed, -1))
    return TrainRecords(w1, w2, fx, logx)


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
    from nlpt.common.output import atomic_output

    with atomic_output(path, "wb") as fh:
        np.savez(
            fh, W=state.W, G=state.G, epoch=np.int64(state.epoch), version=np.int64(STATE_VERSION),
            vocab_hash=np.array(state.vocab_hash), x_max=np.float64(config.x_max), alpha=np.float64(config.alpha),
            eta=np.float64(config.eta), seed=np.int64(config.seed),
        )


def load_state(path: str, vocab_size: int, dim: int, words_hash: str) -> GloveState:
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            if "W" not in z or "G" not in z or "epoch" not in z:
                raise NlptError(f"{path}: not an nlpt GloVe state file (saved with --save-state)")
            W, G, epoch = z["W"], z["G"], int(z["epoch"])
            saved_hash = str(z["vocab_hash"]) if "vocab_hash" in z else ""
    except FileNotFoundError:
        raise NlptError(f"{path}: no such state file") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise NlptError(f"{path}: not a readable GloVe state file ({exc})") from None
    if W.shape != G.shape or W.ndim != 2 or W.shape[0] != 2 * vocab_size:
        raise NlptError(f"{path}: state is for {W.shape[0] // 2} words, this run has {vocab_size}")
    if W.shape[1] != dim + 1:
        raise NlptError(f"{path}: state has vector size {W.shape[1] - 1}, this run asks for {dim} (--vector-size)")
    if saved_hash and saved_hash != words_hash:
        raise NlptError(f"{path}: state was saved for a different vocabulary")
    return GloveState(np.ascontiguousarray(W, dtype=np.float32), np.ascontiguousarray(G, dtype=np.float32), epoch, words_hash)


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
    reports: list[EpochReport] = []
    first = state.epoch
    for epoch in range(first, config.iterations):
        start = time.perf_counter()
        shared = Shared(threads, n)
        status = np.zeros(1, dtype=np.int64)  # NaN/inf seen
        costs = np.zeros(threads, dtype=np.float64)
        done = shared.counters[:, 0]

        def work(t: int) -> None:
            costs[t] = _train_slice(
                records.w1, records.w2, records.fx, records.logx, bounds[t], bounds[t + 1],
                state.W, state.G, np.float32(config.eta), np.float32(config.grad_clip),
                _mix_seed(config.seed, epoch, t), BLOCK, done, shared.stop, status, t,
            )

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


def output_matrix(state: GloveState, vectors: str = "sum") -> np.ndarray:
    """W + W~ (GloVe -model 2, 'sum') or the main vectors W ('main'), biases excluded."""
    V, dim = state.vocab_size, state.dim
    if vectors == "main":
        return state.W[:V, :dim].copy()
    return state.W[:V, :dim] + state.W[V:, :dim]
