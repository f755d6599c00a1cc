"""T5's sentinels `<extra_id_0>`, `<extra_id_1>`, …: the tokens that stand for removed spans.

Span corruption (pretraining), the T5 evaluation and `nlpt pretrain infill` number the gaps of a text
with them, and a Hugging Face export declares them as special tokens. `nlpt pretrain add-sentinels`
adds them to a tokenizer that lacks them.
"""

from __future__ import annotations

from nlpt.common.errors import NlptError

PREFIX = "<extra_id_"


def sentinel(i: int) -> str:
    """The name of the i-th sentinel."""
    return f"{PREFIX}{i}>"


def is_sentinel(token: str) -> bool:
    return token.startswith(PREFIX)


def sentinel_ids(tokenizer) -> list:
    """The ids of `<extra_id_0>`, `<extra_id_1>`, … the tokenizer has, up to the first one missing."""
    ids = []
    while tokenizer.token_to_id(sentinel(len(ids))) is not None:
        ids.append(tokenizer.token_to_id(sentinel(len(ids))))
    return ids


def add_sentinels(tokenizer, count: int):
    """The tokenizer with T5's sentinels `<extra_id_0>` … `<extra_id_{count-1}>` added as special tokens
    (new ids at the end of the vocabulary; ones already there are kept)."""
    if count < 1:
        raise NlptError(f"--count must be at least 1 (got {count})")
    tokenizer.add_special_tokens([sentinel(i) for i in range(count)])
    return tokenizer
