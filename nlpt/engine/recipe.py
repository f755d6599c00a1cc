"""A pretraining run's settings, from the command line and a TOML recipe, checked and turned into `TrainOptions`.

`nlpt pretrain train` parses its options and hands their values here: a recipe (`--config run.toml`) fills the
options not given on the command line, each value held to the rule the option's own parser holds a typed
value to (`nlpt.common.values.ValueRule`); durations (`--max-time 4h`) and token counts (`--max-tokens 10B`)
are read; the model comes from `--arch` and the size flags or from `--init SOURCE`; the encoders' sentence
head is checked against the model; the inputs and outputs are checked before any work. Everything is a
one-line usage error naming the option (or the recipe and its key).

Importing this module imports no torch: the engine is imported by the functions that build the options.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Callable, Optional

from nlpt.common.errors import NlptError, UsageError
from nlpt.common.values import ValueRule


def read_recipe(path: str) -> dict:
    """The recipe's settings by option name (`max-steps` and `max_steps` alike); its [sections] are only for
    readability and are flattened."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        raise UsageError("--config needs Python 3.11 or later (tomllib)") from None

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise NlptError(f"{path}: no such recipe file") from None
    except tomllib.TOMLDecodeError as exc:
        raise NlptError(f"{path}: not a valid TOML recipe ({exc})") from None
    flat = {}
    for k, v in data.items():
        if isinstance(v, dict):
            flat.update(v)
        else:
            flat[k] = v
    return {k.replace("-", "_"): v for k, v in flat.items()}


def apply_recipe(path: str, values: dict, rules: dict, on_command_line: Callable[[str], bool]) -> dict:
    """Fill `values` (the options by name) with the recipe's settings for the options not given on the command
    line (those win); returns the recipe. `rules` holds each option's `ValueRule`."""
    recipe = read_recipe(path)
    for key, value in recipe.items():
        if key not in values or key == "config":
            raise UsageError(f"{path}: unknown option '{key}' (see 'nlpt pretrain --help')")
        if not on_command_line(key):
            values[key] = recipe_value(path, key, value, rules[key])
    return recipe


def recipe_value(path: str, key: str, value, rule: ValueRule):
    """A recipe value checked as the option's parser checks it on the command line; a usage error naming the
    recipe and the key for a value of the wrong type or out of range (`lr = "fast"`, `batch = 0`)."""
    shown = json.dumps(value, ensure_ascii=False, default=str)  # as TOML writes it: "fast", true, 2.5
    if rule.kind is list:  # the corpus: a path or a list of paths
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(x, str) for x in items):
            raise UsageError(f"{path}: {key} = {shown}: expected a path or a list of paths")
        return items
    accepted = {int: (int,), float: (int, float), bool: (bool,)}.get(rule.kind, (str, int, float))
    if isinstance(value, bool) != (rule.kind is bool) or not isinstance(value, accepted):
        what = {int: "an integer", float: "a number", bool: "true or false"}.get(rule.kind, "a string")
        raise UsageError(f"{path}: {key} = {shown}: expected {what}")
    if rule.kind is str:
        return str(value)
    problem = rule.problem(value)
    if problem == "finite":
        raise UsageError(f"{path}: {key} = {shown}: not a finite number")
    if problem == "range":
        low, high = rule.low, rule.high
        if rule.low_open:
            bounds = f"more than {low}" + (f" and at most {high}" if high is not None else "")
        else:
            bounds = f"at least {low}" if high is None else f"at most {high}" if low is None else f"between {low} and {high}"
        raise UsageError(f"{path}: {key} = {shown}: must be {bounds}")
    return float(value) if rule.kind is float else value


def parse_duration(text: str) -> float:
    """`--max-time`: seconds from 90s, 30m, 4h, 2d, HH:MM:SS or a plain number of seconds."""
    s = text.strip().lower()
    try:
        if ":" in s:
            seconds = 0.0
            for p in (float(p) for p in s.split(":")):
                seconds = seconds * 60 + p
        else:
            unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(s[-1:])
            seconds = float(s[:-1]) * unit if unit else float(s)
    except ValueError:
        raise UsageError(f"--max-time: cannot read {text!r} (use 90s, 30m, 4h or HH:MM:SS)") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"--max-time {text}: not a finite positive duration (use 90s, 30m, 4h or HH:MM:SS)")
    return seconds


