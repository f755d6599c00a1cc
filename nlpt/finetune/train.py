"""Training a task classifier on the pretraining engine's loop: epochs as steps, dev selection, early stopping.

`run_finetune` builds the classifier and a `ClassificationObjective` over the task's splits and
hands them to `nlpt.engine.loop.train_loop`, the loop `nlpt pretrain` uses, in the engine session
`nlpt pretrain` sets up (`nlpt.engine.session`): device, threads, CPU backend, precision (autocast,
fp16 scaling), accumulation of micro-batches to `--global-batch`, checkpoints, resume, SIGINT /
SIGTERM / SIGUSR1 save-and-exit, torchrun/Slurm DDP and metrics.jsonl are the engine's. An epoch
is ceil(train rows / global batch) steps; at the end of each the loop validates on dev (accuracy,
macro-F1, ROC-AUC / Pearson, Spearman) and its callbacks log the test split, keep the best-on-dev
weights and stop early (`nlpt.engine.callbacks.KeepBest`).

RUN_DIR (written as training goes; each file renamed into place when whole; rank 0 only):

    config.json       {"format": "nlpt-finetune/1", "task": {...}, "labels": [...] | null, "source": {...},
                      "encoder": {...}, "head": {...}, "train": {...}}: everything `predict` needs
    model.safetensors the best-on-dev weights of the whole classifier (body + head)
    tokenizer.json    (pretrained models) or words.txt (static vectors: the word table, id order)
    cpu-matmul.json   (pretrained models on CPU) whose BLAS multiplied and why (nlpt.models.cpu_matmul)
    metrics.jsonl     the engine's lines: {"step", "tokens", "elapsed_s", "epoch", "split": "train"|"val"|"test",
                      "loss", metrics...}; "tokens" counts training examples × their mean length
    checkpoints/      the engine's step-N checkpoints while the run is unfinished (one per epoch and one on a
                      stop signal); rerunning the same command continues from the newest. Removed at the end.
    results.json      the final summary (best epoch, dev and test metrics, skipped rows, time, compute)

With `freeze` a pretrained body is run once over every split (ELMo-style features) and only the
head trains; otherwise everything trains, the body at `body_lr`, the new head at `lr`.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field

from nlpt.common.errors import NlptError, UsageError
from nlpt.common.progress import Progress, log
from nlpt.common.runfolder import CHECKPOINTS_DIR, RESULTS_FILE, WEIGHTS_FILE, WORDS_FILE, read_json, write_json
from nlpt.transformer.memory import PRECISIONS

FORMAT = "nlpt-finetune/1"


@dataclass
class Settings:
    """Everything `nlpt finetune` was asked to do (resolved; saved in config.json)."""

    output: str
    train: str
    dev: str | None = None
    dev_split: float | None = None  # None: 0.1 when no --dev
    test: str | None = None
    format: str | None = None
    text_column: str | None = None
    pair_column: str | None = None
    label_column: str | None = None
    regression: bool = False
    strict: bool = False
    # representation: exactly one of vectors / model / dim
    vectors: str | None = None
    model: str | None = None
    dim: int | None = None
    from_scratch: bool = False
    encoder: str = "bag"  # static: bag | cnn
    filters: int = 100
    kernel_sizes: tuple = (3, 4, 5)
    lower: bool | None = None
    split_punct: bool = False
    nfkc: bool = False
    cjk: bool = False
    pooling: str | None = None  # pretrained: cls | last | mean (None: the family's default)
    head: str = "linear"
    freeze: bool = False
    max_length: int = 128
    # training
    epochs: int = 5
    batch_size: int = 32  # examples per micro-batch (per rank)
    global_batch: int | None = None  # examples per optimizer step over all ranks (default batch_size × ranks)
    lr: float = 1e-3
    body_lr: float | None = None
    weight_decay: float = 0.01
    dropout: float | None = None  # None: 0.5 for TextCNN (Kim's), else 0.1
    warmup: float = 0.1
    patience: int = 2
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    threads: int | None = None
    cpu_matmul: str = "auto"  # auto | torch | numpy (nlpt.models.cpu_matmul)
    quiet: bool = False
    resume_with_changes: bool = False  # continue a stopped run whose settings differ (recorded in changes.jsonl)
    resume_from_older: bool = False  # its newest checkpoint unreadable: continue from the newest readable one

    def check(self) -> None:
        """Option errors, before any work starts; fills in the defaults that depend on other options."""
        if self.dropout is None:
            self.dropout = 0.5 if self.encoder == "cnn" else 0.1
        sources = [name for name, v in (("--vectors", self.vectors), ("--model", self.model), ("--dim", self.dim)) if v is not None]
        if self.vectors is not None and self.dim is not None:
            sources.remove("--dim")  # with --vectors, --dim states the size the vectors must have
        if len(sources) != 1:
            raise UsageError("give one representation: --vectors FILE (static), --model DIR (pretrained), or --dim N (random word vectors)")
        if self.model is None:
            for flag, value, default in (("--pooling", self.pooling, None), ("--from-scratch", self.from_scratch, False)):
                if value != default:
                    raise UsageError(f"{flag} applies to --model only")
        if self.model is not None and self.encoder != "bag":
            raise UsageError("--encoder applies to static vectors (--vectors/--dim) only")
        if self.dim is not None and self.vectors is None and self.freeze:
            raise UsageError("--freeze with --dim would train random vectors that never change; drop one")
        if self.from_scratch and self.freeze:
            raise UsageError("--from-scratch with --freeze would keep a random body; drop one")
        if self.dev is not None and self.dev_split is not None:
            raise UsageError("--dev and --dev-split both choose the dev set; give one")
        if self.dev_split is not None and not 0.0 <= self.dev_split < 1.0:
            raise UsageError(f"--dev-split must be in [0, 1), not {self.dev_split}")
        if self.precision not in PRECISIONS:
            raise UsageError(f"--precision must be fp32, bf16 or fp16, not {self.precision!r}")
        from nlpt.models import CPU_MATMUL_BACKENDS

        if self.cpu_matmul not in CPU_MATMUL_BACKENDS:
            raise UsageError(f"--cpu-matmul must be one of {', '.join(CPU_MATMUL_BACKENDS)} (got {self.cpu_matmul!r})")
        if self.device not in ("auto", "cpu", "cuda", "mps") and not self.device.startswith("cuda:"):
            raise UsageError(f"--device must be auto, cpu, cuda[:N] or mps, not {self.device!r}")
        if self.global_batch is not None and self.global_batch < 1:
            raise UsageError(f"--global-batch must be at least 1 (got {self.global_batch})")
        if self.seed < 0:
            raise UsageError(f"--seed must be at least 0 (got {self.seed})")
        from nlpt.engine.launch import resolve_launch
        from nlpt.engine.options import split_global_batch

        split_global_batch(self.batch_size, self.global_batch, resolve_launch(os.environ).world)  # divides, or refused
        for path in (self.train, self.dev, self.test):  # the files after every option: a bad option is exit 2 first
            if path is not None and not os.path.isfile(path):
                raise NlptError(f"{path}: no such file")
        out = os.path.abspath(self.output)  # (an input inside it: the command's output plan refuses that)
        parent = os.path.dirname(out)
        if not os.path.isdir(parent):
            raise NlptError(f"{self.output}: directory {parent} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise NlptError(f"{self.output}: directory {parent} is not writable")


    def resolved(self, world: int = 1) -> dict:
        """The settings as config.json's "train" holds them: defaults that depend on others filled in (the body's
        learning rate, the global batch on `world` ranks), tuples as lists."""
        out = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}
        if self.body_lr is None:
            out["body_lr"] = self.lr / 10 if self.model is not None else self.lr
        out["global_batch"] = self.global_batch or self.batch_size * world
        return out


# settings that may differ when a stopped run is continued
_RESUME_FREE = ("output", "quiet", "threads", "device", "cpu_matmul", "resume_with_changes", "resume_from_older")
FINISHED = "finished"  # resume_point's answer for a run that has its results.json


def resume_point(s: Settings, world: int = 1):
    """What RUN_DIR (-o) holds, decided before any work (the rule of `nlpt.engine.resume`): None for a new run,
    a `nlpt.engine.resume.Found` checkpoint to continue an unfinished run from, `FINISHED` for a finished run
    of the same settings (nothing to do); an error for a folder that is not a finetune run or holds one
    with other settings (unless --resume-with-changes continues an unfinished one)."""
    from nlpt.common.runfolder import check_run_folder
    from nlpt.engine import resume

    out = os.path.abspath(s.output)
    config = check_run_folder(s.output, FORMAT, "-o")
    if config is None:
        return None
    saved = config.get("train")
    changes = resume.differences(saved if isinstance(saved, dict) else {}, s.resolved(world), _RESUME_FREE)
    if os.path.exists(os.path.join(out, RESULTS_FILE)):
        if changes:  # its checkpoints are gone: a finished run cannot be continued, with changes or without
            raise NlptError(f"{s.output}: holds a finished run with other settings ({resume.describe(changes)}); "
                            f"choose another -o")
        return FINISHED
    found = resume.newest_readable(out, s.resume_from_older)
    if found is None:
        return None  # stopped before its first checkpoint: nothing to continue, start again
    resume.refuse_changes(s.output, changes, s.resume_with_changes)
    found.changes = changes
    return found


# ---------------------------------------------------------------------------------------------
# Precision


def autocast_for(device, precision: str):
    """The engine's autocast as a context factory (frozen-feature extraction and `predict` call it per use)."""
    from nlpt.engine.loop import autocast_for as engine_autocast

    return lambda: engine_autocast(device, precision)


# ---------------------------------------------------------------------------------------------
# Reading the task


@dataclass
class Task:
    train: object
    dev: object
    test: object | None
    columns: object
    labels: object  # LabelMap
    dev_source: str

    @property
    def kind(self) -> str:
        return "regression" if self.labels.regression else "classification"


def read_task(s: Settings) -> Task:
    from nlpt.finetune.data import LabelMap, describe_notes, describe_skipped, missing_labels, read_split, split_off_dev

    train, columns = read_split("train", s.train, s.format, None, s.text_column, s.pair_column, s.label_column, s.regression, s.strict)
    labels = LabelMap.from_training(train, s.regression)
    if s.dev is not None:
        dev, _ = read_split("dev", s.dev, s.format, columns, regression=s.regression, strict=s.strict)
        dev_source = s.dev
    else:
        fraction = 0.1 if s.dev_split is None else s.dev_split
        if fraction > 0:
            train, dev = split_off_dev(train, fraction, s.seed)
            dev_source = f"{fraction:g} of {s.train} (seed {s.seed})"
        else:
            dev, dev_source = None, "none"
    test = read_split("test", s.test, s.format, columns, regression=s.regression, strict=s.strict)[0] if s.test else None
    for split in (train, dev, test):
        if split is not None:
            labels.encode(split)  # unseen labels are an error now, before any training
            for message in (describe_skipped(split), describe_notes(split),
                            missing_labels(labels, split) if split is not train else None):
                if message:
                    log(message, s.quiet)
    return Task(train, dev, test, columns, labels, dev_source)


# ---------------------------------------------------------------------------------------------
# Building the classifier


@dataclass
class Built:
    """The classifier to save, the one to train (differs only with cached frozen features), the data."""

    classifier: object
    trained: object
    splits: dict
    encoder_config: dict
    source: dict
    save_vocab: object  # callable(run_dir)
    body_params: list = field(default_factory=list)
    forward_flops_per_token: float = 0.0
    info: dict = field(default_factory=dict)
    model_config: dict | None = None  # pretrained bodies: "family" + registry fields


def _targets(labels, split):
    import torch

    values = labels.encode(split)
    return torch.tensor(values, dtype=torch.float32 if labels.regression else torch.long)


def build_static(s: Settings, task: Task) -> Built:
    from nlpt.finetune import static
    from nlpt.finetune.classification import EncodedSplit, SequenceClassifier

    import torch

    vectors = static.load_vectors(s.vectors) if s.vectors is not None else None
    if vectors is not None and s.dim is not None and vectors.dim != s.dim:
        raise NlptError(f"{s.vectors}: vectors have dimension {vectors.dim}, but --dim {s.dim} was asked")
    options, how = static.tokenizer_options_for(s.vectors, vectors, s.lower, s.split_punct, s.nfkc, s.cjk)
    log(f"tokenizing task text {how}", s.quiet)
    texts = {name: split.texts + (split.pairs or []) for name, split in (("train", task.train), ("dev", task.dev), ("test", task.test)) if split is not None}
    vocab, matrix, coverage = static.build_table(texts, vectors, options, trainable=not s.freeze, dim=s.dim,
                                                 max_length=s.max_length, seed=s.seed)
    if coverage["train_tokens"]:
        share = coverage["train_tokens_with_vectors"] / coverage["train_tokens"]
        if vectors is not None:
            log(f"{100 * share:.1f}% of training tokens have a vector; {coverage['words_from_vectors']} words from "
                f"the vectors, {coverage['words_random']} new (random) words", s.quiet)
    pair = task.train.pairs is not None
    encoder = static.build_encoder(s.encoder, len(vocab.words), matrix.shape[1], pair, s.freeze, s.filters, s.kernel_sizes)
    with torch.no_grad():
        encoder.embedding.weight.copy_(torch.from_numpy(matrix))
    classifier = SequenceClassifier(encoder, task.labels.num_outputs, s.head, s.dropout)
    min_length = getattr(encoder, "min_length", 1)
    splits = {}
    for name, split in (("train", task.train), ("dev", task.dev), ("test", task.test)):
        if split is not None:
            splits[name] = EncodedSplit(name, static.encode_split(vocab, split.texts, split.pairs), _targets(task.labels, split), min_length=min_length)
    encoder_config = {
        "kind": "static", "type": s.encoder, "words": len(vocab.words), "dim": int(matrix.shape[1]), "pair": pair,
        "filters": s.filters, "kernel_sizes": list(s.kernel_sizes), "tokenizer": vocab.options_dict(),
        "max_length": s.max_length,
    }
    source = {"kind": "vectors", "path": os.path.abspath(s.vectors)} if s.vectors else {"kind": "random", "dim": s.dim}
    conv = sum(p.numel() for n, p in encoder.named_parameters() if not n.startswith("embedding"))
    return Built(classifier, classifier, splits, encoder_config, source, lambda d: vocab.save(os.path.join(d, WORDS_FILE)),
                 body_params=[encoder.embedding.weight] if not s.freeze else [],
                 forward_flops_per_token=2.0 * conv + matrix.shape[1], info={"coverage": coverage})


