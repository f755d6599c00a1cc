"""Hugging Face folders both ways: `export_hf` writes one (model, config, tokenizer), `load_hf` reads one
into nlpt's model for the family. Export, `pretrain --init`, `finetune --model` and `compare` all go through here.

Every family module keeps one weight mapping and offers it through the same names:

    hf_config(config) -> dict                  the transformers config.json
    hf_state_dict(model) -> {name: tensor}     nlpt weights under the transformers class's names
    load_hf_state_dict(model, {name: tensor})  the same mapping read backwards (KeyError naming a missing tensor)
    HF_SAVED_AS = {name: other name}           tensors a folder may hold once under another name (a tied copy)

`linear_pairs`, `pairs_state_dict` and `load_pairs` are the copy loops the families' mappings share: a family
lists (transformers name, nlpt tensor or a view of one) pairs once, and both directions follow.

The tokenizer files come from `nlpt.tokenizer.hf_folder` (the family's template and special tokens). Writes are atomic:
the folder appears complete under its name or not at all.
"""

from __future__ import annotations

import os

from nlpt.common import jsontext
from nlpt.common.errors import NlptError, exception_reason
from nlpt.common.output import atomic_directory
from nlpt.common.runfolder import require_new_folder
from nlpt.models import context_length, family_module


def _layout(config) -> str | None:
    """The transformers layout an encoder exports to (bert, albert, roberta); None for other families."""
    return family_module("encoder").hf_config(config)["model_type"] if config.family == "encoder" else None


def or_default(value, default):
    """A config's token id, or transformers' default for the class when the config leaves it unset."""
    return default if value is None else value


def linear_pairs(modules: dict):
    """(name.weight, tensor), (name.bias, tensor) for each {transformers name: module with weight and bias}."""
    for name, module in modules.items():
        yield name + ".weight", module.weight
        yield name + ".bias", module.bias


def pairs_state_dict(pairs) -> dict:
    """{transformers name: a copy of the tensor} from a family's (name, nlpt tensor or view) pairs."""
    return {k: v.detach().contiguous().clone() for k, v in pairs}


def load_pairs(pairs, tensors: dict) -> None:
    """The same pairs read backwards: each nlpt tensor (or view) takes its named tensor (KeyError when absent)."""
    import torch

    with torch.no_grad():
        for name, param in pairs:
            param.copy_(tensors[name])


def require_finite(tensors: dict, what: str) -> None:
    """NlptError naming the first tensor holding NaN or infinity (a diverged run's weights are never written or
    read as a model)."""
    import torch

    for name, value in tensors.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise NlptError(f"{what}: tensor {name} holds {bad} NaN or infinite value(s) (a run that diverged?)")


# ---------------------------------------------------------------------------------------------
# export

def export_hf(model, out_dir: str, tokenizer=None) -> dict:
    """Write `model` (an nlpt model, unwrapped) and its tokenizer (a `tokenizers.Tokenizer`, as `load_run` gives
    it) as a transformers folder; returns the config dict."""
    from safetensors.torch import save_file

    module = family_module(model.config.family)
    config = module.hf_config(model.config)
    tensors = module.hf_state_dict(model)
    out_dir = os.path.abspath(out_dir)
    require_finite(tensors, f"{out_dir}: not exported: the model's weights")
    require_new_folder(out_dir, "--export-hf")
    parent = os.path.dirname(out_dir)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise NlptError(f"{out_dir}: parent folder {parent} does not exist or is not writable")
    with atomic_directory(out_dir) as tmp:
        if tokenizer is not None:
            from nlpt.tokenizer.hf_folder import write_tokenizer_folder

            roles = write_tokenizer_folder(tokenizer, tmp, model.config.family, _layout(model.config),
                                           context_length(model.config))
            if model.config.family in ("gpt", "llama"):  # generation stops at, and pads with, the tokenizer's tokens
                for role in ("bos", "eos", "pad"):
                    config[f"{role}_token_id"] = roles[f"{role}_token"][1] if f"{role}_token" in roles else None
            elif model.config.family == "encoder":  # RoBERTa's <s> and </s> where they are, not the class defaults
                for role in ("bos", "eos"):
                    if f"{role}_token" in roles:
                        config[f"{role}_token_id"] = roles[f"{role}_token"][1]
        with open(os.path.join(tmp, "config.json"), "w", encoding="utf-8") as fh:
            fh.write(jsontext.dumps(config, "config.json", indent=2))
        save_file({k: v.float() for k, v in tensors.items()}, os.path.join(tmp, "model.safetensors"),
                  metadata={"format": "pt"})
    return config


# ---------------------------------------------------------------------------------------------
# import

# Tensors of pretraining heads that a bare HF model (BertModel, GPT2Model...) does not have;
# they keep their fresh initialisation when absent (finetune does not use them; --init reports them).
HEAD_PREFIXES = ("cls.", "lm_head.", "final_logits_bias", "model.shared.", "shared.", "predictions.",
                 "sop_classifier.")


def is_head(name: str) -> bool:
    return name.startswith(HEAD_PREFIXES)


def load_hf(path: str, config=None):
    """(nlpt model, `tokenizers.Tokenizer`, {"kind": "hf", "path", "fresh": [names left at their initialisation]})."""
    import torch

    from nlpt.models import build
    from nlpt.tokenizer.files import load_hf_tokenizer
    from nlpt.transformer.config_file import config_from_path

    config = config or config_from_path(path)
    try:  # a layout nlpt's model cannot hold is refused before anything is built (the export would refuse it too)
        family_module(config.family).hf_config(config)
    except NlptError as exc:
        raise NlptError(f"{path}: cannot import this {config.family} model: {exc}") from None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # heads the folder lacks get the same initialisation every time
        model = build(config)
    fresh = load_hf_weights(model, path)
    return model, load_hf_tokenizer(path), {"kind": "hf", "path": os.path.abspath(path), "fresh": fresh}


def load_hf_weights(model, path: str) -> list:
    """Copy a Hugging Face folder's weights into `model` through the family's mapping; returns the names of
    tensors the folder lacks (only pretraining heads may be absent, as in a bare `BertModel`: they keep their
    initialisation). Every other tensor must be there with the config's shape."""
    import torch

    config = model.config
    module = family_module(config.family)
    try:
        expected = module.hf_state_dict(model)
    except NlptError as exc:
        raise NlptError(f"{path}: cannot import this {config.family} model: {exc}") from None
    found = _normalise_names(read_hf_weights(path), expected)
    for name, saved_as in module.HF_SAVED_AS.items():  # a copy the folder holds once, under another name
        if name in expected and name not in found and saved_as in found:
            found[name] = found[saved_as]
    missing = [k for k in expected if k not in found and not is_head(k)]
    if missing:
        raise NlptError(f"{path}: weights do not match the config's {config.family} architecture "
                        f"(missing {missing[0]}{f' and {len(missing) - 1} more' if len(missing) > 1 else ''})")
    for key, value in found.items():
        if key in expected and tuple(value.shape) != tuple(expected[key].shape):
            raise NlptError(f"{path}: tensor {key} has shape {tuple(value.shape)}, the config says {tuple(expected[key].shape)}")
    require_finite({k: v for k, v in found.items() if k in expected}, f"{path}: cannot import the weights")
    merged = {**expected, **{k: v for k, v in found.items() if k in expected}}
    try:
        module.load_hf_state_dict(model, {k: v.float() for k, v in merged.items()})
    except (KeyError, ValueError) as exc:
        raise NlptError(f"{path}: cannot import this {config.family} model ({exc})") from None
    loaded = [v for k, v in expected.items() if k in found]
    return sorted(k for k, v in expected.items() if k not in found  # a tied copy (decoder = embedding) is not absent
                  and not any(w.shape == v.shape and torch.equal(w, v) for w in loaded))


def read_hf_weights(path: str) -> dict:
    import torch
    from safetensors.torch import load_file

    from nlpt.common.runfolder import read_json

    single = os.path.join(path, "model.safetensors")
    index = os.path.join(path, "model.safetensors.index.json")
    try:
        if os.path.exists(single):
            return load_file(single)
        if os.path.exists(index):
            shards = sorted(set(read_json(index, want_object=True).get("weight_map", {}).values()))
            weights: dict = {}
            for shard in shards:
                weights.update(load_file(os.path.join(path, shard)))
            return weights
        # Never unpickle arbitrary objects: weights_only refuses anything but tensors and containers.
        return torch.load(os.path.join(path, "pytorch_model.bin"), map_location="cpu", weights_only=True)
    except NlptError:
        raise
    except Exception as exc:  # noqa: BLE001 - safetensors/torch raise various types for corrupt files
        raise NlptError(f"{path}: cannot read the weights ({type(exc).__name__}: {exception_reason(exc)})") from None


def _normalise_names(found: dict, expected: dict) -> dict:
    """Rename the file's tensors to the `…For…` class names `expected` uses: a bare model
    (BertModel saves `embeddings.…`, BertForPreTraining `bert.embeddings.…`) gets the prefix, and
    old TF-era LayerNorm names (gamma/beta) become weight/bias."""
    renamed = {}
    for key, value in found.items():
        key = key.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
        renamed[key] = value
    prefixes = {""} | {k.split(".", 1)[0] + "." for k in expected if "." in k}
    best = max(sorted(prefixes), key=lambda p: sum((p + k) in expected for k in renamed))
    out = {best + k: v for k, v in renamed.items()}
    if best:  # heads sit outside the body's prefix (cls.…, lm_head.…): keep them under their own names
        out.update({k: v for k, v in renamed.items() if k in expected and best + k not in expected})
    return out
