"""Start-up benchmark for `nlpt params bert-large` (a whole process) against `python -c pass`.

Target: at most 0.2 s median wall, start-up included, and at most 4.5x `python -c pass` measured in the
same run; no numpy, numba, torch or pydantic in `python -X importtime` output. typer 0.29 imports pydantic
for its parameter coercion at every command (its cost is printed when present): pyproject.toml keeps
typer below 0.29.

The cases run interleaved (one run of each in turn), children with .pyc writing on, and once with a
pseudo-terminal as stdout (what a user at a prompt gets).

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


# Children write and read .pyc files as on a user's machine, even where the caller's environment says not to.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run_once(cmd: list[str], tty: bool = False) -> float:
    """Wall seconds of one whole process; with `tty`, its stdout is a pseudo-terminal (as at a prompt)."""
    if not tty:
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=ENV)
        return time.perf_counter() - t0
    import pty

    master, slave = pty.openpty()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=slave, stderr=subprocess.DEVNULL, env=ENV)
    os.close(slave)
    while True:  # drain the terminal so the child never blocks on a full buffer
        try:
            if not os.read(master, 65536):
                break
        except OSError:  # EIO: the child closed its end
            break
    proc.wait()
    elapsed = time.perf_counter() - t0
    os.close(master)
    if proc.returncode:
        raise SystemExit(f"{cmd} exited {proc.returncode}")
    return elapsed


def timed(cases: list, runs: int) -> list:
    """Each case's times, the cases interleaved run by run so that a noisy moment hits them all alike."""
    times: list = [[] for _ in cases]
    for _ in range(runs):
        for i, (_, cmd, tty) in enumerate(cases):
            times[i].append(run_once(cmd, tty))
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--model", default="bert-large")
    args = ap.parse_args()
    py = sys.executable
    cases = [
        ("python -c pass", [py, "-c", "pass"], False),
        (f"nlpt params {args.model}", [py, "-m", "nlpt", "params", args.model], False),
        (f"nlpt params {args.model} (terminal)", [py, "-m", "nlpt", "params", args.model], True),
        (f"nlpt params {args.model} --json", [py, "-m", "nlpt", "params", args.model, "--json"], False),
        ("nlpt --help", [py, "-m", "nlpt", "--help"], False),
    ]
    for _, cmd, tty in cases:  # warm the page cache and .pyc files
        run_once(cmd, tty)
    results = [(label, times) for (label, _, _), times in zip(cases, timed(cases, args.runs))]
    base = statistics.median(results[0][1])

    proc = subprocess.run([py, "-X", "importtime", "-m", "nlpt", "params", args.model], capture_output=True, text=True,
                          check=True, env=ENV)
    modules = [line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")]
    heavy = sorted({m for m in modules if m.split(".")[0] in HEAVY})

    import typer

    print(f"# nlpt params start-up, {args.runs} runs each, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"typer {typer.__version__}, load average {os.getloadavg()[0]:.2f}")
    print(f"# reproduce: {os.path.relpath(py)} benchmarks/bench_params.py --runs {args.runs}")
    print(f"{'command':<45} {'median s':>9} {'min s':>7} {'ratio':>7} {'min ratio':>10}")
    for label, times in results:
        med = statistics.median(times)
        print(f"{label:<45} {med:>9.3f} {min(times):>7.3f} {med / base:>6.1f}x {min(times) / min(results[0][1]):>9.1f}x")
    for label, times in results[1:3]:
        med = statistics.median(times)
        ok = med <= 0.2 and med / base <= 4.5
        print(f"target for {label}: median <= 0.200 s and <= 4.5x python -c pass -> {'PASS' if ok else 'FAIL'} "
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