def build_pretrained(s: Settings, task: Task, device, autocast) -> Built:
    import torch

    from nlpt.engine import load_pretrained
    from nlpt.finetune import pretrained as pt
    from nlpt.finetune.classification import CachedFeatures, EncodedSplit, SequenceClassifier, extract_features
    from nlpt.models import context_length

    model, tokenizer, source = load_pretrained(s.model)
    config = model.config
    if s.from_scratch:
        from nlpt.models import build

        torch.manual_seed(s.seed)
        model = build(config)
        source = {**source, "from_scratch": True}
    pooling = s.pooling or pt.default_pooling(config.family)
    max_length = min(s.max_length, context_length(config))
    if max_length < s.max_length:
        log(f"--max-length {s.max_length} is more than {s.model}'s context: examples are cut at {max_length} tokens",
            s.quiet)
    builder = pt.input_builder(tokenizer, config, max_length)
    encoder = pt.PretrainedEncoder(model, pooling)
    classifier = SequenceClassifier(encoder, task.labels.num_outputs, s.head, s.dropout)
    splits = {}
    for name, split in (("train", task.train), ("dev", task.dev), ("test", task.test)):
        if split is not None:
            splits[name] = EncodedSplit(name, builder.encode_batch(split.texts, split.pairs), _targets(task.labels, split),
                                        pad_ids={"input_ids": builder.pad})
    encoder_config = {"kind": "pretrained", "pooling": pooling, "max_length": max_length, "segments": pt.uses_segments(config)}
    # Forward compute ≈ 2 FLOPs per weight per token, over the weights hidden_states uses (no
    # embeddings, no decoder of an encoder-decoder, no pretraining heads).
    n_body = sum(p.numel() for n, p in model.named_parameters()
                 if not any(k in n for k in ("emb", "wte", "wpe", "shared", "decoder", "lm_head", "mlm_", "sentence_head")))
    save_vocab = lambda d: tokenizer.save(os.path.join(d, "tokenizer.json"))  # noqa: E731
    built = Built(classifier, classifier, splits, encoder_config, source, save_vocab,
                  body_params=[] if s.freeze else list(model.parameters()), forward_flops_per_token=2.0 * n_body,
                  model_config=pt.model_config_dict(config))
    if s.freeze:
        # ELMo-style: the body runs once over every split; the head trains on the cached features.
        for p in model.parameters():
            p.requires_grad_(False)
        encoder.to(device)
        features = {}
        with Progress("features", total=sum(len(x) for x in splits.values()), unit="examples", quiet=s.quiet) as progress:
            for name, split in splits.items():
                out = extract_features(encoder, split, 2 * s.batch_size, device, autocast)
                features[name] = EncodedSplit(name, {"features": out}, split.targets)
                progress.advance(len(split))
        built.info["feature_tokens"] = sum(split.tokens() for split in splits.values())
        built.splits = features
        built.trained = SequenceClassifier(CachedFeatures(encoder.output_dim), task.labels.num_outputs, s.head, s.dropout)
        built.trained.head = classifier.head  # one head: trained on features, saved with the body
    return built


# ---------------------------------------------------------------------------------------------
# The loop


def _param_groups(trained, body_params: list, lr: float, body_lr: float, weight_decay: float) -> list:
    """AdamW groups: the head at `lr`, the body at `body_lr` (an `lr_scale` of the loop's schedule); no decay on
    biases, norms, embeddings."""
    body_ids = {id(p) for p in body_params}
    groups: dict = {}
    for module_name, module in trained.named_modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            is_body = id(p) in body_ids
            decay = p.dim() >= 2 and "emb" not in module_name and type(module).__name__ != "Embedding"
            key = (is_body, decay)
            groups.setdefault(key, {"params": [], "lr": body_lr if is_body else lr, "lr_scale": (body_lr / lr if lr else 1.0) if is_body else 1.0,
                                    "weight_decay": weight_decay if decay else 0.0})["params"].append(p)
    seen, result = set(), []
    for group in groups.values():
        group["params"] = [p for p in group["params"] if not (id(p) in seen or seen.add(id(p)))]
        if group["params"]:
            result.append(group)
    return result


def save_weights(model, path: str) -> None:
    """The classifier's weights as safetensors, renamed into place (tied weights stored once)."""
    from safetensors.torch import save_model

    from nlpt.common.output import atomic_write_with

    atomic_write_with(path, lambda tmp: save_model(model, tmp))


class EpochRecords:
    """Loop callback (before `KeepBest`): after each dev evaluation (each epoch), evaluates the test split (a "test" line in
    metrics.jsonl, never used for selection) and records the epoch: train loss (from the loop's train line),
    dev and test metrics. Its state goes into checkpoints, so a resumed run reports every epoch."""

    def __init__(self, objective, batch_size: int, device, precision: str, steps_per_epoch: int):
        self.objective, self.batch_size, self.device, self.precision = objective, batch_size, device, precision
        self.steps_per_epoch = steps_per_epoch
        self.history: list[dict] = []
        self.train_loss: float | None = None

    def on_train_line(self, record: dict) -> None:
        self.train_loss = record.get("loss")

    def after_validation(self, model, state, val: dict, write) -> bool:
        import torch

        from nlpt.engine.loop import autocast_for

        record = {"epoch": -(-state.step // self.steps_per_epoch), "step": state.step, "train_loss": self.train_loss}
        if val:
            record["dev"] = val
        if "test" in self.objective.splits:
            with torch.no_grad(), autocast_for(self.device, self.precision):
                test = self.objective.evaluate(model, self.batch_size, self.device, split="test")
            write("test", test)
            record["test"] = test
        self.history.append(record)
        return False

    def state_dict(self) -> dict:
        return {"history": self.history}

    def load_state_dict(self, state: dict) -> None:
        self.history = list(state.get("history") or [])


def finished_results(s: Settings) -> dict:
    """The results.json of a finished run rerun with the same settings (nothing is trained); says so."""
    path = os.path.join(s.output, RESULTS_FILE)
    results = read_json(path)
    if not isinstance(results, dict):
        raise NlptError(f"{path}: not a finetune results file")
    log(f"{s.output}: the run has already finished ({path}); nothing to do (its results follow)", s.quiet)
    return {**results, "already_finished": True}


def stop_note_for(run_dir: str) -> str | None:
    """What a stop signal outside the training loop leaves in RUN_DIR, for its one line (`stop_note`; the
    loop's own stop is reported with the checkpoint it saves): a finished run's complete results.json, else the
    newest checkpoint, which a rerun continues from (or writes the results from); None when there is neither.
    Read from the folder when the signal comes: results.json and checkpoints are renamed into place whole."""
    from nlpt.engine.checkpoint import intact_note

    results = os.path.join(run_dir, RESULTS_FILE)
    if os.path.isfile(results):
        return f"the run had finished: {results} is complete"
    return intact_note(run_dir)


def run_finetune(s: Settings) -> dict | None:
    """Train, select on dev, evaluate on test, write RUN_DIR; returns the results (also results.json) on rank 0,
    None on the other ranks. `results["stopped_by"]` names a stop signal (the run can be continued)."""
    import dataclasses

    from nlpt.engine.launch import resolve_launch
    from nlpt.engine.options import split_global_batch

    s.check()
    launch = resolve_launch(os.environ)
    if launch.rank != 0:
        s = dataclasses.replace(s, quiet=True)
    start = time.perf_counter()
    if s.model is not None:
        from nlpt.models.sources import source_kind

        source_kind(s.model)  # not a model folder, or an unsupported family: fail before any work
    global_batch, accum = split_global_batch(s.batch_size, s.global_batch, launch.world)
    found = resume_point(s, launch.world)  # every rank: a finished run ends here on all of them
    if found == FINISHED:
        return finished_results(s) if launch.rank == 0 else None
    if found:
        from nlpt.engine.resume import resuming

        log(resuming(found), s.quiet)
    task = read_task(s)
    import torch

    from nlpt.engine.loop import train_loop
    from nlpt.engine.session import open_session

    run_dir = os.path.abspath(s.output)
    weights_path = os.path.join(run_dir, WEIGHTS_FILE)
    # static encoders are torch's own layers: only nlpt's Transformer layers have a CPU backend to choose
    with open_session(s.device, s.precision, s.threads, s.cpu_matmul if s.model is not None else None,
                      quiet=s.quiet) as run:
        torch.manual_seed(s.seed)
        autocast = autocast_for(run.device, s.precision)
        built = build_pretrained(s, task, run.device, autocast) if s.model is not None else build_static(s, task)
        run.announce_backend()
        objective = _objective(s, task, built, global_batch)
        trained = built.trained.to(run.device)
        built.classifier.to(run.device)
        body_lr = s.resolved(launch.world)["body_lr"]
        optimizer = torch.optim.AdamW(_param_groups(trained, built.body_params, s.lr, body_lr, s.weight_decay), lr=s.lr)
        scaler = torch.amp.GradScaler("cuda") if s.precision == "fp16" else None
        generator = torch.Generator().manual_seed(s.seed)  # unused by the epoch reader; kept for the loop's checkpoints
        records, keep = _callbacks(s, task, built, objective, run, weights_path)
        callbacks = [records, keep] if keep is not None else [records]
        state = run.restore(found, trained, optimizer, generator, scaler, callbacks)
        model = run.wrap(trained, find_unused=s.model is not None and not s.freeze)
        config = _run_config(s, task, built, run.world, accum, objective.steps_per_epoch)
        run.start_run_folder(run_dir, config, state, found, found.changes if found else ())
        if run.main:
            built.save_vocab(run_dir)
            log(_plan_line(s, task, built, optimizer, config["train"], run), s.quiet)
        run.barrier()

        settings = _loop_settings(s, accum, objective.steps_per_epoch, built.splits["train"])
        state = train_loop(model, trained, optimizer, objective, generator, settings, run.d, run_dir, state,
                           {"format": FORMAT}, scaler, on_progress=records.on_train_line, callbacks=callbacks)
        if task.dev is None and run.main:  # no dev set: the last epoch is the model
            save_weights(built.classifier, weights_path)
        if not run.main:
            return None
        if state.stopped_by:
            return {"run_dir": run_dir, "stopped_by": state.stopped_by, "steps": state.step, "checkpoint": state.checkpoint}
        results = _results(s, task, built, config, records, keep, state, time.perf_counter() - start, optimizer)
    if state.stopped_early:
        log(f"dev {keep.metric} has not improved for {s.patience} epochs: stopped early after epoch "
            f"{results['epochs']}", s.quiet)
    write_json(os.path.join(run_dir, RESULTS_FILE), results)
    import shutil

    shutil.rmtree(os.path.join(run_dir, CHECKPOINTS_DIR), ignore_errors=True)  # only for continuing an unfinished run
    return results


def _callbacks(s: Settings, task: Task, built: Built, objective, run, weights_path: str):
    """(`EpochRecords`, `KeepBest` or None without a dev set): the loop's callbacks at each epoch's end."""
    from nlpt.engine.callbacks import KeepBest
    from nlpt.finetune.metrics import SELECTION_METRIC

    records = EpochRecords(objective, s.batch_size, run.device, s.precision, objective.steps_per_epoch)
    if task.dev is None:
        return records, None
    keep = KeepBest(SELECTION_METRIC[task.kind], lambda model, state: save_weights(built.classifier, weights_path),
                    patience=s.patience, main=run.main)
    return records, keep


def _objective(s: Settings, task: Task, built: Built, global_batch: int):
    """The task as the loop's objective: epochs over the training rows, dev as validation (metrics that select
    the best epoch), test logged beside it. A regression head starts from the mean score, not 0: the first
    epochs then learn the differences."""
    import torch

    from nlpt.finetune.classification import ClassificationObjective
    from nlpt.finetune.metrics import classification_metrics, regression_metrics

    if task.labels.regression:
        with torch.no_grad():
            built.classifier.head.layers[-1].bias.fill_(float(built.splits["train"].targets.mean()))
    splits = {("val" if name == "dev" else name): split for name, split in built.splits.items()}
    score = regression_metrics if task.labels.regression else classification_metrics
    return ClassificationObjective(task.labels.regression, splits, s.seed, global_batch, score)


def _run_config(s: Settings, task: Task, built: Built, world: int, accum: int, steps_per_epoch: int) -> dict:
    """The run's config.json: everything `predict` needs (layout in the module docstring)."""
    return {
        "format": FORMAT,
        "task": {"kind": "regression" if task.labels.regression else "classification", "format": s.format,
                 "columns": asdict(task.columns), "train": os.path.abspath(s.train), "dev": task.dev_source,
                 "test": os.path.abspath(s.test) if s.test else None},
        "labels": task.labels.labels,
        "source": built.source,
        **({"model": built.model_config} if built.model_config else {}),  # the architecture, as pretrain saves it
        "encoder": built.encoder_config,
        "head": {"type": s.head, "dropout": s.dropout, "outputs": task.labels.num_outputs},
        "freeze": s.freeze,
        "train": {**s.resolved(world), "accum": accum, "world": world, "steps_per_epoch": steps_per_epoch,
                  "total_steps": steps_per_epoch * s.epochs},
    }


def _parameters(built: Built, optimizer) -> dict:
    return {"total": sum(p.numel() for p in built.classifier.parameters()),
            "trainable": sum(p.numel() for g in optimizer.param_groups for p in g["params"])}


def _plan_line(s: Settings, task: Task, built: Built, optimizer, train: dict, run) -> str:
    """What is about to train, in one line."""
    n = _parameters(built, optimizer)
    world = run.world
    return (f"{task.kind}: {len(task.train)} train, {len(task.dev) if task.dev else 0} dev, "
            f"{len(task.test) if task.test else 0} test rows; {n['trainable']:,} of {n['total']:,} parameters train; "
            f"global batch {train['global_batch']} ({s.batch_size} × {train['accum']} accumulated × {world} rank"
            f"{'s' if world > 1 else ''}), {train['steps_per_epoch']} steps per epoch; device {run.device}")


def _loop_settings(s: Settings, accum: int, steps_per_epoch: int, train_split):
    """The loop's settings for epochs: validation, a log line and a checkpoint at the end of each."""
    from nlpt.engine.loop import LoopSettings

    total_steps = steps_per_epoch * s.epochs
    mean_length = train_split.tokens() / max(1, len(train_split))
    return LoopSettings(
        micro_batch=s.batch_size, accum=accum, context=max(1, round(mean_length)), total_steps=total_steps, lr=s.lr,
        warmup=int(s.warmup * total_steps), schedule="linear", min_lr_ratio=0.0, grad_clip=1.0,
        eval_every=steps_per_epoch, log_every=steps_per_epoch,  # no dev set: the test line still comes
        checkpoint_every=steps_per_epoch, keep_last=1, precision=s.precision, quiet=s.quiet,
        steps_per_epoch=steps_per_epoch, progress_name="finetune")


def _results(s: Settings, task: Task, built: Built, config: dict, records, keep, state, elapsed: float,
             optimizer) -> dict:
    """results.json: the selected epoch's dev and test metrics, every epoch's, what was skipped, the compute."""
    steps_per_epoch = config["train"]["steps_per_epoch"]
    history = [{"epoch": r["epoch"], "train_loss": r["train_loss"], **{k: r[k] for k in ("dev", "test") if k in r}}
               for r in records.history]
    if keep is not None and keep.best is not None:
        best_step = keep.best["step"]
        best = next(r for r in history if r["epoch"] == -(-best_step // steps_per_epoch))
    else:
        best = history[-1] if history else {"epoch": 0}
    if s.freeze and s.model is not None:
        # The body ran once over every split; only the head trained.
        flops = built.forward_flops_per_token * built.info.get("feature_tokens", 0)
    else:
        factor = 3.0 if built.body_params else 1.0  # backward through a trained body costs twice the forward
        flops = factor * built.forward_flops_per_token * state.tokens
    splits = (("train", task.train), ("dev", task.dev), ("test", task.test))
    return {
        "run_dir": os.path.abspath(s.output),
        "task": task.kind,
        "labels": task.labels.labels,
        "source": built.source,
        "encoder": built.encoder_config.get("type") or (built.model_config or {}).get("family"),
        "pooling": built.encoder_config.get("pooling"),
        "freeze": s.freeze,
        "rows": {name: len(split) for name, split in splits if split is not None},
        "skipped": {split.name: dict(split.skipped) for _, split in splits if split is not None and split.skipped},
        "epochs": len(history),
        "best_epoch": best["epoch"],
        "selected_on": f"dev {keep.metric}" if keep is not None else "last epoch (no dev set)",
        "stopped_early": state.stopped_early,
        "dev": best.get("dev"),
        "test": best.get("test"),
        "history": history,
        "parameters": _parameters(built, optimizer),
        "global_batch": config["train"]["global_batch"],
        "steps": state.step,
        "train_tokens": state.tokens,
        "compute_flops": flops,
        "elapsed_s": round(elapsed, 3),
        "stopped_by": None,
        **built.info,
    }
