"""`nlpt finetune` on real sentiment tasks: static vectors versus a pretrained (or not) small BERT,
with fastText's supervised classifier as the reference, all on the same splits in the same run.

Tasks:
  sst2         ../shared/data/sst2: train on train.tsv (the first --train-rows rows; the file is already
               shuffled), select on dev.tsv (first --dev-rows rows), report test.tsv (= GLUE SST-2 dev, 872).
  rt-polarity  ../shared/data/rt-polarity: a fixed split, the 10,662 snippets shuffled with seed 0 then
               80% train / 10% dev / 10% test (same split for every row).

Rows (each an `nlpt finetune ... --json` run; wall seconds include loading and tokenizing):
  w2v bag/cnn frozen/trainable  word2vec (skip-gram, dim 100, 1 epoch) trained by nlpt on
                                ../shared/data/enwiki-2015-100m with --lower --split-punct, cached in --cache
  random bag                    the same bag of embeddings from random vectors (no pretraining)
  bert frozen / fine-tuned      the small BERT pretrained by `nlpt pretrain` (--bert RUN_DIR, if it exists)
  bert from scratch             the same architecture and tokenizer, random weights (--from-scratch)
  fastText supervised           pip `fasttext` (fasttext-numpy2 wheel) in another interpreter (--fasttext-python)

    python benchmarks/bench_finetune.py --bert /work/runs/bert-enwiki-1k --fasttext-python /tmp/ftpeer/bin/python

Compute per row: wall seconds, CPU seconds of the child process (user + system, from getrusage), and the
estimated training FLOPs `nlpt finetune` reports (2 per weight per token forward, 3x when the body trains).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")

FASTTEXT_SCRIPT = r"""
import json, sys, time, fasttext
train, test, epoch, dim = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
start = time.perf_counter()
model = fasttext.train_supervised(train, epoch=epoch, dim=dim, lr=0.1, wordNgrams=1, thread=2, verbose=0, seed=0)
rows = [line.rstrip("\n").split(" ", 1) for line in open(test, encoding="utf-8")]
labels, _ = model.predict([text for _, text in rows])
acc = sum(p[0] == gold for p, (gold, _) in zip(labels, rows)) / len(rows)
print(json.dumps({"accuracy": acc, "elapsed_s": time.perf_counter() - start}))
"""


def nlpt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nlpt", *args], capture_output=True, text=True)


def children_cpu() -> float:
    """User + system CPU seconds of the finished child processes so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def write_tsv(path: str, rows: list[tuple[str, str]]) -> None:
    if os.path.exists(path):
        return  # made by an earlier (or a concurrent) run of this script: same rows
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("sentence\tlabel\n")
        for text, label in rows:
            fh.write(f"{text}\t{label}\n")
    os.replace(tmp, path)


def read_tsv(path: str, limit: int | None) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8") as fh:
        next(fh)
        rows = [tuple(line.rstrip("\n").split("\t")) for line in fh]
    return rows[:limit] if limit else rows


def prepare_tasks(cache: str, train_rows: int, dev_rows: int, which: list[str]) -> dict:
    tasks = {}
    if "sst2" in which:
        d = os.path.join(cache, f"sst2-{train_rows or 'all'}-{dev_rows or 'all'}")
        os.makedirs(d, exist_ok=True)
        src = os.path.join(DATA, "sst2")
        for name, limit in (("train", train_rows), ("dev", dev_rows), ("test", None)):
            write_tsv(os.path.join(d, f"{name}.tsv"), [(t.strip(), y) for t, y in read_tsv(os.path.join(src, f"{name}.tsv"), limit)])
        tasks["sst2"] = d
    if "rt-polarity" in which:
        d = os.path.join(cache, "rt-polarity-80-10-10-seed0")
        os.makedirs(d, exist_ok=True)
        rows = []
        for label, name in (("1", "rt-polarity.pos"), ("0", "rt-polarity.neg")):
            with open(os.path.join(DATA, "rt-polarity", name), encoding="utf-8") as fh:
                rows += [(line.strip(), label) for line in fh if line.strip()]
        random.Random(0).shuffle(rows)
        n = len(rows)
        cut1, cut2 = int(0.8 * n), int(0.9 * n)
        for name, part in (("train", rows[:cut1]), ("dev", rows[cut1:cut2]), ("test", rows[cut2:])):
            write_tsv(os.path.join(d, f"{name}.tsv"), part)
        tasks["rt-polarity"] = d
    return tasks


