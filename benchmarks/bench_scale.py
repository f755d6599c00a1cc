#!/usr/bin/env python
"""Counting at corpus scale: `nlpt vocab` and GloVe's co-occurrence stage on 100 MB, 1 GB and 10 GB.

The corpora are generated from ../shared/data/enwiki-2015-100m with a fixed
seed: copy k of the base text has a fixed share of its ASCII letters replaced
by random letters (misspellings: rare variants of real words), so the number
of types keeps growing with the size, as in real crawls. Substitution keeps
every token count, so the total number of tokens of a size is known exactly:
copies x the base tokens.

For each size, each command is its own process, measured for wall time and
peak resident memory (GNU time):

* `nlpt vocab CORPUS --memory M --threads T` (counts spilled as sorted runs
  when the tables outgrow M). Exactness: the token total equals the known
  one, and at sizes up to --check-upto the vocabulary file is byte-identical
  to an unbounded in-memory count (`--memory 64`).
* `nlpt train-glove CORPUS --read-vocab V --iter 0 --memory M --vector-size 10`
  (the counting stage only: co-occurrences counted, merged and turned into
  training records; the small vector size keeps the parameters, which
  counting does not use, from being refused by --memory at large
  vocabularies), with the temporary disk it held at most against the final
  records, from its log. Exactness: at sizes up to --glove-check-upto the
  records equal those of an in-memory count (`--memory 64`), pair for pair.
* one epoch of `nlpt train-w2v` at --w2v-size.

Temporary files go to --tmp (default /tmp/nlpt-scale) and are deleted at the end
unless --keep. Prints a Markdown table and the command that reproduces it.

    .venv/bin/python benchmarks/bench_scale.py [--sizes 100M,1G,10G] [--memory 1] [--threads 2] [--deadline HH:MM]
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_BASE = os.path.join(os.path.dirname(REPO), "shared", "data", "enwiki-2015-100m")
UNITS = {"K": 10**3, "M": 10**6, "G": 10**9}


def parse_size(text: str) -> int:
    text = text.strip().upper().rstrip("B")
    return int(float(text[:-1]) * UNITS[text[-1]]) if text[-1] in UNITS else int(text)


def base_text(path: str) -> bytes:
    files = sorted(glob.glob(os.path.join(path, "*.txt"))) if os.path.isdir(path) else [path]
    return b"".join(open(p, "rb").read() for p in files)


def generate(base: bytes, size: int, out: str, seed: int, rate: float) -> tuple[int, int]:
    """Write `size` bytes (whole copies of the base, the last one cut at a line end); returns (bytes, copies)."""
    arr = np.frombuffer(base, dtype=np.uint8)
    letters = np.flatnonzero(((arr >= 97) & (arr <= 122)) | ((arr >= 65) & (arr <= 90)))
    rng = np.random.default_rng(seed)
    written = copies = 0
    with open(out, "wb") as fh:
        while written < size:
            copy = arr.copy()
            pick = letters[rng.random(len(letters)) < rate]
            copy[pick] = rng.integers(97, 123, size=len(pick), dtype=np.uint8)
            data = copy.tobytes()
            last = written + len(data) >= size
            if written + len(data) > size:
                data = data[: data.rfind(b"\n", 0, size - written) + 1]
            fh.write(data)
            written += len(data)
            copies += 1
            if last:
                break
    return written, copies


def measure(cmd: list[str], log_path: str) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB, stderr of one run (GNU time)."""
    timer = shutil.which("time") or "/usr/bin/time"
    r = subprocess.run([timer, "-f", "@@%e %M", *cmd], capture_output=True, text=True)
    with open(log_path, "w") as fh:
        fh.write(" ".join(cmd) + "\n" + r.stderr)
    if r.returncode != 0:
        raise SystemExit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-3000:]}")
    m = re.search(r"@@([\d.]+) (\d+)", r.stderr)
    return float(m.group(1)), int(m.group(2)) / 1024, r.stdout + r.stderr


def same_records(a: str, b: str, block: int = 1 << 22) -> bool:
    dt_ = np.dtype([("w1", "<i4"), ("w2", "<i4"), ("x", "<f8")])
    if os.path.getsize(a) != os.path.getsize(b):
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = np.fromfile(fa, dt_, block), np.fromfile(fb, dt_, block)
            if len(x) == 0:
                return True
            if not (np.array_equal(x["w1"], y["w1"]) and np.array_equal(x["w2"], y["w2"])
                    and np.allclose(x["x"], y["x"], rtol=1e-9, atol=0)):
                return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default=DEFAULT_BASE)
    ap.add_argument("--sizes", default="100M,1G,10G")
    ap.add_argument("--memory", type=float, default=1.0, help="--memory (GB) for vocab and train-glove")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, default=0.003, help="share of letters replaced per copy")
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--check-upto", default="1G", help="compare vocab with an in-memory count up to this size")
    ap.add_argument("--glove-check-upto", default="100M", help="compare GloVe records with an in-memory count up to this size")
    ap.add_argument("--glove-vector-size", type=int, default=10, help="--vector-size of the counting-only GloVe run")
    ap.add_argument("--w2v-size", default="1G")
    ap.add_argument("--skip", default="", help="comma list of stages to skip: vocab,glove,w2v")
    ap.add_argument("--tmp", default="/tmp/nlpt-scale")
    ap.add_argument("--deadline", default=None, help="HH:MM UTC: skip stages that start after it")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    py = sys.executable
    nlpt = [py, "-m", "nlpt"]
    skip = set(filter(None, args.skip.split(",")))
    os.makedirs(args.tmp, exist_ok=True)
    deadline = None
    if args.deadline:
        h, m = map(int, args.deadline.split(":"))
        now = dt.datetime.now(dt.timezone.utc)
        deadline = now.replace(hour=h, minute=m, second=0, microsecond=0)

    def late() -> bool:
        return deadline is not None and dt.datetime.now(dt.timezone.utc) > deadline

    base = base_text(args.base)
    base_tokens = len(base.split())
    rows = []
    print(f"# base: {args.base} ({len(base) / 1e6:.1f} MB, {base_tokens} tokens); seed {args.seed}, rate {args.rate}", flush=True)
    try:
        for label in args.sizes.split(","):
            size = parse_size(label)
            corpus = os.path.join(args.tmp, f"corpus-{label}.txt")
            t0 = time.perf_counter()
            nbytes, copies = generate(base, size, corpus, args.seed, args.rate)
            full_copies = nbytes // len(base)
            gen_s = time.perf_counter() - t0
            row = {"size": label, "bytes": nbytes, "copies": copies, "generate_s": round(gen_s, 1)}
            print(f"# {label}: generated {nbytes / 1e6:.0f} MB ({copies} copies) in {gen_s:.0f}s", flush=True)
            vocab = os.path.join(args.tmp, f"vocab-{label}.txt")
            if "vocab" not in skip and not late():
                wall, rss, out = measure([*nlpt, "vocab", corpus, "-o", vocab, "--memory", str(args.memory),
                                          "--threads", str(args.threads), "--tmp-dir", args.tmp, "--json"],
                                         os.path.join(args.tmp, f"vocab-{label}.log"))
                summary = json.loads(out[out.index("{"): out.rindex("}") + 1])
                row.update(vocab_s=wall, vocab_rss_mb=round(rss), types=summary["types"], tokens=summary["tokens"],
                           vocab_spill=summary["spilled"])
                if nbytes == full_copies * len(base):
                    row["tokens_exact"] = summary["tokens"] == full_copies * base_tokens
                if size <= parse_size(args.check_upto) and not late():
                    ref = vocab + ".ref"
                    measure([*nlpt, "vocab", corpus, "-o", ref, "--memory", "64", "--threads", str(args.threads)],
                            os.path.join(args.tmp, f"vocab-ref-{label}.log"))
                    row["vocab_identical_to_in_memory"] = open(ref, "rb").read() == open(vocab, "rb").read()
                    os.unlink(ref)
                print(f"# {label}: vocab {row}", flush=True)
            if "glove" not in skip and os.path.exists(vocab) and not late():
                v5 = vocab + f".min{args.min_count}"
                with open(vocab, "rb") as fi, open(v5, "wb") as fo:
                    for line in fi:
                        if int(line.rsplit(b" ", 1)[1]) < args.min_count:
                            break
                        fo.write(line)
                first = size <= parse_size(args.glove_check_upto)
                rec = os.path.join(args.tmp, f"cooccur-{label}.bin")
                cmd = [*nlpt, "train-glove", corpus, "--read-vocab", v5, "--min-count", str(args.min_count), "--iter", "0",
                       "--memory", str(args.memory), "--threads", str(args.threads), "--tmp-dir", args.tmp,
                       "--vector-size", str(args.glove_vector_size), "-o", os.path.join(args.tmp, "g.txt")]
                wall, rss, out = measure(cmd + (["--save-cooccur", rec] if first else []),
                                         os.path.join(args.tmp, f"glove-{label}.log"))
                m = re.search(r"co-occurrences: (\d+) records .* in ([\d.]+)s", out)
                # train-glove resets the kernel's peak (VmHWM) between stages, which GNU time then reports
                # only from the last reset: take the largest stage peak from its log too
                peaks = re.search(r"peak memory \(MiB\): (.*)", out)
                stage_max = max((float(x.split()[-1]) for x in peaks.group(1).split(",")), default=0) if peaks else 0
                row.update(glove_s=wall, glove_count_s=float(m.group(2)), glove_rss_mb=round(max(rss, stage_max * 1.048576)),
                           records=int(m.group(1)))
                m = re.search(r"(\d+) spill\(s\): (\d+) MB written, at most (\d+) MB on disk at once = ([\d.]+)x the final "
                              r"records, (\d+) merge pass\(es\)(?: in (\d+) partition)?", out)
                if m:
                    row.update(glove_spills=int(m.group(1)), glove_written_mb=int(m.group(2)),
                               glove_temp_peak_mb=int(m.group(3)), glove_temp_ratio=float(m.group(4)),
                               glove_passes=int(m.group(5)), glove_partitions=int(m.group(6) or 0))
                if first and not late():
                    ref = rec + ".ref"
                    measure([*nlpt, "train-glove", corpus, "--read-vocab", v5, "--min-count", str(args.min_count), "--iter",
                             "0", "--memory", "64", "--threads", str(args.threads), "--tmp-dir", args.tmp,
                             "--vector-size", str(args.glove_vector_size), "-o", os.path.join(args.tmp, "g.txt"),
                             "--save-cooccur", ref],
                            os.path.join(args.tmp, f"glove-ref-{label}.log"))
                    row["glove_identical_to_in_memory"] = same_records(rec, ref)
                    os.unlink(ref)
                if os.path.exists(rec):
                    os.unlink(rec)
                print(f"# {label}: glove {row}", flush=True)
            if "w2v" not in skip and label == args.w2v_size and os.path.exists(vocab) and not late():
                wall, rss, out = measure([*nlpt, "train-w2v", corpus, "--read-vocab", vocab, "--min-count",
                                          str(args.min_count), "--epochs", "1", "--threads", str(args.threads), "--binary",
                                          "-o", os.path.join(args.tmp, "w.bin")], os.path.join(args.tmp, f"w2v-{label}.log"))
                m = re.search(r"\((\d+)k words/s\)", out)
                row.update(w2v_s=wall, w2v_rss_mb=round(rss), w2v_kwords_s=int(m.group(1)) if m else None)
                print(f"# {label}: w2v {row}", flush=True)
            rows.append(row)
            os.unlink(corpus)
    finally:
        if not args.keep:
            for p in glob.glob(os.path.join(args.tmp, "corpus-*.txt")):
                os.unlink(p)
    print(f"\n# reproduce: {os.path.relpath(py)} benchmarks/bench_scale.py --sizes {args.sizes} --memory {args.memory:g} "
          f"--threads {args.threads} --seed {args.seed}" + (f" --skip {args.skip}" if args.skip else "")
          + f" --check-upto {args.check_upto} --glove-check-upto {args.glove_check_upto}")
    print(f"# load average at the end: {os.getloadavg()[0]:.1f} (1 min), {os.getloadavg()[1]:.1f} (5 min)")
    print("| size | types | vocab s | vocab peak RSS | GloVe count s | GloVe peak RSS | records | temp disk (peak) | ÷ records | exact |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        exact = [k for k in ("tokens_exact", "vocab_identical_to_in_memory", "glove_identical_to_in_memory") if k in r]
        print(f"| {r['size']} | {r.get('types', '')} | {r.get('vocab_s', '')} | {r.get('vocab_rss_mb', '')} MB | "
              f"{r.get('glove_s', '')} | {r.get('glove_rss_mb', '')} MB | {r.get('records', '')} | "
              f"{r.get('glove_temp_peak_mb', 0)} MB | {r.get('glove_temp_ratio', 0)} | "
              f"{', '.join(f'{k}={r[k]}' for k in exact)} |")
    for r in rows:
        if "w2v_s" in r:
            print(f"train-w2v 1 epoch at {r['size']}: {r['w2v_s']} s, {r['w2v_kwords_s']}k words/s, peak RSS {r['w2v_rss_mb']} MB")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
