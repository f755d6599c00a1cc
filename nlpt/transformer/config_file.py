"""`config_from_path`: every config.json read into a config dataclass goes through here.

`nlpt params FILE`, `nlpt pretrain --arch FILE`, `--init FOLDER` and `nlpt compare FOLDER` all accept the same
three kinds of file (or a folder holding one): an nlpt run's config.json (its "model"), a bare nlpt model
dict (with "family", as `nlpt params --json` prints it) and a Hugging Face config.json. One reader means one
set of messages for a missing, compressed, non-UTF-8, malformed or impossible file.

Pure Python: importing this module must not import numpy, numba or torch.
"""

from __future__ import annotations

import json
import os

from nlpt.common.errors import NlptError
from nlpt.transformer.configs import ModelConfig, config_from_dict
from nlpt.transformer.hf_config import from_hf_config
from nlpt.transformer.validate import check_heads, validate

CONFIG_NAME = "config.json"


def config_from_path(path: str) -> ModelConfig:
    """The config of a config.json (gzip/bzip2/xz too) or of the folder holding one, validated (`validate`,
    `check_heads`); `NlptError` naming the file and the problem."""
    if os.path.isdir(path):
        path = os.path.join(path, CONFIG_NAME)
    if not os.path.exists(path):
        raise NlptError(f"{path}: no such file")
    from nlpt.common.inputs import read_all

    try:
        text = read_all(path).decode("utf-8")
    except UnicodeDecodeError:
        raise NlptError(f"{path}: not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NlptError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise NlptError(f"{path}: JSON nested too deeply to be a model configuration") from None
    config = config_from_json(data, path)
    try:
        validate(config)
        check_heads(config)
    except NlptError as exc:
        raise NlptError(f"{path}: {exc}") from None
    return config


def config_from_json(data, where: str) -> ModelConfig:
    """The config of a config.json's content (see the module): an nlpt run's, a bare nlpt dict or Hugging Face's,
    validated (`validate`: every field of its type, real numbers finite and in range); `NlptError` naming `where`."""
    if isinstance(data, dict) and "format" in data and "model" in data:  # an nlpt run folder's config.json
        config = config_from_dict(data["model"], where)
    elif isinstance(data, dict) and "family" in data:
        config = config_from_dict(data, where)
    else:
        config = from_hf_config(data, where)
    try:
        validate(config)
    except NlptError as exc:
        raise NlptError(f"{where}: {exc}") from None
    return config
