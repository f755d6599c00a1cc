"""Matrix products on CPU through numpy's BLAS where it is the faster one on this machine.

torch's CPU wheels multiply fp32 matrices with Intel's MKL, numpy's wheels with
OpenBLAS. The two are not equally fast everywhere: on the AMD EPYC (AVX2) this
project is developed on, one thread, a small Transformer's shapes ([2048 × 384]
· [384 × 1152] and the like) run at 65–79 GFLOP/s in torch and 85–99 GFLOP/s
in numpy (`benchmarks/bench_pretrain.py --rows g`). The products, the fp32 inputs and outputs are the same; only the order
of the additions inside a dot product differs, so results agree to rounding.

`configure(backend, threads)` picks the backend: "torch", "numpy", or "auto",
which times one mid-sized product both ways (~0.2 s) and takes numpy's only
when it is at least `AUTO_MARGIN` faster; it also sets numpy's BLAS to
`threads` threads (threadpoolctl), as torch is, and returns a `Choice` whose
`restore()` undoes it. Until it is called the backend is torch, so building
or using a model never changes behaviour on its own; `nlpt pretrain` calls it
for the length of a run (`--cpu-matmul`, default auto).

`linear` and `Linear` (an `nn.Linear` whose forward calls it) and `mm` /
`addmm_` go through numpy only for plain CPU fp32 tensors outside autocast and
torch.compile; anything else (GPU, bf16, DTensor, compiled graphs) is torch's
own call, unchanged.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from nlpt.models import CPU_MATMUL_BACKENDS as BACKENDS

AUTO_MARGIN = 1.1  # numpy must be this much faster for "auto" to take it
_PROBE_SHAPE = (1024, 384, 1024)  # m, k, n: a Transformer layer's size of product

_use_numpy = False
_PLAIN = (torch.Tensor, nn.Parameter)


class Choice:
    """What `configure` chose and why (for the run's log); `restore()` puts the previous choice back."""

    def __init__(self, backend: str, speedup: float | None, reason: str = "", previous: bool = False, limits=None):
        self.backend, self.speedup, self.reason = backend, speedup, reason
        self._previous, self._limits = previous, limits

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


def time_product(m: int, k: int, n: int, threads: int, calls: int = 7) -> tuple[float, float]:
    """Best seconds of x [m × k] · wᵀ (w stored n × k, as a layer's weight) through torch and through numpy,
    both on `threads` threads, in alternating calls after two untimed ones (which start each library's threads)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(0)
        x, w, out = torch.randn(m, k, generator=g), torch.randn(n, k, generator=g), torch.empty(m, n)
        xn, wn, outn = _np(x), _np(w).T, _np(out)
        best = [float("inf"), float("inf")]
        for i in range(calls + 2):  # alternating, so a change of load hits both
            for side in (0, 1):
                t = time.perf_counter()
                if side == 0:
                    torch.mm(x, w.t(), out=out)
                else:
                    np.matmul(xn, wn, out=outn)
                if i >= 2:
                    best[side] = min(best[side], time.perf_counter() - t)
        return best[0], best[1]
    finally:
        torch.set_num_threads(before)


def configure(backend: str, threads: int) -> Choice:
    """Choose the CPU matrix-product backend for this process (see the module docstring); the returned
    `Choice` says which and why, and its `restore()` undoes this call."""
    global _use_numpy
    if backend not in BACKENDS:
        raise ValueError(f"cpu matmul backend {backend!r} is not one of {', '.join(BACKENDS)}")
    previous, _use_numpy = _use_numpy, False
    if backend == "torch":
        return Choice("torch", None, "--cpu-matmul torch", previous)
    limits = _limit_blas_threads(threads)
    if limits is None:
        if backend == "numpy":
            from nlpt.common.errors import UsageError

            _use_numpy = previous
            raise UsageError("--cpu-matmul numpy needs threadpoolctl (pip install threadpoolctl)")
        return Choice("torch", None, "threadpoolctl is not installed", previous)
    speedup = None
    if backend == "auto":
        torch_s, numpy_s = time_product(*_PROBE_SHAPE, threads)
        speedup = torch_s / numpy_s
        if speedup < AUTO_MARGIN:
            limits.restore_original_limits()
            return Choice("torch", speedup, f"numpy's BLAS was {speedup:.2f}× torch's here", previous)
    _use_numpy = True
    return Choice("numpy", speedup, "", previous, limits)


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
