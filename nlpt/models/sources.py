"""Which kind of pretrained model a folder holds (an nlpt run or a Hugging Face folder), decided without torch
(so bad input fails fast); the engine's loader, --init, finetune and compare ask it."""

from __future__ import annotations

import os

from nlpt.common.errors import NlptError
from nlpt.common.runfolder import check_run_fields, read_json

HF_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def source_kind(path: str) -> str:
    """"run" (an `nlpt pretrain` folder) or "hf" (a Hugging Face folder); anything else is an error."""
    if not os.path.exists(path):
        raise NlptError(f"{path}: no such model folder")
    if not os.path.isdir(path):
        raise NlptError(f"{path}: not a model folder (expected an `nlpt pretrain` run folder or a Hugging Face folder)")
    config_path = os.path.join(path, "config.json")
    if not os.path.exists(config_path):
        raise NlptError(f"{path}: not a model folder (no config.json)")
    config = read_json(config_path, want_object=True)
    fmt = str(config.get("format", ""))
    if fmt.startswith("nlpt-run/"):
        check_run_fields(config, config_path)
        _check_family(path, config["model"]["family"])
        return "run"
    if fmt.startswith("nlpt-finetune/"):
        raise NlptError(f"{path}: a finetune run, not a pretrained model (use `nlpt finetune predict {path}`)")
    if "model_type" in config:
        if not any(os.path.exists(os.path.join(path, f)) for f in HF_WEIGHTS):
            raise NlptError(f"{path}: Hugging Face folder without weights ({' or '.join(HF_WEIGHTS)})")
        from nlpt.transformer.config_file import config_from_json

        _check_family(path, config_from_json(config, config_path).family)
        return "hf"
    raise NlptError(f"{config_path}: neither an nlpt run configuration nor a Hugging Face config (no \"model_type\")")


def _check_family(path: str, family) -> None:
    from nlpt.models import FAMILY_MODULES

    if family not in FAMILY_MODULES:
        raise NlptError(f"{path}: a model of the {family} family, which finetune does not support "
                        f"(supported: {', '.join(FAMILY_MODULES)})")
