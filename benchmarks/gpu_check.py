#!/usr/bin/env python
"""The GPU check's measurements (run through `benchmarks/gpu_check.sh`): GPT-2 124M in bf16 on one CUDA device.

Three runs on the same device, one after the other, each for `--steps` optimizer steps of `--batch` sequences of
`--context` tokens (data/synthetic.txt through a character tokenizer; the model keeps GPT-2's 50,257-entry
vocabulary, so the LM head costs what GPT-2's does):

1. `nlpt pretrain --arch gpt2 --precision bf16` (the CLI, in its own process);
2. the same with `--compile`;
3. transformers' GPT2LMHeadModel with the same config (SDPA attention), bf16 autocast, fused AdamW, gradient
   clipping, in a plain torch loop on random tokens of the same shape.

Reported per run: tokens/s (the median of the logged windows after the first, which holds start-up and
compilation; transformers: timed steps after warm-up), MFU = tokens/s × training FLOPs per token (`nlpt params`,
attention included) / the GPU's dense bf16 peak (`nlpt/transformer/hardware.py`), and
`torch.cuda.max_memory_allocated` beside the estimate of `nlpt params` for the same batch and context.

`--cpu-smoke` runs the same code on the CPU with a tiny GPT (2 layers, width 64, context 32, fp32, no compile)
in a few seconds, so a test keeps every part but the device working.

    python benchmarks/gpu_check.py [--steps 120] [--batch 16] [--context 1024] [--json out.json] [--cpu-smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CORPUS = os.path.join(REPO, "data", "synthetic.txt")

GPU_MODEL = ["--arch", "gpt2"]
SMOKE_MODEL = ["--arch", "gpt-mini", "--layers", "2", "--hidden", "64", "--heads", "2", "--vocab", "128"]


def nlpt(*args: str, env=None) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "nlpt", *map(str, args)], capture_output=True, text=True,
                       env={**os.environ, **(env or {})}, cwd=REPO)
    if r.returncode:
        raise SystemExit(f"gpu_check: `nlpt {' '.join(map(str, args))}` failed ({r.returncode}): "
                         f"{r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ''}")
    return r


def model_config(smoke: bool):
    from nlpt.engine.run import model_config as resolve

    if smoke:
        return resolve("gpt-mini", {"layers": 2, "hidden": 64, "heads": 2, "vocab": 128})
    return resolve("gpt2")


def estimate(config, batch: int, context: int, precision: str, device: str) -> dict:
    """`nlpt params`' training memory per rank for this step (`nlpt.transformer.memory`)."""
    from nlpt.transformer.memory import training_memory

    b = training_memory(config, batch, context, precision, device=device)["bytes"]
    return {"model_states_bytes": b["weights"] + b["gradients"] + b["optimizer"] + b["half_weight_copies"],
            "activations_bytes": b["activations"], "temporary_bytes": b["temporary"], "total_bytes": b["total"]}


def flops_per_token(config, context: int) -> float:
    from nlpt.transformer import params as P

    return P.flops(P.count(config), context)["training_per_token"]


def peak_flops(device_name: str, smoke: bool):
    """The GPU's dense bf16 peak from the hardware table (None on CPU or for a GPU not in it)."""
    if smoke:
        return None
    import torch

    from nlpt.engine.run import _peak_flops

    return _peak_flops(torch.device("cuda", 0))


def nlpt_run(work: str, corpus: str, tok: str, args, compile_: bool) -> dict:
    run = os.path.join(work, "run-compile" if compile_ else "run-eager")
    device, precision = ("cpu", "fp32") if args.cpu_smoke else ("cuda", "bf16")
    model = SMOKE_MODEL if args.cpu_smoke else GPU_MODEL
    log_every = max(1, args.steps // 6)
    nlpt("pretrain", corpus, "-o", run, "--tokenizer", tok, *model, "--context", args.context, "--batch", args.batch,
         "--max-steps", args.steps, "--log-every", log_every, "--eval-every", 0, "--eval-batches", 1,
         "--checkpoint-every", 0, "--keep-last", 1, "--warmup", 2, "--precision", precision, "--device", device,
         "--threads", args.threads, "--token-dir", os.path.join(work, "tokens"), "--quiet",
         *(["--compile"] if compile_ else []))
    with open(os.path.join(run, "metrics.jsonl"), encoding="utf-8") as fh:
        train = [r for r in map(json.loads, fh) if r.get("split") == "train"]
    timed = train[1:] or train  # the first window holds start-up (and compilation)
    return {"system": "nlpt pretrain" + (" --compile" if compile_ else ""),
            "tokens_per_s": statistics.median(r["tokens_per_s"] for r in timed),
            "max_memory_bytes": max((r.get("max_memory_bytes", 0) for r in train), default=0) or None,
            "logged_mfu": statistics.median(r["mfu"] for r in timed) if all("mfu" in r for r in timed) else None,
            "final_loss": train[-1]["loss"]}


def transformers_run(config, args) -> dict:
    """GPT2LMHeadModel with nlpt's config, trained on random tokens in a plain loop; tokens/s over timed steps."""
    import torch
    import transformers

    from nlpt.models.gpt import hf_config

    device = torch.device("cpu" if args.cpu_smoke else "cuda")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    hf = transformers.GPT2Config(**{k: v for k, v in hf_config(config).items() if k != "architectures"})
    model = transformers.GPT2LMHeadModel(hf).to(device).train()
    try:
        model.config._attn_implementation = "sdpa"
    except AttributeError:
        pass
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1, fused=True)
    dtype = torch.float32 if args.cpu_smoke else torch.bfloat16
    ids = torch.randint(0, config.vocab_size, (args.batch, args.context), device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=not args.cpu_smoke):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    warm = max(1, args.steps // 6)
    for _ in range(warm):
        step()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t = time.perf_counter()
    for _ in range(args.steps - warm):
        step()
    sync()
    seconds = time.perf_counter() - t
    timed = max(1, args.steps - warm)
    return {"system": "transformers GPT2LMHeadModel", "tokens_per_s": timed * args.batch * args.context / seconds,
            "max_memory_bytes": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None,
            "logged_mfu": None, "final_loss": None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu-smoke", action="store_true", help="a tiny model on the CPU (what the test runs)")
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps per run [120; --cpu-smoke 6]")
    ap.add_argument("--batch", type=int, default=None, help="sequences per step [16; --cpu-smoke 2]")
    ap.add_argument("--context", type=int, default=None, help="tokens per sequence [1024; --cpu-smoke 32]")
    ap.add_argument("--threads", type=int, default=1 if "--cpu-smoke" in (argv or sys.argv) else 8)
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)
    smoke = args.cpu_smoke
    args.steps = args.steps or (6 if smoke else 120)
    args.batch = args.batch or (2 if smoke else 16)
    args.context = args.context or (32 if smoke else 1024)
    if args.steps < 2:
        ap.error("--steps must be at least 2 (the first logged window is not timed)")
    import torch

    if not smoke and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; `--cpu-smoke` runs the same steps on the CPU with a tiny model",
              file=sys.stderr)
        return 1
    device_name = "cpu" if smoke else torch.cuda.get_device_name(0)
    config = model_config(smoke)
    precision = "fp32" if smoke else "bf16"
    per_token = flops_per_token(config, args.context)
    peak = peak_flops(device_name, smoke)
    est = estimate(config, args.batch, args.context, precision, "cpu" if smoke else "cuda")
    work = tempfile.mkdtemp(prefix="nlpt-gpu-check-")
    corpus = CORPUS
    if smoke:  # a few thousand lines are plenty for a tiny model
        corpus = os.path.join(work, "corpus.txt")
        with open(CORPUS, encoding="utf-8") as src, open(corpus, "w", encoding="utf-8") as dst:
            dst.writelines(line for _, line in zip(range(3000), src))
    tok = os.path.join(work, "tok.json")
    nlpt("vocab", "--tokenizer", "char", "--size", "100", "-o", tok, corpus, "--quiet")
    rows = [nlpt_run(work, corpus, tok, args, compile_=False)]
    if not smoke:  # torch.compile on the CPU needs a C++ toolchain and minutes: the GPU check only
        rows.append(nlpt_run(work, corpus, tok, args, compile_=True))
    rows.append(transformers_run(config, args))
    for r in rows:
        r["mfu"] = r["tokens_per_s"] * per_token / peak if peak else None
        r["memory_vs_estimate"] = r["max_memory_bytes"] / est["total_bytes"] if r["max_memory_bytes"] else None
    from nlpt.transformer.params import count

    result = {"device": device_name, "model": "gpt2 (124M)" if not smoke else "gpt-mini (2 layers, width 64)",
              "parameters": count(config).total, "precision": precision, "steps": args.steps,
              "batch": args.batch, "context": args.context, "flops_per_token": per_token,
              "peak_flops": peak, "estimate": est, "rows": rows,
              "ratio_nlpt_to_transformers": rows[0]["tokens_per_s"] / rows[-1]["tokens_per_s"]}
    gib = 2 ** 30
    print(f"{device_name}: {result['model']}, {result['parameters']:,} parameters, {precision}, {args.steps} steps "
          f"of {args.batch} × {args.context} tokens")
    print(f"estimate (`nlpt params --batch {args.batch} --context {args.context} --precision {precision}`): model "
          f"states {est['model_states_bytes'] / gib:.2f} GiB + activations {est['activations_bytes'] / gib:.2f} GiB "
          f"+ temporaries {est['temporary_bytes'] / gib:.2f} GiB = {est['total_bytes'] / gib:.2f} GiB")
    print("| system | tokens/s | MFU | max_memory_allocated | vs estimate |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        mem = f"{r['max_memory_bytes'] / gib:.2f} GiB" if r["max_memory_bytes"] else "-"
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "-"
        ratio = f"{r['memory_vs_estimate']:.2f}×" if r["memory_vs_estimate"] else "-"
        print(f"| {r['system']} | {r['tokens_per_s']:,.0f} | {mfu} | {mem} | {ratio} |")
    print(f"nlpt / transformers tokens/s: {result['ratio_nlpt_to_transformers']:.2f}×")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
