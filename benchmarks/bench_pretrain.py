#!/usr/bin/env python
"""`nlpt pretrain` against its peers, each row side by side in one run.

Rows (`--rows a,b,c,d,e,f,g,h,i,j,k`; e and f, BERT and T5/BART, are described above row_e):

a  CPU training tokens/s: nlpt's engine (`nlpt.engine.run.pretrain`, fused AdamW, the real loop and data)
   against transformers' GPT2LMHeadModel and LlamaForCausalLM in a plain torch loop (AdamW, clipping), same
   config (6 layers, 384 wide, 6 heads, context 256, vocabulary 8192, batch 8; Llama: GQA 6/2 heads, SwiGLU
   1024), same threads. The two alternate step by step (a transformers step after each engine step, run from
   the engine's progress callback) and the medians of the timed steps are reported. nlpt
   runs at its default `--cpu-matmul auto` and, when auto picks numpy's BLAS, also with `--cpu-matmul torch`
   (torch's own matrix products, as transformers uses), so the table shows what each part brings.
b  character-level Tiny Shakespeare (first 90% train, last 10% validation): nlpt runs the `nlpt pretrain --help`
   example's own flags (gpt-mini narrowed to 4 layers × 128, 4 heads, context 64, batch 12, 2000 steps, lr 1e-3;
   the FFN, head size, vocabulary and initial std follow from those flags), with no model file, only measurement
   flags added (shared token files, whole-split evaluation at the end, no checkpoints, seed
   `--shakespeare-seed`); beside nanoGPT (`--nanogpt DIR`, env NLPT_BENCH_NANOGPT, default /work/peers/nanogpt)
   run with its README's CPU recipe in a scratch copy, its data files written from the same input.txt (nothing
   downloaded). Both at their default thread count unless `--shakespeare-threads N`; both run at the same time
   when threads × runs ≤ cores (so both meet the same load), else one after the other, nanoGPT between nlpt's
   runs (`--shakespeare-matmul default,torch`: nlpt at its default `--cpu-matmul` and with torch's products).
   Token files of both are made before, outside the measured processes. Wall time, CPU time, peak RSS;
   validation loss over the whole split, for both models evaluated the same way on nanoGPT's split (nanoGPT's
   saved checkpoint, read by the benchmark), plus nanoGPT's own 20-batch estimate.
c  token-file preparation of ../shared/data/enwiki-2015-100m with a 32k byte-level BPE tokenizer: MB/s and
   peak RSS of `nlpt.engine.tokens.prepare_tokens` beside the `tokenizers` library's own `encode_batch` over
   the same lines with the same threads (each in its own process).
d  GPU: tokens/s and MFU of the 124M GPT-2 config in bf16 on one CUDA device (skipped without one).
g  one matrix product at gpt-mini's training shapes through torch and through numpy, GFLOP/s: the two BLAS
   libraries `--cpu-matmul auto` chooses between.
h  whole `nlpt pretrain` commands at gpt-mini's Tiny Shakespeare shape with `--cpu-matmul` torch, numpy and
   auto (`--h-rounds` runs each), at `--threads` and at 1: auto's choice, its stability, auto's median against
   the faster backend's, and the seconds before training starts.
i  one training step of that shape in one process: torch's threads × whose products × numpy's BLAS threads
   (the two thread pools' contention that keeps auto on torch on several threads).
j  seconds from the command to the first training step (`startup_s`) of a 2-step run of that shape, with its
   token files made and on a fresh token folder.
k  where a training step of row a's models goes, nlpt against transformers, by torch's profiler: matrix products
   (and their GFLOP/s), the attention kernel, everything else; and the bound the shared kernels set on the ratio.
Rows a, e and f run at `--threads` (the default of `nlpt pretrain` here: all cores) and at 1 thread, each
printing the backend `--cpu-matmul auto` chose and nlpt at its default against nlpt with `--cpu-matmul torch`.

    .venv/bin/python benchmarks/bench_pretrain.py [--rows a,b,c] [--threads 2] [--steps 8] [--data DIR] [--nanogpt DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DATA = os.path.join(os.path.dirname(REPO), "shared", "data")

ROW_A_BATCH, ROW_A_CONTEXT = 8, 256  # row a's micro-batch on both sides
ROW_A_TOKENS = ROW_A_BATCH * ROW_A_CONTEXT

# Runs a command in a child and reports its peak RSS (the child's own, via RUSAGE_CHILDREN of a fresh wrapper).
_RSS_WRAPPER = ("import resource, subprocess, sys, time; t = time.perf_counter(); r = subprocess.run(sys.argv[1:]); "
                "w = time.perf_counter() - t; u = resource.getrusage(resource.RUSAGE_CHILDREN); "
                "print('@@', r.returncode, w, u.ru_maxrss / 1024, u.ru_utime + u.ru_stime, file=sys.stderr)")


def measured(cmd: list, env=None, cwd=None) -> dict:
    """Run `cmd` in its own process: wall seconds, CPU seconds, peak RSS (MiB), stdout, stderr."""
    r = subprocess.run([sys.executable, "-c", _RSS_WRAPPER, *map(str, cmd)], capture_output=True, text=True,
                       env={**os.environ, **(env or {})}, cwd=cwd)
    tail = [line for line in r.stderr.splitlines() if line.startswith("@@ ")][-1].split()
    if int(tail[1]) != 0:
        raise SystemExit(f"failed: {' '.join(map(str, cmd))}\n{r.stderr[-3000:]}")
    return {"wall_s": float(tail[2]), "rss_mib": float(tail[3]), "cpu_s": float(tail[4]), "stdout": r.stdout,
            "stderr": r.stderr}


def table(headers: list, rows: list) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------- row a


def _char_tokenizer(path: str, out: str) -> str:
    from nlpt.tokenizer.chars import char_tokenizer

    char_tokenizer([path], 1000).save(out)
    return out


def _hf_model(kind: str):
    """transformers' GPT2LMHeadModel or LlamaForCausalLM at row a's config (nlpt's gpt-mini / llama-mini)."""
    import transformers

    if kind == "gpt":
        return transformers.GPT2LMHeadModel(transformers.GPT2Config(
            vocab_size=8192, n_embd=384, n_layer=6, n_head=6, n_positions=256, resid_pdrop=0.0, embd_pdrop=0.0,
            attn_pdrop=0.0))
    return transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=8192, hidden_size=384, intermediate_size=1024, num_hidden_layers=6, num_attention_heads=6,
        num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=False))


def _hf_stepper(kind: str, batch: int = ROW_A_BATCH, context: int = ROW_A_CONTEXT):
    """A function doing one step of transformers' model in a plain loop (AdamW, clipping) on fresh random ids
    per call, returning its wall and CPU seconds."""
    import torch

    torch.manual_seed(0)
    model = _hf_model(kind).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
    g = torch.Generator().manual_seed(0)

    def step() -> tuple[float, float]:
        ids = torch.randint(0, 8192, (batch, context + 1), generator=g)
        t, c = time.perf_counter(), time.process_time()
        out = model(input_ids=ids[:, :-1], labels=ids[:, :-1])
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t, time.process_time() - c
    return step


def _engine_beside_peer(kind: str, steps: int, warmup: int, threads: int, corpus: str, tok: str, work: str,
                        cpu_matmul: str, peer_step) -> tuple:
    """nlpt's engine (the real loop, reading its token files) for warmup + steps steps, one `peer_step` after
    each of them, run from the engine's progress callback, outside the window the engine times: the two sides
    alternate step by step, so a slower or faster moment of a shared machine falls on both alike.

    Returns nlpt's wall seconds per step (from metrics.jsonl's tokens/s) and CPU seconds per step (process CPU
    time between the callbacks), the peer's wall and CPU seconds per step, and nlpt's parameter count."""
    import shutil

    from nlpt.engine.options import TrainOptions
    from nlpt.engine.run import pretrain
    from nlpt.transformer.registry import REGISTRY

    arch = "gpt-mini" if kind == "gpt" else "llama-mini"
    run = os.path.join(work, f"run-{kind}")
    shutil.rmtree(run, ignore_errors=True)
    o = TrainOptions(run_dir=run, corpus=[corpus], tokenizer=tok, model=REGISTRY[arch].config, batch=ROW_A_BATCH,
                     max_steps=warmup + steps, eval_every=0, eval_batches=1, log_every=1, checkpoint_every=0,
                     keep_last=1, threads=threads, quiet=True, token_dir=os.path.join(work, "tokens"), warmup=2,
                     cpu_matmul=cpu_matmul)
    marks, peer = [], []

    def after_step(record) -> None:
        start = time.process_time()
        peer.append(peer_step())
        marks.append((start, time.process_time()))

    summary = pretrain(o, on_progress=after_step)
    with open(os.path.join(run, "metrics.jsonl")) as fh:
        rows = [json.loads(line) for line in fh if '"train"' in line]
    ours_cpu = [b[0] - a[1] for a, b in zip(marks, marks[1:])][warmup - 1:]  # from one callback to the next: step i+1
    return ([ROW_A_TOKENS / r["tokens_per_s"] for r in rows[warmup:]], ours_cpu, [w for w, _ in peer[warmup:]],
            [c for _, c in peer[warmup:]], summary["parameters"])


def _thread_counts(args) -> list:
    """The run's thread count (`--threads`, the default of `nlpt pretrain` on this machine) and 1, each once."""
    return list(dict.fromkeys([args.threads, 1]))


def _auto_choice(threads: int, config=None, batch: int = ROW_A_BATCH, context: int = ROW_A_CONTEXT):
    """What `--cpu-matmul auto` chooses on `threads` threads for `config` at batch × context (as the engine asks),
    undone at once."""
    from nlpt.models import cpu_matmul

    shape = cpu_matmul.probe_shape(config, batch, context) if config is not None else None
    choice = cpu_matmul.configure("auto", threads, shape)
    choice.restore()
    return choice


def row_a(args) -> str:
    import torch

    work = tempfile.mkdtemp(prefix="bench-pretrain-a-")
    corpus = os.path.join(DATA, "tinyshakespeare", "input.txt")
    tok = _char_tokenizer(corpus, os.path.join(work, "tok.json"))
    out = []
    for threads in _thread_counts(args):
        out.append(_row_a_at(args, threads, corpus, tok, work))
    return f"(a) CPU training tokens/s, torch {torch.__version__}, at {' and at '.join(map(str, _thread_counts(args)))} " \
        f"thread(s)\n\n" + "\n\n".join(out)


def _row_a_at(args, threads: int, corpus: str, tok: str, work: str) -> str:
    from nlpt.transformer.registry import REGISTRY

    lines, reasons = [], []
    for kind, peer in (("gpt", "transformers GPT2LMHeadModel"), ("llama", "transformers LlamaForCausalLM")):
        choice = _auto_choice(threads, REGISTRY[f"{kind}-mini"].config)
        reasons.append(f"{kind}: {choice.backend} ({choice.reason})")
        backends = ["auto"] + (["torch"] if choice.backend != "torch" else [])  # torch: nlpt with torch's products
        sides = {b: ([], [], [], []) for b in backends}  # nlpt wall, nlpt CPU, peer wall, peer CPU
        peer_step = _hf_stepper(kind)
        params = 0
        for _ in range(args.rounds):
            for backend in backends:
                *measured_lists, params = _engine_beside_peer(kind, args.steps, 1, threads, corpus, tok, work, backend,
                                                              peer_step)
                for into, values in zip(sides[backend], measured_lists):
                    into += values
        fb_ours, fb_theirs = _interleaved_forward_backward(kind, threads, choice.backend)
        med = {b: [statistics.median(v) for v in lists] for b, lists in sides.items()}
        vs = {b: (m[2] / m[0], m[3] / m[1]) for b, m in med.items()}  # against the steps it alternated with
        for backend in backends:
            wall, cpu_s = med[backend][0], med[backend][1]
            name = f"nlpt {kind} (engine, --cpu-matmul {backend}" + (f": {choice.backend})" if backend == "auto" else ")")
            fb = f"{fb_theirs / fb_ours:.2f}×" if backend == "auto" else ""
            if backend == "torch":
                vs_torch = "1.00×"
            else:
                vs_torch = f"{vs['auto'][0] / vs['torch'][0]:.2f}×" if "torch" in vs else "1.00× (auto is torch)"
            lines.append([name, f"{params:,}", f"{ROW_A_TOKENS / wall:,.0f}", f"{vs[backend][0]:.2f}×", f"{cpu_s:.2f}",
                          f"{vs[backend][1]:.2f}×", fb, vs_torch])
        peer_wall = statistics.median(w for lists in sides.values() for w in lists[2])
        peer_cpu = statistics.median(c for lists in sides.values() for c in lists[3])
        lines.append([peer + " (plain loop)", "", f"{ROW_A_TOKENS / peer_wall:,.0f}", "1.00×", f"{peer_cpu:.2f}", "1.00×",
                      "1.00×", ""])
    return (f"{threads} thread(s), batch 8 × 256; --cpu-matmul auto chose {'; '.join(reasons)}; "
            f"nlpt's engine and transformers alternating step by step (one transformers step after each engine step, "
            f"outside the engine's timed window), {args.rounds} run(s) of {args.steps} timed steps each per nlpt side, "
            f"medians (wall time, and CPU time of the process per step, which a loaded machine disturbs less); each nlpt "
            f"side is compared with the transformers steps it alternated with; fwd+bwd column: forward+backward alone "
            f"in CPU time, the two models alternating step by step (3 steps each, nlpt with auto's choice); last column: "
            f"nlpt at its default against nlpt with torch's products, each as a ratio to its own transformers steps\n\n"
            + table(["system", "parameters", "tokens/s (wall)", "vs transformers", "CPU s/step", "vs transformers (CPU)",
                     "fwd+bwd vs transformers (CPU)", "auto vs --cpu-matmul torch"], lines))


def _interleaved_forward_backward(kind: str, threads: int, backend: str, steps: int = 3) -> tuple[float, float]:
    """Median CPU seconds of forward+backward for nlpt's and transformers' model, alternating step by step."""
    import torch

    from nlpt.models import build
    from nlpt.transformer.registry import REGISTRY

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    ours = build(REGISTRY["gpt-mini" if kind == "gpt" else "llama-mini"].config).train()
    theirs = _hf_model(kind)
    theirs.train()
    ids = torch.randint(0, 8192, (ROW_A_BATCH, ROW_A_CONTEXT + 1), generator=torch.Generator().manual_seed(0))
    a, b = [], []
    from nlpt.models import cpu_matmul

    choice = cpu_matmul.configure(backend, threads)  # what the engine's auto chose; nlpt's layers only
    try:
        for i in range(steps + 1):  # the first step of each warms up
            t = time.process_time()
            ours(ids[:, :-1], labels=ids[:, 1:])["loss"].backward()
            a.append(time.process_time() - t)
            t = time.process_time()
            theirs(input_ids=ids[:, :-1], labels=ids[:, :-1]).loss.backward()
            b.append(time.process_time() - t)
    finally:
        choice.restore()
    return statistics.median(a[1:]), statistics.median(b[1:])


# --------------------------------------------------------------------------------------------- row b


NANOGPT_RECIPE = ["--device=cpu", "--compile=False", "--eval_iters=20", "--log_interval=1", "--block_size=64",
                  "--batch_size=12", "--n_layer=4", "--n_head=4", "--n_embd=128", "--max_iters=2000",
                  "--lr_decay_iters=2000", "--dropout=0.0"]  # nanoGPT README's CPU recipe for shakespeare_char


def _nanogpt_data(work: str, corpus: str) -> tuple[str, dict]:
    """nanoGPT's shakespeare_char files (train.bin, val.bin, meta.pkl) written here, so nothing is downloaded:
    characters in code-point order, first 90% train, last 10% validation, as its prepare.py does."""
    import pickle

    import numpy as np

    text = open(corpus, encoding="utf-8").read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    folder = os.path.join(work, "data", "shakespeare_char")
    os.makedirs(folder)
    cut = int(len(text) * 0.9)
    for name, part in (("train", text[:cut]), ("val", text[cut:])):
        np.array([stoi[c] for c in part], dtype=np.uint16).tofile(os.path.join(folder, f"{name}.bin"))
    with open(os.path.join(folder, "meta.pkl"), "wb") as fh:
        pickle.dump({"vocab_size": len(chars), "itos": dict(enumerate(chars)), "stoi": stoi}, fh)
    return text[cut:], stoi


def _split_loss(logits_fn, ids, context: int = 64, batch: int = 12) -> float:
    """Mean next-token cross-entropy over a whole token sequence, in consecutive windows of `context`
    (every token but the first predicted once), the way nlpt's validation reads its split."""
    import torch
    import torch.nn.functional as F

    ids = torch.as_tensor(ids, dtype=torch.long)
    full = (len(ids) - 1) // context
    windows = [ids[i * context:i * context + context + 1] for i in range(full)]
    batches = [torch.stack(windows[i:i + batch]) for i in range(0, full, batch)]
    if full * context < len(ids) - 1:  # the last, shorter window
        batches.append(ids[full * context:][None])
    total, count = 0.0, 0
    with torch.no_grad():
        for rows in batches:
            logits = logits_fn(rows[:, :-1].contiguous())
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), rows[:, 1:].reshape(-1), reduction="sum").item()
            count += rows[:, 1:].numel()
    return total / count


def _nanogpt_whole_split(peer: str, out_dir: str, val_ids) -> tuple[float, int]:
    """nanoGPT's saved checkpoint (its model.py, loaded from the peer folder) over the whole validation split."""
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("nanogpt_model", os.path.join(peer, "model.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ck = torch.load(os.path.join(out_dir, "ckpt.pt"), map_location="cpu", weights_only=True)
    model = module.GPT(module.GPTConfig(**ck["model_args"]))
    model.load_state_dict({k.removeprefix("_orig_mod."): v for k, v in ck["model"].items()})
    model.eval()
    return _split_loss(lambda x: model(x, x)[0], val_ids), int(ck["iter_num"])


def help_example_flags() -> list:
    """The flags of `nlpt pretrain --help`'s Tiny Shakespeare example after its tokenizer (row b trains that)."""
    import re

    from nlpt.cli.pretrain import TRAIN_HELP

    found = re.search(r"nlpt pretrain input\.txt -o \S+ --tokenizer \S+ (.*?)\n\n", TRAIN_HELP, re.S)
    return found.group(1).split()


def row_b(args) -> str:
    import re

    import torch

    from nlpt.common.threads import default_threads
    from nlpt.engine.run import load_run

    work = tempfile.mkdtemp(prefix="bench-pretrain-b-")
    corpus = os.path.join(DATA, "tinyshakespeare", "input.txt")
    tok = _char_tokenizer(corpus, os.path.join(work, "tok.json"))
    vocab = json.load(open(tok))["model"]["vocab"]
    threads = {"OMP_NUM_THREADS": str(args.shakespeare_threads),
               "MKL_NUM_THREADS": str(args.shakespeare_threads)} if args.shakespeare_threads else None
    # both sides train from token files made beforehand, outside the measured process (nanoGPT: its .bin files)
    from nlpt.engine.tokens import prepare_tokens

    token_dir = os.path.join(work, "tokens")
    prepare_tokens([corpus], tok, token_dir, 0.1)
    example = help_example_flags()
    steps = example.index("--max-steps") + 1
    example[steps] = str(args.shakespeare_steps)
    measure = ["--token-dir", token_dir, "--eval-every", 0, "--eval-batches", 0, "--checkpoint-every", 0,
               "--seed", args.shakespeare_seed, "--quiet", "--json"]
    if args.shakespeare_threads:
        measure += ["--threads", args.shakespeare_threads]
    jobs = {}
    for matmul in args.shakespeare_matmul.split(","):
        extra = [] if matmul == "default" else ["--cpu-matmul", matmul]
        jobs[f"nlpt {matmul}"] = ([sys.executable, "-m", "nlpt", "pretrain", corpus, "-o", os.path.join(work, matmul),
                                   "--tokenizer", tok, *example, *measure, *extra], None)
    cmd = jobs[next(iter(jobs))][0]
    peer = os.path.abspath(args.nanogpt)
    have_peer = os.path.isfile(os.path.join(peer, "train.py"))
    if have_peer:
        ng = os.path.join(work, "nanogpt")
        os.makedirs(ng)
        for name in ("train.py", "model.py", "configurator.py"):  # it execs ./configurator.py and reads ./data
            shutil.copy(os.path.join(peer, name), ng)
        val_text, stoi = _nanogpt_data(ng, corpus)
        steps = [f"--max_iters={args.shakespeare_steps}", f"--lr_decay_iters={args.shakespeare_steps}"]
        recipe = [a for a in NANOGPT_RECIPE if not a.startswith(("--max_iters", "--lr_decay_iters"))] + steps
        names = list(jobs)
        jobs = {names[0]: jobs[names[0]],  # nanoGPT between nlpt's runs: a drifting load meets both alike
                "nanogpt": ([sys.executable, "train.py", os.path.join(peer, "config", "train_shakespeare_char.py"),
                             *recipe], ng),
                **{name: jobs[name] for name in names[1:]}}
    # at the same time when the cores allow it, so that both meet the same load on a shared machine
    per_run = args.shakespeare_threads or default_threads()
    together = per_run * len(jobs) <= (os.cpu_count() or 1)
    from concurrent.futures import ThreadPoolExecutor

    loads = [os.getloadavg()[0]]
    with ThreadPoolExecutor(len(jobs) if together else 1) as pool:
        futures = {name: pool.submit(measured, job, threads, cwd) for name, (job, cwd) in jobs.items()}
        runs = {}
        for name, f in futures.items():
            runs[name] = f.result()
            loads.append(os.getloadavg()[0])
    torch.set_num_threads(per_run)
    rows = []
    if have_peer:
        ck_dir = os.path.join(ng, "out-shakespeare-char")
        theirs_common, ck_iter = (_nanogpt_whole_split(peer, ck_dir, [stoi[c] for c in val_text])
                                  if os.path.isfile(os.path.join(ck_dir, "ckpt.pt")) else (float("nan"), 0))
        estimates = re.findall(r"step (\d+): train loss [\d.]+, val loss ([\d.]+)", runs["nanogpt"]["stdout"])
        step, estimate = estimates[-1]
    for name, m in runs.items():
        if name == "nanogpt":
            continue
        summary = json.loads(m["stdout"])
        ours_common = ""
        if have_peer:  # both models over the same text: nanoGPT's validation split (the last 10% of characters)
            model, _, _ = load_run(os.path.join(work, name.split()[1]))
            ours_common = f"{_split_loss(lambda x: model(x)['logits'], [vocab[c] for c in val_text]):.4f}"
        vs = f"{m['wall_s'] / runs['nanogpt']['wall_s']:.2f}×" if have_peer else ""
        rows.append([f"nlpt pretrain, --help example ({name.split()[1]} --cpu-matmul)", f"{summary['val']['loss']:.4f}",
                     ours_common, "", f"{m['wall_s']:.0f}", vs, f"{m['cpu_s']:.0f}", f"{m['rss_mib']:.0f} MiB"])
    if have_peer:
        n = runs["nanogpt"]
        rows.append([f"nanoGPT shakespeare_char CPU recipe ({peer})", "", f"{theirs_common:.4f} (ckpt of step {ck_iter})",
                     f"{float(estimate):.4f} (step {step})", f"{n['wall_s']:.0f}", "1.00×", f"{n['cpu_s']:.0f}",
                     f"{n['rss_mib']:.0f} MiB"])
    else:
        rows.append([f"nanoGPT: not run (no train.py in {peer}; give --nanogpt DIR)", "", "", "", "", "", "", ""])
    how = "at the same time" if together else "one after the other"
    return (f"(b) Tiny Shakespeare, char-level, {args.shakespeare_steps} steps, {per_run} threads each, {how}; "
            f"load average {', '.join(f'{x:.1f}' for x in loads)} (start, after each run)\n\n"
            + table(["system", "val loss (own split, whole)", "val loss (nanoGPT's val split, whole, same evaluation)",
                     "nanoGPT's 20-batch estimate", "wall s", "wall vs nanoGPT", "CPU s", "peak RSS"], rows)
            + "\n\n    " + " ".join(map(str, cmd[1:])) + "\n    (cd nanogpt-copy && python train.py "
            + "config/train_shakespeare_char.py " + " ".join(NANOGPT_RECIPE) + ")")


# --------------------------------------------------------------------------------------------- row c

_PEER_ENCODE = """
import sys, time
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
t = time.perf_counter(); n = 0; size = 0; batch = []
for path in sys.argv[2:]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            size += len(line.encode())
            batch.append(line)
            if len(batch) == 4096:
                n += sum(len(e.ids) for e in tok.encode_batch(batch, add_special_tokens=False)); batch = []
if batch:
    n += sum(len(e.ids) for e in tok.encode_batch(batch, add_special_tokens=False))
print(n, size, time.perf_counter() - t)
"""

_OURS_ENCODE = """
import sys, time
from nlpt.engine.tokens import prepare_tokens
t = time.perf_counter()
d = prepare_tokens(sys.argv[3:], sys.argv[1], sys.argv[2], 0.01)
print(d.meta["n_tokens"], d.meta["bytes"], time.perf_counter() - t)
"""


def row_c(args) -> str:
    import glob

    work = tempfile.mkdtemp(prefix="bench-pretrain-c-")
    files = sorted(glob.glob(os.path.join(args.data or os.path.join(DATA, "enwiki-2015-100m"), "*.txt")))
    tok = os.path.join(work, "bpe32k.json")
    # the tokenizer itself is trained on the first file (10 MB): its quality does not change encode speed much
    subprocess.run([sys.executable, "-m", "nlpt", "vocab", "--tokenizer", "bpe", "--size", "32000", "-o", tok, files[0],
                    "--quiet"], check=True)
    env = {"RAYON_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "true"}
    rows, speeds = [], {}
    for name, script, extra in (("tokenizers encode_batch (4096 lines per call)", _PEER_ENCODE, [tok]),
                                ("nlpt token files (prepare_tokens)", _OURS_ENCODE, [tok, os.path.join(work, "tokens")])):
        m = measured([sys.executable, "-c", script, *extra, *files], env=env)
        n, size, secs = m["stdout"].split()
        speeds[name] = int(size) / 1e6 / float(secs)
        rows.append([name, f"{int(n):,}", f"{float(secs):.1f}", f"{m['cpu_s']:.0f}", f"{speeds[name]:.2f}",
                     f"{m['rss_mib']:.0f} MiB"])
    peer = speeds[rows[0][0]]
    for r in rows:
        r.append(f"{speeds[r[0]] / peer:.2f}×")
    return (f"(c) token files of {len(files)} enwiki files, 32k byte-level BPE, {args.threads} threads\n\n"
            + table(["system", "tokens", "seconds", "CPU s", "MB/s", "peak RSS", "vs tokenizers"], rows))


# --------------------------------------------------------------------------------------------- row d


def row_d(args) -> str:
    import torch

    if not torch.cuda.is_available():
        return "(d) GPU 124M GPT-2 bf16 tokens/s and MFU: not measured (no CUDA device in this run)"
    from nlpt.engine.options import TrainOptions
    from nlpt.engine.run import pretrain
    from nlpt.transformer.registry import REGISTRY

    work = tempfile.mkdtemp(prefix="bench-pretrain-d-")
    corpus = os.path.join(DATA, "tinyshakespeare", "input.txt")
    tok = _char_tokenizer(corpus, os.path.join(work, "tok.json"))
    o = TrainOptions(run_dir=os.path.join(work, "run"), corpus=[corpus], tokenizer=tok, model=REGISTRY["gpt2"].config,
                     batch=16, max_steps=args.gpu_steps, eval_every=0, eval_batches=1, log_every=10,
                     checkpoint_every=0, precision="bf16", compile=True, device="cuda", quiet=True, warmup=10)
    pretrain(o)
    with open(os.path.join(work, "run", "metrics.jsonl")) as fh:
        rows = [json.loads(line) for line in fh if '"train"' in line][2:]  # skip compilation
    tps = statistics.median(r["tokens_per_s"] for r in rows)
    mfu = statistics.median(r.get("mfu", float("nan")) for r in rows)
    return (f"(d) {torch.cuda.get_device_name()}: GPT-2 124M, bf16, torch.compile, batch 16 × 1024\n\n"
            + table(["system", "tokens/s", "MFU"], [["nlpt pretrain", f"{tps:,.0f}", f"{100 * mfu:.1f}%"]]))


# -------------------------------------------------------------------------------------------------- rows e, f
#
# e  CPU training tokens/s of a small BERT (bert-mini: 4 layers, 256 wide, 4 heads, context 128, vocabulary 8192,
#    dropout 0.1 as BERT's) with MLM + NSP, batch 16, against transformers' BertForPreTraining with the same config.
# f  the same for t5-mini (span corruption) against T5ForConditionalGeneration and bart-mini (text infilling +
#    sentence permutation) against BartForConditionalGeneration.
# Both sides train on the *same* batches (nlpt's objectives on the token files of one enwiki file, padded to
# the full context), with AdamW (nlpt: the engine's optimizer) and gradient clipping, alternating step by step
# (A B A B, 2 × --steps timed steps per side); tokens/s = batch × context / median step time. nlpt projects only the predicted positions onto
# the vocabulary (MLM: the ~15% chosen; seq2seq: the non-padding targets); transformers projects every one.
# nlpt's T5/BART encoders also run their token-wise layers on the non-padding rows only (BART's infilled inputs
# are ~20% padding at full context; T5's span-corrupted inputs fill it), and draw dropout masks as rand ≥ p.


def _seq_setup(work: str, threads: int):
    """Tokenizers (WordPiece for BERT; byte-level BPE + T5 sentinels) and token files of one enwiki file."""
    import torch

    from nlpt.engine.tokens import prepare_tokens
    from nlpt.tokenizer.files import load_tokenizer
    from nlpt.tokenizer.sentinels import add_sentinels

    torch.set_num_threads(threads)
    corpus = os.path.join(DATA, "enwiki-2015-100m", "enwiki_2015_part00.txt")
    toks = {}
    for kind in ("wordpiece", "bpe"):
        path = os.path.join(work, f"{kind}.json")
        subprocess.run([sys.executable, "-m", "nlpt", "vocab", "--tokenizer", kind, "--size", "8000", "-o", path, corpus,
                        "--quiet"], check=True)
        if kind == "bpe":
            add_sentinels(load_tokenizer(path), 100).save(path)
        toks[kind] = (path, prepare_tokens([corpus], path, os.path.join(work, f"tokens-{kind}"), 0.1, quiet=True))
    return toks


def _full_context(batch: dict, context: int, pad: int) -> dict:
    """Pad every [B, T] tensor of a batch to `context` columns (MLM positions are flat indices: re-based)."""
    import torch.nn.functional as F

    out = {}
    T = batch["input_ids"].shape[1]
    for k, v in batch.items():
        if v.dim() == 2 and k != "labels" and not k.startswith("decoder") and v.shape[1] == T:
            out[k] = F.pad(v, (0, context - T), value=pad if k == "input_ids" else 0)
        else:
            out[k] = v
    if "mlm_positions" in batch:
        p = batch["mlm_positions"]
        out["mlm_positions"] = (p // T) * context + p % T
    return out


def _time_sides(sides: list, batches: list, steps: int, warmup: int, threads: int, shape=None) -> list:
    """Seconds per step of each (step function, --cpu-matmul backend) on the same batches, the sides alternating
    step by step (A B C A B C ...) so that a noisy moment on a shared machine hits every side alike."""
    from nlpt.models import cpu_matmul

    times = [[] for _ in sides]
    for i in range(warmup + 2 * steps):
        for (fn, backend), out in zip(sides, times):
            choice = cpu_matmul.configure(backend, threads, shape)
            try:
                t = time.perf_counter()
                fn(batches[i % len(batches)])
                if i >= warmup:
                    out.append(time.perf_counter() - t)
            finally:
                choice.restore()
    return times


def _trainer(model, loss_fn, nlpt_optimizer: bool):
    import torch

    if nlpt_optimizer:
        from nlpt.engine.optim import make_optimizer

        opt = make_optimizer(model, 1e-4, 0.01, (0.9, 0.999), 1e-8, torch.device("cpu"))
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.999), weight_decay=0.01)
    model.train()

    def step(batch):
        loss = loss_fn(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def _seq_row(name: str, args, toks: dict, threads: int) -> list:
    import torch
    import transformers

    from nlpt.tokenizer.files import load_tokenizer
    from nlpt.engine.objective import make_objective
    from nlpt.models import build
    from nlpt.transformer.registry import REGISTRY

    B, T = 16, 128
    config = dataclasses.replace(REGISTRY[name].config, dropout=0.1)  # BERT's, T5's and BART's dropout
    kind = "wordpiece" if name == "bert-mini" else "bpe"
    path, data = toks[kind]
    objective_name = {"bert-mini": "mlm", "t5-mini": "span_corruption", "bart-mini": "bart_denoising"}[name]
    opts = {"sentence_head": "nsp"} if name == "bert-mini" else {}
    objective = make_objective(objective_name, load_tokenizer(path), data.train, data.val, T, opts)
    g = torch.Generator().manual_seed(0)
    batches = [_full_context(objective.batch(B, g), T, objective.pad) for _ in range(2 * args.steps + 2)]
    torch.manual_seed(0)
    ours = build(config)
    ours_step = _trainer(ours, lambda b: objective.loss(ours, b)[0], True)
    if name == "bert-mini":
        hf = transformers.BertForPreTraining(transformers.BertConfig(
            vocab_size=config.vocab_size, hidden_size=config.hidden_size, num_hidden_layers=config.num_layers,
            num_attention_heads=config.num_heads, intermediate_size=config.ffn_size,
            max_position_embeddings=config.max_positions, hidden_dropout_prob=config.dropout,
            attention_probs_dropout_prob=config.dropout, attn_implementation="sdpa"))

        def hf_loss(b):
            labels = torch.full((B * T,), -100, dtype=torch.long)
            labels[b["mlm_positions"]] = b["mlm_labels"]
            return hf(input_ids=b["input_ids"], attention_mask=b["attention_mask"], token_type_ids=b["token_type_ids"],
                      labels=labels.view(B, T), next_sentence_label=b["sentence_labels"]).loss
        peer = "transformers BertForPreTraining"
    else:
        from nlpt.models import family_module

        hf_cfg = family_module(config.family).hf_config(config)
        hf_cfg = {k: v for k, v in hf_cfg.items() if k not in ("architectures", "model_type")}
        if name == "t5-mini":
            hf = transformers.T5ForConditionalGeneration(transformers.T5Config(**hf_cfg))
            peer = "transformers T5ForConditionalGeneration"
        else:
            hf_cfg.update(attention_dropout=config.dropout)  # nlpt's dropout applies to attention weights too
            hf = transformers.BartForConditionalGeneration(transformers.BartConfig(**hf_cfg, attn_implementation="sdpa"))
            peer = "transformers BartForConditionalGeneration"

        def hf_loss(b):
            return hf(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                      decoder_input_ids=b["decoder_input_ids"], decoder_attention_mask=b["decoder_attention_mask"],
                      labels=b["labels"]).loss
    hf_step = _trainer(hf, hf_loss, False)
    torch.set_num_threads(threads)
    from nlpt.models.cpu_matmul import probe_shape

    auto = _auto_choice(threads, config, B, T).backend
    sides = [(ours_step, "auto"), (hf_step, "torch")] + ([(ours_step, "torch")] if auto != "torch" else [])
    times = _time_sides(sides, batches, args.steps, 2, threads, probe_shape(config, B, T))
    tps = [B * T / statistics.median(t) for t in times]
    n_ours, n_theirs = sum(p.numel() for p in ours.parameters()), sum(p.numel() for p in hf.parameters())
    vs_torch = f"{tps[0] / tps[2]:.2f}×" if auto != "torch" else "1.00× (auto is torch)"
    lines = [[f"nlpt {name} ({objective_name}, --cpu-matmul auto: {auto})", f"{n_ours:,}", f"{tps[0]:,.0f}",
              f"{tps[0] / tps[1]:.2f}×", vs_torch]]
    if auto != "torch":
        lines.append([f"nlpt {name} ({objective_name}, --cpu-matmul torch)", f"{n_ours:,}", f"{tps[2]:,.0f}",
                      f"{tps[2] / tps[1]:.2f}×", "1.00×"])
    return lines + [[peer + " (plain loop)", f"{n_theirs:,}", f"{tps[1]:,.0f}", "1.00×", ""]]


def _rows_ef(args, names: list, label: str) -> str:
    import torch

    work = tempfile.mkdtemp(prefix="bench-pretrain-ef-")
    toks = _seq_setup(work, args.threads)
    out = []
    for threads in _thread_counts(args):
        lines = [line for name in names for line in _seq_row(name, args, toks, threads)]
        out.append(f"{threads} thread(s): tokens/s, batch 16 × 128 (same batches on every side), torch "
                   f"{torch.__version__}, median of {2 * args.steps} timed steps per side, sides alternating step by step\n\n"
                   + table(["system", "parameters", "tokens/s", "vs transformers", "auto vs --cpu-matmul torch"],
                           lines))
    return f"{label} CPU training\n\n" + "\n\n".join(out)


def row_e(args) -> str:
    return _rows_ef(args, ["bert-mini"], "(e) BERT MLM + NSP:")


def row_f(args) -> str:
    return _rows_ef(args, ["t5-mini", "bart-mini"], "(f) T5 span corruption, BART denoising:")


# --------------------------------------------------------------------------------------------- row g


def row_g(args) -> str:
    """GFLOP/s of one matrix product through torch (MKL in its CPU wheels) and through numpy (OpenBLAS in its
    wheels), alternating, at gpt-mini's training shapes (8 × 256 rows): what `--cpu-matmul auto` chooses between."""
    import numpy as np
    import torch

    from nlpt.models import cpu_matmul

    choice = cpu_matmul.configure("numpy", args.threads)  # numpy's BLAS on the same threads
    shapes = [("Q/K/V", 2048, 384, 1152), ("attention out", 2048, 384, 384), ("MLP in", 2048, 384, 1536),
              ("MLP out", 2048, 1536, 384), ("LM head, one chunk", 256, 384, 8192),
              ("LM head weight gradient", 8192, 256, 384)]
    lines = []
    try:
        for name, m, k, n in shapes:
            torch_s, numpy_s = cpu_matmul.time_product(m, k, n, args.threads, calls=10)  # what auto times, per shape
            flop = 2 * m * k * n
            lines.append([f"{name} [{m} × {k}] · [{k} × {n}]", f"{flop / torch_s / 1e9:.1f}",
                          f"{flop / numpy_s / 1e9:.1f}", f"{torch_s / numpy_s:.2f}×"])
    finally:
        choice.restore()
    return (f"(g) one matrix product, fp32, {args.threads} threads, best of 10 alternating calls, torch "
            f"{torch.__version__} (MKL) and numpy {np.__version__}\n\n"
            + table(["product", "torch GFLOP/s", "numpy GFLOP/s", "numpy ÷ torch"], lines))


# --------------------------------------------------------------------------------------------- row h


def _tiny_setup(work: str) -> tuple:
    """(corpus, tokenizer, arch file, token folder) of rows h and j: Tiny Shakespeare, characters, the gpt-mini
    Tiny Shakespeare shape; the token files made here, outside the measured processes."""
    from nlpt.engine.tokens import prepare_tokens

    corpus = os.path.join(DATA, "tinyshakespeare", "input.txt")
    tok = _char_tokenizer(corpus, os.path.join(work, "tok.json"))
    vocab = json.load(open(tok))["model"]["vocab"]
    arch = os.path.join(work, "gpt-mini-shakespeare.json")
    with open(arch, "w") as fh:
        json.dump({"family": "gpt", "vocab_size": len(vocab), "hidden_size": 128, "num_layers": 4, "num_heads": 4,
                   "ffn_size": 512, "max_positions": 64}, fh)
    token_dir = os.path.join(work, "tokens")
    prepare_tokens([corpus], tok, token_dir, 0.1)
    return corpus, tok, arch, token_dir


def _tiny_command(corpus: str, tok: str, arch: str, token_dir: str, run: str, steps: int) -> list:
    return [sys.executable, "-m", "nlpt", "pretrain", corpus, "-o", run, "--tokenizer", tok, "--token-dir", token_dir,
            "--arch", arch, "--batch", 12, "--max-steps", steps, "--eval-every", 0, "--eval-batches", 1,
            "--checkpoint-every", 0, "--quiet", "--json"]


def row_j(args) -> str:
    """Seconds from the command to the first training step (the run's `startup_s`) of a short `nlpt pretrain` at the
    gpt-mini Tiny Shakespeare shape (2 steps, default threads), with its token files made and on a fresh token
    folder (tokenizing Tiny Shakespeare first), alternating, `--startup-runs` each."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # the commands write and read .pyc files, as on a user's machine
    work = tempfile.mkdtemp(prefix="bench-pretrain-j-")
    corpus, tok, arch, token_dir = _tiny_setup(work)
    seen: dict = {"token files made": [], "fresh token folder": []}
    for i in range(args.startup_runs):
        for label, tokens in (("token files made", token_dir), ("fresh token folder", os.path.join(work, f"t{i}"))):
            m = measured(_tiny_command(corpus, tok, arch, tokens, os.path.join(work, f"run-{len(seen[label])}-{label[0]}"),
                                       2))
            seen[label].append((json.loads(m["stdout"])["startup_s"], m["wall_s"]))
    lines = [[label, ", ".join(f"{s:.2f}" for s, _ in runs), f"{statistics.median(s for s, _ in runs):.2f}",
              f"{statistics.median(w for _, w in runs):.2f}"] for label, runs in seen.items()]
    return (f"(j) seconds to the first step of `nlpt pretrain` (2 steps, gpt-mini Tiny Shakespeare shape, default "
            f"threads), {args.startup_runs} runs each, alternating; load average {os.getloadavg()[0]:.2f}\n\n"
            + table(["token files", "startup_s per run", "median startup_s", "median wall s (command)"], lines))


def row_h(args) -> str:
    """`nlpt pretrain` at gpt-mini's Tiny Shakespeare shape (4 layers, 128 wide, FFN 512, context 64, batch 12,
    `--eval-every 0`, `--eval-batches 1`), `--cpu-matmul` torch, numpy and auto at `--threads` and at 1, each the
    whole command in its own process, in `--h-rounds` rounds whose order rotates (torch, numpy, auto; numpy, auto,
    torch; auto, torch, numpy; ...) so that the load of a moment and the place in a round fall on all three alike;
    each auto run is compared with the median of the faster backend's runs, and a summary line per thread count
    gives the median of auto's runs against it and auto's choices. auto starts from an empty decision cache, so
    its first run on one thread times the products and the later ones reuse that."""
    work = tempfile.mkdtemp(prefix="bench-pretrain-h-")
    corpus, tok, arch, token_dir = _tiny_setup(work)
    env = {"NLPT_CACHE_DIR": os.path.join(work, "cache")}
    lines, summaries, n = [], [], 0
    for threads in _thread_counts(args):
        results = {}
        order = ("torch", "numpy", "auto")
        for backend in [order[(i + r) % 3] for r in range(args.h_rounds) for i in range(3)]:  # rotating places
            run = os.path.join(work, f"run-{n}")
            n += 1
            m = measured(_tiny_command(corpus, tok, arch, token_dir, run, args.tiny_steps)
                         + ["--threads", threads, "--cpu-matmul", backend], env=env)
            with open(os.path.join(run, "cpu-matmul.json")) as fh:
                chose = json.load(fh)
            summary = json.loads(m["stdout"])
            outside = m["wall_s"] - summary["seconds"]  # start-up until the loop, and exit: the run's fixed cost
            results.setdefault(backend, []).append((summary["seconds"], m["cpu_s"], m["wall_s"], outside, chose,
                                                    summary.get("startup_s")))
        medians = {b: statistics.median(r[0] for r in results[b]) for b in results}
        faster = min(("torch", "numpy"), key=medians.get)
        best = medians[faster]
        choices = [r[4]["backend"] for r in results["auto"]]
        summaries.append(f"- {threads} thread(s): auto's median {medians['auto']:.1f} s against {faster}'s "
                         f"{best:.1f} s = {best / medians['auto']:.2f} of the faster backend's speed; auto chose "
                         f"{', '.join(choices)} ({'the same on every run' if len(set(choices)) == 1 else 'NOT stable'})")
        for backend, runs in results.items():
            for i, (train_s, cpu_s, wall_s, outside, chose, startup) in enumerate(runs):
                label = f"{backend}, run {i + 1}"
                lines.append([threads, label, chose["backend"], f"{train_s:.1f}", f"{best / train_s:.2f}",
                              f"{cpu_s:.1f}", f"{wall_s:.1f}", f"{outside:.1f}",
                              "" if startup is None else f"{startup:.1f}",
                              ("cached" if chose["from_cache"] else chose["reason"]) if backend == "auto" else ""])
    return (f"(h) `nlpt pretrain`, gpt-mini Tiny Shakespeare shape, {args.tiny_steps} steps: training seconds (the "
            f"loop, with one validation batch at the end), speed as a fraction of the faster of torch and numpy at "
            f"that thread count (median of its runs; {args.h_rounds} rounds, the order rotating), CPU seconds and wall seconds of the whole command, and its seconds outside the "
            f"training loop (start-up before the first step, and exit), of which before the first step (the run's "
            f"`startup_s`, from the process's start)\n\n"
            + table(["threads", "--cpu-matmul", "ran on", "training s", "speed vs faster", "CPU s (command)",
                     "wall s (command)", "s outside the loop", "s before the first step", "auto's reason"], lines)
            + "\n\n" + "\n".join(summaries))


def row_i(args) -> str:
    """Per training step of the gpt-mini Tiny Shakespeare shape in one process, torch's threads × whose products ×
    numpy's BLAS threads, alternating: the thread pools' contention that `--cpu-matmul auto` avoids."""
    import torch
    from threadpoolctl import threadpool_limits

    from nlpt.models import build, cpu_matmul
    from nlpt.transformer.configs import GPTConfig

    torch.manual_seed(0)
    model = build(GPTConfig(vocab_size=65, hidden_size=128, num_layers=4, num_heads=4, ffn_size=512,
                            max_positions=64)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(0, 65, (12, 65), generator=torch.Generator().manual_seed(0))
    settings = [(1, "torch", 1), (1, "numpy", 1), (args.threads, "torch", args.threads),
                (args.threads, "numpy", args.threads), (args.threads, "numpy", 1)]
    best = {k: [float("inf"), float("inf")] for k in settings}
    for _ in range(2):
        for key in settings:
            threads, backend, blas = key
            torch.set_num_threads(threads)
            choice = cpu_matmul.configure(backend, threads)
            limits = threadpool_limits(blas, user_api="blas")
            try:
                for i in range(args.steps + 2):  # two untimed steps start the pools
                    w, c = time.perf_counter(), time.process_time()
                    model(ids[:, :-1], labels=ids[:, 1:])["loss"].backward()
                    opt.step()
                    opt.zero_grad()
                    if i >= 2:
                        best[key][0] = min(best[key][0], time.perf_counter() - w)
                        best[key][1] = min(best[key][1], time.process_time() - c)
            finally:
                limits.restore_original_limits()
                choice.restore()
    lines = [[t, b, blas, f"{w * 1000:,.0f}", f"{c * 1000:,.0f}"] for (t, b, blas), (w, c) in best.items()]
    return (f"(i) one training step (forward, backward, AdamW) of the gpt-mini Tiny Shakespeare shape, batch 12 × 64, "
            f"in one process, best of 2 alternating rounds of {args.steps} steps\n\n"
            + table(["torch threads", "products through", "numpy's BLAS threads", "wall ms/step", "CPU ms/step"], lines))


# --------------------------------------------------------------------------------------------- row k


PRODUCT_OPS = ("aten::mm", "aten::addmm", "aten::addmm_", "aten::bmm", "aten::baddbmm")


def _product_flop(key: str, shapes: list) -> int:
    """Floating-point operations of one profiled matrix product from its recorded input shapes."""
    a, b = (shapes[0], shapes[1]) if key in ("aten::mm", "aten::bmm") else (shapes[1], shapes[2])
    batch = a[0] if len(a) == 3 else 1
    return 2 * batch * a[-2] * a[-1] * b[-1]


def _step_breakdown(profile) -> dict:
    """One profiled step's self CPU milliseconds by kind: products (with their GFLOP/s), attention, the rest."""
    out = {"products": 0.0, "attention": 0.0, "rest": 0.0, "flop": 0}
    for e in profile.key_averages(group_by_input_shape=True):
        ms = e.self_cpu_time_total / 1e3
        if e.key in PRODUCT_OPS:
            out["products"] += ms
            out["flop"] += _product_flop(e.key, e.input_shapes) * e.count
        elif "scaled_dot_product" in e.key or "flash_attention" in e.key:
            out["attention"] += ms
        else:
            out["rest"] += ms
    return out


def row_k(args) -> str:
    """Where a training step of row a's models goes, nlpt against transformers: torch's profiler, self CPU time
    per step by kind of operation (matrix products, the attention kernel, everything else), the two sides
    alternating step by step, nlpt with torch's products (the same kernels as transformers) and its fused AdamW.
    The last column is the bound those two kernels set: transformers' step over nlpt's products + attention,
    the ratio nlpt would reach if nothing else in its step took time."""
    import torch

    from nlpt.engine.optim import make_optimizer
    from nlpt.models import build, cpu_matmul
    from nlpt.transformer.registry import REGISTRY

    lines = []
    for threads in _thread_counts(args):
        torch.set_num_threads(threads)
        choice = cpu_matmul.configure("torch", threads)
        try:
            for kind in ("gpt", "llama"):
                torch.manual_seed(0)
                model = build(REGISTRY[f"{kind}-mini"].config).train()
                opt = make_optimizer(model, 3e-4, 0.1, (0.9, 0.95), 1e-8, torch.device("cpu"))
                g = torch.Generator().manual_seed(1)

                def ours() -> None:
                    ids = torch.randint(0, 8192, (ROW_A_BATCH, ROW_A_CONTEXT + 1), generator=g)
                    model(ids[:, :-1], labels=ids[:, 1:])["loss"].backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    opt.step()
                    opt.zero_grad(set_to_none=True)

                theirs = _hf_stepper(kind)
                for _ in range(2):
                    ours(), theirs()
                sums = {"nlpt": [], "transformers": []}
                for _ in range(args.steps):
                    for side, step in (("nlpt", ours), ("transformers", theirs)):
                        with torch.profiler.profile(record_shapes=True) as prof:
                            step()
                        sums[side].append(_step_breakdown(prof))
                med = {side: {k: statistics.median(r[k] for r in rows) for k in rows[0]} for side, rows in sums.items()}
                total = {side: m["products"] + m["attention"] + m["rest"] for side, m in med.items()}
                for side, m in med.items():
                    bound = total["transformers"] / (m["products"] + m["attention"]) if side == "nlpt" else None
                    lines.append([f"{kind}-mini" if side == "nlpt" else "", threads, side,
                                  f"{m['products']:,.0f} ({m['flop'] / m['products'] / 1e6:,.0f})",
                                  f"{m['attention']:,.0f}", f"{m['rest']:,.0f}", f"{total[side]:,.0f}",
                                  f"{total['transformers'] / total[side]:.2f}×", f"{bound:.2f}×" if bound else ""])
        finally:
            choice.restore()
    return (f"(k) where a training step goes (batch {ROW_A_BATCH} × {ROW_A_CONTEXT}, forward, backward, clipping, "
            f"AdamW), torch {torch.__version__}'s profiler, self CPU ms per step, median of {args.steps} profiled steps "
            f"per side, alternating; nlpt with --cpu-matmul torch\n\n"
            + table(["model", "threads", "side", "products ms (GFLOP/s)", "attention ms", "rest ms", "step ms",
                     "transformers ÷ side", "bound: products + attention only"], lines))


ROWS = {"a": row_a, "b": row_b, "c": row_c, "d": row_d, "e": row_e, "f": row_f, "g": row_g, "h": row_h, "i": row_i, "j": row_j, "k": row_k}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default="a,b,c,d,e,f,g,h,i,j,k", help="comma-separated rows among " + ",".join(ROWS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3, help="row a: timed steps per side per round; rows e, f: half the timed steps per side")
    ap.add_argument("--rounds", type=int, default=4, help="row a: alternating rounds per side")
    ap.add_argument("--shakespeare-steps", type=int, default=2000, help="row b: training steps")
    ap.add_argument("--shakespeare-seed", type=int, default=1337, help="row b: nlpt's seed (nanoGPT's is its own 1337)")
    ap.add_argument("--shakespeare-threads", type=int, default=None, help="row b: threads per run [default: each's own]")
    ap.add_argument("--shakespeare-matmul", default="default",
                    help="row b: nlpt's --cpu-matmul per nlpt run, comma-separated (default = not given)")
    ap.add_argument("--nanogpt", default=os.environ.get("NLPT_BENCH_NANOGPT", "/work/peers/nanogpt"),
                    help="row b: a nanoGPT checkout to run side by side [$NLPT_BENCH_NANOGPT or /work/peers/nanogpt]")
    ap.add_argument("--tiny-steps", type=int, default=150, help="row h: training steps per run")
    ap.add_argument("--h-rounds", type=int, default=3, help="row h: rounds of the three backends per thread count")
    ap.add_argument("--gpu-steps", type=int, default=300, help="row d: training steps")
    ap.add_argument("--startup-runs", type=int, default=5, help="row j: runs per side")
    ap.add_argument("--data", default=None, help="row c: corpus folder [../shared/data/enwiki-2015-100m]")
    args = ap.parse_args()
    sys.path.insert(0, REPO)
    print(f"# python benchmarks/bench_pretrain.py {' '.join(sys.argv[1:])}\n", flush=True)
    for key in args.rows.split(","):
        key = key.strip()
        if key not in ROWS:
            raise SystemExit(f"unknown row {key!r} (rows: {', '.join(ROWS)})")
        start = time.perf_counter()
        print(ROWS[key](args), flush=True)
        print(f"\n[row {key}: {time.perf_counter() - start:.0f} s]\n", flush=True)


if __name__ == "__main__":
    main()
