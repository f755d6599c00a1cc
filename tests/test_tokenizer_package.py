"""The tokenizer package (nlpt/tokenizer): no torch or numpy on import, one loader with one-line errors, special
tokens and sentinels found by name, and the one T5 corruption rule shared by pretraining and `pretrain eval`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tokenizers")

from nlpt.common.errors import NlptError  # noqa: E402
from nlpt.tokenizer import files, sentinels, specials  # noqa: E402

MODULES = ("train", "chars", "files", "specials", "sentinels", "inputs", "hf_folder")


def word_tokenizer(tokens):
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({t: i for i, t in enumerate(tokens)}, unk_token=tokens[0]))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return tok


def test_importing_the_package_loads_neither_torch_numpy_nor_tokenizers():
    code = ("import sys\n" + "".join(f"import nlpt.tokenizer.{m}\n" for m in MODULES)
            + "print(json.dumps([m for m in ('torch', 'numpy', 'tokenizers') if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_load_tokenizer_names_the_file(tmp_path):
    with pytest.raises(NlptError, match="no such tokenizer file"):
        files.load_tokenizer(str(tmp_path / "none.json"))
    with pytest.raises(NlptError, match="folder: no tokenizer.json"):
        files.load_tokenizer(str(tmp_path / "none.json"), missing="folder: no tokenizer.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(NlptError, match="bad.json: not a tokenizer.json the tokenizers library loads"):
        files.load_tokenizer(str(bad))
    (tmp_path / "tokenizer.json").write_text("{")
    with pytest.raises(NlptError, match="tokenizer.json: not a tokenizer.json"):  # a Hugging Face folder's too
        files.load_hf_tokenizer(str(tmp_path))


def test_save_then_load_keeps_the_ids(tmp_path):
    tok = word_tokenizer(["<unk>", "a", "b"])
    files.save_tokenizer(tok, str(tmp_path / "t.json"))
    again = files.load_tokenizer(str(tmp_path / "t.json"))
    assert again.encode("b a b").ids == tok.encode("b a b").ids == [2, 1, 2]
    assert files.tokenizer_sha256(str(tmp_path / "t.json")) == files.tokenizer_sha256(str(tmp_path / "t.json"))


def test_special_tokens_by_name():
    tok = word_tokenizer(["<unk>", "<s>", "</s>", "<mask>", "<pad>", "x"])
    assert specials.special_id(tok, "[PAD]", "<pad>") == 4
    assert specials.special_id(tok, "[PAD]") is None
    assert specials.mlm_ids(tok) == {"[CLS]": 1, "[SEP]": 2, "[MASK]": 3, "[PAD]": 4}  # RoBERTa's roles
    with pytest.raises(NlptError, match=r"has no \[CLS\] \[SEP\] \[MASK\] \[PAD\] tokens \(MLM needs"):
        specials.mlm_ids(word_tokenizer(["<unk>", "x"]))
    assert specials.newline_id(word_tokenizer(["<unk>", "x"])) is None


def test_sentinels_are_numbered_from_zero_up_to_the_first_gap():
    tok = word_tokenizer(["<unk>", "<extra_id_0>", "<extra_id_1>", "<extra_id_3>"])
    assert sentinels.sentinel_ids(tok) == [1, 2]
    assert sentinels.is_sentinel(sentinels.sentinel(7)) and not sentinels.is_sentinel("<mask>")
    sentinels.add_sentinels(tok, 3)
    assert sentinels.sentinel_ids(tok)[:2] == [1, 2] and len(sentinels.sentinel_ids(tok)) == 4
    with pytest.raises(NlptError, match="--count must be at least 1"):
        sentinels.add_sentinels(tok, 0)


def test_t5_target_index_points_at_each_removed_token():
    """`pretrain eval` scores the T5 target at `t5_target_index`: there stand exactly the removed tokens."""
    pytest.importorskip("torch")
    from nlpt.objectives.denoising import t5_corrupt, t5_reconstruct, t5_target_index

    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 30))
        window = rng.integers(100, 200, size=n)
        mask = rng.random(n) < rng.random()
        sent, eos = list(range(50, 50 + n)), 1
        inputs, target = t5_corrupt(window, mask, sent, eos)
        where = t5_target_index(mask)
        assert [target[i] for i in where] == window[mask].tolist()
        rest = [t for i, t in enumerate(target) if i not in set(where.tolist())]
        assert rest == sent[:len(rest) - 1] + [eos]
        assert t5_reconstruct(inputs, target, sent, eos) == window.tolist()


def test_a_pretraining_run_reads_its_tokenizer_once(corpus, char_tok, tmp_path, monkeypatch):
    """The vocabulary size, the objective's checks and the token files (built, then reopened) share one load."""
    pytest.importorskip("torch")
    import tokenizers
    from _cli import nlpt

    reads = []
    real = tokenizers.Tokenizer

    def from_file(path):
        reads.append(path)
        return real.from_file(path)

    monkeypatch.setattr(tokenizers, "Tokenizer", type("CountingTokenizer", (), {
        "from_file": staticmethod(from_file), "from_str": staticmethod(real.from_str)}))
    code, _, err = nlpt("pretrain", corpus, "-o", tmp_path / "run", "--tokenizer", char_tok, "--arch", "gpt-mini",
                        "--layers", 1, "--hidden", 16, "--heads", 2, "--ffn", 32, "--context", 16, "--batch", 2,
                        "--max-steps", 1, "--eval-every", 0, "--threads", 1, "--quiet")
    assert code == 0, err
    assert reads == [char_tok]
