"""Training a task classifier: the epochs, dev selection, early stopping and the run folder.

RUN_DIR (written as training goes; each file renamed into place when whole):

    config.json       {"format": "nlpt-finetune/1", "task": {...}, "labels": [...] | null, "source": {...},
                      "encoder": {...}, "head": {...}, "train": {...}}: everything `predict` needs
    model.safetensors the best-on-dev weights of the whole classifier (body + head)
    tokenizer.json    (pretrained models) or words.txt (static vectors: the word table, id order)
    metrics.jsonl     one line per evaluation, as pretraining writes: {"step", "tokens", "elapsed_s",
                      "split": "train"|"val"|"test", "loss", "epoch", metrics...}
    results.json      the final summary (best epoch, dev and test metrics, skipped rows, time, compute)

With `freeze` a pretrained body is run once over every split (ELMo-style features) and only the
head trains; otherwise everything trains, the body at `body_lr`, the new head at `lr`.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field

from nlpt.common.errors import NlptError, UsageError
from nlpt.common.progress import Progress, log

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
    pooling: str | None = None  # pretrained: cls | last | mean (None: the family's default)
    head: str = "linear"
    freeze: bool = False
    max_length: int = 128
    # training
    epochs: int = 5
    batch_size: int = 32
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
    quiet: bool = False

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
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise UsageError(f"--precision must be fp32, bf16 or fp16, not {self.precision!r}")
        if self.device not in ("auto", "cpu", "cuda", "mps") and not self.device.startswith("cuda:"):
            raise UsageError(f"--device must be auto, cpu, cuda[:N] or mps, not {self.device!r}")
        for path in (self.train, self.dev, self.test):
            if path is not None and not os.path.isfile(path):
                raise NlptError(f"{path}: no such file")
        out = os.path.abspath(self.output)
        inputs = [p for p in (self.train, self.dev, self.test, self.vectors, self.model) if p is not None]
        if any(os.path.abspath(p) == out for p in inputs):
            raise UsageError(f"{self.output}: the output folder is one of the inputs")
        if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
            raise NlptError(f"{self.output}: already exists and is not an empty folder; choose another -o")
        parent = os.path.dirname(out)
        if not os.path.isdir(parent):
            raise NlptError(f"{self.output}: directory {parent} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise NlptError(f"{self.output}: directory {parent} is not writable")


# ---------------------------------------------------------------------------------------------
# Device and precision


def resolve_device(name: str):
    """The engine's device choice (auto: CUDA, then MPS, then CPU); `cuda:N` names one GPU."""
    import torch

    from nlpt.engine.distributed import pick_device

    if name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is available to this torch")
        return torch.device(name)
    return pick_device(name)


def autocast_for(device, precision: str):
    import contextlib

    import torch

    if precision == "fp32":
        return contextlib.nullcontext
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


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


def read_task(s: Settings) -> Task:
    from nlpt.finetune.data import LabelMap, describe_skipped, read_split, split_off_dev

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
            message = describe_skipped(split)
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
    from nlpt.objectives.classification import EncodedSplit, SequenceClassifier

    import torch

    vectors = static.load_vectors(s.vectors) if s.vectors is not None else None
    if vectors is not None and s.dim is not None and vectors.dim != s.dim:
        raise NlptError(f"{s.vectors}: vectors have dimension {vectors.dim}, but --dim {s.dim} was asked")
    options, how = static.tokenizer_options_for(s.vectors, vectors, s.lower, s.split_punct, False, False)
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
    return Built(classifier, classifier, splits, encoder_config, source, lambda d: vocab.save(os.path.join(d, "words.txt")),
                 body_params=[encoder.embedding.weight] if not s.freeze else [],
                 forward_flops_per_token=2.0 * conv + matrix.shape[1], info={"coverage": coverage})


def build_pretrained(s: Settings, task: Task, device, autocast) -> Built:
    import torch

    from nlpt.finetune import pretrained as pt
    from nlpt.objectives.classification import CachedFeatures, EncodedSplit, SequenceClassifier, extract_features

    model, tokenizer, source = pt.load_pretrained(s.model)
    config = model.config
    if s.from_scratch:
        from nlpt.models import build

        torch.manual_seed(s.seed)
        model = build(config)
        source = {**source, "from_scratch": True}
    pooling = s.pooling or pt.default_pooling(config.family)
    max_length = min(s.max_length, pt.context_length(config))
    builder = pt.InputBuilder(tokenizer, config.family, max_length, pt.uses_segments(config))
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
    """AdamW groups: the head at `lr`, the body at `body_lr`; no decay on biases, norms, embeddings."""
    body_ids = {id(p) for p in body_params}
    groups: dict = {}
    for module_name, module in trained.named_modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            is_body = id(p) in body_ids
            decay = p.dim() >= 2 and "emb" not in module_name and type(module).__name__ != "Embedding"
            key = (is_body, decay)
            groups.setdefault(key, {"params": [], "lr": body_lr if is_body else lr,
                                    "weight_decay": weight_decay if decay else 0.0})["params"].append(p)
    seen, result = set(), []
    for group in groups.values():
        group["params"] = [p for p in group["params"] if not (id(p) in seen or seen.add(id(p)))]
        if group["params"]:
            result.append(group)
    return result


def _evaluate(model, split, labels, batch_size: int, device, autocast) -> dict:
    import torch

    from nlpt.finetune.metrics import classification_metrics, regression_metrics
    from nlpt.objectives.classification import predict

    out = predict(model, split, batch_size, device, autocast)
    targets = split.targets
    if labels.regression:
        loss = float(torch.mean((out - targets) ** 2)) if len(targets) else 0.0
        metrics = regression_metrics(targets.numpy(), out.numpy())
    else:
        p = out.clamp(min=1e-12)
        loss = float(-torch.log(p[torch.arange(len(targets)), targets]).mean()) if len(targets) else 0.0
        metrics = classification_metrics(targets.numpy(), out.numpy())
    return {"loss": loss, **metrics}


class MetricsLog:
    """Appends one JSON object per line to RUN_DIR/metrics.jsonl (the format pretraining writes)."""

    def __init__(self, path: str):
        self.path = path

    def write(self, record: dict) -> None:
        for key, value in record.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise NlptError(f"{key} became {value} (diverged); try a lower --lr")
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")


def save_weights(model, path: str) -> None:
    """The classifier's weights as safetensors, renamed into place (tied weights stored once)."""
    from safetensors.torch import save_model

    from nlpt.common.output import atomic_write_with

    atomic_write_with(path, lambda tmp: save_model(model, tmp))


def _write_json(path: str, data: dict) -> None:
    from nlpt.common.output import atomic_output

    with atomic_output(path) as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")


def _better(new: dict, old: dict, metric: str) -> bool:
    """A higher dev `metric`, or the same with a lower dev loss (small dev sets tie often)."""
    a = -math.inf if new[metric] is None else new[metric]
    b = -math.inf if old[metric] is None else old[metric]
    return a > b or (a == b and new["loss"] < old["loss"])


def run_finetune(s: Settings) -> dict:
    """Train, select on dev, evaluate on test, write RUN_DIR; returns the results (also results.json)."""
    s.check()
    start = time.perf_counter()
    if s.model is not None:
        from nlpt.finetune.sources import source_kind

        source_kind(s.model)  # not a model folder, or an unsupported family: fail before any work
    task = read_task(s)
    import torch  # after the checks: bad input fails without paying for the import

    from nlpt.common.threads import resolve_threads
    from nlpt.finetune.metrics import SELECTION_METRIC
    from nlpt.objectives.classification import ClassificationObjective

    device = resolve_device(s.device)
    if device.type == "cpu":
        torch.set_num_threads(resolve_threads(s.threads))
    autocast = autocast_for(device, s.precision)
    torch.manual_seed(s.seed)
    built = build_pretrained(s, task, device, autocast) if s.model is not None else build_static(s, task)
    kind = "regression" if task.labels.regression else "classification"
    select = SELECTION_METRIC[kind]
    if task.labels.regression:  # start from the mean score, not 0: the first epochs then learn the differences
        with torch.no_grad():
            built.classifier.head.layers[-1].bias.fill_(float(built.splits["train"].targets.mean()))

    run_dir = os.path.abspath(s.output)
    os.makedirs(run_dir, exist_ok=True)
    settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(s).items()}
    body_lr = s.body_lr if s.body_lr is not None else (s.lr / 10 if s.model is not None else s.lr)
    config = {
        "format": FORMAT,
        "task": {"kind": kind, "format": s.format, "columns": asdict(task.columns), "train": os.path.abspath(s.train),
                 "dev": task.dev_source, "test": os.path.abspath(s.test) if s.test else None},
        "labels": task.labels.labels,
        "source": built.source,
        **({"model": built.model_config} if built.model_config else {}),  # the architecture, as pretrain saves it
        "encoder": built.encoder_config,
        "head": {"type": s.head, "dropout": s.dropout, "outputs": task.labels.num_outputs},
        "freeze": s.freeze,
        "train": {**settings, "body_lr": body_lr},
    }
    _write_json(os.path.join(run_dir, "config.json"), config)
    built.save_vocab(run_dir)
    metrics_log = MetricsLog(os.path.join(run_dir, "metrics.jsonl"))
    weights_path = os.path.join(run_dir, "model.safetensors")

    trained = built.trained.to(device)
    built.classifier.to(device)
    objective = ClassificationObjective(task.labels.regression)
    optimizer = torch.optim.AdamW(_param_groups(trained, built.body_params, s.lr, body_lr, s.weight_decay), lr=s.lr)
    train_split = built.splits["train"]
    steps_per_epoch = math.ceil(len(train_split) / s.batch_size)
    total_steps = steps_per_epoch * s.epochs
    warmup = int(s.warmup * total_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: (step + 1) / max(1, warmup) if step < warmup else max(0.0, (total_steps - step) / max(1, total_steps - warmup)))
    generator = torch.Generator().manual_seed(s.seed)
    scaler = torch.amp.GradScaler(device.type) if s.precision == "fp16" else None
    trainable = [p for g in optimizer.param_groups for p in g["params"]]
    n_trainable = sum(p.numel() for p in trainable)
    n_total = sum(p.numel() for p in built.classifier.parameters())
    log(f"{kind}: {len(task.train)} train, {len(task.dev) if task.dev else 0} dev, "
        f"{len(task.test) if task.test else 0} test rows; {n_trainable:,} of {n_total:,} parameters train; device {device}", s.quiet)

    try:
        best, history, tokens = _epochs(s, built, task, trained, objective, optimizer, schedule, scaler, trainable, generator,
                                metrics_log, weights_path, device, autocast, select, total_steps, start)
    except KeyboardInterrupt:
        if os.path.exists(weights_path):
            log(f"interrupted: {run_dir}/model.safetensors holds the best epoch so far (no results.json)", s.quiet)
        raise

    elapsed = time.perf_counter() - start
    if s.freeze and s.model is not None:
        # The body ran once over every split; only the head trained.
        flops = built.forward_flops_per_token * built.info.get("feature_tokens", 0)
    else:
        factor = 3.0 if built.body_params else 1.0  # backward through a trained body costs twice the forward
        flops = factor * built.forward_flops_per_token * tokens
    results = {
        "run_dir": run_dir,
        "task": kind,
        "labels": task.labels.labels,
        "source": built.source,
        "encoder": built.encoder_config.get("type") or (built.model_config or {}).get("family"),
        "pooling": built.encoder_config.get("pooling"),
        "freeze": s.freeze,
        "rows": {name: len(split) for name, split in (("train", task.train), ("dev", task.dev), ("test", task.test)) if split is not None},
        "skipped": {split.name: dict(split.skipped) for split in (task.train, task.dev, task.test) if split is not None and split.skipped},
        "epochs": len(history),
        "best_epoch": best["epoch"],
        "selected_on": f"dev {select}" if task.dev is not None else "last epoch (no dev set)",
        "dev": best.get("dev"),
        "test": best.get("test"),
        "history": history,
        "parameters": {"total": n_total, "trainable": n_trainable},
        "train_tokens": tokens,
        "compute_flops": flops,
        "elapsed_s": round(elapsed, 3),
        **built.info,
    }
    _write_json(os.path.join(run_dir, "results.json"), results)
    return results


def _epochs(s, built, task, trained, objective, optimizer, schedule, scaler, trainable, generator, metrics_log,
            weights_path, device, autocast, select, total_steps, start):
    """The training epochs; returns (best epoch's record, every epoch's record, tokens trained on)."""
    import torch

    step = tokens = 0
    history: list[dict] = []
    best: dict | None = None
    stale = 0
    train_split = built.splits["train"]
    with Progress("finetune", total=total_steps * s.batch_size, unit="examples", quiet=s.quiet) as progress:
        for epoch in range(1, s.epochs + 1):
            trained.train()
            loss_sum = seen = 0.0
            for batch in train_split.batches(s.batch_size, generator):
                n = len(batch["labels"])
                tokens += int(batch["attention_mask"].sum()) if "attention_mask" in batch else 0
                batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                with autocast():
                    loss, _ = objective.loss(trained, batch)
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                    optimizer.step()
                schedule.step()
                step += 1
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise NlptError(f"training loss became {value} at epoch {epoch}, step {step} (diverged); try a lower --lr")
                loss_sum += value * n
                seen += n
                progress.advance(n, epoch=epoch, loss=loss_sum / seen)
            elapsed = time.perf_counter() - start
            record = {"epoch": epoch, "train_loss": loss_sum / max(seen, 1)}
            metrics_log.write({"step": step, "tokens": tokens, "elapsed_s": round(elapsed, 3), "split": "train",
                               "loss": loss_sum / max(seen, 1), "lr": schedule.get_last_lr()[-1], "epoch": epoch})
            for name, split_name in (("dev", "val"), ("test", "test")):
                if name in built.splits:
                    result = _evaluate(trained, built.splits[name], task.labels, 2 * s.batch_size, device, autocast)
                    record[name] = result
                    metrics_log.write({"step": step, "tokens": tokens, "elapsed_s": round(elapsed, 3), "split": split_name,
                                       "epoch": epoch, **result})
            history.append(record)
            improved = best is None or "dev" not in record or _better(record["dev"], best["dev"], select)
            if improved:
                best, stale = record, 0
                save_weights(built.classifier, weights_path)
            else:
                stale += 1
            if "dev" in record:
                progress.update(progress.done, **{f"dev_{select}": record["dev"][select] or 0.0})
            if "dev" in record and stale >= s.patience:
                log(f"dev {select} has not improved for {stale} epochs: stopping early after epoch {epoch}", s.quiet)
                break
    return best, history, tokens
