"""`nlpt pretrain`: train a Transformer language model (`train`, the default), `sample` from it, `export` it."""

from __future__ import annotations

from typing import List, Optional

import typer

from nlpt.cli import options as o
from nlpt.cli.defaultgroup import DefaultGroup
from nlpt.common import jsontext


class _PretrainGroup(DefaultGroup):
    default_command = "train"
    needs_torch, torch_free = "pretrain", ("add-sentinels",)


app = o.App(
    cls=_PretrainGroup,
    help=(
        "Transformer pretraining with torch (GPT, Llama, Mixtral-style MoE; BERT, T5, BART). "
        "`nlpt pretrain CORPUS... -o RUN_DIR` runs `train` (the default subcommand); "
        "`sample` generates text from a decoder, `fill-mask` and `infill` query encoders and T5/BART; "
        "`export` writes a folder transformers loads; `eval` scores a model on a text (loss, perplexity, bits per byte)."
    ),
    no_args_is_help=True,
)

TRAIN_HELP = """Pretrain a model on CORPUS into the run folder RUN_DIR (-o).

The text becomes token files once (RUN_DIR/tokens, reused while corpus and tokenizer are unchanged);
training saves checkpoints in RUN_DIR/checkpoints and appends to RUN_DIR/metrics.jsonl. Rerunning the same
command continues from the newest checkpoint (--resume auto), or does nothing once the run has finished; a
rerun with other settings is refused unless --resume-with-changes. SIGINT, SIGTERM and SIGUSR1 save a checkpoint
and exit (130, 143, 138). Under `torchrun --nproc_per_node N` or Slurm `srun` each rank trains on its part of
every global batch (--strategy ddp or fsdp).

Examples:

  nlpt vocab --tokenizer char -o tok.json input.txt

  nlpt pretrain input.txt -o runs/shakespeare --tokenizer tok.json --arch gpt-mini --layers 4 --heads 4
  --hidden 128 --context 64 --batch 12 --max-steps 2000 --lr 1e-3

  nlpt vocab --tokenizer wordpiece --size 8192 --lower -o wp.json corpus/

  nlpt pretrain corpus/ -o runs/bert --tokenizer wp.json --arch bert-mini --max-steps 5000 (MLM + NSP; --sentence-head sop|none)

  torchrun --nproc_per_node 8 -m nlpt pretrain corpus/ -o runs/gpt2 --tokenizer tok.json --arch gpt2
  --global-batch 480 --batch 12 --max-tokens 10B --precision bf16 --compile
"""


def _on_command_line(ctx, key: str) -> bool:
    """Whether option `key` was given on the command line (not left at its default)."""
    return getattr(ctx.get_parameter_source(key), "name", "DEFAULT") not in ("DEFAULT", "DEFAULT_MAP")


@app.command("train", help=TRAIN_HELP)
def train(
    ctx: typer.Context,
    inputs: List[str] = typer.Argument(None, metavar="FILE", help="Corpus files, globs or directories (.gz/.bz2/.xz read transparently).", show_default=False),
    output: str = typer.Option(..., "--output", "-o", metavar="PATH", help="The run folder (created; an existing run is continued).", show_default=False),
    tokenizer: Optional[str] = typer.Option(None, "--tokenizer", metavar="TEXT", help="A tokenizer.json (`nlpt vocab --tokenizer bpe|char`); with --init only the source's own vocabulary.", show_default=False),
    init: Optional[str] = typer.Option(None, "--init", metavar="PATH", show_default=False, help="Continue pretraining SOURCE: a Hugging Face folder (GPT-2, Llama/Mistral/Qwen2, Mixtral, BERT/RoBERTa/ALBERT, T5, BART) or an nlpt run/checkpoint; architecture, weights and tokenizer come from it, training starts at step 0."),
    arch: str = typer.Option("gpt-mini", "--arch", metavar="TEXT", help="Registry name (gpt2, llama2-7b, mixtral-8x7b, bert-base, t5-small, bart-base; CPU presets gpt-mini, llama-mini, moe-mini, bert-mini, t5-mini, bart-mini...) or a config.json."),
    layers: Optional[int] = o.int_option(None, "--layers", min=1, show_default=False, help="Override: layers (T5/BART: of both stacks)."),
    hidden: Optional[int] = o.int_option(None, "--hidden", min=1, show_default=False, help="Override: hidden size (the FFN keeps the model's ratio, the heads split it, the initial std scales by √(old/new), unless given)."),
    heads: Optional[int] = o.int_option(None, "--heads", min=1, show_default=False, help="Override: attention heads."),
    kv_heads: Optional[int] = o.int_option(None, "--kv-heads", min=1, show_default=False, help="Override: key/value heads (Llama)."),
    ffn: Optional[int] = o.int_option(None, "--ffn", min=1, show_default=False, help="Override: feed-forward width."),
    experts: Optional[int] = o.int_option(None, "--experts", min=0, show_default=False, help="Override: experts per MoE layer (Llama; 0 = dense)."),
    top_k: Optional[int] = o.int_option(None, "--top-k", min=1, show_default=False, help="Override: experts used per token."),
    vocab: Optional[int] = o.int_option(None, "--vocab", min=1, show_default=False, help="Override: vocabulary size (at least the tokenizer's) [default: the tokenizer's]."),
    context: Optional[int] = o.int_option(None, "--context", min=1, show_default=False, help="Training sequence length (also the model's positions) [default: the model's]."),
    dropout: Optional[float] = o.float_option(None, "--dropout", min=0.0, max=1.0, show_default=False, help="Dropout [default: the model's, 0]."),
    no_nsp: bool = typer.Option(False, "--no-nsp", help="Encoders: MLM only on full-sentence windows (RoBERTa), no next-sentence/sentence-order head (= --sentence-head none)."),
    sentence_head: Optional[str] = typer.Option(None, "--sentence-head", metavar="TEXT", show_default=False, help="Encoders: the sentence-pair task, nsp (BERT: next sentence), sop (ALBERT: sentence order) or none (RoBERTa) [default: the config's]."),
    objective: Optional[str] = typer.Option(None, "--objective", metavar="TEXT", show_default=False, help="causal_lm (decoders), mlm, span_corruption, bart_denoising [default: the family's]."),
    batch: int = o.int_option(8, "--batch", min=1, help="Sequences per micro-batch per rank."),
    global_batch: Optional[int] = o.int_option(None, "--global-batch", min=1, show_default=False, help="Sequences per optimizer step over all ranks (gradient accumulation makes up the rest) [default: --batch × ranks]."),
    lr: float = o.float_option(3e-4, "--lr", help="Peak learning rate."),
    min_lr_ratio: float = o.float_option(0.1, "--min-lr-ratio", min=0.0, max=1.0, help="Final learning rate as a fraction of --lr."),
    warmup: int = o.int_option(100, "--warmup", min=0, help="Linear warmup steps."),
    schedule: str = typer.Option("cosine", "--schedule", metavar="TEXT", help="Decay after warmup: cosine, linear, constant."),
    weight_decay: float = o.float_option(0.1, "--weight-decay", min=0.0, help="AdamW weight decay (matrices and embeddings only)."),
    beta1: float = o.float_option(0.9, "--beta1", min=0.0, max=1.0, help="AdamW beta1."),
    beta2: float = o.float_option(0.95, "--beta2", min=0.0, max=1.0, help="AdamW beta2."),
    grad_clip: float = o.float_option(1.0, "--grad-clip", min=0.0, help="Clip the gradient norm to this (0 = off)."),
    max_steps: Optional[int] = o.int_option(None, "--max-steps", min=1, show_default=False, help="Optimizer steps of the run."),
    max_tokens: Optional[str] = typer.Option(None, "--max-tokens", metavar="TEXT", show_default=False, help="Tokens of the run (e.g. 300M, 10B)."),
    max_time: Optional[str] = typer.Option(None, "--max-time", metavar="TEXT", show_default=False, help="Stop (with a checkpoint) after this long: 90s, 30m, 4h, or HH:MM:SS."),
    eval_every: int = o.int_option(500, "--eval-every", min=0, help="Validation every N steps (and at the end; 0 = only at the end)."),
    eval_batches: int = o.int_option(50, "--eval-batches", min=0, help="Validation batches, spread over the split (0 = the whole split)."),
    log_every: int = o.int_option(10, "--log-every", min=1, help="Write a metrics.jsonl line every N steps."),
    checkpoint_every: int = o.int_option(1000, "--checkpoint-every", min=0, help="Checkpoint every N steps (and at the end)."),
    keep_last: int = o.int_option(3, "--keep-last", min=0, help="Keep the newest K checkpoints (0 = all)."),
    resume: str = typer.Option("auto", "--resume", metavar="PATH", help="auto (continue from RUN_DIR's newest checkpoint), none, or a checkpoint/run folder."),
    resume_with_changes: bool = typer.Option(False, "--resume-with-changes", help="Continue RUN_DIR's run with settings that differ from its own (recorded in RUN_DIR/changes.jsonl); without it such a rerun is refused."),
    resume_from_older: bool = typer.Option(False, "--resume-from-older", help="When the newest checkpoint cannot be read, continue from the newest one that can (without it: stop)."),
    seed: int = o.int_option(1337, "--seed", min=0, help="Random seed (initialisation, batches, dropout)."),
    device: str = typer.Option("auto", "--device", metavar="TEXT", help="auto, cpu, cuda, mps."),
    precision: str = typer.Option("fp32", "--precision", metavar="TEXT", help="fp32, bf16 or fp16 (autocast; fp16 with a gradient scaler)."),
    compile: bool = typer.Option(False, "--compile", help="torch.compile the model."),
    activation_checkpointing: bool = typer.Option(False, "--activation-checkpointing", help="Keep only each block's inputs for backward and recompute the rest there (less memory, one more forward pass of the blocks, a third more FLOPs; see nlpt params --activation-checkpointing)."),
    cpu_matmul: str = typer.Option("auto", "--cpu-matmul", metavar="auto|torch|numpy", help="On CPU, whose BLAS multiplies matrices: torch's, numpy's, or auto (the faster on this machine, timed at start)."),
    strategy: str = typer.Option("auto", "--strategy", metavar="TEXT", help="With several ranks: ddp (default) or fsdp (FSDP2 fully_shard)."),
    val_fraction: float = o.float_option(0.1, "--val-fraction", help="Last fraction of the corpus held out for validation."),
    token_dir: Optional[str] = typer.Option(None, "--token-dir", metavar="PATH", show_default=False, help="Where the token files live [default: RUN_DIR/tokens]; share it between runs."),
    export_hf: Optional[str] = typer.Option(None, "--export-hf", metavar="PATH", show_default=False, help="After training, write a transformers folder here."),
    config: Optional[str] = typer.Option(None, "--config", metavar="PATH", show_default=False, help="A TOML recipe of these options (flags given on the command line win)."),
    tensorboard: Optional[str] = typer.Option(None, "--tensorboard", metavar="TEXT", show_default=False, help="Also write metrics.jsonl's scalars as TensorBoard events in this folder (needs nlpt[tensorboard])."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Resolve and check everything, print the plan (tokens, steps, FLOPs, memory per rank, time at --mfu on --gpu) and exit without writing."),
    gpu: Optional[str] = typer.Option(None, "--gpu", metavar="TEXT", show_default=False, help="--dry-run: the GPU to price the run on (h100, a100, ... as in `nlpt params --gpu`) [default: h100]."),
    mfu: float = o.float_option(0.4, "--mfu", help="--dry-run: the assumed model FLOPs utilisation."),
    ranks: Optional[int] = o.int_option(None, "--ranks", min=1, show_default=False, help="--dry-run: processes the run will have [default: the launcher's, else 1]."),
    lower: bool = o.LOWER,
    nfkc: bool = o.NFKC,
    threads: Optional[int] = o.THREADS,
    quiet: bool = o.QUIET,
    json: bool = o.JSON,
) -> None:
    from nlpt.engine.recipe import apply_recipe, train_options

    v = dict(ctx.params)
    recipe = apply_recipe(config, v, o.value_rules(train), lambda key: _on_command_line(ctx, key)) if config else {}
    opts = train_options(v, lambda key: _on_command_line(ctx, key) or key in recipe, ctx.call_on_close)
    if v["dry_run"]:
        from nlpt.engine.dry_run import plan, render

        doc = plan(opts, gpu=v["gpu"], mfu=v["mfu"], ranks=v["ranks"])
        print(jsontext.dumps(doc, indent=2) if v["json"] else "\n".join(render(doc)))
        return
    from nlpt.common.progress import log
    from nlpt.engine.export import pretrain_and_export

    summary = pretrain_and_export(opts, v["export_hf"])
    if summary is None or summary.get("rank", 0) != 0:  # a non-zero rank: rank 0 reports
        o.exit_if_stopped(summary or {}, report=False)
        return
    if summary.get("already_finished"):
        if v["json"]:
            print(jsontext.dumps(summary, indent=2))
        return
    o.exit_if_stopped(summary)
    if v["json"]:
        print(jsontext.dumps(summary, indent=2))
    else:
        val = summary.get("val") or {}
        figures = f"; validation loss {val['loss']:.4f} (perplexity {val['ppl']:.2f})" if "loss" in val else ""
        log(f"{summary['steps']} steps, {summary['tokens']:,} tokens in {summary['seconds']:.1f} s{figures}; "
            f"run folder {summary['run_dir']}", v["quiet"])


@app.command("sample")
def sample(
    run_dir: str = typer.Argument(..., metavar="RUN_DIR", help="A run folder of `nlpt pretrain`.", show_default=False),
    prompt: Optional[str] = typer.Option(None, "--prompt", "-p", metavar="TEXT", show_default=False, help="Text to continue; without it, each line of stdin is a prompt (or an empty prompt on a terminal)."),
    max_new_tokens: int = o.int_option(200, "--max-new-tokens", "--max-tokens", min=1, help="Tokens to generate per prompt."),
    temperature: float = o.float_option(0.8, "--temperature", min=0.0, help="Sampling temperature (0 = greedy)."),
    top_k: Optional[int] = o.int_option(200, "--top-k", min=1, help="Sample among the k likeliest tokens."),
    seed: Optional[int] = o.int_option(None, "--seed", min=0, show_default=False, help="Random seed (the same seed gives the same text)."),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", metavar="PATH", show_default=False, help="A step-N folder [default: the newest]."),
    device: str = typer.Option("cpu", "--device", metavar="TEXT", help="auto, cpu, cuda, mps."),
) -> None:
    """Generate text from a pretrained decoder (GPT, Llama, MoE).

    Example: nlpt pretrain sample runs/shakespeare --prompt "ROMEO:" --max-new-tokens 300 --seed 1
    """
    import sys

    from nlpt.engine.inference import generate
    from nlpt.engine.run import load_run

    model, tokenizer, _ = load_run(run_dir, checkpoint=checkpoint, device=device)
    if prompt is not None:
        prompts = [prompt]
    elif sys.stdin.isatty():
        prompts = [""]
    else:
        prompts = [line.rstrip("\n") for line in sys.stdin]
    for p in prompts:
        text = generate(model, tokenizer, p, max_new_tokens, temperature, top_k, seed)
        sys.stdout.write(text + ("\n" if not text.endswith("\n") else ""))
        sys.stdout.flush()


def _queries(texts: Optional[List[str]]):
    """The texts given as arguments, else the non-blank lines of stdin, read one at a time (each is answered
    before the next is read, so a pipe gets its answers as it goes)."""
    import sys

    from nlpt.common.errors import UsageError

    if texts:
        return list(texts)
    if sys.stdin.isatty():
        raise UsageError("give the texts as arguments or one per line on stdin")
    return (line.rstrip("\n") for line in iter(sys.stdin.readline, "") if line.strip())


def _query_run(run_dir: str, texts, checkpoint, command: str, families: tuple, needs: str, hint: str):
    """(queries, model, tokenizer) for a query subcommand; UsageError when the run is of another family."""
    from nlpt.common.errors import UsageError
    from nlpt.engine.run import load_run

    queries = _queries(texts)
    model, tokenizer, _ = load_run(run_dir, checkpoint=checkpoint)
    if model.config.family not in families:
        raise UsageError(f"{run_dir}: {command} needs {needs} run (this is {model.config.family}; {hint})")
    return queries, model, tokenizer


def _print_answers(queries, answer, as_json: bool, record, lines) -> None:
    """Answer the queries one at a time (`answer(query)`) and print each with its answer: the query and
    `lines(result)` indented, flushed as it comes, or, with --json, `record(result)` fields in one JSON list."""
    import sys

    collected = []
    for query in queries:
        result = answer(query)
        if as_json:
            collected.append({"text": query, **record(result)})
            continue
        print(query)
        for line in lines(result):
            print(f"  {line}")
        sys.stdout.flush()
    if as_json:
        print(jsontext.dumps(collected, indent=2))


@app.command("fill-mask")
def fill_mask(
    run_dir: str = typer.Argument(..., metavar="RUN_DIR", help="A run folder of an encoder (BERT-style) `nlpt pretrain`.", show_default=False),
    texts: Optional[List[str]] = typer.Argument(None, metavar="TEXTS", help="Texts with [MASK] where words are to be predicted [default: lines of stdin].", show_default=False),
    top_k: int = o.int_option(5, "--top-k", min=1, help="Predictions shown per [MASK]."),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", metavar="PATH", show_default=False, help="A step-N folder [default: the newest]."),
    json: bool = o.JSON,
) -> None:
    """Predict the tokens at each [MASK] of a text with a pretrained encoder.

    Example: nlpt pretrain fill-mask runs/bert "the capital of france is [MASK] ."
    """
    queries, model, tokenizer = _query_run(run_dir, texts, checkpoint, "fill-mask", ("encoder",), "an encoder",
                                           "use `infill` for T5/BART, `sample` for decoders")
    from nlpt.engine.inference import fill_mask as predict
    from nlpt.models import context_length

    context = f"past the model's context of {context_length(model.config)} tokens: not predicted (shorten the text)"
    _print_answers(queries, lambda q: predict(model, tokenizer, [q], top_k)[0], json,
                   lambda r: {"masks": [{"position": p, "predictions": None, "note": context} if preds is None else
                                        {"position": p, "predictions": [{"token": t, "p": round(pr, 5)} for t, pr in preds]}
                                        for p, preds in r]},
                   lambda r: [f"[MASK] at {position}: " + (context if preds is None else
                                                           ", ".join(f"{t} ({p:.3f})" for t, p in preds))
                              for position, preds in r])


@app.command("infill")
def infill(
    run_dir: str = typer.Argument(..., metavar="RUN_DIR", help="A run folder of a T5 or BART `nlpt pretrain`.", show_default=False),
    texts: Optional[List[str]] = typer.Argument(None, metavar="TEXTS", help="Texts with gaps: <mask> (BART, T5) or <extra_id_N> (T5) [default: lines of stdin].", show_default=False),
    max_new_tokens: int = o.int_option(64, "--max-new-tokens", min=1, help="Longest output (T5; BART allows twice the input)."),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", metavar="PATH", show_default=False, help="A step-N folder [default: the newest]."),
    json: bool = o.JSON,
) -> None:
    """Fill the gaps of a text with a pretrained T5 (the spans, by sentinel) or BART (the whole text), greedily.

    Example: nlpt pretrain infill runs/t5 "the cat <mask> on the mat"
    """
    queries, model, tokenizer = _query_run(run_dir, texts, checkpoint, "infill", ("t5", "bart"), "a T5 or BART",
                                           "use `fill-mask` for encoders, `sample` for decoders")
    from nlpt.engine.inference import infill as fill

    _print_answers(queries, lambda q: fill(model, tokenizer, model.config.family, [q], max_new_tokens)[0], json,
                   lambda r: {"output": r},
                   lambda r: [f"{sentinel}: {span}" for sentinel, span in r.items()] if isinstance(r, dict) else [r])


@app.command("add-sentinels")
def add_sentinels(
    tokenizer: str = typer.Argument(..., metavar="TOKENIZER", help="A tokenizer.json (e.g. `nlpt vocab --tokenizer bpe`).", show_default=False),
    output: str = typer.Option(..., "--output", "-o", metavar="PATH", help="The tokenizer.json to write.", show_default=False),
    count: int = o.int_option(100, "--count", min=1, help="Sentinels <extra_id_0> … <extra_id_{count-1}> to add."),
) -> None:
    """Write a copy of a tokenizer with T5's sentinel tokens added (span corruption needs them).

    Example: nlpt pretrain add-sentinels bpe.json -o t5-tokenizer.json
    """
    from nlpt.common.plan import OutputPlan
    from nlpt.common.progress import log
    from nlpt.tokenizer.files import load_tokenizer, save_tokenizer
    from nlpt.tokenizer.sentinels import add_sentinels as add

    OutputPlan().read("TOKENIZER", tokenizer).write("--output", output).check()
    tok = add(load_tokenizer(tokenizer), count)
    save_tokenizer(tok, output)
    log(f"{output}: {tok.get_vocab_size():,} entries with sentinels <extra_id_0> … <extra_id_{count - 1}>")


@app.command("export")
def export(
    run_dir: str = typer.Argument(..., metavar="RUN_DIR", help="A run folder of `nlpt pretrain`.", show_default=False),
    export_hf: str = typer.Option(..., "--export-hf", "-o", metavar="PATH", help="The folder to write (must not exist or be empty).", show_default=False),
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", metavar="PATH", show_default=False, help="A step-N folder [default: the newest]."),
) -> None:
    """Write a run's model as a folder transformers loads (GPT2LMHeadModel, LlamaForCausalLM, MixtralForCausalLM,
    BertForPreTraining, T5ForConditionalGeneration, BartForConditionalGeneration).

    Example: nlpt pretrain export runs/shakespeare --export-hf hf/shakespeare
    """
    from nlpt.common.plan import OutputPlan
    from nlpt.common.progress import log
    from nlpt.engine.export import export_run

    (OutputPlan().read_folder("RUN_DIR", run_dir).read_folder("--checkpoint", checkpoint)
     .write_folder("--export-hf", export_hf, replaced=True).check())
    import os

    from nlpt.common.errors import stop_note

    def written() -> Optional[str]:  # the folder is renamed into place whole, config.json in it
        return f"{export_hf} is complete" if os.path.isfile(os.path.join(export_hf, "config.json")) else None

    with stop_note(written):
        config = export_run(run_dir, export_hf, checkpoint)
        log(f"{config['architectures'][0]} written to {export_hf}")


@app.command("eval")
def eval_(
    source: str = typer.Argument(..., metavar="SOURCE", help="An `nlpt pretrain` run folder or a Hugging Face folder (any family).", show_default=False),
    data: List[str] = typer.Option(..., "--data", metavar="FILE", help="A text file to score (repeat for several; .gz/.bz2/.xz read).", show_default=False),
    context: Optional[int] = o.int_option(None, "--context", min=8, show_default=False, help="Tokens per window [default: the model's positions]."),
    stride: Optional[int] = o.int_option(None, "--stride", min=1, show_default=False, help="Tokens between window starts; each window scores only tokens no earlier one did [default: the window, no overlap]."),
    batch: int = o.int_option(8, "--batch", min=1, help="Rows per forward pass."),
    device: str = typer.Option("cpu", "--device", metavar="TEXT", help="auto, cpu, cuda, mps."),
    json: bool = o.JSON,
) -> None:
    """Loss, perplexity and bits per byte (nats / ln 2 / UTF-8 bytes: independent of the tokenizer) of a model on
    whole texts, windows sliding by --stride. Decoders: causal LM; encoders, T5 and BART: masked-token
    pseudo-likelihood, every token masked once (see docs/pretrain-planning.md).

    Example: nlpt pretrain eval runs/shakespeare --data input.txt --stride 128
    """
    from nlpt.compare.evals import evaluate_source

    doc = evaluate_source(source, list(data), context=context, stride=stride, batch_size=batch, device=device)
    if json:
        print(jsontext.dumps(doc, indent=2))
        return
    for f in doc["files"] + ([] if len(doc["files"]) == 1 else [dict(doc, path="all files")]):
        ppl = f"{f['ppl']:.3f}" if f["ppl"] is not None else "above e^700"
        print(f"{f['path']}: {f['bytes']:,} bytes, {f['tokens']:,} tokens; loss {f['loss']:.4f}, "
              f"perplexity {ppl}, {f['bits_per_byte']:.4f} bits per byte")
    print(f"({doc['family']}: {doc['definition']}; context {doc['context']}, stride {doc['stride']})")
