"""Training memory of `nlpt params` against a measured CPU training step, per family and size.

For each family nlpt trains (GPT-2, GPT-1, Llama, Mixtral-style MoE, BERT, RoBERTa, ALBERT, T5, T5 v1.1,
BART) at three sizes, with and without activation checkpointing, one fp32 step on CPU is measured by
`nlpt.engine.memory_probe.measure` (parameters, gradients and AdamW state summed over unique storages;
the bytes autograd keeps for backward caught with torch.autograd.graph.saved_tensors_hooks, one count per
storage, plus the block inputs a checkpointed block keeps) and printed beside the estimate of
`nlpt.transformer.memory.training_memory(..., device="cpu")`, the arithmetic `nlpt params` prints.

    python benchmarks/bench_memory.py                 # three sizes, dropout 0
    python benchmarks/bench_memory.py --dropout 0.1   # with dropout masks
    python benchmarks/bench_memory.py --json          # one JSON line per row

Model state must be equal; activations within 10 % (the exit status is 1 otherwise). Memory, not time: no
benchmark lock is needed, but the larger sizes take a minute on a busy machine.

    python benchmarks/bench_memory.py --time --sizes medium

`--time` instead times a training step (forward + backward, one thread) with and without checkpointing,
alternating, and prints the best of each and their ratio: the price of the recomputation.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from nlpt.engine.memory_probe import family_configs, measure  # noqa: E402
from nlpt.transformer.memory import training_memory  # noqa: E402

# hidden, layers, vocabulary, context (decoder: half of it for T5/BART), batch
SIZES = {"small": (64, 2, 512, 64, 4), "medium": (128, 4, 2048, 128, 4), "large": (256, 6, 8192, 256, 2)}


def rows(sizes, dropout: float):
    for size in sizes:
        hidden, layers, vocab, context, batch = SIZES[size]
        for family, config in family_configs(hidden, layers, vocab, context, dropout).items():
            S = context // 2 if config.family in ("t5", "bart") else None
            for ckpt in (False, True):
                est = training_memory(config, batch, context, "fp32", 1, "ddp", ckpt, device="cpu",
                                      decoder_context=S)
                got = measure(config, batch, context, ckpt, decoder_context=S)
                b = est["bytes"]
                state_est = b["weights"] + b["gradients"] + b["optimizer"]
                state_got = got["parameters"] + got["gradients"] + got["optimizer"]
                yield {"family": family, "size": size, "hidden": hidden, "layers": layers, "context": context,
                       "batch": batch, "checkpointing": ckpt, "dropout": dropout,
                       "model_state_estimate": state_est, "model_state_measured": state_got,
                       "activations_estimate": b["activations"], "activations_measured": got["saved_for_backward"],
                       "ratio": b["activations"] / got["saved_for_backward"]}


def time_rows(sizes, repeats: int = 5):
    import time

    import torch

    from nlpt.engine.memory_probe import _objective, synthetic_batch
    from nlpt.models import build, checkpointing

    torch.set_num_threads(1)
    for size in sizes:
        hidden, layers, vocab, context, batch = SIZES[size]
        for family, config in family_configs(hidden, layers, vocab, context).items():
            torch.manual_seed(0)
            model = build(config).train()
            data = synthetic_batch(config, batch, context, context // 2, torch.Generator().manual_seed(0))
            best = {False: float("inf"), True: float("inf")}
            for i in range(repeats + 1):
                for on in (False, True):
                    checkpointing.enable(model, on)
                    t = time.perf_counter()
                    loss, _ = _objective(config).loss(model, data)
                    loss.backward()
                    if i:  # the first round warms up
                        best[on] = min(best[on], time.perf_counter() - t)
                    model.zero_grad(set_to_none=True)
            yield {"family": family, "size": size, "step_s": best[False], "step_checkpointing_s": best[True],
                   "ratio": best[True] / best[False]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default=",".join(SIZES), help="comma-separated: " + ", ".join(SIZES))
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--time", action="store_true", help="time a step with and without checkpointing instead")
    a = ap.parse_args()
    sizes = a.sizes.split(",")
    if a.time:
        for r in time_rows(sizes):
            print(json.dumps(r) if a.json else f"{r['family']:9} {r['size']:7} step {r['step_s']:.4f} s, "
                  f"with checkpointing {r['step_checkpointing_s']:.4f} s, {r['ratio']:.2f}×", flush=True)
        return 0
    bad = 0
    if not a.json:
        print(f"{'family':9} {'size':7} {'ckpt':5} {'model state (est = measured)':>30} "
              f"{'activations est':>16} {'measured':>12} {'est/meas':>8}")
    for r in rows(sizes, a.dropout):
        ok = r["model_state_estimate"] == r["model_state_measured"] and 0.9 <= r["ratio"] <= 1.1
        bad += not ok
        if a.json:
            print(json.dumps(r))
            continue
        state = f"{r['model_state_measured']:,}" + ("" if r["model_state_estimate"] == r["model_state_measured"]
                                                     else f" (est {r['model_state_estimate']:,})")
        print(f"{r['family']:9} {r['size']:7} {'yes' if r['checkpointing'] else 'no':5} {state:>30} "
              f"{r['activations_estimate']:>16,} {r['activations_measured']:>12,} {r['ratio']:>8.3f}"
              + ("" if ok else "  <-- off"), flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
