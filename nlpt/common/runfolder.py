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

from nlpt.common.errors import NlptError

CONFIG_FILE = "config.json"
# what each kind of nlpt run folder says in its config.json "format"
RUN_KINDS = {"nlpt-run/": "an `nlpt pretrain` run", "nlpt-finetune/": "an `nlpt finetune` run"}


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


def run_kind(path: str) -> Optional[str]:
    """The "format" of the nlpt run folder at `path` ("nlpt-run/1", ...), or None when it is not one."""
    try:
        with open(os.path.join(path, CONFIG_FILE), encoding="utf-8") as fh:
            config = json.load(fh)
    except (OSError, ValueError):
        return None
    fmt = config.get("format") if isinstance(config, dict) else None
    return fmt if isinstance(fmt, str) and any(fmt.startswith(k) for k in RUN_KINDS) else None


def check_run_folder(path: str, run_format: str, option: str = "-o", own: Iterable[str] = ()) -> bool:
    """May a run of `run_format` be written at `path`? True: it holds such a run (to continue); False: it is new.

    A folder that holds something else is refused with one line: another kind of nlpt run, or files
    that are not a run (a Hugging Face folder, a user's files). `own` names entries a run of this
    kind makes before its config.json (e.g. the token folder), so an interrupted first run is
    continued rather than refused; hidden temporary files (".…tmp") are its own too.
    """
    if is_new_folder(path):
        return False
    if not os.path.isdir(path):
        raise NlptError(f"{path}: {option} exists and is not a folder; choose another")
    fmt = run_kind(path)
    if fmt == run_format:
        return True
    if fmt is not None:
        what = next(v for k, v in RUN_KINDS.items() if fmt.startswith(k))
        raise NlptError(f"{path}: {option} holds {what} ({fmt}), not this kind of run; choose another")
    names = sorted(os.listdir(path))
    foreign = [n for n in names if n not in own and not (n.startswith(".") and n.endswith(".tmp"))]
    if not foreign:
        return False
    shown = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
    raise NlptError(f"{path}: {option} already exists and is not an empty folder or an nlpt run ({shown}); "
                    f"choose another")
