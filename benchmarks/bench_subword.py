#!/usr/bin/env python
"""Benchmark `nlpt train-subword` against pip `fasttext` (fastText 0.9) on enwiki-2015-100m, and one zh-classics row.

Both tools train skip-gram with subwords on the same lower-cased concatenation of
../shared/data/enwiki-2015-100m/*.txt (built once into --cache-dir, shared with
bench_w2v.py) with the same settings: dim 100, window 5, negative 5, minn 3,
maxn 6, bucket 2,000,000, -t 1e-4, lr 0.05, min-count 5, 1 epoch, 2 threads. Each
runs in a fresh process whose wall time and peak RSS a wrapper measures; both
write a fastText .bin, which nlpt then evaluates the same way for both:
questions-words (3CosAdd over the 30k most frequent words) and WordSim-353
Spearman rho on the vocabulary's vectors, and again with words outside the
vocabulary scored through their n-grams (`oov="ngrams"`).

words/s = corpus tokens / wall-clock seconds of the whole process (start-up,
vocabulary, training and writing the .bin included).

The zh-classics row trains both on ../shared/data/zh-classics: nlpt with --cjk
(each Han character a token), fastText on the same text written out by
`nlpt corpus tokenize --cjk` (fastText has no such option), and shows neighbours.

    .venv/bin/python benchmarks/bench_subword.py [--threads 2] [--epochs 1] [--skip-zh] [--fasttext-bin PATH]

`--fasttext-bin` runs a fastText command-line binary instead of the pip package.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench_w2v import DATA, build_corpus, loadavg, measure  # noqa: E402  (the same corpus, wrapper and load)

FASTTEXT = r"""
import sys, fasttext
corpus, out, threads, epochs, model = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
m = fasttext.train_unsupervised(corpus, model=model, dim=100, ws=5, neg=5, minn=3, maxn=6, bucket=2000000,
                                t=1e-4, lr=0.05, minCount=5, epoch=epochs, thread=threads, verbose=0)
