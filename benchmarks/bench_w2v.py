#!/usr/bin/env python
"""Benchmark `nlpt train-w2v` against gensim 4.4 (corpus_file mode) on enwiki-2015-100m.

Both tools train on the same lower-cased concatenation of
../shared/data/enwiki-2015-100m/*.txt (built once into --cache-dir), with the
same settings (dim 100, window 5, negative 5, sample 1e-3, min-count 5,
2 threads, 1 epoch; `--epochs 5` gives the rows at both tools' default of 5
epochs, `--epochs 1,5` both), each in a fresh process whose wall time and peak RSS are
measured by a wrapper process (`getrusage(RUSAGE_CHILDREN)`). Both write
word2vec binary vectors; both are then evaluated by `nlpt.embeddings.evaluate`
(questions-words, 3CosAdd over the 30k most frequent words; WordSim-353
Spearman rho).

words/s = corpus tokens / wall-clock seconds of the whole process (start-up,
vocabulary scan, training and writing the vectors included).

    .venv/bin/python benchmarks/bench_w2v.py [--models sg,cbow] [--threads 2] [--epochs 1[,5]]
        [--no-schedule-row] [--no-full-decay-gensim]

Extra rows: nlpt-a.5 (nlpt with gensim corpus_file's effective half-decayed learning rate) and, for
skip-gram, gensim-fd (gensim in iterable mode, whose learning rate decays fully like nlpt's default).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))

WRAPPER = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "wall": wall, "maxrss_kb": ru.ru_maxrss, "cpu": ru.ru_utime + ru.ru_stime}))
"""

GENSIM = r"""
import sys
from gensim.models import Word2Vec
corpus, out, sg, threads, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
m = Word2Vec(corpus_file=corpus, vector_size=100, window=5, negative=5, hs=0, sample=1e-3, min_count=5,
             workers=threads, epochs=epochs, sg=sg, seed=1)
m.wv.save_word2vec_format(out, binary=True)
"""

# Same settings, iterable mode: one producer thread cuts the corpus into jobs and gives each job an alpha
# from the global progress (word2vec.py `_job_producer` -> `_get_next_alpha(pushed_examples /
# total_examples, cur_epoch)`), so alpha decays linearly from 0.025 to min_alpha over the whole run,
# like word2vec.c and nlpt's default.
GENSIM_ITER = r"""
import sys
from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence
corpus, out, sg, threads, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
m = Word2Vec(sentences=LineSentence(corpus), vector_size=100, window=5, negative=5, hs=0, sample=1e-3, min_count=5,
             workers=threads, epochs=epochs, sg=sg, seed=1)
m.wv.save_word2vec_format(out, binary=True)
"""


def build_corpus(cache_dir: str) -> tuple[str, int]:
    """Lower-cased concatenation of the enwiki shards, and its token count (str.split)."""
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, "enwiki-2015-100m-lower.txt")
    meta = path + ".tokens"
    if not (os.path.exists(path) and os.path.exists(meta)):
        parts = sorted(glob.glob(os.path.join(DATA, "enwiki-2015-100m", "*.txt")))
        if not parts:
            sys.exit(f"bench_w2v: no corpus under {DATA}/enwiki-2015-100m")
        tokens = 0
        with open(path + ".tmp", "w", encoding="utf-8") as out:
            for p in parts:
                with open(p, encoding="utf-8") as fh:
                    text = fh.read().lower()
                tokens += len(text.split())
                out.write(text)
        os.replace(path + ".tmp", path)
        with open(meta, "w") as fh:
            fh.write(str(tokens))
    with open(meta) as fh:
        return path, int(fh.read())


