#!/usr/bin/env python
"""Vocabulary counting speed and memory: `nlpt vocab` against gensim and a shell pipeline.

Counts the words of a corpus (default: ../shared/data/enwiki-2015-100m, 102 MB,
16.3M words) with, each as its own process measured for wall time and peak
resident memory (GNU time's "maximum resident set size"; for the shell
pipeline that is its largest process):

* `nlpt vocab --threads 2` (and `--threads 1`),
* gensim's `Word2Vec().build_vocab(corpus_file=...)` (the peer named in the
  issue; its default min_count=5, so nlpt runs with `--min-count 5` too),
* `tr -s '[:space:]' '\\n' | sort | uniq -c | sort -rn` (LC_ALL=C).

All read the same file: the corpus files concatenated into a temporary
directory. Prints a table with MB/s, peak RSS and ratios against gensim, and
the command that reproduces it.

    .venv/bin/python benchmarks/bench_vocab.py [--corpus DIR_OR_FILE] [--repeat N] [--skip-gensim] [--skip-shell]
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_CORPUS = os.path.join(os.path.dirname(REPO), "shared", "data", "enwiki-2015-100m")

GENSIM = """
import sys
from gensim.models import Word2Vec
m = Word2Vec()
m.build_vocab(corpus_file=sys.argv[1])
print("tokens", m.corpus_total_words)
print("kept", len(m.wv))
"""


def measure(cmd: list[str], env=None, shell: bool = False) -> tuple[float, float, float, str, str]:
    """Wall seconds, peak RSS in MB, CPU seconds (user + system), stdout, stderr of one run."""
    timer = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    if timer:
        full = [timer, "-f", "@@%e %M %U %S", *(["bash", "-c", cmd] if shell else cmd)]
        r = subprocess.run(full, capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise SystemExit(f"failed: {cmd}\n{r.stderr[-2000:]}")
        m = re.search(r"@@([\d.]+) (\d+) ([\d.]+) ([\d.]+)", r.stderr)
        return float(m.group(1)), int(m.group(2)) / 1024, float(m.group(3)) + float(m.group(4)), r.stdout, r.stderr
    # Fallback: poll the process tree with psutil.
    import psutil

    start = time.perf_counter()
    p = subprocess.Popen(["bash", "-c", cmd] if shell else cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    proc = psutil.Process(p.pid)
    peak = 0
    while p.poll() is None:
        try:
            rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.02)
    out, err = p.communicate()
    if p.returncode != 0:
        raise SystemExit(f"failed: {cmd}\n{err[-2000:]}")
    return time.perf_counter() - start, peak / 2**20, float("nan"), out, err


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=DEFAULT_CORPUS, help="a directory of .txt files or one file")
    ap.add_argument("--repeat", type=int, default=1, help="runs per tool; the fastest is reported")
    ap.add_argument("--skip-gensim", action="store_true")
    ap.add_argument("--skip-shell", action="store_true")
    args = ap.parse_args()

    if os.path.isdir(args.corpus):
        files = sorted(glob.glob(os.path.join(args.corpus, "*.txt")))
    else:
        files = [args.corpus]
    if not files:
        raise SystemExit(f"{args.corpus}: no corpus files (the shared data is not here?)")
    tmp = tempfile.mkdtemp(prefix="nlpt-bench-vocab-")
    try:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "wb") as out:
            for f in files:
                with open(f, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 22)
        size_mb = os.path.getsize(corpus) / 1e6
        nlpt = [sys.executable, "-m", "nlpt"]
        env = dict(os.environ, NLPT_LOG_INTERVAL="3600")
        # Warm-up: load numba's cached kernels once, so that no run pays the first-ever compile.
        subprocess.run([*nlpt, "vocab", files[0], "-o", os.path.join(tmp, "warm.txt"), "-q"], check=True, env=env)

        tools = []
        for threads in (2, 1):
            out = os.path.join(tmp, f"nlpt{threads}.vocab")
            tools.append(
                (f"nlpt vocab --threads {threads}", [*nlpt, "vocab", corpus, "-o", out, "--min-count", "5", "--threads", str(threads), "--json"], False)
            )
        if not args.skip_gensim:
            tools.append(("gensim build_vocab", [sys.executable, "-c", GENSIM, corpus], False))
        if not args.skip_shell:
            cmd = f"LC_ALL=C tr -s '[:space:]' '\\n' < {corpus} | LC_ALL=C sort | uniq -c | LC_ALL=C sort -rn > {os.path.join(tmp, 'shell.vocab')}"
            tools.append(("tr|sort|uniq -c", cmd, True))

        rows = []
        for name, cmd, shell in tools:
            best = None
            for _ in range(max(1, args.repeat)):
                secs, rss, cpu, out, err = measure(cmd, env=env, shell=shell)
                if best is None or secs < best[0]:
                    best = (secs, rss, cpu, out, err)
            secs, rss, cpu, out, err = best
            tokens = kept = None
            if name.startswith("nlpt"):
                import json

                s = json.loads(out)
                tokens, kept = s["tokens"], s["kept"]
            elif name.startswith("gensim"):
                tokens = int(re.search(r"tokens (\d+)", out).group(1))
                kept = int(re.search(r"kept (\d+)", out).group(1))
            rows.append((name, secs, rss, cpu, tokens, kept))
            print(f"  {name}: {secs:.2f} s, {rss:.0f} MB", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    ref = next((r for r in rows if r[0].startswith("gensim")), None)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nVocabulary count of {len(files)} file(s), {size_mb:.1f} MB ({args.corpus}); {os.cpu_count()} CPUs, load {load:.1f}")
    head = f"{'tool':<22} {'seconds':>8} {'MB/s':>7} {'CPU s':>6} {'peak RSS MB':>12} {'tokens':>11} {'kept (>=5)':>10}"
    if ref:
        head += f" {'speed vs gensim':>16} {'RSS vs gensim':>14}"
    print(head)
    print("-" * len(head))
    for name, secs, rss, cpu, tokens, kept in rows:
        line = f"{name:<22} {secs:8.2f} {size_mb / secs:7.1f} {cpu:6.2f} {rss:12.0f} {tokens if tokens is not None else '':>11} {kept if kept is not None else '':>10}"
        if ref:
            line += f" {ref[1] / secs:15.2f}x {rss / ref[2]:13.2f}x"
        print(line)
    print("\nReproduce: .venv/bin/python benchmarks/bench_vocab.py" + (f" --corpus {args.corpus}" if args.corpus != DEFAULT_CORPUS else ""))
    print("Peak RSS is GNU time's maximum resident set size (for the pipeline: its largest process); CPU s = user + system.")
    if load > 1.5:
        print(f"Note: load average {load:.1f} on {os.cpu_count()} CPUs: other processes competed for the CPUs; rerun on a quiet machine.")


if __name__ == "__main__":
    main()
