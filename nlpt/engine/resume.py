"""Rerunning a command on its run folder: continue, do nothing, or refuse; the rule `pretrain` and `finetune` share.

A run folder remembers the settings it was trained with (config.json). Rerunning a command on it:

* continues an unfinished run from its newest checkpoint when the settings are the same, and says
  "resuming from step N (checkpoint …)";
* does nothing (and says so) when the run has already finished: a rerun never trains past its
  limits nor drops older checkpoints;
* refuses, naming the differing settings, when they differ, unless `--resume-with-changes` is
  given: then the run continues with the new settings and the change is appended to
  RUN_DIR/changes.jsonl (one JSON object a line: step, checkpoint, time, {setting: {then, now}});
* stops with one line when the newest checkpoint cannot be read, and falls back to the newest
  readable older one only with `--resume-from-older`.

Settings that do not change what is trained (threads, device, logging and checkpoint intervals...)
are each caller's `ignore` list and may differ freely.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from nlpt.common import jsontext
from nlpt.common.errors import NlptError
from nlpt.common.output import os_reason
from nlpt.common.runfolder import CHANGES_FILE, RUN_FORMAT, STATE_FILE

CHANGES_FLAG = "--resume-with-changes"
OLDER_FLAG = "--resume-from-older"


@dataclass
class Change:
    name: str
    then: Any
    now: Any


def differences(saved: dict, now: dict, ignore: Iterable[str] = ()) -> list[Change]:
    """The settings of `now` whose value differs from `saved` (keys in `ignore` left out), in `now`'s order."""
    skip = set(ignore)
    return [Change(k, saved.get(k), v) for k, v in now.items() if k not in skip and saved.get(k) != v]


def describe(changes: list[Change], limit: int = 4) -> str:
    """"lr: 0.001 then, 0.002 now, seed: ..." for a message."""
    shown = ", ".join(f"{c.name}: {_short(c.then)} then, {_short(c.now)} now" for c in changes[:limit])
    return shown + (f" and {len(changes) - limit} more" if len(changes) > limit else "")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def refuse_changes(run_dir: str, changes: list[Change], allowed: bool, finished: bool = False) -> None:
    """NlptError naming the differing settings, unless `allowed` (the user gave --resume-with-changes)."""
    if not changes or allowed:
        return
    what = "a finished" if finished else "an unfinished"
    raise NlptError(f"{run_dir}: holds {what} run with other settings ({describe(changes)}); rerun it with the same "
                    f"options to continue it, add {CHANGES_FLAG} to continue it with these, or choose another -o")


def record_changes(run_dir: str, step: int, checkpoint: Optional[str], changes: list[Change]) -> str:
    """Append the accepted changes to RUN_DIR/changes.jsonl (a log: earlier lines are never rewritten); its path."""
    path = os.path.join(run_dir, CHANGES_FILE)
    entry = {"step": step, "checkpoint": checkpoint, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
             "changes": {c.name: {"then": c.then, "now": c.now} for c in changes}}
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(jsontext.dumps(entry, path, default=str) + "\n")
    except OSError as exc:
        raise NlptError(f"{path}: cannot write ({os_reason(exc)})") from None
    return path


def changes_note(changes: list[Change], path: str) -> str:
    return f"continuing with changed settings ({describe(changes, limit=8)}); recorded in {path}"


def resuming(found: "Found") -> str:
    """The line every resume prints (naming the newer checkpoints --resume-from-older passed over)."""
    passed = "".join(f"; {os.path.basename(path)} unreadable, passed over" for path, _ in found.skipped)
    return f"resuming from step {found.step} (checkpoint {found.path}{passed})"


def finished_note(run_dir: str, step: int, checkpoint: Optional[str], how: str) -> str:
    where = f"; checkpoint {checkpoint}" if checkpoint else ""
    return (f"{run_dir}: the run has already finished at step {step} ({how}{where}); nothing to do "
            f"(to train further, raise the limit and add {CHANGES_FLAG})")


