#!/usr/bin/env python
"""nlpt's CPU training kernels (`nlpt/models/ops.py`, `nlpt/models/layers.py`) against torch's own way of doing
the same thing, one operation at a time, the two sides alternating call by call, best of `--calls`:

- dropout masks at bert-mini/t5-mini shapes: `bernoulli_` (what `nn.Dropout` and SDPA draw with), `rand_like ≥ p`
  (nlpt's earlier mask) and nlpt's mask from 15-bit lanes of 64-bit draws (`ops._keep`);
- attention with dropout 0.1 at bert-mini's shape (batch 16, 4 heads, 128 tokens, head 64), forward and backward:
  SDPA (its unfused path on CPU) against `layers.attention`, which writes the arithmetic out on CPU;
- SwiGLU at llama-mini's shape (2,048 tokens, FFN 1,024) behind its gate/up projection, forward and backward:
  `act(gate) · up` after `split` against `ops.gated` (which keeps one F-wide activation fewer for backward).

    python benchmarks/bench_cpu_ops.py [--threads 2] [--calls 15]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def best(sides: list, calls: int) -> list:
    """Best seconds of each callable, alternating call by call after one untimed call each."""
    for fn in sides:
        fn()
    times = [[] for _ in sides]
    for _ in range(calls):
        for fn, out in zip(sides, times):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    return [min(t) for t in times]


def rows(threads: int, calls: int) -> list:
    import torch
    import torch.nn.functional as F

    from nlpt.models.layers import attention
    from nlpt.models.ops import _keep, gated

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    p = 0.1
    out = []
    for shape in ((16, 128, 1024), (16, 4, 128, 128)):
        x = torch.randn(shape)
        t = best([lambda: torch.empty_like(x).bernoulli_(1 - p), lambda: torch.rand_like(x).ge_(p).mul_(1 / (1 - p)),
                  lambda: _keep(x, p)], calls)
        out.append((f"dropout mask {list(shape)}", "bernoulli_", t[0], "nlpt", t[2]))
        out.append((f"dropout mask {list(shape)}", "rand_like ≥ p", t[1], "nlpt", t[2]))

    q, k, v = (torch.randn(16, 4, 128, 64, requires_grad=True) for _ in range(3))
    mask, g = torch.zeros(16, 1, 1, 128), torch.randn(16, 4, 128, 64)

    def sdpa():
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p).backward(g)

    def written_out():
        attention(q, k, v, mask, p, True).backward(g)
    t = best([sdpa, written_out], calls)
    out.append(("attention, dropout 0.1, fwd+bwd [16, 4, 128, 64]", "SDPA", t[0], "nlpt", t[1]))

    x, w = torch.randn(2048, 256), torch.randn(2048, 256, requires_grad=True)  # the gate/up projection feeds it
    gy = torch.randn(2048, 1024)

    def composite():
        gate, up = (x @ w.t()).split(1024, dim=-1)
        (F.silu(gate) * up).backward(gy)
        w.grad = None

    def fused():
        gated(x @ w.t(), 1024, F.silu).backward(gy)
        w.grad = None
    t = best([composite, fused], calls)
    out.append(("gate/up projection + SwiGLU, fwd+bwd [2048, 2 × 1024]", "split, silu, mul", t[0], "nlpt", t[1]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calls", type=int, default=15)
    args = ap.parse_args()
    import torch

    print(f"# python benchmarks/bench_cpu_ops.py --threads {args.threads} --calls {args.calls}; torch "
          f"{torch.__version__}, load average {os.getloadavg()[0]:.2f}")
    for threads in dict.fromkeys([args.threads, 1]):
        print(f"\n{threads} thread(s), best of {args.calls} alternating calls\n")
        print("| operation | torch's way | ms | nlpt ms | torch ÷ nlpt |")
        print("|---|---|---:|---:|---:|")
        for what, theirs, t_theirs, _, t_ours in rows(threads, args.calls):
            print(f"| {what} | {theirs} | {t_theirs * 1e3:.2f} | {t_ours * 1e3:.2f} | {t_theirs / t_ours:.2f}× |")


if __name__ == "__main__":
    main()
