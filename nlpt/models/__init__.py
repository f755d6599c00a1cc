"""Torch models built from the registry's config dataclasses (`nlpt.transformer.config`).

`build(config)` dispatches on `config.family` and imports the family's module
lazily, so importing this package costs nothing. One file per family:

    gpt.py    GPT-1/GPT-2/GPT-3 (learned positions, LayerNorm, GELU MLP)   #11
    llama.py  Llama/Mistral/Qwen2 and Mixtral-style mixture of experts       #11
    bert.py   BERT/RoBERTa/DistilBERT/ALBERT encoders ("encoder" family)     #12
    t5.py     T5 encoder-decoder                                             #12
    bart.py   BART encoder-decoder                                           #12
    lm_loss.py  decoders' LM head + cross-entropy in one chunked pass
    ops.py    T5/BART training pieces: cheaper dropout masks, attention, padding-free token-wise layers
    seq2seq.py  what T5 and BART share: attention's fused Q, K, V projections, the encoder/decoder calls
    cpu_matmul.py  `Linear`/`linear`/`mm`: CPU products through numpy's BLAS where it is faster (--cpu-matmul)

Contract every family module keeps (others rely on it):
* `build(config) -> nn.Module` where `module.config` is the registry dataclass
  and `sum(p.numel() for p in module.parameters())` equals `nlpt params`' total
  for that config;
* `module.hidden_states(input_ids, attention_mask=None, token_type_ids=None)
  -> Tensor[B, T, H]`: the last layer after the final norm (for
  encoder-decoders: the encoder output) - all that finetune and compare use;
* `module(...)` is the training forward the family's objectives call (decoders:
  `model(input_ids) -> dict(logits=...)`, `model(input_ids, labels) -> dict(loss=..., aux_loss=...)`:
  with labels the loss is computed without materialising the logits, see lm_loss.py);
* `hf_config(config)`, `hf_state_dict(model)`, `load_hf_state_dict(model, tensors)`: its one Hugging Face
  mapping, both ways (`nlpt.models.hf` writes and reads the folders).
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


def build(config):
    """An initialised torch model for a registry config (`config.family` picks the file)."""
    from nlpt.transformer.config import validate

    validate(config)
    return family_module(config.family).build(config)


def unwrap(model):
    """The bare model inside DDP (`.module`) and torch.compile (`._orig_mod`) wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner
