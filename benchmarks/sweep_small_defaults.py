#!/usr/bin/env python
"""The measurement behind the defaults of small GPT models: a small sweep on character-level Tiny Shakespeare.

The model is the one `nlpt pretrain --help`'s Shakespeare example trains (gpt-mini narrowed to 4 layers × 128,
4 heads, FFN 512, context 64, the tokenizer's 66 entries; batch 12, 2,000 steps, lr 1e-3, cosine to 1e-4
after 100 warmup steps, no dropout), written out as a config file per variant so that each variant changes one
setting only: the initial standard deviation (GPT-2's 0.02, or width-scaled 0.02 · √(768 / H)), AdamW's beta2
(0.95, the presets' default, or nanoGPT's 0.99) and the GELU (GPT-2's tanh form, or the exact erf form that
nanoGPT uses). Every run trains from the same token files, `--parallel` runs at a time with `--threads` each
(the losses do not depend on it; the wall times are only comparable within one sweep); the table gives the
whole-split validation loss and the wall time.

    python benchmarks/sweep_small_defaults.py [--variants A,B,...] [--steps 2000]
        [--parallel 2 --threads 1]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DATA = os.path.join(os.path.dirname(REPO), "shared", "data")

WIDTH_SCALED = round(0.02 * math.sqrt(768 / 128), 4)
# name → (initial std, beta2, activation)
VARIANTS = {
    "std0.02-b0.95-tanh": (0.02, 0.95, "gelu_tanh"),
    "scaled-b0.95-tanh": (WIDTH_SCALED, 0.95, "gelu_tanh"),
    "scaled-b0.99-tanh": (WIDTH_SCALED, 0.99, "gelu_tanh"),
    "scaled-b0.95-exact": (WIDTH_SCALED, 0.95, "gelu"),
    "scaled-b0.99-exact": (WIDTH_SCALED, 0.99, "gelu"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated among " + ",".join(VARIANTS))
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--parallel", type=int, default=1, help="variants trained at the same time")
    ap.add_argument("--threads", type=int, default=None, help="threads per run [default: nlpt's]")
    ap.add_argument("--data", default=os.path.join(DATA, "tinyshakespeare", "input.txt"))
    args = ap.parse_args()
    sys.path.insert(0, REPO)
    from nlpt.engine.tokens import prepare_tokens
    from nlpt.tokenizer.chars import char_tokenizer

    work = tempfile.mkdtemp(prefix="sweep-small-")
    tok = os.path.join(work, "tok.json")
    char_tokenizer([args.data], 1000).save(tok)
    vocab = len(json.load(open(tok))["model"]["vocab"])
    token_dir = os.path.join(work, "tokens")
    prepare_tokens([args.data], tok, token_dir, 0.1)
    print(f"# python benchmarks/sweep_small_defaults.py {' '.join(sys.argv[1:])}  (load {os.getloadavg()[0]:.1f})\n")
    print("| variant | initial std | beta2 | GELU | val loss (whole split) | wall s |\n|---|---:|---:|---|---:|---:|",
          flush=True)
    def run(name: str) -> str:
        std, beta2, activation = VARIANTS[name]
        arch = os.path.join(work, f"{name}.json")
        with open(arch, "w") as fh:
            json.dump({"family": "gpt", "vocab_size": vocab, "hidden_size": 128, "num_layers": 4, "num_heads": 4,
                       "ffn_size": 512, "max_positions": 64, "activation": activation, "dropout": 0.0,
                       "init_std": std}, fh)
        cmd = [sys.executable, "-m", "nlpt", "pretrain", args.data, "-o", os.path.join(work, name), "--tokenizer", tok,
               "--token-dir", token_dir, "--arch", arch, "--batch", "12", "--max-steps", str(args.steps),
               "--lr", "1e-3", "--beta2", str(beta2), "--eval-every", "0", "--eval-batches", "0",
               "--checkpoint-every", "0", "--seed", str(args.seed), "--quiet", "--json"]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if out.returncode:
            raise SystemExit(f"{name} failed:\n{out.stderr[-2000:]}")
        loss = json.loads(out.stdout)["val"]["loss"]
        return f"| {name} | {std} | {beta2} | {activation} | {loss:.4f} | {wall:.0f} |"

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(args.parallel) as pool:
        for line in pool.map(run, args.variants.split(",")):
            print(line, flush=True)
    print(f"\n(load after: {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
