"""May a command write into this folder? The one answer for run folders (`pretrain -o`, `finetune -o`) and exports.

A folder a command creates (a run folder, an export) is only ever written where it is new: the path
does not exist, or is an empty folder, or already holds a run of the same kind (which the command
then continues). Anything else, such as a Hugging Face folder or a folder with a user's files, is
refused before any work, so nothing of it is overwritten. Torch-free.
"""

from __future__ import annotations

import json
import os
from typing import Iterable, Optional

from nlpt.common import jsontext
from nlpt.common.errors import NlptError

# The files and folders a run folder holds (the engine's layout: nlpt/engine/__init__.py, nlpt/finetune/train.py)
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINTS_DIR = "checkpoints"
CHANGES_FILE = "changes.jsonl"
CPU_MATMUL_FILE = "cpu-matmul.json"
TOKENS_DIR = "tokens"
WEIGHTS_FILE = "model.safetensors"
RESULTS_FILE = "results.json"
WORDS_FILE = "words.txt"
STATE_FILE = "state.pt"  # a checkpoint's
RUN_FORMAT = "nlpt-run/1"  # config.json "format" of an `nlpt pretrain` run
# keys of a pretrain run's config.json: "format", "model" (family + registry dataclass fields; read back with
# nlpt.transformer.configs.config_from_dict), "objective", "objective_options", "tokenizer"
# (file name inside RUN_DIR), "data" (corpus, token dir, val fraction, context), "train" (the
# resolved training options: batch sizes, lr, schedule, steps, seed, precision, strategy...)
RUN_CONFIG_KEYS = ("format", "model", "objective", "objective_options", "tokenizer", "data", "train")
# what a command writes in its -o folder (the output plan checks no input is among them); the copy of the
# tokenizer is not listed for pretrain: a rerun may read the run's own tokenizer.json
PRETRAIN_WRITES = (CONFIG_FILE, METRICS_FILE, CHECKPOINTS_DIR + "/", TOKENS_DIR + "/", CHANGES_FILE, CPU_MATMUL_FILE)
FINETUNE_WRITES = (CONFIG_FILE, WEIGHTS_FILE, METRICS_FILE, RESULTS_FILE, TOKENIZER_FILE, WORDS_FILE,
                   CHECKPOINTS_DIR + "/", CHANGES_FILE, CPU_MATMUL_FILE)
# what each kind of nlpt run folder says in its config.json "format"
RUN_KINDS = {"nlpt-run/": "an `nlpt pretrain` run", "nlpt-finetune/": "an `nlpt finetune` run"}


