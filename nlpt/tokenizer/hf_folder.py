"""The tokenizer half of a Hugging Face folder: `tokenizer.json` with the family's template, and the two
files that tell `AutoTokenizer` which tokens are special (`tokenizer_config.json`, `special_tokens_map.json`).

The templates are the ones nlpt's objectives build training inputs with, so that
`AutoTokenizer(text)` gives the ids the model was trained on:

    BERT / ALBERT layouts   [CLS] A [SEP]            pair [CLS] A [SEP] B [SEP]  (token types 0 … 0 1 … 1)
    RoBERTa layout          <s> A </s>               pair <s> A </s></s> B </s>  (RoBERTa's convention; no types)
    T5                      A </s>                   pair A </s> B </s>
    BART                    <s> A </s>               pair <s> A </s></s> B </s>
    GPT / Llama / Mixtral   A                        (causal LM trains on the raw stream: nothing added)

Encoders trained with RoBERTa's tokens (`<s>`, `</s>`) but a BERT/ALBERT layout use `<s>`/`</s>` in the
[CLS]/[SEP] roles, as the MLM objective does. Special tokens are found by name, first found wins
(`nlpt.tokenizer.specials.ROLE_NAMES`, which finetune's input builder also uses). No torch here.
"""

from __future__ import annotations

import json
import os

from nlpt.common import jsontext
from nlpt.tokenizer.sentinels import is_sentinel
from nlpt.tokenizer.specials import ROLE_NAMES, find_token

# the roles each family declares (others would mislead a pipeline: a decoder has no [MASK] to fill)
FAMILY_ROLES = {
    "encoder": ("cls_token", "sep_token", "mask_token", "pad_token", "unk_token", "bos_token", "eos_token"),
    "bart": ("cls_token", "sep_token", "mask_token", "pad_token", "unk_token", "bos_token", "eos_token"),
    "t5": ("pad_token", "unk_token", "eos_token"),
    "gpt": ("bos_token", "eos_token", "pad_token", "unk_token"),
    "llama": ("bos_token", "eos_token", "pad_token", "unk_token"),
}


def special_roles(tokenizer, family: str, layout: str | None = None) -> dict:
    """{role: (token, id)} of the special tokens a family's export declares (roles the vocabulary lacks left out)."""
    roles = {}
    for role in FAMILY_ROLES[family]:
        names = ("</s>",) if family == "t5" and role == "eos_token" else ROLE_NAMES[role]
        found = find_token(tokenizer, names)
        if found is not None:
            roles[role] = found
    return roles


def template(family: str, layout: str | None, roles: dict):
    """The post-processor that adds the family's special tokens (None: add nothing)."""
    from tokenizers import processors

    def tok(role):
        return roles[role][0]

    if family == "encoder":
        if "cls_token" not in roles or "sep_token" not in roles:
            return None
        cls, sep = tok("cls_token"), tok("sep_token")
        if layout == "roberta":
            single, pair = f"{cls} $A {sep}", f"{cls} $A {sep} {sep} $B {sep}"
        else:
            single, pair = f"{cls}:0 $A:0 {sep}:0", f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1"
        used = [roles["cls_token"], roles["sep_token"]]
    elif family == "bart":
        if "bos_token" not in roles or "eos_token" not in roles:
            return None
        bos, eos = tok("bos_token"), tok("eos_token")
        single, pair = f"{bos} $A {eos}", f"{bos} $A {eos} {eos} $B {eos}"
        used = [roles["bos_token"], roles["eos_token"]]
    elif family == "t5":
        if "eos_token" not in roles:
            return None
        eos = tok("eos_token")
        single, pair = f"$A {eos}", f"$A {eos} $B {eos}"
        used = [roles["eos_token"]]
    else:
        return None
    return processors.TemplateProcessing(single=single, pair=pair, special_tokens=sorted(set(used), key=lambda x: x[1]))


def model_input_names(family: str, layout: str | None) -> list:
    if family == "encoder" and layout != "roberta":
        return ["input_ids", "token_type_ids", "attention_mask"]
    return ["input_ids", "attention_mask"]


def write_tokenizer_folder(tokenizer, out_dir: str, family: str, layout: str | None, max_length: int) -> dict:
    """Write tokenizer.json (the family's template), tokenizer_config.json and special_tokens_map.json into
    `out_dir`; returns {role: (token, id)} so the model config can carry the same ids."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tokenizer.to_str())  # a copy: the caller's tokenizer is left as it was
    roles = special_roles(tok, family, layout)
    extra = []
    if family == "t5":
        extra = [t for t, _ in sorted(tok.get_vocab(with_added_tokens=True).items(), key=lambda kv: kv[1])
                 if is_sentinel(t)]
    tok.add_special_tokens(sorted({name for name, _ in roles.values()} | set(extra)))  # never split, skipped in decode
    post = template(family, layout, roles)
    if post is not None:
        tok.post_processor = post
    else:  # decoders: any template is dropped; byte-level BPE's offsets processor adds nothing and stays
        data = json.loads(tok.to_str())
        if (data.get("post_processor") or {}).get("type") != "ByteLevel":
            data["post_processor"] = None
            tok = Tokenizer.from_str(json.dumps(data))
    tok.no_padding()
    tok.no_truncation()
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    names = {role: name for role, (name, _) in roles.items()}
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": max_length,
              "model_input_names": model_input_names(family, layout), "padding_side": "right",
              "clean_up_tokenization_spaces": False, **names}
    if extra:
        config["additional_special_tokens"] = extra
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as fh:
        fh.write(jsontext.dumps(config, "tokenizer_config.json", indent=2))
    with open(os.path.join(out_dir, "special_tokens_map.json"), "w", encoding="utf-8") as fh:
        fh.write(jsontext.dumps({**names, **({"additional_special_tokens": extra} if extra else {})},
                                "special_tokens_map.json", indent=2))
    return roles
