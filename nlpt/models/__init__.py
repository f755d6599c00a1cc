"""Torch models built from the registry's config dataclasses (`nlpt.transformer.configs`).

`build(config)` dispatches on `config.family` and imports the family's module
lazily, so importing this package costs nothing. One file per family, all
composed of the same layers:

    layers.py   the one attention (causal, padding, relative-bias, rotary, grouped-query, cross), the MLPs,
                RMSNorm, the masks, the initialisation BERT and BART share
    gpt.py      GPT-1/GPT-2/GPT-3 (learned positions, LayerNorm, GELU MLP)
    llama.py    Llama/Mistral/Qwen2 and Mixtral-style mixture of experts
    bert.py     BERT/RoBERTa/DistilBERT/ALBERT encoders ("encoder" family)
    t5.py       T5 encoder-decoder
    bart.py     BART encoder-decoder
    seq2seq.py  what T5 and BART share: the encoder/decoder calls
    lm_loss.py  decoders' LM head + cross-entropy in one chunked pass
    ops.py      training pieces: cheaper dropout masks, padding-free token-wise layers, GELU
    checkpointing.py  activation checkpointing of the layers (--checkpointing)
    cpu_matmul.py  `Linear`/`linear`/`mm`: CPU products through numpy's BLAS where it is faster (--cpu-matmul)
    hf.py       Hugging Face folders both ways: export, and loading a folder into the family's model
                (its tokenizer files: nlpt.tokenizer.hf_folder)

The family protocol, kept by every family module (gpt, llama, bert, t5, bart); callers reach a family
through `family_module(family)` and never probe for optional functions:
* `build(config) -> nn.Module` where `module.config` is the registry dataclass
  and `sum(p.numel() for p in module.parameters())` equals `nlpt params`' total
  for that config;
* `module.hidden_states(input_ids, attention_mask=None, token_type_ids=None)
  -> Tensor[B, T, H]`: the last layer after the final norm (for
  encoder-decoders: the encoder output) - all that finetune and compare use;
* `module(...)` is the training forward the family's objectives call (decoders:
  `model(input_ids) -> dict(logits=...)`, `model(input_ids, labels) -> dict(loss=..., aux_loss=...)`:
  with labels the loss is computed without materialising the logits, see lm_loss.py);
* `hf_config(config) -> dict`, `hf_state_dict(model) -> {name: tensor}`, `load_hf_state_dict(model, tensors)`:
  its one Hugging Face mapping, both ways (`nlpt.models.hf` writes and reads the folders).
"""

from __future__ import annotations

import importlib

# `--cpu-matmul` values (nlpt.models.cpu_matmul), here so that option checks need no torch
CPU_MATMUL_BACKENDS = ("auto", "torch", "numpy")

# family -> module under nlpt.models
FAMILY_MODULES = {"gpt": "gpt", "llama": "llama", "encoder": "bert", "t5": "t5", "bart": "bart"}


def family_module(family: str):
    """The module for a family (imported on first use); NlptError for families without a builder."""
    from nlpt.common.errors import NlptError

    name = FAMILY_MODULES.get(family)
    if name is None:
        raise NlptError(f"no trainable model for the {family} family (trainable: {', '.join(FAMILY_MODULES)})")
    try:
        return importlib.import_module(f"nlpt.models.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"nlpt.models.{name}":
            raise NlptError(f"the {family} family has no model builder in this version") from None
        raise


def position_offset(config) -> int:
    """Row of the position table for the first token: 0, or a RoBERTa encoder's padding id + 1 (its positions
    count from there, so a 514-row table holds 512 tokens)."""
    if config.family != "encoder" or config.variant != "roberta":
        return 0
    return (1 if config.pad_token_id is None else config.pad_token_id) + 1


def context_length(config) -> int:
    """The longest sequence a config's model reads: its position table less the rows before the first position
    (for T5, which has no table, the context it was trained with). Torch-free, for checks before any work."""
    return int(config.max_positions) - position_offset(config)


def build(config):
    """An initialised torch model for a registry config (`config.family` picks the file)."""
    from nlpt.transformer.validate import validate

    validate(config)
    return family_module(config.family).build(config)


def unwrap(model):
    """The bare model inside DDP (`.module`) and torch.compile (`._orig_mod`) wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner
