"""Matrix products on CPU through numpy's BLAS where it is the faster one on this machine.

torch's CPU wheels multiply fp32 matrices with Intel's MKL, numpy's wheels with
OpenBLAS. The two are not equally fast everywhere: on an AMD EPYC with AVX2,
one thread, a small Transformer's shapes ([2048 × 384]
· [384 × 1152] and the like) run at 65–79 GFLOP/s in torch and 85–99 GFLOP/s
in numpy (`benchmarks/bench_pretrain.py --rows g`). The products, the fp32 inputs and outputs are the same; only the order
of the additions inside a dot product differs, so results agree to rounding.

`configure(backend, threads)` picks the backend: "torch", "numpy", or "auto",
which is torch on more than one thread (without timing) and, on one thread, numpy's
only where the model's own layer products (rows × width into the FFN width and back
out; `probe_shape`), timed both ways (best of 9 calls each, in thread CPU time), were
at least `AUTO_MARGIN` faster; it also sets
numpy's BLAS to `threads` threads (threadpoolctl), as torch is, and returns a
`Choice` whose `restore()` undoes it. Until it is called the backend is torch,
so building or using a model never changes behaviour on its own; `nlpt
pretrain` calls it for the length of a run (`--cpu-matmul`, default auto) and
writes the choice and its reason into the run folder (`Choice.record`).

Why auto stays with torch on several threads: each library keeps its own pool
of worker threads, and a worker that has just finished waits spinning for the
next call before it sleeps. Training alternates numpy's products with torch's
own parallel operations (softmax, GELU, AdamW...), so the two pools spin on the
same cores and wait for each other: in a quiet run (2026-12-06, docs/benchmarks.md), the gpt-mini
Tiny Shakespeare shape trained 5.5× slower on 2 threads through numpy than through
torch, while on 1 thread (no pools: each library runs in the calling thread) numpy's
products are 1.02–1.05× torch's on an AVX-512 EPYC (1.22–1.29× on the AVX2 one).
A product timed alone cannot see this, so it is not asked on several threads.

On one thread the timing is done once per machine (processor, library versions,
BLAS kernel) and shape and kept in `cache_file()`: later runs reuse the decision, so the
same command chooses the same backend every time instead of flipping with the
load of the moment.

`linear` and `Linear` (an `nn.Linear` whose forward calls it) and `mm` /
`addmm_` go through numpy only for plain CPU fp32 tensors outside autocast and
torch.compile; anything else (GPU, bf16, DTensor, compiled graphs) is torch's
own call, unchanged.
"""

from __future__ import annotations

import json
import os
import platform
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from nlpt.common import jsontext
from nlpt.models import CPU_MATMUL_BACKENDS as BACKENDS

AUTO_MARGIN = 1.1  # numpy must be this much faster for "auto" to take it
_PROBE_SHAPE = (2048, 384, 1536)  # rows, width, FFN width: gpt-mini's products, when the model's are not given
CACHE_ENV = "NLPT_CACHE_DIR"  # where auto keeps its per-machine decisions (default ~/.cache/nlpt)
POOLS_REASON = "on {threads} threads numpy's and torch's thread pools would contend for the same cores"

_use_numpy = False
_PLAIN = (torch.Tensor, nn.Parameter)


class Choice:
    """What `configure` chose and why (for the run's log); `restore()` puts the previous choice back."""

    def __init__(self, backend: str, speedup: float | None, reason: str = "", previous: bool = False, limits=None,
                 requested: str = "", threads: int = 1, cached: bool = False, blas_threads: int | None = None):
        self.backend, self.speedup, self.reason = backend, speedup, reason
        self.requested, self.threads, self.cached = requested or backend, threads, cached
        self.blas_threads = blas_threads  # numpy's BLAS threads while the numpy path multiplies
        self._previous, self._limits = previous, limits

    def record(self) -> dict:
        """What a run folder keeps (its cpu-matmul.json), so that a slow run can be explained afterwards."""
        return {"requested": self.requested, "backend": self.backend, "threads": self.threads,
                "blas_threads": self.blas_threads, "reason": self.reason,
                "numpy_speedup": None if self.speedup is None else round(self.speedup, 3),
                "from_cache": self.cached}

    def describe(self) -> str:
        if self.backend == "numpy":
            ratio = f", {self.speedup:.2f}× torch's here" if self.speedup else ""
            return f"matrix products on CPU through numpy's BLAS{ratio} (--cpu-matmul torch keeps torch's)"
        return "matrix products on CPU through torch" + (f" ({self.reason})" if self.reason else "")

    def restore(self) -> None:
        global _use_numpy
        _use_numpy = self._previous
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None


def _limit_blas_threads(threads: int):
    """numpy's BLAS to `threads` threads (a threadpoolctl limiter to undo it); None without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=threads, user_api="blas")


def time_product(m: int, k: int, n: int, threads: int, calls: int = 7, limit_blas: bool = True) -> tuple[float, float]:
    """Best seconds of x [m × k] · wᵀ (w stored n × k, as a layer's weight) through torch and through numpy,
    both on `threads` threads, in alternating calls after two untimed ones (which start each library's threads).
    On one thread both compute in the calling thread, so its CPU clock is read: other jobs taking the core
    between calls do not count, and a timing on a busy machine decides as on a quiet one. `limit_blas` False:
    the caller has already limited numpy's BLAS to `threads`."""
    clock = time.thread_time if threads == 1 else time.perf_counter
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    limits = _limit_blas_threads(threads) if limit_blas else None  # numpy's BLAS on the same threads
    try:
        g = torch.Generator().manual_seed(0)
        x, w, out = torch.randn(m, k, generator=g), torch.randn(n, k, generator=g), torch.empty(m, n)
        xn, wn, outn = _np(x), _np(w).T, _np(out)
        best = [float("inf"), float("inf")]
        for i in range(calls + 2):  # alternating, so a change of load hits both
            for side in (0, 1):
                t = clock()
                if side == 0:
                    torch.mm(x, w.t(), out=out)
                else:
                    np.matmul(xn, wn, out=outn)
                if i >= 2:
                    best[side] = min(best[side], clock() - t)
        return best[0], best[1]
    finally:
        torch.set_num_threads(before)
        if limits is not None:
            limits.restore_original_limits()


def cache_file() -> str:
    """The file of auto's per-machine decisions: $NLPT_CACHE_DIR, else $XDG_CACHE_HOME/nlpt, else ~/.cache/nlpt."""
    folder = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "nlpt")
    return os.path.join(folder, "cpu-matmul.json")


def _machine_key(threads: int, shape: tuple) -> str:
    """What the timing depends on: the processor, both libraries and numpy's BLAS kernel, threads and shape."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    from threadpoolctl import threadpool_info

    blas = next((f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}" for i in threadpool_info()
                 if i.get("user_api") == "blas"), "no blas")
    return (f"cpu time | {cpu} | cores {os.cpu_count()} | torch {torch.__version__} | numpy {np.__version__} | {blas} | "
            f"threads {threads} | {'x'.join(map(str, shape))}")


def _read_cache(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):  # none yet, unreadable or damaged: time again
        return {}


def _write_cache(path: str, data: dict, key: str, speedup: float) -> None:
    """Keep the decision beside the others of `data` (the cache as read; best effort: a read-only home only
    means timing again next time)."""
    data[key] = {"numpy_speedup": round(speedup, 3), "measured": time.strftime("%Y-%m-%dT%H:%M:%S")}
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(jsontext.dumps(data, path, indent=1))
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _measured_speedup(threads: int, shape: tuple) -> tuple[float, bool]:
    """numpy's speed over torch's on `threads` threads at a layer's products for `shape` (rows, width, FFN
    width): x · W into the FFN and back out of it, summed; (ratio, whether it came from the cache). numpy's
    BLAS is already limited to `threads` (by `configure`)."""
    path, key = cache_file(), _machine_key(threads, shape)
    cache = _read_cache(path)
    known = cache.get(key)
    if isinstance(known, dict) and isinstance(known.get("numpy_speedup"), (int, float)) and known["numpy_speedup"] > 0:
        return float(known["numpy_speedup"]), True
    rows, width, ffn = shape
    into = time_product(rows, width, ffn, threads, calls=9, limit_blas=False)
    out = time_product(rows, ffn, width, threads, calls=9, limit_blas=False)
    speedup = (into[0] + out[0]) / (into[1] + out[1])
    _write_cache(path, cache, key, speedup)
    return speedup, False


def probe_shape(config, batch: int, context: int) -> tuple:
    """(rows, width, FFN width) of a model config's layer products for a micro-batch (rows capped at 2048)."""
    width = getattr(config, "hidden_size", None) or getattr(config, "d_model", None) or _PROBE_SHAPE[1]
    ffn = getattr(config, "ffn_size", None) or 4 * width
    return min(2048, max(1, batch * context)), int(width), int(ffn)


def configure(backend: str, threads: int, shape: tuple | None = None) -> Choice:
    """Choose the CPU matrix-product backend for this process (see the module docstring); `shape` (rows, width,
    FFN width; `probe_shape`) is what auto times on one thread. The returned `Choice` says which and why, and
    its `restore()` undoes this call."""
    global _use_numpy
    if backend not in BACKENDS:
        raise ValueError(f"cpu matmul backend {backend!r} is not one of {', '.join(BACKENDS)}")
    previous, _use_numpy = _use_numpy, False
    if backend == "torch":
        return Choice("torch", None, "--cpu-matmul torch", previous, requested=backend, threads=threads)
    if backend == "auto" and threads > 1:
        return Choice("torch", None, POOLS_REASON.format(threads=threads), previous, requested=backend,
                      threads=threads)
    # numpy's BLAS runs on the calling thread alone: on 1 thread that is the run's own, and past this point several
    # threads means an explicit `numpy`, where a BLAS pool beside torch's OpenMP pool spins on the cores torch's
    # parallel operations need.
    limits = _limit_blas_threads(1)
    if limits is None:
        if backend == "numpy":
            from nlpt.common.errors import UsageError

            _use_numpy = previous
            raise UsageError("--cpu-matmul numpy needs threadpoolctl (pip install threadpoolctl)")
        return Choice("torch", None, "threadpoolctl is not installed", previous, requested=backend, threads=threads)
    speedup, cached = None, False
    if backend == "auto":
        speedup, cached = _measured_speedup(threads, tuple(shape or _PROBE_SHAPE))
        if speedup < AUTO_MARGIN:
            limits.restore_original_limits()
            return Choice("torch", speedup, f"numpy's BLAS was {speedup:.2f}× torch's here (it must be "
                          f"{AUTO_MARGIN}×)", previous, requested=backend, threads=threads, cached=cached)
    reason = "--cpu-matmul numpy" if backend == "numpy" else f"numpy's BLAS was {speedup:.2f}× torch's here"
    if threads > 1:
        reason += f"; numpy's BLAS on 1 thread ({POOLS_REASON.format(threads=threads)})"
    _use_numpy = True
    return Choice("numpy", speedup, reason, previous, limits, requested=backend, threads=threads, cached=cached,
                  blas_threads=1)


def active() -> bool:
    return _use_numpy


def _eligible(*tensors) -> bool:
    """Plain CPU fp32 tensors outside autocast and compilation: the numpy path computes the same thing."""
    if not _use_numpy or torch.compiler.is_compiling() or torch.is_autocast_enabled("cpu"):
        return False
    return all(t is None or (type(t) in _PLAIN and t.device.type == "cpu" and t.dtype == torch.float32)
               for t in tensors)


def _np(t: torch.Tensor) -> np.ndarray:
    """A numpy view of `t`'s memory, through DLPack: unlike `Tensor.numpy()` it leaves the storage resizable,
    which FSDP2 needs for the parameters it gathers and frees."""
    return np.from_dlpack(t.detach())


def mm(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """`torch.mm(a, b, out=out)` (no autograd: for code that computes its own gradients)."""
    if not _eligible(a, b, out):
        return torch.mm(a, b, out=out)
    if out is None:
        out = torch.empty(a.shape[0], b.shape[1], dtype=a.dtype)
    np.matmul(_np(a), _np(b), out=_np(out))
    return out


def addmm_(c: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """`c.addmm_(a, b)`: c += a @ b (no autograd)."""
    if not _eligible(c, a, b):
        return c.addmm_(a, b)
    return c.add_(mm(a, b))


class _Linear(torch.autograd.Function):
    """x @ wᵀ + b with numpy's products; the gradients need only the products asked for."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        out = torch.empty(x2.shape[0], weight.shape[0], dtype=x.dtype)
        np.matmul(_np(x2), _np(weight).T, out=_np(out))
        if bias is not None:
            out.add_(bias.detach())
        ctx.save_for_backward(x2, weight)
        ctx.shape, ctx.has_bias = shape, bias is not None
        return out.view(*shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx, grad):
        x2, weight = ctx.saved_tensors
        g = _np(grad.reshape(-1, grad.shape[-1]))
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.empty(x2.shape, dtype=x2.dtype)
            np.matmul(g, _np(weight), out=_np(grad_x))
            grad_x = grad_x.view(ctx.shape)
        if ctx.needs_input_grad[1]:
            grad_w = torch.empty(weight.shape, dtype=weight.dtype)
            np.matmul(g.T, _np(x2), out=_np(grad_w))
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.reshape(-1, grad.shape[-1]).sum(0)
        return grad_x, grad_w, grad_b


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """`F.linear(x, weight, bias)`."""
    if x.dim() < 2 or not _eligible(x, weight, bias):
        return F.linear(x, weight, bias)
    return _Linear.apply(x, weight, bias)


class Linear(nn.Linear):
    """`nn.Linear` (same parameters, names and initialisation) whose product goes through `linear`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)