m.save_model(out)
"""


def fasttext_cmd(args, corpus: str, out: str, model: str = "skipgram") -> list[str]:
    if args.fasttext_bin:
        return [args.fasttext_bin, model, "-input", corpus, "-output", out[:-4], "-dim", "100", "-ws", "5",
                "-neg", "5", "-minn", "3", "-maxn", "6", "-bucket", "2000000", "-t", "1e-4", "-lr", "0.05",
                "-minCount", "5", "-epoch", str(args.epochs), "-thread", str(args.threads), "-verbose", "0"]
    return [sys.executable, "-c", FASTTEXT, corpus, out, str(args.threads), str(args.epochs), model]


def nlpt_cmd(args, corpus: str, out: str, extra: list[str] = ()) -> list[str]:
    return [sys.executable, "-m", "nlpt", "train-subword", corpus, "-o", out, "--size", "100", "--window", "5",
            "--negative", "5", "--minn", "3", "--maxn", "6", "--bucket", "2000000", "--sample", "1e-4",
            "--alpha", "0.05", "--min-count", "5", "--epochs", str(args.epochs), "--threads", str(args.threads),
            "--quiet", *extra]


def evaluate(path: str) -> dict:
    from nlpt.embeddings import evaluate as ev
    from nlpt.embeddings.loading import load_vectors

    v = load_vectors(path)  # a .bin: SubwordVectors
    qw, ws = os.path.join(DATA, "eval", "questions-words.txt"), os.path.join(DATA, "eval", "wordsim353.tsv")
    a = ev.analogy(v, qw, restrict=30000)
    s = ev.similarity(v, ws)
    a_ng = ev.analogy(v, qw, restrict=30000, oov="ngrams")
    s_ng = ev.similarity(v, ws, oov="ngrams")
    return {"sem": a.semantic_accuracy, "syn": a.syntactic_accuracy, "total": a.accuracy, "rho": s.spearman,
            "answered": a.total, "total_ng": a_ng.accuracy, "rho_ng": s_ng.spearman, "vocab": len(v)}


def zh_row(args) -> None:
    from nlpt.embeddings.subword.subword import model_from_bin

    parts = sorted(glob.glob(os.path.join(DATA, "zh-classics", "*.txt")))
    if not parts:
        print(f"(no zh-classics under {DATA}: row skipped)")
        return
    os.makedirs(args.cache_dir, exist_ok=True)
    tok = os.path.join(args.cache_dir, "zh-classics-cjk.txt")
    with open(tok, "wb") as fh:
        subprocess.run([sys.executable, "-m", "nlpt", "corpus", "tokenize", "--cjk", *parts], stdout=fh, check=True)
    with open(tok, encoding="utf-8") as fh:
        tokens = sum(len(line.split()) for line in fh)
    rows = []
    for tool in ("fasttext", "nlpt"):
        out = os.path.join(args.cache_dir, f"zh-{tool}.bin")
        cmd = fasttext_cmd(args, tok, out) if tool == "fasttext" else nlpt_cmd(args, parts[0], out, ["--cjk"])
        if tool == "nlpt":
            cmd[4:5] = parts
        load = loadavg()
        res = measure(cmd)
        rows.append((tool, res, load, model_from_bin(out)))
    print()
    print(f"zh-classics ({tokens / 1e6:.2f}M character tokens, --cjk), skip-gram, same settings:")
    for tool, res, load, m in rows:
        print(f"  {tool:<8} {res['wall']:6.1f}s {tokens * args.epochs / res['wall'] / 1e3:6.0f}k words/s "
              f"{res['maxrss_kb'] / 1024:6.0f}MB  vocab {len(m.words):,}  load {load}")
    for q in ("王", "江", "曹", "玉"):
        for tool, _, _, m in rows:
            nb = "  ".join(f"{w} {s:.2f}" for w, s in m.neighbours(q, 6))
            print(f"  {q} {tool:<8} {nb}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--cache-dir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "nlpt-bench"))
    ap.add_argument("--fasttext-bin", default=os.environ.get("FASTTEXT_BIN"),
                    help="a fastText command-line binary to run instead of the pip package")
    ap.add_argument("--skip-zh", action="store_true", help="skip the zh-classics row")
    ap.add_argument("--skip-enwiki", action="store_true", help="skip the enwiki rows")
    args = ap.parse_args()
    if not args.fasttext_bin:
        try:
            import fasttext  # noqa: F401
        except ImportError:
            sys.exit("bench_subword: pip package fasttext not installed (pip install fasttext) and no --fasttext-bin")

    if not args.skip_enwiki:
        corpus, tokens = build_corpus(args.cache_dir)
        print(f"corpus: {corpus} ({tokens / 1e6:.2f}M tokens); threads {args.threads}; epochs {args.epochs}; "
              f"load before: {loadavg()}", flush=True)
        rows = []
        for tool in ("fasttext", "nlpt"):
            out = os.path.join(args.cache_dir, f"subword-{tool}.bin")
            cmd = fasttext_cmd(args, corpus, out) if tool == "fasttext" else nlpt_cmd(args, corpus, out)
            load = loadavg()
            res = measure(cmd)
            rows.append({"tool": tool, "load": load, **res, **evaluate(out), "wps": tokens * args.epochs / res["wall"]})
            print(f"  done {tool}: {res['wall']:.1f}s", flush=True)
            os.unlink(out)  # 0.8 GB each
        print()
        head = (f"{'tool':<9} {'wall s':>7} {'words/s':>9} {'peak RSS':>9} {'sem %':>6} {'syn %':>6} {'total %':>7} "
                f"{'WS353 rho':>9} {'total% +OOV':>11} {'rho +OOV':>8}  load(1/5/15m)")
        print(head)
        print("-" * len(head))
        for r in rows:
            print(f"{r['tool']:<9} {r['wall']:7.1f} {r['wps'] / 1e3:8.0f}k {r['maxrss_kb'] / 1024:7.0f}MB "
                  f"{100 * r['sem']:6.1f} {100 * r['syn']:6.1f} {100 * r['total']:7.1f} {r['rho']:9.3f} "
                  f"{100 * r['total_ng']:11.1f} {r['rho_ng']:8.3f}  {r['load']}")
        f, n = rows
        print()
        print(f"ratios nlpt / fastText: words/s x{n['wps'] / f['wps']:.2f}   peak RSS x{n['maxrss_kb'] / f['maxrss_kb']:.2f}   "
              f"analogy {100 * (n['total'] - f['total']):+.1f} pt (sem {100 * (n['sem'] - f['sem']):+.1f}, "
              f"syn {100 * (n['syn'] - f['syn']):+.1f})   rho {100 * (n['rho'] - f['rho']):+.1f} pt")
        print("(+OOV: questions and pairs with words outside the vocabulary scored through their n-grams)")
    if not args.skip_zh:
        zh_row(args)
    print()
    print("reproduce: .venv/bin/python benchmarks/bench_subword.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    main()
