"""A pretraining run from start to finish, and reading a finished run back (`load_run`).

`pretrain(options)` validates everything before any work and decides what the run
folder holds (continue, nothing to do, or refuse), then, in an engine session
(`nlpt.engine.session`: ranks, device, threads, CPU backend, resume, DDP/FSDP2,
teardown), prepares the token files (once; reused), the objective, the model and
the optimizer, runs the loop and returns a summary. The run folder layout is in
`nlpt/engine/__init__.py`.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from typing import Optional

from nlpt.common.errors import NlptError, UsageError, stop_note
from nlpt.common.output import os_reason
from nlpt.common.runfolder import (
    CHECKPOINTS_DIR, CONFIG_FILE, RUN_FORMAT, TOKENIZER_FILE, TOKENS_DIR, read_run_config,
)
from nlpt.engine import resume
from nlpt.engine.objective import DEFAULT_OBJECTIVE, check_objective, make_objective
from nlpt.models import unwrap
from nlpt.engine.options import TrainOptions, split_global_batch, steps_of, validate_options


def _check_run_dir(run_dir: str) -> None:
    try:
        os.makedirs(run_dir, exist_ok=True)
    except OSError as exc:
        raise NlptError(f"{run_dir}: cannot create the run folder ({os_reason(exc)})") from None
    if not os.path.isdir(run_dir):
        raise NlptError(f"{run_dir}: exists and is not a folder")
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise NlptError(f"{run_dir}: the run folder is not writable")


def _peak_flops(device) -> Optional[float]:
    """The device's dense bf16 peak from the hardware table (GPUs only), for MFU."""
    import torch

    if device.type != "cuda":
        return None
    from nlpt.transformer.hardware import GPUS

    name = torch.cuda.get_device_name(device).lower()
    for key in sorted(GPUS, key=len, reverse=True):
        if key.split("-")[0] in name and ("pcie" in name) == ("pcie" in key):
            return GPUS[key].peak_tflops * 1e12
    return None


def out_of_memory_message(batch: int, context: int, strategy: str, world: int) -> str:
    """What to lower when CUDA runs out of memory (the one-line error of `nlpt pretrain`)."""
    hint = "" if strategy == "fsdp" and world > 1 else "; or shard the model over several GPUs with --strategy fsdp"
    return (f"CUDA out of memory with --batch {batch} and --context {context}: lower --batch (--global-batch keeps "
            f"the optimizer batch through accumulation) or --context, or use --precision bf16{hint}")


TRAINING_BYTES_PER_PARAMETER = 16  # fp32 weights and gradients, AdamW's two moments


def check_model_fits(config, device: str, strategy: str) -> None:
    """On CPU, a usage error before any work when the model's weights, gradients and AdamW state alone exceed the
    machine's memory (`--layers 100000000`): building it would fail deep inside torch, after the tokenizing.
    Not under `--strategy fsdp`, where each rank holds a shard whose size depends on how many there are."""
    from nlpt.engine.distributed import pick_device
    from nlpt.transformer.params import count

    if strategy == "fsdp" or pick_device(device).type != "cpu":
        return
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - no such figure on this system
        return
    total = count(config).total
    need = TRAINING_BYTES_PER_PARAMETER * total
    if need > have:
        raise UsageError(f"the model has {total:,} parameters, whose weights, gradients and optimizer state need "
                         f"{need / 2**30:,.1f} GiB, more than this machine's {have / 2**30:,.1f} GiB of memory; "
                         "give a smaller --layers, --hidden, --ffn or --vocab")


def check_inputs(o: TrainOptions):
    """(options with the objective's special-token ids in the model config, objective name, context, tokenizer):
    every check of the options, tokenizer and corpus paths a run makes before any work (`--dry-run` too)."""
    from nlpt.tokenizer.files import load_tokenizer

    validate_options(o)
    objective_name = o.objective or DEFAULT_OBJECTIVE.get(o.model.family)
    if objective_name is None:
        raise UsageError(f"the {o.model.family} family cannot be pretrained")
    context = o.context or o.model.max_positions
    tokenizer = o.loaded_tokenizer if o.loaded_tokenizer is not None else load_tokenizer(o.tokenizer)
    if tokenizer.get_vocab_size() > o.model.vocab_size:
        raise UsageError(f"{o.tokenizer}: the tokenizer has {tokenizer.get_vocab_size():,} entries but the model's "
                         f"vocabulary is {o.model.vocab_size:,} (give --vocab {tokenizer.get_vocab_size()} or more)")
    for path in o.corpus:
        if path != "-" and not os.path.exists(path) and not any(c in path for c in "*?["):
            raise NlptError(f"{path}: no such file or directory")
    try:  # special tokens the objective needs, before any work (their ids go into the model config)
        o = dataclasses.replace(o, model=check_objective(objective_name, tokenizer, o.model, context, o.objective_options))
    except UsageError:
        raise
    except NlptError as exc:
        raise NlptError(f"{o.tokenizer}: {exc}") from None
    return o, objective_name, context, tokenizer


