"""The training loop: micro-batches accumulated to the global batch, AdamW, schedule, clipping, validation, checkpoints.

It knows nothing family-specific: the objective makes batches and losses, the
model is whatever `nlpt.models.build` returned (possibly wrapped in DDP, FSDP2
or torch.compile). SIGINT, SIGTERM and SIGUSR1 set a flag; all ranks agree on it
after the current optimizer step, save a checkpoint and return, so a requeued
job continues where it stopped.

Finetuning runs on the same loop: its objective reads a finite task in epochs
(`step_batch`: the step number is the data position), computes its own
validation metrics (`evaluate`: macro-F1, ROC-AUC...), and *callbacks*
(`nlpt.engine.callbacks`) see every validation: log further splits, keep the
best weights, stop early. Optimizer groups may carry an `lr_scale` (a body
trained at a fraction of the head's learning rate).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import torch

from nlpt.common import jsontext
from nlpt.common.errors import NlptError
from nlpt.common.runfolder import METRICS_FILE
from nlpt.engine import checkpoint as ckpt
from nlpt.engine.distributed import Dist, all_reduce_max, all_reduce_sum
from nlpt.engine.optim import lr_at
from nlpt.engine.signals import StopSignals

@dataclass
class LoopSettings:
    micro_batch: int
    accum: int
    context: int
    total_steps: int
    lr: float
    warmup: int
    schedule: str
    min_lr_ratio: float
    grad_clip: float
    max_tokens: Optional[int] = None
    max_time: Optional[float] = None
    eval_every: int = 0
    eval_batches: Optional[int] = None
    log_every: int = 10
    checkpoint_every: int = 0
    keep_last: int = 3
    precision: str = "fp32"
    quiet: bool = False
    sharded: bool = False  # FSDP2 on several ranks: each rank checkpoints its own shards
    flops_per_token: Optional[float] = None  # training FLOPs per token, for MFU
    peak_flops: Optional[float] = None  # device peak FLOP/s, for MFU
    steps_per_epoch: Optional[int] = None  # finite data read in epochs: records get "epoch" = step / steps_per_epoch
    progress_name: str = "pretrain"
    tensorboard: Optional[str] = None  # also write every metrics line as TensorBoard scalars here


@dataclass
class LoopState:
    step: int = 0
    tokens: int = 0
    elapsed_s: float = 0.0
    stopped_by: Optional[int] = None
    stopped_early: bool = False  # a callback asked to stop (early stopping)
    train_sums: dict = field(default_factory=dict)  # metric sums since the last train line (saved in checkpoints)
    last_val: dict = field(default_factory=dict)
    checkpoint: Optional[str] = None


def autocast_for(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


class MetricsLog:
    """metrics.jsonl (rank 0): one JSON object per line; non-finite values are refused, never written."""

    def __init__(self, run_dir: Optional[str], tensorboard: Optional[str] = None):
        self.path = os.path.join(run_dir, METRICS_FILE) if run_dir else None
        self.events = None
        if tensorboard and run_dir:
            from nlpt.engine.tensorboard import EventLog

            self.events = EventLog(tensorboard)

    def truncate_after(self, step: int) -> None:
        """On resume, drop lines a crashed run wrote after its last checkpoint."""
        if not self.path or not os.path.isfile(self.path):
            return
        from nlpt.common.output import atomic_output

        with open(self.path, encoding="utf-8", errors="replace") as fh:
            keep = [line for line in fh if _step_of(line) is not None and _step_of(line) <= step]
        with atomic_output(self.path) as fh:
            fh.writelines(keep)

    def write(self, record: dict) -> None:
        if not self.path:
            return
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(jsontext.dumps(record, self.path) + "\n")
        if self.events is not None:
            self.events.write(record)

    def close(self) -> None:
        if self.events is not None:
            self.events.close()


def _step_of(line: str) -> Optional[int]:
    """The step of a metrics line; None for a blank or damaged one (a process killed while writing it)."""
    try:
        record = json.loads(line)
        return int(record.get("step", 0))
    except (ValueError, TypeError, AttributeError):
        return None


def _aggregate(sums: dict, d: Dist) -> dict:
    """{name: [sum, count]} summed over ranks -> {name: sum / count}."""
    if not sums:
        return {}
    names = sorted(sums)
    packed = torch.stack([sums[n].float().cpu() for n in names])
    if d.initialized:
        packed = packed.to(d.device) if d.device.type == "cuda" else packed
        all_reduce_sum(packed, d)
        packed = packed.cpu()
    return {n: (packed[i, 0] / packed[i, 1]).item() for i, n in enumerate(names) if packed[i, 1] > 0}


def evaluate(model, objective, s: LoopSettings, d: Dist) -> dict:
    """Validation metrics over the fixed validation set (the whole split, or `eval_batches` spread over it).

    An objective with an `evaluate(model, batch_size, device)` method computes its own (metrics that are not
    sums over batches, such as macro-F1 or ROC-AUC); it must give every rank the same figures."""
    was_training = model.training
    model.eval()
    if hasattr(objective, "evaluate"):
        with torch.no_grad(), autocast_for(d.device, s.precision):
            out = objective.evaluate(model, s.micro_batch, d.device)
        model.train(was_training)
        return out
    sums: dict = {}
    with torch.no_grad(), autocast_for(d.device, s.precision):
        for batch in objective.eval_batches(s.micro_batch, d.rank, d.world, limit=s.eval_batches):
            batch = {k: v.to(d.device, non_blocking=True) for k, v in batch.items()}
            _, metrics = objective.loss(model, batch)
            for k, v in metrics.items():
                sums[k] = sums[k] + v.float().cpu() if k in sums else v.float().cpu()
    model.train(was_training)
    out = _aggregate(sums, d)
    if "loss" in out:
        out["ppl"] = math.exp(min(out["loss"], 700.0))
    return out


def train_loop(model, bare_model, optimizer, objective, generator: torch.Generator, s: LoopSettings, d: Dist,
               run_dir: Optional[str], state: LoopState, model_config: dict, scaler=None,
               on_progress: Optional[Callable] = None, callbacks: Sequence = ()) -> LoopState:
    """Run optimizer steps from `state.step` to `s.total_steps` (or a stop condition); returns the final state.

    `callbacks` (see `nlpt.engine.callbacks.Callback`) are called after every validation, in order; one that
    returns True stops the run there (with a checkpoint). Their `state_dict()` goes into each checkpoint under
    "callbacks" (the caller restores it on resume)."""
    from nlpt.common.progress import Progress

    log = MetricsLog(run_dir if d.main else None, s.tensorboard)
    tokens_per_step = s.micro_batch * s.accum * d.world * s.context
    total_tokens = s.total_steps * tokens_per_step
    ddp = hasattr(model, "no_sync")
    start_time = time.perf_counter() - state.elapsed_s
    window = {"sums": {k: torch.as_tensor(v, dtype=torch.float32) for k, v in state.train_sums.items()}, "tokens": 0,
              "t0": time.perf_counter()}
    model.train()

    def elapsed() -> float:
        return time.perf_counter() - start_time

    def save() -> None:
        if window["sums"]:  # steps since the last log line: never checkpoint weights a non-finite loss produced
            _check_finite(_aggregate(window["sums"], d), state.step, "training")
        rng = {"rng_torch": torch.get_rng_state(), "rng_data": generator.get_state()}
        if d.device.type == "cuda":
            rng["rng_cuda"] = torch.cuda.get_rng_state(d.device)
        extra = {"scaler": scaler.state_dict()} if scaler is not None else {}
        if window["sums"]:  # a resumed run's next train line then averages over the same steps
            extra["train_sums"] = {k: v.tolist() for k, v in window["sums"].items()}
        if any(hasattr(cb, "state_dict") for cb in callbacks):
            extra["callbacks"] = [cb.state_dict() if hasattr(cb, "state_dict") else {} for cb in callbacks]
        # every rank takes part (FSDP: each writes its own shards); rank 0 writes the small state
        state.checkpoint = ckpt.save_checkpoint(run_dir, bare_model, optimizer, {
            "step": state.step, "tokens": state.tokens, "elapsed_s": elapsed(), "model": model_config,
            "world": d.world, **rng, **extra}, s.keep_last, d, s.sharded)

    def stamp() -> dict:
        record = {"step": state.step, "tokens": state.tokens, "elapsed_s": round(elapsed(), 3)}
        if s.steps_per_epoch:
            record["epoch"] = round(state.step / s.steps_per_epoch, 4)
        return record

    def write(split: str, metrics: dict) -> None:
        """A metrics line for `split` at this step (rank 0 writes; callbacks log further splits with it)."""
        _check_finite(metrics, state.step, "validation" if split == "val" else split)
        if d.main:
            log.write({**stamp(), "split": split, **metrics})

    def validate() -> bool:
        """Validation line, then the callbacks; True when one of them asks to stop."""
        val = evaluate(model, objective, s, d)
        state.last_val = val
        if val:  # an objective without a validation split (finetune without dev) returns nothing to log
            write("val", val)  # every rank holds the same reduced figures
        stop_now = False
        for cb in callbacks:
            stop_now = bool(cb.after_validation(model, state, val, write)) or stop_now
        return stop_now

    progress = Progress(s.progress_name, total=total_tokens, unit="tok", quiet=s.quiet or not d.main)
    with StopSignals() as stop, progress:
        progress.update(state.tokens, step=state.step)
        while state.step < s.total_steps:
            lr = lr_at(state.step, s.lr, s.warmup, s.total_steps, s.schedule, s.min_lr_ratio)
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
            # one draw of the global batch per step, whatever the split into ranks and micro-batches
            draw = generator.get_state()
            for m in range(s.accum):
                if hasattr(objective, "step_batch"):  # epochs over a finite data set: the step is the position
                    batch = objective.step_batch(state.step, s.micro_batch, rank=m * d.world + d.rank, world=s.accum * d.world)
                else:
                    generator.set_state(draw)
                    batch = objective.batch(s.micro_batch, generator, rank=m * d.world + d.rank, world=s.accum * d.world)
                batch = {k: v.to(d.device, non_blocking=True) for k, v in batch.items()}
                sync = contextlib.nullcontext() if (not ddp or m == s.accum - 1) else model.no_sync()
                with sync:
                    with autocast_for(d.device, s.precision):
                        loss, metrics = objective.loss(model, batch)
                    loss = loss / s.accum
                    (scaler.scale(loss) if scaler is not None else loss).backward()
                for k, v in metrics.items():
                    v = v.float().cpu()
                    window["sums"][k] = window["sums"][k] + v if k in window["sums"] else v
            if scaler is not None:
                scaler.unscale_(optimizer)
            grad_norm = None
            if s.grad_clip > 0:
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
                grad_norm = float(grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            state.step += 1
            state.tokens += tokens_per_step
            window["tokens"] += tokens_per_step

            last = state.step >= s.total_steps
            if state.step % s.log_every == 0 or last:
                train = _aggregate(window["sums"], d)
                now = time.perf_counter()
                tps = window["tokens"] / max(1e-9, now - window["t0"])
                record = {**stamp(), "split": "train", **train, "lr": lr, "tokens_per_s": round(tps, 1)}
                if grad_norm is not None:
                    record["grad_norm"] = grad_norm
                if s.flops_per_token and s.peak_flops:
                    record["mfu"] = round(tps * s.flops_per_token / s.peak_flops, 4)
                if d.device.type == "cuda":
                    record["max_memory_bytes"] = torch.cuda.max_memory_allocated(d.device)
                _check_finite(train, state.step, "training")
                if d.main:
                    log.write(record)
                fields = {"step": state.step, "loss": train.get("loss", float("nan")), "lr": lr}
                if "mfu" in record:
                    fields["mfu"] = record["mfu"]
                progress.update(state.tokens, **fields)
                if on_progress is not None:
                    on_progress(record)
                window = {"sums": {}, "tokens": 0, "t0": time.perf_counter()}

            out_of_tokens = s.max_tokens is not None and state.tokens >= s.max_tokens
            out_of_time = s.max_time is not None and elapsed() >= s.max_time
            flag = torch.tensor([float(stop.signum)])
            all_reduce_max(flag.to(d.device) if d.device.type == "cuda" else flag, d)
            signum = int(flag.item())
            if signum:
                state.stopped_by = progress.stopped_by = signum
            finishing = last or out_of_tokens or out_of_time or signum
            due = bool(s.eval_every) and state.step % s.eval_every == 0
            # a final validation, except when a signal asks to exit fast; a scheduled one is kept even then,
            # so a resumed run logs (and selects on) exactly what an uninterrupted one does
            if due or (finishing and not signum):
                if validate() and not finishing:
                    finishing = state.stopped_early = True
            if (s.checkpoint_every and state.step % s.checkpoint_every == 0) or finishing:
                save()
            if finishing:
                progress.update(state.tokens, step=state.step)  # the last line names the step it ended at
                break
    log.close()
    state.elapsed_s = elapsed()
    return state


def _check_finite(metrics: dict, step: int, what: str) -> None:
    for k, v in metrics.items():
        if v is not None and not math.isfinite(v):  # None: a metric undefined on this data (ROC-AUC of one class)
            raise NlptError(f"{what} {k} became {v} at step {step}; nothing was checkpointed after the last good step "
                            f"(lower --lr, raise --warmup, or use --precision fp32)")
