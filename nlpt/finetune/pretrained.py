"""Pretrained Transformers as task encoders: an `nlpt pretrain` run folder or a Hugging Face folder.

Either way the weights end up in nlpt's own model for the family (`nlpt.models.build`), through
`nlpt.engine.load_pretrained`: the run's checkpoint, or the family's one Hugging Face mapping for HF
folders (what `--export-hf` writes, or a downloaded `bert-base-uncased`/`gpt2` folder). The encoder feeds `model.hidden_states(...)` to a pooling:
[CLS] for BERT-style encoders, the last token for decoders, the mean of the encoder output for
encoder–decoders. Inputs are built per family by `nlpt.tokenizer.inputs.InputBuilder`.
"""

from __future__ import annotations

import torch
from torch import nn

from nlpt.common.errors import NlptError
from nlpt.finetune.choices import POOLINGS
from nlpt.finetune.classification import DEFAULT_POOLING, pool
from nlpt.tokenizer.inputs import InputBuilder

# ---------------------------------------------------------------------------------------------
# The encoder module


def hidden_size(config) -> int:
    return getattr(config, "hidden_size", None) or config.d_model


class PretrainedEncoder(nn.Module):
    """`model.hidden_states` + pooling -> [B, H] features."""

    def __init__(self, model: nn.Module, pooling: str):
        super().__init__()
        if pooling not in POOLINGS:
            raise NlptError(f"--pooling must be one of {', '.join(POOLINGS)}, not {pooling!r}")
        self.model = model
        self.pooling = pooling
        self.output_dim = hidden_size(model.config)

    def forward(self, batch: dict) -> torch.Tensor:
        mask = batch["attention_mask"]
        hidden = self.model.hidden_states(batch["input_ids"], attention_mask=mask, token_type_ids=batch.get("token_type_ids"))
        return pool(hidden, mask, self.pooling)


def default_pooling(family: str) -> str:
    return DEFAULT_POOLING.get(family, "mean")


def uses_segments(config) -> bool:
    return config.family == "encoder" and int(getattr(config, "type_vocab_size", 0) or 0) >= 2


def input_builder(tokenizer, config, max_length: int) -> InputBuilder:
    """The input builder for a model of `config`: its family's special tokens, segment ids where the model
    has them, and RoBERTa's `</s></s>` between the texts of a pair for RoBERTa-layout encoders."""
    from nlpt.models.bert import layout

    double = config.family == "encoder" and layout(config) == "roberta"
    return InputBuilder(tokenizer, config.family, max_length, uses_segments(config), double)


def model_config_dict(config) -> dict:
    from nlpt.transformer.configs import config_fields

    return config_fields(config)