ARCH_FLAGS = ("layers", "hidden", "heads", "kv_heads", "ffn", "experts", "top_k", "vocab")
DRY_RUN_ONLY = (("--gpu", "gpu"), ("--mfu", "mfu"), ("--ranks", "ranks"))
SENTENCE_HEADS = ("nsp", "sop", "none")


def with_sentence_head(config, no_nsp: bool, head: Optional[str]):
    """(model config, objective options) with `--sentence-head` / `--no-nsp` applied: encoders only, and only
    with a pooler and a second segment embedding to train the sentence pairs on (the MLM objective builds them)."""
    if config.family != "encoder":
        if no_nsp or head is not None:
            flag = "--no-nsp" if no_nsp else "--sentence-head"
            raise UsageError(f"{flag} applies to encoders (BERT-style), not the {config.family} family")
        return config, {}
    if head is not None and head not in SENTENCE_HEADS:
        raise UsageError(f"--sentence-head must be nsp, sop or none (got {head!r})")
    if no_nsp and head not in (None, "none"):
        raise UsageError(f"--no-nsp contradicts --sentence-head {head}")
    if no_nsp or head is not None:
        config = dataclasses.replace(config, sentence_head=None if no_nsp or head == "none" else head)
    if config.sentence_head and (not config.pooler or config.type_vocab_size < 2):
        raise UsageError(f"--sentence-head {config.sentence_head}: {config.variant} has no pooler or no "
                         f"second segment embedding for sentence pairs; use --sentence-head none")
    return config, {"sentence_head": config.sentence_head}


def train_options(v: dict, given: Callable[[str], bool], on_close: Callable[[Callable], None]):
    """`TrainOptions` from the values of `nlpt pretrain train`'s options (recipe applied), checked; `given(name)`
    says whether an option was given (on the command line or in the recipe), `on_close(f)` registers what to
    remove when the command ends (a scratch copy of an `--init` source's tokenizer)."""
    if not v["inputs"]:
        raise UsageError("give the corpus to pretrain on (see 'nlpt pretrain --help')")
    if isinstance(v["inputs"], str):
        v["inputs"] = [v["inputs"]]
    from nlpt.tokenizer.files import TokenizerFile
    from nlpt.transformer.params import parse_count

    try:
        tokens_limit = parse_count(v["max_tokens"]) if v["max_tokens"] is not None else None
    except ValueError as exc:
        raise UsageError(f"--max-tokens: {exc}") from None
    time_limit = parse_duration(v["max_time"]) if v["max_time"] is not None else None
    check_option_values(v, tokens_limit, given)  # before the tokenizer, the corpus or a model is read or built
    flags = {name: v[name] for name in ARCH_FLAGS}
    tokenizer = TokenizerFile(v["tokenizer"]) if v["tokenizer"] else None  # read once, by the first step needing it
    init_source = None
    if v["init"]:
        from nlpt.engine.init_source import resolve_init

        head = "none" if v["no_nsp"] else v.get("sentence_head")
        init_source, model_config, v["context"] = resolve_init(
            v["init"], flags, tokenizer, v["context"], v["dropout"], given("arch"), head)
    elif not v["tokenizer"]:
        raise UsageError("give --tokenizer (a tokenizer.json), or --init SOURCE to continue from a model")
    else:
        from nlpt.engine.run import model_config as build_config

        model_config = build_config(v["arch"], flags, context=v["context"], dropout=v["dropout"], tokenizer=tokenizer)
    model_config, objective_options = with_sentence_head(model_config, v["no_nsp"], v.get("sentence_head"))
    train_plan(v).check()

    from nlpt.corpus.reader import ReaderOptions
    from nlpt.corpus.tokenize import TokenizerOptions
    from nlpt.engine.options import TrainOptions

    tokenizer_file = v["tokenizer"]
    if init_source is not None and not tokenizer_file:
        import shutil
        import tempfile

        from nlpt.engine.init_source import write_source_tokenizer

        scratch = tempfile.mkdtemp(prefix="nlpt-init-")  # removed when the command ends, however it ends
        on_close(lambda: shutil.rmtree(scratch, ignore_errors=True))
        tokenizer_file = write_source_tokenizer(init_source, scratch)
        if init_source.tokenizer_file:  # the source's own file, already read
            tokenizer = TokenizerFile(tokenizer_file, init_source.tokenizer)
    opts = TrainOptions(
        run_dir=v["output"], corpus=list(v["inputs"]), tokenizer=tokenizer_file, model=model_config,
        init=init_source.record() if init_source is not None else None,
        objective_options=objective_options,
        objective=v["objective"], context=v["context"], batch=v["batch"], global_batch=v["global_batch"], lr=v["lr"],
        min_lr_ratio=v["min_lr_ratio"], warmup=v["warmup"], schedule=v["schedule"], weight_decay=v["weight_decay"],
        beta1=v["beta1"], beta2=v["beta2"], grad_clip=v["grad_clip"], max_steps=v["max_steps"], max_tokens=tokens_limit,
        max_time=time_limit, eval_every=v["eval_every"], eval_batches=v["eval_batches"], log_every=v["log_every"],
        checkpoint_every=v["checkpoint_every"], keep_last=v["keep_last"], resume=v["resume"], seed=v["seed"],
        resume_with_changes=v["resume_with_changes"], resume_from_older=v["resume_from_older"],
        device=v["device"], precision=v["precision"], compile=v["compile"], strategy=v["strategy"],
        val_fraction=v["val_fraction"], token_dir=v["token_dir"], threads=v["threads"],
        cpu_matmul=v["cpu_matmul"], activation_checkpointing=v["activation_checkpointing"],
        reader=ReaderOptions(tokenizer=TokenizerOptions(lower=v["lower"], nfkc=v["nfkc"])), quiet=v["quiet"],
        tensorboard=v["tensorboard"], loaded_tokenizer=tokenizer.loaded if tokenizer is not None else None)
    return opts


def check_option_values(v: dict, tokens_limit: Optional[int], given: Callable[[str], bool]) -> None:
    """The checks of `nlpt pretrain train`'s values that need no file: each option's value (`engine.options.
    check_values`), and --gpu, --mfu and --ranks, which apply to --dry-run only."""
    from nlpt.engine.options import check_values

    check_values({**v, "corpus": v["inputs"], "max_tokens": tokens_limit})
    if not v["dry_run"]:
        for flag, name in DRY_RUN_ONLY:
            if given(name):
                raise UsageError(f"{flag} applies to --dry-run only")
    else:
        from nlpt.engine.dry_run import check_plan_options

        check_plan_options(v["gpu"], v["mfu"], v["ranks"])


def train_plan(v: dict):
    """The output plan of `pretrain train`: the corpus, tokenizer, recipe and resumed run in; run folder, tokens out."""
    from nlpt.common.plan import OutputPlan, inside
    from nlpt.common.runfolder import PRETRAIN_WRITES
    from nlpt.corpus.reader import expand_inputs

    plan = OutputPlan().read("INPUTS", *v["inputs"], *expand_inputs(v["inputs"])).read("--tokenizer", v["tokenizer"])
    plan.read("--config", v.get("config")).read("--arch", v["arch"])
    if v["resume"] not in ("auto", "none") and inside(v["resume"], v["output"]) is None:  # not the run itself
        plan.read_folder("--resume", v["resume"])
    plan.read_folder("--init", v.get("init"))
    return (plan.write_folder("--output", v["output"], PRETRAIN_WRITES).write_folder("--token-dir", v["token_dir"])
            .write_folder("--export-hf", v["export_hf"], replaced=True).write_folder("--tensorboard", v.get("tensorboard")))
