"""Special tokens, found by name in whatever vocabulary a tokenizer has.

A tokenizer trained by `nlpt vocab` has BERT's `[CLS] [SEP] [MASK] [PAD] [UNK]` (WordPiece) or
RoBERTa's `<s> </s> <mask> <pad> <unk>` (byte-level BPE); a downloaded one may have GPT-2's
`<|endoftext|>` or Llama's `<|begin_of_text|>`. Every role is looked up by a list of names, first found
wins, so the objectives, the queries, finetune's inputs and the Hugging Face export agree on which id
plays which role.
"""

from __future__ import annotations

from typing import Optional

from nlpt.common.errors import NlptError

# role -> names looked up in the vocabulary, first found wins
ROLE_NAMES = {
    "cls_token": ("[CLS]", "<s>", "<cls>"),
    "sep_token": ("[SEP]", "</s>", "<sep>"),
    "mask_token": ("[MASK]", "<mask>"),
    "pad_token": ("[PAD]", "<pad>", "<|pad|>"),
    "unk_token": ("[UNK]", "<unk>", "<|unk|>"),
    "bos_token": ("<s>", "<|begin_of_text|>", "<bos>", "<|endoftext|>"),
    "eos_token": ("<|endoftext|>", "</s>", "<eos>", "<|end_of_text|>"),
}

# The masked-LM roles: BERT's tokens, or the same roles in a byte-level BPE tokenizer (RoBERTa)
MLM_SPECIALS = ("[CLS]", "[SEP]", "[MASK]", "[PAD]")
ROBERTA_SPECIALS = ("<s>", "</s>", "<mask>", "<pad>")
MLM_HINT = " (MLM needs [CLS] [SEP] [MASK] [PAD]; train one with `nlpt vocab --tokenizer wordpiece`)"


def special_id(tokenizer, *names: str) -> Optional[int]:
    """The id of the first of `names` the tokenizer knows (e.g. "</s>", "<|endoftext|>"), else None."""
    for name in names:
        i = tokenizer.token_to_id(name)
        if i is not None:
            return i
    return None


def special_ids(tokenizer, names, hint: str = "") -> dict:
    """{name: id} for the special tokens; NlptError naming every missing one."""
    ids = {n: tokenizer.token_to_id(n) for n in names}
    missing = [n for n, i in ids.items() if i is None]
    if missing:
        raise NlptError(f"the tokenizer has no {' '.join(missing)} token{'s' if len(missing) > 1 else ''}{hint}")
    return ids


def mlm_ids(tokenizer) -> dict:
    """{role ([CLS], [SEP], [MASK], [PAD]): id}: BERT's tokens, or RoBERTa's <s> </s> <mask> <pad>."""
    if all(tokenizer.token_to_id(t) is not None for t in ROBERTA_SPECIALS) and tokenizer.token_to_id("[CLS]") is None:
        return {role: tokenizer.token_to_id(t) for role, t in zip(MLM_SPECIALS, ROBERTA_SPECIALS)}
    return special_ids(tokenizer, MLM_SPECIALS, hint=MLM_HINT)


def find_token(tokenizer, names) -> tuple[str, int] | None:
    """(name, id) of the first of `names` that the tokenizer holds as one token, else None.

    A vocabulary entry that text never produces (a character tokenizer's `<unk>`: the text "<unk>" is five
    characters) is not declared: transformers would add it as a special token, and "<unk>" in a text would
    then become one id where nlpt's tokenizer gives five."""
    added = {t.content for t in tokenizer.get_added_tokens_decoder().values()}
    for name in names:
        i = tokenizer.token_to_id(name)
        if i is not None and (name in added or tokenizer.encode(name, add_special_tokens=False).ids == [i]):
            return name, i
    return None


def newline_id(tokenizer) -> Optional[int]:
    """The id that ends a line in the stream, when the tokenizer keeps "\\n" as a token of its own."""
    ids = tokenizer.encode("\n", add_special_tokens=False).ids
    return ids[0] if len(ids) == 1 else None