def read_json(path: str, missing: Optional[str] = None, want_object: bool = False):
    """A JSON file's value; NlptError naming the file when it is absent (`missing`, if given), not JSON, or
    (`want_object`) not a JSON object."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise NlptError(missing or f"{path}: no such file") from None
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError too
        raise NlptError(f"{path}: not valid JSON ({str(exc)[:200]})") from None
    except OSError as exc:
        from nlpt.common.output import os_reason

        raise NlptError(f"{path}: cannot read ({os_reason(exc)})") from None
    if want_object and not isinstance(data, dict):
        raise NlptError(f"{path}: expected a JSON object")
    return data


# The fields of a run's config.json that the commands reading it rely on, and their JSON types ("a.b": b inside
# a); a field in OPTIONAL may be absent (older runs), never of another type.
_OBJECT, _TEXT, _INT, _LIST, _NULL = dict, str, int, list, type(None)
PRETRAIN_RUN_FIELDS = {"model": _OBJECT, "model.family": _TEXT, "tokenizer": _TEXT, "objective": (_TEXT, _NULL),
                       "objective_options": _OBJECT, "data": _OBJECT, "train": _OBJECT}
FINETUNE_RUN_FIELDS = {"task": _OBJECT, "task.columns": _OBJECT, "labels": (_LIST, _NULL), "encoder": _OBJECT,
                       "encoder.kind": _TEXT, "encoder.max_length": _INT, "head": _OBJECT, "head.type": _TEXT,
                       "head.outputs": _INT, "head.dropout": (int, float), "train": _OBJECT}
FINETUNE_ENCODER_FIELDS = {  # by encoder.kind
    "static": {"encoder.type": _TEXT, "encoder.words": _INT, "encoder.dim": _INT, "encoder.pair": bool,
               "encoder.filters": _INT, "encoder.kernel_sizes": _LIST, "encoder.tokenizer": _OBJECT},
    "pretrained": {"encoder.pooling": _TEXT, "model": _OBJECT},
}
OPTIONAL = ("tokenizer", "objective", "objective_options", "data", "train")


def check_fields(cfg: dict, path: str, fields: dict) -> None:
    """NlptError naming the file and the field when `cfg` (a run's config.json) lacks one of `fields` or holds a
    value of another type: a damaged or hand-edited file is one line where it is read, not a crash later."""
    for key, kinds in fields.items():
        value = cfg
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                if key in OPTIONAL:
                    break
                raise NlptError(f"{path}: field '{key}' is missing (a damaged run folder?)")
            value = value[part]
        else:
            kinds = kinds if isinstance(kinds, tuple) else (kinds,)
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                raise NlptError(f"{path}: field '{key}' has the wrong type ({type(value).__name__})")


def check_run_fields(cfg: dict, path: str) -> None:
    """`check_fields` with the fields of the config's kind of run (pretrain or finetune; others: nothing)."""
    fmt = str(cfg.get("format", ""))
    if fmt.startswith("nlpt-run/"):
        check_fields(cfg, path, PRETRAIN_RUN_FIELDS)
    elif fmt.startswith("nlpt-finetune/"):
        check_fields(cfg, path, FINETUNE_RUN_FIELDS)
        kind = cfg["encoder"]["kind"]
        if kind not in FINETUNE_ENCODER_FIELDS:
            raise NlptError(f"{path}: field 'encoder.kind' = {kind!r} is not one of {', '.join(FINETUNE_ENCODER_FIELDS)}")
        check_fields(cfg, path, FINETUNE_ENCODER_FIELDS[kind])


def read_run_config(run_dir: str) -> dict:
    """A pretrain run folder's config.json, its fields checked; NlptError when the folder holds none, another
    kind of file or a damaged one."""
    path = os.path.join(run_dir, CONFIG_FILE)
    cfg = read_json(path, missing=f"{run_dir}: not a run folder (no {CONFIG_FILE})")
    if not isinstance(cfg, dict) or cfg.get("format") != RUN_FORMAT:
        raise NlptError(f"{path}: not an nlpt run configuration (format {RUN_FORMAT})")
    check_run_fields(cfg, path)
    return cfg


def write_json(path: str, data) -> None:
    """`data` as indented JSON, renamed into place when whole."""
    from nlpt.common.output import atomic_output

    with atomic_output(path) as fh:
        fh.write(jsontext.dumps(data, path, indent=2))
        fh.write("\n")


def is_new_folder(path: str) -> bool:
    """True when `path` does not exist or is an empty folder (a command may create it there)."""
    if not os.path.lexists(path):
        return True
    try:
        return os.path.isdir(path) and not os.listdir(path)
    except OSError as exc:
        raise NlptError(f"{path}: cannot read the folder ({(exc.strerror or str(exc)).lower()})") from None


def require_new_folder(path: str, option: str) -> None:
    """NlptError unless `path` is new or an empty folder (exports: never written over anything)."""
    if not is_new_folder(path):
        raise NlptError(f"{path}: {option} already exists and is not an empty folder; choose another")


def _config(path: str):
    """The folder's config.json as a dict; None when it has none or it is not a JSON object."""
    try:
        with open(os.path.join(path, CONFIG_FILE), encoding="utf-8") as fh:
            config = json.load(fh)
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def run_kind(path: str) -> Optional[str]:
    """The "format" of the nlpt run folder at `path` ("nlpt-run/1", ...), or None when it is not one."""
    return _kind(_config(path))


def _kind(config: Optional[dict]) -> Optional[str]:
    fmt = (config or {}).get("format")
    return fmt if isinstance(fmt, str) and any(fmt.startswith(k) for k in RUN_KINDS) else None


def is_run_dir(path: str) -> bool:
    """An nlpt run folder, finished or still logging: a metrics.jsonl, or a config.json of a run kind."""
    if not os.path.isdir(path):
        return False
    return os.path.isfile(os.path.join(path, METRICS_FILE)) or run_kind(path) is not None


def check_run_folder(path: str, run_format: str, option: str = "-o", own: Iterable[str] = ()) -> Optional[dict]:
    """May a run of `run_format` be written at `path`? Its config.json when it holds such a run (to continue);
    None when it is new.

    A folder that holds something else is refused with one line: another kind of nlpt run, or files
    that are not a run (a Hugging Face folder, a user's files). `own` names entries a run of this
    kind makes before its config.json (e.g. the token folder), so an interrupted first run is
    continued rather than refused; hidden temporary files (".…tmp") are its own too.
    """
    if is_new_folder(path):
        return None
    if not os.path.isdir(path):
        raise NlptError(f"{path}: {option} exists and is not a folder; choose another")
    config = _config(path)
    fmt = _kind(config)
    if fmt == run_format:
        check_run_fields(config, os.path.join(path, CONFIG_FILE))  # a damaged one: refused, nothing overwritten
        return config
    if fmt is not None:
        what = next(v for k, v in RUN_KINDS.items() if fmt.startswith(k))
        raise NlptError(f"{path}: {option} holds {what} ({fmt}), not this kind of run; choose another")
    names = sorted(os.listdir(path))
    foreign = [n for n in names if n not in own and not (n.startswith(".") and n.endswith(".tmp"))]
    if not foreign:
        return None
    shown = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
    raise NlptError(f"{path}: {option} already exists and is not an empty folder or an nlpt run ({shown}); "
                    f"choose another")
