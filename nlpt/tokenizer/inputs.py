"""Text to token ids: lines of the token stream (`encode_lines`), and text and text pairs in a family's input
format, as `nlpt finetune` feeds its encoders (`InputBuilder`).

`[CLS] a [SEP] b [SEP]` with segment ids for encoders (`<s> a </s></s> b </s>` for RoBERTa-layout
encoders, RoBERTa's own convention, which its exported tokenizer applies too), `a <eos> b <eos>` for
decoders (so the last token has read everything), `a </s> b </s>` for T5 and `<s> a </s></s> b </s>` for
BART: the templates `nlpt.tokenizer.hf_folder` writes into an export, built here from ids so that a
pair is cut to the length budget the way BERT cuts it (longest first).
"""

from __future__ import annotations

from nlpt.common.errors import NlptError
from nlpt.tokenizer.specials import ROLE_NAMES, special_id

# Special tokens looked up by name, first found wins: the roles an export declares (nlpt.tokenizer.hf_folder),
# with [SEP] as a last resort for a decoder's end of text and no GPT-2 <|endoftext|> as a beginning.
CLS_NAMES = ROLE_NAMES["cls_token"]
SEP_NAMES = ROLE_NAMES["sep_token"]
PAD_NAMES = ROLE_NAMES["pad_token"]
EOS_NAMES = ("<|endoftext|>", "</s>", "<eos>", "[SEP]", "<|end_of_text|>")
BOS_NAMES = ("<s>", "<|begin_of_text|>", "<bos>")


def encode_lines(tokenizer, lines: list[str]) -> list[list[int]]:
    """The ids of each line without special tokens, as the token files hold them (the library's threads encode
    the batch in parallel)."""
    enc = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
    return [e.ids for e in enc(lines, add_special_tokens=False)]


class InputBuilder:
    """Text (and pair) -> token ids, token types, in the family's format, cut to `max_length`."""

    def __init__(self, tokenizer, family: str, max_length: int, segments: bool, double_separator: bool = False):
        self.tokenizer = tokenizer
        self.family = family
        self.max_length = max_length
        self.segments = segments
        self.double_separator = double_separator  # RoBERTa: </s></s> between the two texts of a pair
        self.cls = special_id(tokenizer, *CLS_NAMES)
        self.sep = special_id(tokenizer, *SEP_NAMES)
        self.eos = special_id(tokenizer, *EOS_NAMES)
        self.bos = special_id(tokenizer, *BOS_NAMES)
        pad = special_id(tokenizer, *PAD_NAMES)
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
