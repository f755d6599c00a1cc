"""Sentence pairs reach a fine-tuned model in the layout its exported tokenizer gives them.

`nlpt finetune` builds its inputs itself (`nlpt.tokenizer.inputs.InputBuilder`); an export's
`tokenizer.json` carries the family's template (`nlpt.tokenizer.hf_folder.template`), which is what
`AutoTokenizer` applies. For every family and encoder layout the two must give the same ids and segment ids.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("tokenizers")
pytest.importorskip("torch")

from tokenizers import Tokenizer, models, pre_tokenizers  # noqa: E402

from nlpt.finetune.pretrained import input_builder  # noqa: E402
from nlpt.tokenizer.hf_folder import special_roles, template  # noqa: E402

SPECIALS = {
    "bert": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
    "roberta": ["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
    "bart": ["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
    "t5": ["<pad>", "</s>", "<unk>"],
}
CASES = [  # (family, layout, config fields)
    ("encoder", "bert", {"variant": "bert", "type_vocab_size": 2, "sentence_head": "nsp"}),
    ("encoder", "roberta", {"variant": "roberta", "type_vocab_size": 1, "sentence_head": None}),
    ("bart", "bart", {}),
    ("t5", "t5", {}),
]


def _tokenizer(specials: list[str]) -> Tokenizer:
    words = ["the", "film", "was", "good", "bad", "it", "is"]
    vocab = {w: i for i, w in enumerate(specials + words)}
    unk = next(s for s in specials if "unk" in s.lower())
    tok = Tokenizer(models.WordLevel(vocab, unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(specials)
    return tok


@pytest.mark.parametrize("family,layout,fields", CASES, ids=[c[1] for c in CASES])
def test_pairs_and_single_texts_match_the_exported_template(family, layout, fields):
    tok = _tokenizer(SPECIALS[layout])
    config = SimpleNamespace(family=family, hidden_size=32, embed_size=32, shared_layers=False, **fields)
    built = input_builder(tok, config, max_length=64)
    got = built.encode_batch(["the film was good", "it is bad"], ["it is good", "the film"])
    single = built.encode_batch(["the film was good"], None)

    reference = _tokenizer(SPECIALS[layout])
    hf_layout = layout if family == "encoder" else None
    reference.post_processor = template(family, hf_layout, special_roles(reference, family, hf_layout))
    want = [reference.encode("the film was good", "it is good"), reference.encode("it is bad", "the film")]
    assert got["input_ids"] == [e.ids for e in want]
    assert single["input_ids"] == [reference.encode("the film was good").ids]
    if layout == "bert":
        assert got["token_type_ids"] == [e.type_ids for e in want] and 1 in got["token_type_ids"][0]
    else:
        assert "token_type_ids" not in got
    if layout == "roberta":  # the separator between the texts is doubled
        sep = tok.token_to_id("</s>")
        first = got["input_ids"][0]
        assert first[5:7] == [sep, sep]