@dataclass
class Found:
    """A readable checkpoint: its folder, its `checkpoint.Reader`, the step it holds and the unreadable ones skipped."""

    path: str
    reader: Any
    step: int
    skipped: list = field(default_factory=list)  # [(folder, reason)] newer than `path`
    changes: list = field(default_factory=list)  # accepted setting changes (--resume-with-changes)


def newest_readable(run_dir: str, fall_back: bool) -> Optional[Found]:
    """The run's newest checkpoint, opened; None when it has none.

    When it cannot be read (an empty or damaged state.pt, a truncated weights file), NlptError says so,
    unless `fall_back` (--resume-from-older): then older ones are tried, newest first."""
    from nlpt.engine import checkpoint as ckpt

    skipped: list = []
    checkpoints = ckpt.list_checkpoints(run_dir)
    for _, path in reversed(checkpoints):
        try:
            reader = _opened(path)
        except NlptError as exc:
            if not fall_back:
                older = f" (add {OLDER_FLAG} to continue from the newest readable older one)" if len(
                    checkpoints) > 1 else ""
                raise NlptError(f"{exc}; the run's newest checkpoint is unreadable, nothing was resumed{older}") from None
            skipped.append((path, str(exc)))
            continue
        return Found(path, reader, int(reader.state.get("step", 0)), skipped)
    if skipped:
        raise NlptError(f"{run_dir}: no readable checkpoint ({skipped[0][1]})")
    return None


def open_checkpoint(path: str) -> Found:
    """An explicitly named checkpoint (a step-N folder or a run folder's newest), opened; never a fall-back."""
    from nlpt.engine import checkpoint as ckpt

    folder = ckpt.resolve(path)
    reader = _opened(folder)
    return Found(folder, reader, int(reader.state.get("step", 0)))


def _opened(folder: str):
    """`checkpoint.Reader(folder)` with the state a resume needs checked (a damaged or foreign state.pt can be a
    valid file without it): NlptError naming what is missing."""
    import torch

    from nlpt.engine import checkpoint as ckpt

    reader = ckpt.Reader(folder)
    state = reader.state
    for key, kinds in (("step", (int,)), ("tokens", (int,)), ("elapsed_s", (int, float)),
                       ("rng_torch", (torch.Tensor,)), ("rng_data", (torch.Tensor,))):
        if not isinstance(state.get(key), kinds) or isinstance(state.get(key), bool):
            raise NlptError(f"{os.path.join(folder, STATE_FILE)}: not a complete checkpoint state ({key} is "
                            f"{'missing' if key not in state else type(state[key]).__name__})")
    return reader


# ---------------------------------------------------------------------------------------------
# `nlpt pretrain`

# options that do not change what a run trains: they may differ when it is continued
PRETRAIN_FREE = ("resume", "resume_with_changes", "resume_from_older", "quiet", "threads", "device", "cpu_matmul",
                 "compile", "activation_checkpointing", "strategy", "token_dir", "eval_every", "eval_batches",
                 "log_every", "checkpoint_every", "keep_last")


@dataclass
class Plan:
    """What a `pretrain` call will do with its run folder, decided before any work."""

    found: Optional[Found]  # the checkpoint to continue from (None: a new run)
    changes: list  # accepted setting changes (with --resume-with-changes), to record once training starts
    finished: Optional[str]  # how the run already finished (then nothing is to be done), else None