def vectors(cache: str, threads: int) -> str:
    path = os.path.join(cache, "w2v-enwiki-sg100.bin")
    if not os.path.exists(path):
        start = time.perf_counter()
        r = nlpt("train-w2v", os.path.join(DATA, "enwiki-2015-100m"), "-o", path, "--binary", "--lower", "--split-punct",
                 "--size", "100", "--epochs", "1", "--min-count", "5", "--threads", str(threads), "--seed", "1", "-q")
        if r.returncode != 0:
            sys.exit(f"train-w2v failed: {r.stderr.strip()}")
        print(f"# word2vec on enwiki-2015-100m: {time.perf_counter() - start:.0f} s -> {path}", file=sys.stderr)
    return path


def finetune(task_dir: str, out: str, args: list[str], threads: int) -> dict:
    if os.path.exists(out):
        import shutil

        shutil.rmtree(out)
    start, cpu = time.perf_counter(), children_cpu()
    r = nlpt("finetune", "--train", os.path.join(task_dir, "train.tsv"), "--dev", os.path.join(task_dir, "dev.tsv"),
             "--test", os.path.join(task_dir, "test.tsv"), "-o", out, "--threads", str(threads), "--json", "-q", *args)
    wall, cpu = time.perf_counter() - start, children_cpu() - cpu
    if r.returncode != 0:
        return {"error": r.stderr.strip()}
    result = json.loads(r.stdout)
    result["wall_s"], result["cpu_s"] = wall, cpu
    return result


