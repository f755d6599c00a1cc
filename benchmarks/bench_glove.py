"""Benchmark `nlpt train-glove` on enwiki-2015-100m against the issue's Stanford GloVe figures.

Reproduce (from the repository root):

    .venv/bin/python benchmarks/bench_glove.py            # ~5-10 min on 2 cores

What it does:
1. Writes the corpus the issue describes once to a temporary directory: the
   enwiki files lower-cased, punctuation split off and dropped (nlpt's
   `--lower --split-punct` tokenizer, then tokens without a letter or digit
   removed): ~16.2 M tokens, one line per input line. Not timed (Stanford's
   figures exclude preprocessing too).
2. Runs `nlpt train-glove` on it in a subprocess (window 10, symmetric,
   1/distance, min-count 5, vector size 100, x_max 100, alpha 0.75, eta 0.05,
   15 iterations, 2 threads, --memory 4) and reads the counting/training split,
   the per-iteration times and the peak RSS of each stage (VmHWM, reset between
   stages) from its log; then once more with --memory 0.5 (--low-memory), where
   the training records do not fit and are trained from disk.
3. Runs the reference in the same run: gensim word2vec (CBOW, its defaults, 2
   workers) on the same tokens, as the issue allows when no GloVe package from
   PyPI installs (glove-python-binary has no wheel for Python 3.11 here and the
   glove_python sdist does not build; mittens needs a dense V x V matrix).
4. Evaluates both with `nlpt.embeddings.evaluate`: questions-words over the 30 k
   most frequent words (sem / syn / all) and WordSim-353 Spearman rho.
5. Prints one table with the Stanford figures "reported in issue" and the ratios.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CORPUS = DATA / "enwiki-2015-100m"
QUESTIONS = DATA / "eval" / "questions-words.txt"
WORDSIM = DATA / "eval" / "wordsim353.tsv"

# Stanford GloVe's four C tools (vocab_count, cooccur, shuffle, glove), as reported in the issue.
STANFORD = {"total_s": 16 * 60, "iter_s": 60.0, "records": 48e6, "vocab": 72e3, "analogy": 0.199, "wordsim": 0.42}


def prepare_corpus(out: Path) -> int:
    from nlpt.corpus.reader import ReaderOptions, as_sources, expand_inputs, iter_text
    from nlpt.corpus.tokenize import TokenizerOptions, make_splitter

    split = make_splitter(TokenizerOptions(split_punct=True))
    has_word = re.compile(r"\w").search
    opts = ReaderOptions(tokenizer=TokenizerOptions(lower=True))
    n = 0
    with open(out, "w", encoding="utf-8") as fh:
        for text in iter_text(as_sources(expand_inputs([str(CORPUS)])), opts):
            lines = []
            for line in text.split("\n"):
                toks = [t for t in split(line) if has_word(t)]
                n += len(toks)
                lines.append(" ".join(toks))
            fh.write("\n".join(lines))
    return n


def run_child(cmd: list[str], env=None) -> tuple[float, float, str]:
    """Run a command; return (wall seconds, peak RSS MiB of that child alone, stderr)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, text=True, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        err.seek(0)
        log = err.read()
    if proc.returncode != 0:
        sys.exit(f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}\n{log[-3000:]}")
    return wall, usage.ru_maxrss / 1024.0, log


GENSIM_SCRIPT = r"""
import sys, time
from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence
t = time.perf_counter()
m = Word2Vec(LineSentence(sys.argv[1]), vector_size=100, min_count=5, workers=int(sys.argv[3]), seed=1)
m.wv.save_word2vec_format(sys.argv[2], binary=True)
print(f"gensim_seconds {time.perf_counter() - t:.2f}", file=sys.stderr)
"""


