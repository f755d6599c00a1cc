#!/usr/bin/env python
"""Continued pretraining (`nlpt pretrain --init`) against training from scratch, side by side in one run.

1. A byte-level BPE tokenizer (--vocab entries) is trained on Tiny Shakespeare, and a small GPT-2-shaped model
   (4 layers, 4 heads, width 128, context 128) is pretrained on it from scratch for --source-steps steps and
   exported as a Hugging Face folder (`--export-hf`): the "released model".
2. On Penn Treebank (ptb.train.txt), the same number of steps (--steps) and the same settings twice:
   `--init` that folder, and from scratch (same architecture, same tokenizer, same seed).
3. Held-out loss of each on ptb.valid.txt by `nlpt pretrain eval` (whole file, windows of the context, no
   overlap), and of the exported source model before any PTB step.

    python benchmarks/bench_init.py [--source-steps 1000] [--steps 300] [--threads 2] [--data DIR] [--json]

Run it under the benchmark lock: `python benchmarks/bench_init.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DATA = os.path.join(os.path.dirname(REPO), "shared", "data")


def nlpt(*args) -> str:
    """Run `python -m nlpt ARGS` in a child (this checkout's nlpt); its stdout; stops on failure."""
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-m", "nlpt", *map(str, args)], capture_output=True, text=True, env=env)
    if r.returncode:
        sys.exit(f"nlpt {' '.join(map(str, args))} failed:\n{r.stderr[-2000:]}")
    return r.stdout


def held_out(source: str, valid: str, context: int) -> dict:
    doc = json.loads(nlpt("pretrain", "eval", source, "--data", valid, "--context", context, "--json"))
    return {"loss": round(doc["loss"], 4), "ppl": round(doc["ppl"], 2), "bits_per_byte": round(doc["bits_per_byte"], 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source-steps", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    shakespeare = os.path.join(a.data, "tinyshakespeare", "input.txt")
    train, valid = (os.path.join(a.data, "ptb", f"ptb.{s}.txt") for s in ("train", "valid"))
    context = 128
    model = ["--layers", 4, "--heads", 4, "--hidden", 128, "--ffn", 512, "--vocab", a.vocab]
    common = ["--context", context, "--batch", 16, "--lr", 1e-3, "--warmup", 50, "--dropout", 0, "--eval-every", 0,
              "--eval-batches", 20, "--threads", a.threads, "--seed", 1, "--quiet"]
    rows = {}
    with tempfile.TemporaryDirectory(prefix="bench-init-") as tmp:
        tok = os.path.join(tmp, "bpe.json")
        nlpt("vocab", "--tokenizer", "bpe", "--size", a.vocab, "-o", tok, shakespeare, "--quiet")
        source, hf = os.path.join(tmp, "shakespeare"), os.path.join(tmp, "shakespeare-hf")
        t = time.perf_counter()
        nlpt("pretrain", shakespeare, "-o", source, "--tokenizer", tok, "--arch", "gpt-mini", *model, *common,
             "--max-steps", a.source_steps, "--export-hf", hf)
        rows["source (Tiny Shakespeare, before PTB)"] = {"steps": 0, **held_out(hf, valid, context),
                                                          "seconds": round(time.perf_counter() - t, 1)}
        for name, how in (("--init the exported model", ["--init", hf]),
                          ("from scratch", ["--tokenizer", tok, "--arch", "gpt-mini", *model])):
            run = os.path.join(tmp, name.split()[0].strip("-"))
            t = time.perf_counter()
            nlpt("pretrain", train, "-o", run, *how, *common, "--max-steps", a.steps,
                 "--token-dir", os.path.join(tmp, "ptb-tokens"))
            rows[name] = {"steps": a.steps, **held_out(run, valid, context), "seconds": round(time.perf_counter() - t, 1)}
    load = os.getloadavg()[0]
    if a.json:
        print(json.dumps({"rows": rows, "load_1min": load, "threads": a.threads}, indent=2))
        return
    print(f"held-out loss on ptb.valid.txt (nlpt pretrain eval, context {context}); load {load:.2f}, "
          f"{a.threads} threads; source trained {a.source_steps} steps on Tiny Shakespeare")
    print(f"{'model':40} {'PTB steps':>9} {'loss':>7} {'ppl':>8} {'bits/byte':>9} {'wall s':>7}")
    for name, r in rows.items():
        print(f"{name:40} {r['steps']:>9} {r['loss']:>7.4f} {r['ppl']:>8.2f} {r['bits_per_byte']:>9.4f} {r['seconds']:>7.1f}")


if __name__ == "__main__":
    main()