def measure(cmd: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True)
    if out.returncode != 0 or not out.stdout.strip():
        sys.exit(f"bench_w2v: wrapper failed: {out.stderr[-2000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if res["rc"] != 0:
        sys.exit(f"bench_w2v: command failed (rc {res['rc']}): {' '.join(cmd)}")
    return res


def evaluate(path: str) -> dict:
    from nlpt.embeddings import evaluate as ev
    from nlpt.embeddings.formats.vectors import Vectors

    v = Vectors.load(path, "binary")
    a = ev.analogy(v, os.path.join(DATA, "eval", "questions-words.txt"), restrict=30000)
    s = ev.similarity(v, os.path.join(DATA, "eval", "wordsim353.tsv"))
    return {"sem": a.semantic_accuracy, "syn": a.syntactic_accuracy, "total": a.accuracy, "rho": s.spearman,
            "vocab": len(v)}


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="sg,cbow", help="comma-separated: sg, cbow")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", default="1", help="comma-separated epoch counts, e.g. 1,5 (a set of rows for each)")
    ap.add_argument("--cache-dir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "nlpt-bench"))
    ap.add_argument("--only", choices=["nlpt", "gensim"], default=None, help="run one tool only (no ratios)")
    ap.add_argument("--no-schedule-row", action="store_true",
                    help="skip the extra nlpt run with --min-alpha-ratio 0.5 (gensim's effective schedule, see below)")
    ap.add_argument("--no-full-decay-gensim", dest="full_decay_gensim", action="store_false",
                    help="skip the extra gensim skip-gram run in iterable mode (alpha decayed to min_alpha, see below)")
    args = ap.parse_args()

    corpus, tokens = build_corpus(args.cache_dir)
    epoch_list = [int(e) for e in args.epochs.split(",")]
    nlpt_cmd = [sys.executable, "-m", "nlpt"]
    rows = []
    print(f"corpus: {corpus} ({tokens / 1e6:.2f}M tokens); threads {args.threads}; epochs {args.epochs}; "
          f"load before: {loadavg()}", flush=True)
    for epochs in epoch_list:
        for model in args.models.split(","):
            sg = model == "sg"
            tools = (["gensim"] + (["gensim-fd"] if sg and args.full_decay_gensim else []) + ["nlpt"]
                     + ([] if args.no_schedule_row else ["nlpt-a.5"]))
            for tool in tools:
                if args.only and not tool.startswith(args.only):
                    continue
                out = os.path.join(args.cache_dir, f"{tool}-{model}-e{epochs}.bin")
                if tool.startswith("gensim"):
                    cmd = [sys.executable, "-c", GENSIM if tool == "gensim" else GENSIM_ITER, corpus, out,
                           str(int(sg)), str(args.threads), str(epochs)]
                else:
                    cmd = nlpt_cmd + ["train-w2v", corpus, "-o", out, "--binary", "--size", "100", "--window", "5",
                                      "--negative", "5", "--sample", "1e-3", "--min-count", "5", "--epochs",
                                      str(epochs), "--threads", str(args.threads), "--quiet"]
                    if not sg:
                        cmd.append("--cbow")
                    if tool == "nlpt-a.5":
                        cmd += ["--min-alpha-ratio", "0.5"]
                load = loadavg()
                res = measure(cmd)
                ev = evaluate(out)
                rows.append({"model": model, "epochs": epochs, "tool": tool, "load": load, **res, **ev,
                             "wps": tokens * epochs / res["wall"]})
                r = rows[-1]
                print(f"  done {model} {epochs} epoch(s) {tool}: {r['wall']:.1f}s", flush=True)

    print()
    head = (f"{'model':<6} {'ep':>2} {'tool':<9} {'wall s':>7} {'words/s':>9} {'peak RSS':>9} {'sem %':>6} {'syn %':>6} "
            f"{'total %':>7} {'WS353 rho':>9}  load(1/5/15m)")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['model']:<6} {r['epochs']:>2} {r['tool']:<9} {r['wall']:7.1f} {r['wps'] / 1e3:8.0f}k "
              f"{r['maxrss_kb'] / 1024:7.0f}MB {100 * r['sem']:6.1f} {100 * r['syn']:6.1f} {100 * r['total']:7.1f} "
              f"{r['rho']:9.3f}  {r['load']}")
    if not args.only:
        print()
        print("ratios nlpt / gensim (speed: higher is better; RSS: lower is better; accuracy and rho: difference in points)")
        pairs = [(g, n) for epochs in epoch_list for model in args.models.split(",")
                 for g in rows if g["model"] == model and g["epochs"] == epochs and g["tool"].startswith("gensim")
                 for n in rows if n["model"] == model and n["epochs"] == epochs and n["tool"].startswith("nlpt")]
        for g, n in pairs:
            print(f"  {n['model']:<5} {n['epochs']:>2} ep {n['tool']:<8} vs {g['tool']:<9} words/s x{n['wps'] / g['wps']:.2f}   "
                  f"peak RSS x{n['maxrss_kb'] / g['maxrss_kb']:.2f}   "
                  f"analogy {100 * (n['total'] - g['total']):+.1f} pt (sem {100 * (n['sem'] - g['sem']):+.1f}, "
                  f"syn {100 * (n['syn'] - g['syn']):+.1f})   rho {100 * (n['rho'] - g['rho']):+.1f} pt")
        if not args.no_schedule_row:
            print()
            print("nlpt-a.5 = nlpt --min-alpha-ratio 0.5. gensim's corpus_file mode decays the learning rate by each")
            ends = ", ".join(f"{1 - (e - 1 + 1 / args.threads) / e:.2f} x alpha after {e} epoch(s)" for e in epoch_list)
            print(f"worker's own share of the corpus, so with {args.threads} workers it ends at {ends}")
            print("instead of ~0 (word2vec.c, nlpt's default); nlpt-a.5 runs nlpt with that schedule (exact for 2 workers, 1 epoch).")
        if args.full_decay_gensim and "sg" in args.models.split(","):
            print()
            print("gensim-fd = gensim skip-gram in iterable mode (sentences=LineSentence(corpus), same settings): its job")
            print("producer sets each job's alpha from global progress (word2vec.py _job_producer -> _get_next_alpha), so")
            print("alpha decays to min_alpha over the whole run like word2vec.c and nlpt's default. Compare nlpt with gensim-fd")
            print("for the default schedule and nlpt-a.5 with gensim for the half-decayed one; gensim-fd's speed is Python-fed.")
    print()
    print("reproduce: .venv/bin/python benchmarks/bench_w2v.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    main()