def pretrain(o: TrainOptions, on_progress=None, before_work=None) -> dict:
    """Train (or continue training) the run in `o.run_dir`; returns a summary dict (rank 0's view).

    `before_work(finished)`, when given, is called once the run folder's state is known and before anything is
    read or written (the CLI checks its --export-hf folder there: a finished run's export may exist)."""
    from nlpt.common.progress import log
    from nlpt.engine.launch import resolve_launch
    from nlpt.transformer.configs import config_fields

    o, objective_name, context, tokenizer = check_inputs(o)
    check_model_fits(o.model, o.device, o.strategy)
    launch = resolve_launch(os.environ)
    global_batch, accum = split_global_batch(o.batch, o.global_batch, launch.world)  # before joining the group
    model_dict = config_fields(o.model)
    # before anything is written: a foreign -o folder, an unreadable checkpoint, another model or other settings
    plan = resume.plan_pretrain(o, model_dict, objective_name, context, global_batch)
    if before_work is not None:
        before_work(plan.finished is not None)
    if plan.finished:
        return {"run_dir": o.run_dir, "rank": launch.rank, "already_finished": plan.finished, "steps": plan.found.step,
                "checkpoint": plan.found.path, "stopped_by": None}
    # a stop signal outside the loop (token files, model, restore; the summary) leaves the newest checkpoint as it was
    from nlpt.engine.checkpoint import intact_note

    with stop_note(lambda: intact_note(o.run_dir)):
        if plan.found and launch.rank == 0:
            log(resume.resuming(plan.found), o.quiet)
        return _train(o, plan, launch, objective_name, context, tokenizer, global_batch, accum, model_dict,
                      on_progress)


def _train(o: TrainOptions, plan, launch, objective_name, context, tokenizer, global_batch, accum, model_dict,
           on_progress) -> dict:
    """`pretrain`'s session: token files, model, restore, the loop."""
    import torch

    from nlpt.common.process import seconds_since_start
    from nlpt.engine.loop import train_loop
    from nlpt.engine.optim import make_optimizer
    from nlpt.engine.session import open_session
    from nlpt.models.cpu_matmul import probe_shape

    with open_session(o.device, o.precision, o.threads, o.cpu_matmul, probe_shape(o.model, o.batch, context),
                      o.strategy, o.quiet, out_of_memory_message(o.batch, context, o.strategy, launch.world)) as run:
        data = _token_data(o, run, tokenizer)
        objective = make_objective(objective_name, tokenizer, data.train, data.val, context, dict(o.objective_options))
        for note in getattr(objective, "notes", ()):  # what it had to leave out (e.g. one-sentence documents for NSP)
            run.log(note)
        bare = run.shard(_build_model(o, run, continuing=plan.found is not None))
        optimizer = make_optimizer(bare, o.lr, o.weight_decay, (o.beta1, o.beta2), o.eps, run.device)
        scaler = torch.amp.GradScaler("cuda") if o.precision == "fp16" else None
        generator = torch.Generator().manual_seed(o.seed)
        state = run.restore(plan.found, bare, optimizer, generator, scaler)
        model = run.wrap(bare, compile=o.compile)
        settings = _loop_settings(o, run, accum, context, steps_of(o, global_batch * context))
        if run.main:
            _copy_tokenizer(o)
        run.start_run_folder(o.run_dir, _run_config(o, run, model_dict, objective_name, data, settings, global_batch),
                             state, plan.found, plan.changes)
        run.barrier()

        startup_s = seconds_since_start()  # the command's fixed cost before its first step
        start = time.perf_counter()
        state = train_loop(model, bare, optimizer, objective, generator, settings, run.d, o.run_dir, state, model_dict,
                           scaler, on_progress)
        summary = {"run_dir": o.run_dir, "rank": run.d.rank, "steps": state.step, "tokens": state.tokens,
                   "seconds": round(time.perf_counter() - start, 3),
                   "elapsed_s": round(state.elapsed_s, 3), "resumed_from": plan.found.path if plan.found else None,
                   "checkpoint": state.checkpoint, "stopped_by": state.stopped_by, "val": state.last_val,
                   "world": run.world, "token_files_reused": data.reused,
                   "startup_s": None if startup_s is None else round(startup_s, 2),
                   "parameters": sum(p.numel() for p in unwrap(bare).parameters())}
        del model, bare, optimizer  # release a sharded model's communication state before the group goes
    return summary


def _token_data(o: TrainOptions, run, tokenizer):
    """The run's token files (`nlpt.engine.tokens.TokenData`): rank 0 makes them (or finds them made) in a
    checked run folder, the other ranks wait and read them; `tokenizer` is the one `check_inputs` read."""
    from nlpt.corpus.reader import ReaderOptions
    from nlpt.engine.distributed import broadcast_object
    from nlpt.engine.tokens import prepare_tokens

    reader = o.reader or ReaderOptions()
    data, error = None, None
    if run.main:
        _check_run_dir(o.run_dir)
        try:
            data = prepare_tokens(o.corpus, o.tokenizer, _token_dir(o), o.val_fraction, reader, o.quiet, tokenizer)
        except NlptError as exc:
            error = str(exc)
    error = broadcast_object(error, run.d)
    if error:
        raise NlptError(error)
    if data is None:  # another rank: the files rank 0 made (whether they were reused is rank 0's to say)
        data = prepare_tokens(o.corpus, o.tokenizer, _token_dir(o), o.val_fraction, reader, True, tokenizer)
        data.reused = None
    return data


def _token_dir(o: TrainOptions) -> str:
    return o.token_dir or os.path.join(o.run_dir, TOKENS_DIR)


def _build_model(o: TrainOptions, run, continuing: bool):
    """The model on the run's device: from the seed, or from --init's weights for a new run (a continued one
    gets its checkpoint's); with activation checkpointing when asked."""
    import torch

    from nlpt.models import build

    torch.manual_seed(o.seed)
    model = build(o.model)
    if o.init and not continuing:
        from nlpt.engine.init_source import describe, load_init_weights

        run.log(describe(o.init, load_init_weights(model, o.init)))
    model = model.to(run.device)
    if o.activation_checkpointing:
        from nlpt.models import checkpointing

        checkpointing.enable(model)
    run.announce_backend()
    return model


def _loop_settings(o: TrainOptions, run, accum: int, context: int, total_steps: int):
    """The loop's `LoopSettings` for this run (MFU from the device's peak, on GPUs of the hardware table)."""
    from nlpt.engine.loop import LoopSettings

    flops_per_token = None
    peak = _peak_flops(run.device)
    if peak:
        from nlpt.transformer.params import count, flops

        flops_per_token = flops(count(o.model), context)["training_per_token"]
    return LoopSettings(
        micro_batch=o.batch, accum=accum, context=context, total_steps=total_steps, lr=o.lr, warmup=o.warmup,
        schedule=o.schedule, min_lr_ratio=o.min_lr_ratio, grad_clip=o.grad_clip, max_tokens=o.max_tokens,
        max_time=o.max_time, eval_every=o.eval_every, eval_batches=o.eval_batches or None, log_every=o.log_every,
        checkpoint_every=o.checkpoint_every, keep_last=o.keep_last, precision=o.precision, quiet=o.quiet,
        sharded=run.sharded, flops_per_token=flops_per_token, peak_flops=peak, tensorboard=o.tensorboard)


def _run_config(o: TrainOptions, run, model_dict: dict, objective_name: str, data, settings, global_batch: int) -> dict:
    """The run's config.json (layout in nlpt/engine/__init__.py)."""
    from nlpt.transformer.derive import init_record

    return {"format": RUN_FORMAT, "model": model_dict, "init": init_record(o.model), "objective": objective_name,
            "objective_options": dict(o.objective_options), "tokenizer": TOKENIZER_FILE,
            "data": {"corpus": [os.path.abspath(p) for p in o.corpus], "token_dir": os.path.abspath(_token_dir(o)),
                     "val_fraction": o.val_fraction, "context": settings.context,
                     "train_tokens": len(data.train.tokens), "val_tokens": len(data.val.tokens),
                     "reader": data.meta["key"]["reader"]},
            "train": {**o.resolved(), "context": settings.context, "global_batch": global_batch, "accum": settings.accum,
                      "world": run.world, "strategy": run.strategy if run.world > 1 else "single",
                      "total_steps": settings.total_steps, "device": str(run.device)}}


def _copy_tokenizer(o: TrainOptions) -> None:
    """The run folder's copy of the tokenizer (unless --tokenizer is that copy)."""
    if os.path.abspath(o.tokenizer) != os.path.abspath(os.path.join(o.run_dir, TOKENIZER_FILE)):
        shutil.copyfile(o.tokenizer, os.path.join(o.run_dir, TOKENIZER_FILE))


# ---------------------------------------------------------------------------------------------
# reading a run back

TRAINABLE_FAMILIES = ("gpt", "llama", "encoder", "t5", "bart")


def model_config(arch: str, overrides: Optional[dict] = None, context: Optional[int] = None,
                 dropout: Optional[float] = None, tokenizer=None):
    """The model to train: `--arch` (a registry name or a config.json) with `nlpt params`-style size overrides.

    `overrides` uses the flag names of `apply_flags` (layers, hidden, heads, kv_heads, ffn, experts, top_k,
    vocab); what derives from them follows (`nlpt.transformer.derive`). A registry model's vocabulary is
    the `tokenizer`'s size (a `nlpt.tokenizer.files.TokenizerFile`) unless `vocab` is given (a config.json keeps its own). `context` also sets the
    position table. UsageError for what cannot be trained.
    """
    import dataclasses

    from nlpt.transformer.flags import apply_flags
    from nlpt.transformer.registry import resolve
    from nlpt.transformer.validate import validate

    overrides = dict(overrides or {})
    if arch.endswith(".json") or os.path.isfile(arch):
        from nlpt.transformer.config_file import config_from_path

        base = config_from_path(arch)
    else:
        base = resolve(arch).config
        if tokenizer is not None and overrides.get("vocab") is None:
            overrides["vocab"] = tokenizer.load().get_vocab_size()
    if base.family not in TRAINABLE_FAMILIES:
        raise UsageError(f"--arch {arch}: the {base.family} family cannot be trained by this version")
    config = apply_flags(base, overrides, derive=False)
    if context is not None and hasattr(config, "max_positions"):
        config = dataclasses.replace(config, max_positions=context)
    if dropout is not None:
        if not hasattr(config, "dropout"):
            raise UsageError(f"--dropout does not apply to the {config.family} family")
        config = dataclasses.replace(config, dropout=dropout)
    validate(config)
    hidden = getattr(config, "hidden_size", None) or getattr(config, "d_model", None)
    if getattr(config, "head_dim", None) is None and hidden % config.num_heads:
        raise UsageError(f"--heads {config.num_heads} does not divide --hidden {hidden}")
    return config


def load_run(run_dir: str, checkpoint: Optional[str] = None, device: str = "cpu"):
    """(model in eval mode with the newest checkpoint's weights, tokenizer, run config)."""
    from nlpt.engine import checkpoint as ckpt
    from nlpt.engine.distributed import pick_device
    from nlpt.tokenizer.files import load_tokenizer
    from nlpt.models import build
    from nlpt.transformer.config_file import config_from_json

    cfg = read_run_config(run_dir)
    config = config_from_json(cfg, os.path.join(run_dir, CONFIG_FILE))
    if checkpoint and not os.path.exists(checkpoint) and os.path.isdir(os.path.join(run_dir, CHECKPOINTS_DIR, checkpoint)):
        checkpoint = os.path.join(run_dir, CHECKPOINTS_DIR, checkpoint)  # `--checkpoint step-100`: the run's own
    elif checkpoint and not os.path.exists(checkpoint):
        have = ", ".join(os.path.basename(p) for _, p in ckpt.list_checkpoints(run_dir)) or "none"
        raise NlptError(f"{checkpoint}: no such checkpoint, neither a folder nor one of {run_dir}'s (it has: {have})")
    where = ckpt.resolve(checkpoint or run_dir)
    model = build(config)
    ckpt.load_weights(model, ckpt.Reader(where))  # whole or sharded (FSDP) alike
    model.to(pick_device(device)).eval()
    tokenizer = load_tokenizer(os.path.join(run_dir, cfg.get("tokenizer", TOKENIZER_FILE)))
    return model, tokenizer, cfg
