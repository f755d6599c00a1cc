"""The options of a pretraining run (`TrainOptions`), their checks, and the arithmetic of its length.

`nlpt pretrain`'s flags and recipe files fill a `TrainOptions`; the run (`engine.run`), its resumption
(`engine.resume`) and `--dry-run` read the same rules from here. Torch-free.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from nlpt.common.errors import UsageError
from nlpt.models import CPU_MATMUL_BACKENDS
from nlpt.transformer.memory import PRECISIONS

SCHEDULES = ("cosine", "linear", "constant")
STRATEGIES = ("auto", "ddp", "fsdp")


@dataclass
class TrainOptions:
    """Everything a run needs; `nlpt pretrain`'s flags and recipe files fill it."""

    run_dir: str
    corpus: list
    tokenizer: str
    model: Any  # registry dataclass (GPTConfig, LlamaConfig, ...)
    objective: Optional[str] = None  # default per family (DEFAULT_OBJECTIVE)
    objective_options: dict = field(default_factory=dict)
    context: Optional[int] = None  # default: the model's max_positions
    batch: int = 8  # sequences per micro-batch per rank
    global_batch: Optional[int] = None  # sequences per optimizer step over all ranks (default batch × ranks)
    lr: float = 3e-4
    min_lr_ratio: float = 0.1
    warmup: int = 100
    schedule: str = "cosine"
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0
    max_steps: Optional[int] = None
    max_tokens: Optional[int] = None
    max_time: Optional[float] = None  # seconds
    eval_every: int = 500
    eval_batches: Optional[int] = 50  # None/0 = the whole validation split
    log_every: int = 10
    checkpoint_every: int = 1000
    keep_last: int = 3
    resume: str = "auto"  # auto | none | PATH
    resume_with_changes: bool = False  # continue a run whose settings differ (recorded in RUN_DIR/changes.jsonl)
    resume_from_older: bool = False  # the newest checkpoint unreadable: continue from the newest readable one
    seed: int = 1337
    device: str = "auto"
    precision: str = "fp32"
    compile: bool = False
    activation_checkpointing: bool = False  # recompute each block in backward (nlpt.models.checkpointing)
    strategy: str = "auto"
    val_fraction: float = 0.1
    token_dir: Optional[str] = None  # default RUN_DIR/tokens
    threads: Optional[int] = None
    cpu_matmul: str = "auto"  # auto | torch | numpy: whose BLAS multiplies on CPU (nlpt.models.cpu_matmul)
    reader: Any = None  # ReaderOptions
    quiet: bool = False
    tensorboard: Optional[str] = None  # also write the metrics as TensorBoard events here (nlpt.engine.tensorboard)
    init: Optional[dict] = None  # --init: {"source": path, "kind": "hf"|"run"|"checkpoint"} (nlpt.engine.init_source)
    loaded_tokenizer: Any = None  # the `tokenizer` file's tokenizer when the checks before the run read it already

    def resolved(self) -> dict:
        """The `train` part of config.json."""
        skip = {"run_dir", "corpus", "tokenizer", "loaded_tokenizer", "model", "objective", "objective_options", "reader",
                "quiet", "tensorboard", "resume_with_changes", "resume_from_older"}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skip}


def check_values(v: dict) -> None:
    """UsageError for option values that cannot work, from the values alone (`v`: TrainOptions' fields by name,
    as `nlpt pretrain` parsed them): the command checks them before it reads the tokenizer or the corpus or builds
    a model, and `validate_options` again for runs started from the library."""
    if not v["corpus"]:
        raise UsageError("give the corpus files to pretrain on")
    if v["max_steps"] is None and v["max_tokens"] is None:
        raise UsageError("give --max-steps or --max-tokens (the learning-rate schedule needs the length of the run)")
    for name in ("batch", "max_steps", "max_tokens", "log_every", "global_batch"):
        if v[name] is not None and v[name] < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1 (got {v[name]})")
    if not 0 < v["lr"] < 10:  # also refuses nan
        raise UsageError(f"--lr must be a positive number below 10 (got {v['lr']})")
    if v["precision"] not in PRECISIONS:
        raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)} (got {v['precision']!r})")
    if v["cpu_matmul"] not in CPU_MATMUL_BACKENDS:
        raise UsageError(f"--cpu-matmul must be one of {', '.join(CPU_MATMUL_BACKENDS)} (got {v['cpu_matmul']!r})")
    if v["schedule"] not in SCHEDULES:
        raise UsageError(f"--schedule must be one of {', '.join(SCHEDULES)} (got {v['schedule']!r})")
    if v["strategy"] not in STRATEGIES:
        raise UsageError(f"--strategy must be one of {', '.join(STRATEGIES)} (got {v['strategy']!r})")
    if not 0.0 < v["val_fraction"] < 1.0:
        raise UsageError(f"--val-fraction must be between 0 and 1 (got {v['val_fraction']})")
    from nlpt.engine.objective import OBJECTIVES

    if v["objective"] is not None and v["objective"] not in OBJECTIVES:
        raise UsageError(f"--objective must be one of {', '.join(OBJECTIVES)}, not {v['objective']!r}")


def validate_options(o: TrainOptions) -> None:
    """UsageError for options that cannot work, before anything is read or written."""
    check_values({f.name: getattr(o, f.name) for f in dataclasses.fields(o)})
    if o.tensorboard is not None:
        from nlpt.engine.tensorboard import check_available

        check_available()
    context = o.context or o.model.max_positions
    if context < 1 or context > o.model.max_positions and o.model.family in ("gpt", "encoder", "bart"):
        raise UsageError(f"--context {context} exceeds the model's position table ({o.model.max_positions}); "
                         f"raise --context on the model or lower it here")


def split_global_batch(batch: int, global_batch: Optional[int], world: int) -> tuple[int, int]:
    """(global batch, accumulation steps); UsageError when ranks × --batch does not divide --global-batch."""
    per_step = batch * world
    global_batch = global_batch or per_step
    if global_batch % per_step:
        raise UsageError(f"--global-batch {global_batch} is not a multiple of --batch {batch} × {world} "
                         f"rank{'s' if world > 1 else ''} = {per_step}")
    return global_batch, global_batch // per_step


def steps_of(o: TrainOptions, tokens_per_step: int) -> int:
    """Optimizer steps of the run: --max-steps, or the steps --max-tokens takes, whichever comes first."""
    by_tokens = -(-o.max_tokens // tokens_per_step) if o.max_tokens else None
    return min(o.max_steps, by_tokens) if o.max_steps and by_tokens else (o.max_steps or by_tokens)