def evaluate(path: str):
    from nlpt.embeddings.evaluate import analogy, similarity
    from nlpt.embeddings.formats.vectors import Vectors

    v = Vectors.load(path)
    return analogy(v, str(QUESTIONS), restrict=30000), similarity(v, str(WORDSIM)), len(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iter", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory", type=float, default=4.0)
    ap.add_argument("--low-memory", type=float, default=0.5, help="second run with this --memory (0: skip)")
    ap.add_argument("--no-reference", action="store_true", help="skip gensim word2vec")
    ap.add_argument("--workdir", default=None, help="keep the prepared corpus and outputs here")
    args = ap.parse_args()
    if not CORPUS.is_dir():
        sys.exit(f"{CORPUS}: corpus not found (see ../shared/data)")

    load_before = os.getloadavg()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-glove-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "enwiki-lower-nopunct.txt"
    if not corpus.exists():
        t = time.perf_counter()
        tokens = prepare_corpus(corpus)
        print(f"prepared {corpus} ({tokens / 1e6:.2f} M tokens) in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    env = dict(os.environ, NLPT_LOG_INTERVAL="3600")

    def run_nlpt(memory: float, name: str):
        out = work / name
        cmd = [
            sys.executable, "-m", "nlpt", "train-glove", str(corpus), "-o", str(out), "--window", "10",
            "--min-count", "5", "--vector-size", "100", "--x-max", "100", "--iter", str(args.iter),
            "--threads", str(args.threads), "--memory", str(memory), "--save-vocab", str(work / "vocab.txt"),
        ]
        wall, rss, log = run_child(cmd, env)
        m = re.search(r"counting ([\d.]+)s, training ([\d.]+)s, (\d+) records", log)
        stages = {k: float(v) for k, v in re.findall(r"(\w+) (\d+)", log.split("peak memory (MiB):")[1].split("\n")[0])}
        r = {
            "cmd": cmd, "wall": wall, "rss": max(stages.values()), "stages": stages, "memory": memory,
            "count_s": float(m.group(1)), "train_s": float(m.group(2)), "records": int(m.group(3)),
            "iters": [float(x) for x in re.findall(r"iter \d+/\d+: cost [\d.]+\s+\(([\d.]+)s\)", log)],
            "tokens": int(re.search(r"from (\d+) in-vocabulary tokens", log).group(1)),
            "disk": "training from" in log,
        }
        r["analogy"], r["wordsim"], _ = evaluate(str(out))
        return r

    runs = [run_nlpt(args.memory, "glove.txt")]
    if args.low_memory > 0:
        runs.append(run_nlpt(args.low_memory, "glove-low.txt"))
    vocab = sum(1 for _ in open(work / "vocab.txt", encoding="utf-8"))
    first = runs[0]
    cmd, wall, tokens, iters = first["cmd"], first["wall"], first["tokens"], first["iters"]
    count_s, an, ws = first["count_s"], first["analogy"], first["wordsim"]

    ref = None
    if not args.no_reference:
        ref_out = work / "w2v.bin"
        ref_wall, ref_rss, ref_log = run_child([sys.executable, "-c", GENSIM_SCRIPT, str(corpus), str(ref_out), str(args.threads)])
        ref_an, ref_ws, ref_vocab = evaluate(str(ref_out))
        ref = (ref_wall, ref_rss, ref_an, ref_ws, ref_vocab)
    load_after = os.getloadavg()

    def pct(x):
        return f"{100 * x:.1f}"

    print()
    print("command: " + " ".join(["nlpt"] + cmd[3:]))
    if len(runs) > 1:
        print(f"second nlpt row: the same with --memory {runs[1]['memory']:g}")
    print("reproduce: .venv/bin/python benchmarks/bench_glove.py")
    print(f"corpus: {CORPUS.name}, lower-cased, punctuation dropped: {tokens / 1e6:.2f} M in-vocabulary tokens; "
          f"{os.cpu_count()} CPUs; load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (shared machine)")
    print()
    hdr = f"| {'system':<36} | {'count s':>7} | {'train s':>7} | {'s/iter':>6} | {'total s':>7} | {'peak RSS MiB':>12} | {'records':>8} | {'vocab':>6} | {'sem %':>5} | {'syn %':>5} | {'all %':>5} | {'WS353 ρ':>7} |"
    print(hdr)
    print("|" + "|".join("-" * (len(c)) for c in hdr.split("|")[1:-1]) + "|")
    per_iter = sum(iters) / len(iters) if iters else float("nan")
    for r in runs:
        label = f"nlpt train-glove --memory {r['memory']:g}" + (" (disk)" if r["disk"] else "")
        pi = sum(r["iters"]) / len(r["iters"]) if r["iters"] else float("nan")
        a, w = r["analogy"], r["wordsim"]
        print(f"| {label:<36} | {r['count_s']:>7.1f} | {r['train_s']:>7.1f} | {pi:>6.1f} | {r['wall']:>7.1f} | {r['rss']:>12.0f} | "
              f"{r['records'] / 1e6:>7.1f}M | {vocab / 1e3:>5.1f}k | {pct(a.semantic_accuracy):>5} | {pct(a.syntactic_accuracy):>5} | "
              f"{pct(a.accuracy):>5} | {w.spearman:>7.3f} |")
    if ref is not None:
        rw, rr, ra, rs, rv = ref
        print(f"| {'gensim word2vec CBOW (this run)':<36} | {'':>7} | {'':>7} | {'':>6} | {rw:>7.1f} | {rr:>12.0f} | "
              f"{'':>8} | {rv / 1e3:>5.1f}k | {pct(ra.semantic_accuracy):>5} | {pct(ra.syntactic_accuracy):>5} | "
              f"{pct(ra.accuracy):>5} | {rs.spearman:>7.3f} |")
    st = STANFORD
    est_count = st["total_s"] - 15 * st["iter_s"]
    print(f"| {'Stanford GloVe C (reported in issue)':<36} | {'~' + str(int(est_count)):>7} | {'~900':>7} | {st['iter_s']:>6.0f} | {st['total_s']:>7.0f} | {'':>12} | "
          f"{st['records'] / 1e6:>7.0f}M | {st['vocab'] / 1e3:>5.0f}k | {'':>5} | {'':>5} | {pct(st['analogy']):>5} | {st['wordsim']:>7.2f} |")
    print()
    print(f"total time vs Stanford: {wall / st['total_s']:.2f}x (target <= 1.00x)")
    print(f"per-iteration time vs Stanford: {per_iter / st['iter_s']:.2f}x")
    print(f"counting vs Stanford (its counting time inferred: 16 min total - 15 x ~1 min/iter = ~{est_count:.0f}s): "
          f"{est_count / count_s:.1f}x faster (target >= 2x)")
    print(f"analogy accuracy vs Stanford: {100 * (an.accuracy - st['analogy']):+.1f} points (target within 1 point); "
          f"answered {an.total} of {an.questions} questions ({an.oov} with a word outside the 30k)")
    print(f"WordSim-353 rho vs Stanford: {ws.spearman - st['wordsim']:+.3f} ({ws.pairs} pairs, {ws.oov} OOV)")
    for r in runs:
        print(f"--memory {r['memory']:g}: peak RSS per stage (MiB): " + ", ".join(f"{k} {v:.0f}" for k, v in r["stages"].items())
              + f"; records alone {r['records'] * 16 / 2**20:.0f} MiB")
        if r["iters"]:
            print(f"--memory {r['memory']:g}: seconds per iteration: " + " ".join(f"{x:.1f}" for x in r["iters"]))


if __name__ == "__main__":
    main()