def plan_pretrain(o, model_dict: dict, objective: str, context: int, global_batch: int) -> Plan:
    """Check RUN_DIR (-o) and choose the checkpoint to continue from; see the module docstring.

    `o` is the run's `TrainOptions`; `context` and `global_batch` as resolved for this launch. NlptError for a
    folder that is not a pretrain run, an unreadable checkpoint, another architecture or other settings."""
    from nlpt.common.runfolder import check_run_folder
    from nlpt.engine import checkpoint as ckpt
    from nlpt.engine.options import steps_of

    existing = check_run_folder(o.run_dir, RUN_FORMAT, "-o", own=("tokens",))
    if o.resume == "none":
        held = ckpt.list_checkpoints(o.run_dir) if existing else []
        if held:  # starting over would replace its checkpoints and metrics: a rerun never destroys a run
            raise NlptError(f"{o.run_dir}: --resume none, but the folder holds a run (checkpoints up to step "
                            f"{held[-1][0]}); choose another -o to start a new one")
        found = None
    elif o.resume == "auto":
        found = newest_readable(o.run_dir, o.resume_from_older) if os.path.isdir(o.run_dir) else None
    else:
        found = open_checkpoint(o.resume)
    if found is None:
        return Plan(None, [], None)
    ckpt.check_same_model(found.reader.state.get("model", {}), model_dict, found.path)
    changes: list = []
    if existing:
        saved = existing
        now = _pretrain_settings(o, objective, context, global_batch)
        changes = differences(_saved_pretrain_settings(saved, o.run_dir), now, PRETRAIN_FREE)
        changes += _corpus_changes(saved, o)
    state = found.reader.state
    tokens_per_step = global_batch * context
    total_steps = steps_of(o, tokens_per_step)
    step, tokens, elapsed = int(state.get("step", 0)), int(state.get("tokens", 0)), float(state.get("elapsed_s", 0.0))
    finished = None
    if step >= total_steps:
        finished = f"all {total_steps} steps"
    elif o.max_tokens is not None and tokens >= o.max_tokens:
        finished = f"--max-tokens {o.max_tokens:,} reached"
    elif o.max_time is not None and elapsed >= o.max_time:
        finished = f"--max-time {o.max_time:g} s reached"
    if changes:  # (only a run folder's own settings can differ; a lone checkpoint has none saved)
        then = (saved.get("train") or {}).get("total_steps")  # finished as set up, whatever the new limits say
        refuse_changes(o.run_dir, changes, o.resume_with_changes,
                       finished is not None or (isinstance(then, int) and step >= then))
    return Plan(found, changes, finished)


def _pretrain_settings(o, objective: str, context: int, global_batch: int) -> dict:
    """The settings a continued run must share with the run folder's, as `_saved_pretrain_settings` reads them."""
    from dataclasses import asdict

    from nlpt.corpus.reader import ReaderOptions
    from nlpt.tokenizer.files import tokenizer_sha256

    now = {**o.resolved(), "context": context, "global_batch": global_batch}
    now.update({"corpus": [os.path.abspath(p) for p in o.corpus], "objective": objective,
                "objective_options": dict(o.objective_options),
                "reader": json.loads(json.dumps(asdict(o.reader or ReaderOptions()), default=str))})
    try:
        now["tokenizer"] = "sha256 " + tokenizer_sha256(o.tokenizer)[:16]
    except OSError:
        pass  # the tokenizer's own check reports it
    return now


def _saved_pretrain_settings(config: dict, run_dir: str) -> dict:
    from nlpt.tokenizer.files import tokenizer_sha256

    data = config.get("data") or {}
    saved = {**(config.get("train") or {}), "corpus": data.get("corpus"), "objective": config.get("objective"),
             "objective_options": config.get("objective_options") or {}, "reader": data.get("reader")}
    try:
        saved["tokenizer"] = "sha256 " + tokenizer_sha256(os.path.join(run_dir, config.get("tokenizer", "tokenizer.json")))[:16]
    except OSError:
        pass
    return saved


def _corpus_changes(config: dict, o) -> list[Change]:
    """A corpus file whose size or time changed since the run's token files were made from it."""
    from nlpt.corpus.reader import expand_inputs

    token_dir = (config.get("data") or {}).get("token_dir")
    try:
        with open(os.path.join(token_dir, "meta.json"), encoding="utf-8") as fh:
            inputs = {i["path"]: (i["size"], i["mtime_ns"]) for i in json.load(fh)["key"]["inputs"]}
    except (OSError, ValueError, KeyError, TypeError):
        return []  # no token files to compare with
    try:
        paths = [os.path.abspath(p) for p in expand_inputs(list(o.corpus))]
    except NlptError:
        return []  # reported when the corpus is read
    for path in paths:
        if path in inputs:
            st = os.stat(path)
            if (st.st_size, st.st_mtime_ns) != tuple(inputs[path]):
                return [Change("corpus contents", f"{path} of {inputs[path][0]:,} bytes",
                               f"{st.st_size:,} bytes, modified since")]
    return []