def fasttext_row(python: str, task_dir: str, cache: str, epoch: int) -> dict:
    files = {}
    for name in ("train", "test"):
        path = os.path.join(cache, f"{os.path.basename(task_dir)}.{name}.fasttext")
        with open(path, "w", encoding="utf-8") as fh:
            for text, label in read_tsv(os.path.join(task_dir, f"{name}.tsv"), None):
                fh.write(f"__label__{label} {text}\n")
        files[name] = path
    script = os.path.join(cache, "fasttext_supervised.py")
    with open(script, "w", encoding="utf-8") as fh:
        fh.write(FASTTEXT_SCRIPT)
    start, cpu = time.perf_counter(), children_cpu()
    r = subprocess.run([python, script, files["train"], files["test"], str(epoch), "100"], capture_output=True, text=True)
    cpu = children_cpu() - cpu
    if r.returncode != 0:
        return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "failed"}
    out = json.loads(r.stdout)
    return {"test": {"accuracy": out["accuracy"]}, "wall_s": time.perf_counter() - start, "cpu_s": cpu, "epochs": epoch}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", default="/work/runs/finetune-bench", help="vectors, task splits and runs (outside the repo)")
    p.add_argument("--tasks", default="sst2,rt-polarity")
    p.add_argument("--train-rows", type=int, default=10000, help="SST-2 training rows (0 = all 60,614)")
    p.add_argument("--dev-rows", type=int, default=2000, help="SST-2 dev rows for selection (0 = all 6,735)")
    p.add_argument("--bert", default=os.environ.get("NLPT_BENCH_BERT", "/work/runs/bert-enwiki-1k"),
                   help="an `nlpt pretrain` BERT run folder (rows skipped, and said so, when absent)")
    p.add_argument("--bert-epochs", type=int, default=3)
    p.add_argument("--static-epochs", type=int, default=5, help="epochs of the static rows (frozen bag: twice as many)")
    p.add_argument("--bert-max-length", type=int, default=64)
    p.add_argument("--bert-lr", default="1e-3", help="head learning rate of the trained BERT rows")
    p.add_argument("--bert-body-lr", default="5e-4", help="body learning rate of the fine-tuned and from-scratch rows")
    p.add_argument("--fasttext-python", default=os.environ.get("NLPT_FASTTEXT_PYTHON"),
                   help="a Python with pip `fasttext` (or fasttext-numpy2) installed, for the reference row")
    p.add_argument("--rows", default="", help="comma-separated row names to run (default: all)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads per finetune run (1: on this shared 2-core machine, 2 threads ran 20x slower)")
    p.add_argument("--w2v-threads", type=int, default=2)
    a = p.parse_args()
    os.makedirs(os.path.join(a.cache, "runs"), exist_ok=True)
    tasks = prepare_tasks(a.cache, a.train_rows, a.dev_rows, a.tasks.split(","))
    vec = vectors(a.cache, a.w2v_threads)
    static = {
        "w2v bag frozen": ["--vectors", vec, "--freeze", "--lr", "1e-2", "--epochs", str(2 * a.static_epochs), "--patience", "3"],
        "w2v bag trainable": ["--vectors", vec, "--lr", "3e-3", "--epochs", str(a.static_epochs)],
        "w2v cnn frozen": ["--vectors", vec, "--encoder", "cnn", "--freeze", "--lr", "1e-3", "--epochs", str(a.static_epochs)],
        "w2v cnn trainable": ["--vectors", vec, "--encoder", "cnn", "--lr", "1e-3", "--epochs", str(a.static_epochs)],
        "random bag": ["--dim", "100", "--lr", "3e-3", "--epochs", str(a.static_epochs)],
    }
    bert_ok = os.path.exists(os.path.join(a.bert, "config.json"))
    bert_rows = {
        "bert frozen": ["--model", a.bert, "--freeze", "--lr", "1e-2", "--epochs", "10", "--patience", "3",
                        "--max-length", str(a.bert_max_length)],
        "bert fine-tuned": ["--model", a.bert, "--lr", a.bert_lr, "--body-lr", a.bert_body_lr, "--epochs", str(a.bert_epochs),
                            "--max-length", str(a.bert_max_length)],
        "bert from scratch": ["--model", a.bert, "--from-scratch", "--lr", a.bert_lr, "--body-lr", a.bert_body_lr,
                              "--epochs", str(a.bert_epochs), "--max-length", str(a.bert_max_length)],
    }
    wanted = set(filter(None, a.rows.split(",")))
    table = []
    for task, task_dir in tasks.items():
        rows = dict(static)
        if bert_ok:
            rows.update(bert_rows)
        for name, args in rows.items():
            if wanted and name not in wanted:
                continue
            print(f"# {task}: {name} ...", file=sys.stderr, flush=True)
            result = finetune(task_dir, os.path.join(a.cache, "runs", f"{os.path.basename(task_dir)}-{name.replace(' ', '-')}"), args, a.threads)
            table.append((task, name, result))
        if not bert_ok:
            table.append((task, "bert rows", {"error": f"{a.bert}: no BERT run folder (not measured)"}))
        if a.fasttext_python and (not wanted or "fasttext" in wanted):
            table.append((task, "fastText supervised (pip)", fasttext_row(a.fasttext_python, task_dir, a.cache, 5)))
        elif not a.fasttext_python:
            table.append((task, "fastText supervised (pip)", {"error": "no --fasttext-python given (not measured)"}))

    print(f"\n$ python {shlex.join(sys.argv)}")
    print(f"sst2: train {a.train_rows or 'all'} rows, dev {a.dev_rows or 'all'} rows, test 872; "
          f"rt-polarity: 80/10/10 split, seed 0; threads {a.threads}; load at the end {os.getloadavg()[0]:.1f}\n")
    print("| task | model | test acc | test F1 | test AUC | dev acc | best/ran epochs | trainable params | GFLOP | wall s | CPU s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for task, name, r in table:
        if "error" in r:
            print(f"| {task} | {name} | — | | | | | | | | {r['error'][:120]} |")
            continue
        test, dev = r.get("test") or {}, r.get("dev") or {}
        f = lambda v: "" if v is None else f"{100 * v:.1f}"  # noqa: E731
        epochs = f"{r.get('best_epoch', '')}/{r.get('epochs', '')}"
        params = r.get("parameters", {}).get("trainable", "")
        gflop = f"{r['compute_flops'] / 1e9:.1f}" if "compute_flops" in r else ""
        print(f"| {task} | {name} | {f(test.get('accuracy'))} | {f(test.get('macro_f1'))} | {f(test.get('roc_auc'))} | "
              f"{f(dev.get('accuracy'))} | {epochs} | {params:,} | {gflop} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} |"
              if params != "" else
              f"| {task} | {name} | {f(test.get('accuracy'))} | | | | {r.get('epochs', '')} | | | {r['wall_s']:.0f} | "
              f"{r['cpu_s']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
