#!/usr/bin/env python
"""Writing and reading vectors: text output against the raw disk write of the same matrix.

Writes ROWS x DIM random float32 vectors (default 1 M x 300) with nlpt's writer
as word2vec text and binary, and times the raw write of the matrix bytes and of
the text's bytes (each followed by fsync, so the page cache does not hide the
disk). Then reads the binary file back whole and with `--limit 1000`
(memory-mapped: only the first rows are touched). The issue's size, 10 M x 300,
needs 12 GB for the matrix and ~37 GB for the text; every step is linear in
ROWS, so the figures scale by 10.

    .venv/bin/python benchmarks/bench_vectors_io.py [--rows 1000000] [--dim 300] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fsynced_write(path: str, write) -> float:
    t = time.perf_counter()
    with open(path, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=300)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    args = ap.parse_args()
    from nlpt.embeddings.formats.vectors import Vectors

    words = [f"w{i}" for i in range(args.rows)]
    matrix = np.random.default_rng(0).standard_normal((args.rows, args.dim), dtype=np.float32)
    v = Vectors(words, matrix)
    d = tempfile.mkdtemp(prefix="nlpt-vio-", dir=args.dir)
    text, binary, raw = (os.path.join(d, n) for n in ("v.txt", "v.bin", "raw"))
    try:
        res = {}
        Vectors(words[:10], matrix[:10]).save(text, "text")  # compile the kernel first
        t = time.perf_counter()
        v.save(text, "text")
        os.sync()
        res["text save"] = time.perf_counter() - t
        t = time.perf_counter()
        v.save(binary, "binary")
        os.sync()
        res["binary save"] = time.perf_counter() - t
        res["raw write, matrix bytes"] = fsynced_write(raw, matrix.tofile)
        os.unlink(raw)
        with open(text, "rb") as fh:
            tb = fh.read()
        res["raw write, text bytes"] = fsynced_write(raw, lambda fh: fh.write(tb))
        tb = b""
        t = time.perf_counter()
        Vectors.load(binary, limit=1000)
        res["load binary --limit 1000"] = time.perf_counter() - t
        t = time.perf_counter()
        back = Vectors.load(binary)
        res["load binary, all"] = time.perf_counter() - t
        assert np.array_equal(back.matrix, matrix)
        size = {"text save": os.path.getsize(text), "binary save": os.path.getsize(binary)}
        print(f"# {args.rows} x {args.dim} float32, {os.cpu_count()} CPUs; reproduce: "
              f"{os.path.relpath(sys.executable)} benchmarks/bench_vectors_io.py --rows {args.rows} --dim {args.dim}")
        print("| step | seconds | file |")
        print("|---|---:|---:|")
        for k, s in res.items():
            print(f"| {k} | {s:.2f} | {size[k] / 1e6:.0f} MB |" if k in size else f"| {k} | {s:.2f} | |")
        print(f"text save / raw write of its bytes: {res['text save'] / res['raw write, text bytes']:.2f}x; "
              f"text save - raw write of the matrix bytes: {res['text save'] - res['raw write, matrix bytes']:.1f} s")
    finally:
        for p in (text, binary, raw):
            if os.path.exists(p):
                os.unlink(p)
        os.rmdir(d)


if __name__ == "__main__":
    main()
