"""Pretrained Transformers as task encoders: an `nlpt pretrain` run folder or a Hugging Face folder.

Either way the weights end up in nlpt's own model for the family (`nlpt.models.build`), through
`nlpt.engine.load_pretrained`: the run's checkpoint, or the family's one Hugging Face mapping for HF
folders (what `--export-hf` writes, or a downloaded `bert-base-uncased`/`gpt2` folder). The encoder feeds `model.hidden_states(...)` to a pooling:
[CLS] for BERT-style encoders, the last token for decoders, the mean of the encoder output for
encoder–decoders. Inputs are built per family: `[CLS] a [SEP] b [SEP]` with segment ids for
encoders (`<s> a </s></s> b </s>` for RoBERTa-layout encoders, RoBERTa's own convention, which its
exported tokenizer applies too), `a <eos> b <eos>` for decoders (so the last token has read everything), `a </s> b </s>`
for T5 and `<s> a </s></s> b </s>` for BART.
"""

from __future__ import annotations

import torch
from torch import nn

from nlpt.common.errors import NlptError
from nlpt.models.hf_tokenizer import ROLE_NAMES
from nlpt.objectives.classification import DEFAULT_POOLING, POOLINGS, pool

# Special tokens looked up by name, first found wins: the roles an export declares (nlpt.models.hf_tokenizer),
# with [SEP] as a last resort for a decoder's end of text and no GPT-2 <|endoftext|> as a beginning.
CLS_NAMES = ROLE_NAMES["cls_token"]
SEP_NAMES = ROLE_NAMES["sep_token"]
PAD_NAMES = ROLE_NAMES["pad_token"]
EOS_NAMES = ("<|endoftext|>", "</s>", "<eos>", "[SEP]", "<|end_of_text|>")
BOS_NAMES = ("<s>", "<|begin_of_text|>", "<bos>")


# ---------------------------------------------------------------------------------------------
# Inputs


def _find(tokenizer, names) -> int | None:
    from nlpt.engine.tokens import special_id

    return special_id(tokenizer, *names)


class InputBuilder:
    """Text (and pair) -> token ids, token types, in the family's format, cut to `max_length`."""

    def __init__(self, tokenizer, family: str, max_length: int, segments: bool, double_separator: bool = False):
        self.tokenizer = tokenizer
        self.family = family
        self.max_length = max_length
        self.segments = segments
        self.double_separator = double_separator  # RoBERTa: </s></s> between the two texts of a pair
        self.cls = _find(tokenizer, CLS_NAMES)
        self.sep = _find(tokenizer, SEP_NAMES)
        self.eos = _find(tokenizer, EOS_NAMES)
        self.bos = _find(tokenizer, BOS_NAMES)
        pad = _find(tokenizer, PAD_NAMES)
        self.pad = pad if pad is not None else (self.eos if self.eos is not None else 0)
        if family == "encoder" and (self.cls is None or self.sep is None):
            missing = " and ".join(n for n, v in (("[CLS]", self.cls), ("[SEP]", self.sep)) if v is None)
            raise NlptError(f"the tokenizer has no {missing} token, which an encoder's inputs need")
        if family in ("t5", "bart") and self.eos is None:
            raise NlptError("the tokenizer has no </s> token, which an encoder-decoder's inputs need")

    def _parts(self, n_pair: bool) -> tuple[list, list, list]:
        """(prefix, middle, suffix) special ids around text a and b."""
        f = self.family
        if f == "encoder":
            return [self.cls], [self.sep] * (2 if self.double_separator else 1), [self.sep]
        if f == "bart":
            return [self.bos] if self.bos is not None else [], [self.eos, self.eos], [self.eos]
        if f == "t5":
            return [], [self.eos], [self.eos]
        end = [self.eos] if self.eos is not None else []
        return ([self.bos] if f == "llama" and self.bos is not None else []), end, end

    def encode_batch(self, texts: list[str], pairs: list[str] | None) -> dict:
        a_ids = [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]
        b_ids = [e.ids for e in self.tokenizer.encode_batch(pairs, add_special_tokens=False)] if pairs is not None else None
        prefix, middle, suffix = self._parts(pairs is not None)
        input_ids, token_types = [], []
        for i, a in enumerate(a_ids):
            if b_ids is None:
                budget = self.max_length - len(prefix) - len(suffix)
                a = a[: max(budget, 0)]
                ids = prefix + a + suffix
                types = [0] * len(ids)
            else:
                b = b_ids[i]
                budget = self.max_length - len(prefix) - len(middle) - len(suffix)
                while len(a) + len(b) > max(budget, 0):  # longest first, as BERT's truncation
                    if len(a) >= len(b):
                        a = a[:-1]
                    else:
                        b = b[:-1]
                first = prefix + a + middle[:1]
                second = middle[1:] + b + suffix
                ids = first + second
                types = [0] * len(first) + [1 if self.segments else 0] * len(second)
            input_ids.append(ids or [self.pad])
            token_types.append(types or [0])
        fields = {"input_ids": input_ids}
        if self.family == "encoder" and self.segments:
            fields["token_type_ids"] = token_types
        return fields


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
