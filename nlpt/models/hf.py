"""Export to a folder that Hugging Face `transformers` loads (`AutoModelForCausalLM.from_pretrained(DIR)`).

The family module supplies `hf_config(config) -> dict` and `to_hf_state_dict(model) -> dict`;
this file writes them (config.json, model.safetensors) and the tokenizer files, atomically:
the folder appears complete under its name or not at all.
"""

from __future__ import annotations

import json
import os
import shutil

from nlpt.common.errors import NlptError
from nlpt.common.output import atomic_directory
from nlpt.common.runfolder import require_new_folder


def export_hf(model, out_dir: str, tokenizer_file: str | None = None) -> dict:
    """Write `model` (an nlpt model, unwrapped) as a transformers folder; returns its config dict."""
    from safetensors.torch import save_file

    from nlpt.models import family_module

    module = family_module(model.config.family)
    if not hasattr(module, "hf_config"):
        raise NlptError(f"the {model.config.family} family has no export to transformers yet")
    config = module.hf_config(model.config)
    tensors = module.to_hf_state_dict(model)
    out_dir = os.path.abspath(out_dir)
    require_new_folder(out_dir, "--export-hf")
    parent = os.path.dirname(out_dir)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise NlptError(f"{out_dir}: parent folder {parent} does not exist or is not writable")
    with atomic_directory(out_dir) as tmp:
        with open(os.path.join(tmp, "config.json"), "w", encoding="utf-8") as fh:
            json.dump(config, fh, indent=2)
        save_file({k: v.float() for k, v in tensors.items()}, os.path.join(tmp, "model.safetensors"),
                  metadata={"format": "pt"})
        if tokenizer_file:
            shutil.copyfile(tokenizer_file, os.path.join(tmp, "tokenizer.json"))
            tok_config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": model.config.max_positions}
            with open(os.path.join(tmp, "tokenizer_config.json"), "w", encoding="utf-8") as fh:
                json.dump(tok_config, fh, indent=2)
    return config
