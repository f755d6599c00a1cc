"""`nlpt compare --word crane --context ...`: exactly 1.0 for static vectors, below 1 for a contextual model.

The contextual model is a tiny BERT built here with `transformers` and saved as a Hugging Face folder
(config.json, model.safetensors, tokenizer.json from a 24-word WordPiece vocabulary), so the test does not
depend on a pretraining run.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from _cli import nlpt
from nlpt.embeddings.formats.vectors import Vectors

CRANE = ["a crane is flying", "a crane driver came"]
WORDS = "a the crane is flying driver came bird machine sky truck lift flew over site tall heavy small".split()


@pytest.fixture(scope="module")
def static(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("ctx") / "static.txt"
    Vectors(WORDS, rng.normal(size=(len(WORDS), 8)).astype(np.float32)).save(str(path), "text")
    return str(path)


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    transformers = pytest.importorskip("transformers", reason="transformers (a dev dependency) builds the tiny BERT")
    torch = pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("tinybert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + ["##s", "##ing"]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=64, max_position_embeddings=64, initializer_range=0.5)
    transformers.BertModel(cfg).save_pretrained(str(folder))
    transformers.BertTokenizerFast(str(folder / "vocab.txt")).save_pretrained(str(folder))
    return str(folder)


def test_static_exactly_one_contextual_below_one(static, bert):
    r = nlpt("compare", static, bert, "--word", "crane", "--context", CRANE[0], "--context", CRANE[1],
             "--k", "3", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["comparison"] == "context" and doc["word"] == "crane" and doc["contexts"] == CRANE
    assert "last layer" in doc["layer"]
    s, c = doc["rows"]
    assert s["type"] == "static" and s["cosines"] == [{"contexts": [1, 2], "cosine": 1.0}]
    assert s["neighbours"][0] == s["neighbours"][1] and len(s["neighbours"][0]) == 3
    assert c["type"] == "contextual" and c["dim"] == 32 and c["tokens"] == [["crane"], ["crane"]]
    cos = c["cosines"][0]["cosine"]
    assert -1.0 <= cos < 0.999, cos  # a context-sensitive representation
    assert len(c["neighbours"]) == 2 and all(len(n) == 3 for n in c["neighbours"])
    assert c["neighbours"][0] != c["neighbours"][1]  # each occurrence has its own neighbours
    assert all(w != "crane" for n in c["neighbours"] for w, _ in n)


def test_loaders_agree(bert):
    """nlpt's own BERT (when it reads the folder) and transformers' BertModel give the same vectors."""
    from nlpt.compare import context as X

    spans = X.check_contexts("crane", CRANE)
    rows = {p: X.contextual_row(bert, "crane", CRANE, spans, 2, 50, prefer=p) for p in ("nlpt", "transformers")}
    assert rows["transformers"]["loader"].startswith("transformers BertModel")
    a, b = (np.stack(rows[p]["vectors"]) for p in ("nlpt", "transformers"))
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_contexts_file_and_three_contexts(static, tmp_path):
    f = tmp_path / "ctx.txt"
    f.write_text("# crane contexts\na crane is flying\n\nthe Crane driver came\na tall crane over the site\n")
    r = nlpt("compare", static, "--word", "crane", "--contexts", str(f), "--csv")
    assert r.returncode == 0, r.stderr
    header, row = r.stdout.splitlines()[:2]
    cols = header.split(",")
    assert cols[:3] == ["model", "type", "dim"] and "cosine_2_3" in cols and "mean_cosine" in cols
    values = dict(zip(cols, row.split(",")))
    assert values["cosine_1_3"] == values["mean_cosine"] == "1.0"


@pytest.mark.parametrize("args, message", [
    (["--word", "crane", "--context", "a crane is flying", "--context", "no bird here"], "does not contain"),
    (["--word", "crane", "--context", "a crane is flying"], "at least two contexts"),
    (["--context", "a crane is flying", "--context", "a crane"], "need --word"),
    (["--word", "crane", "--context", "a crane", "--context", "the crane", "--plot", "x.png"], "--plot"),
])
def test_usage_errors(static, args, message):
    r = nlpt("compare", static, *args)
    assert r.returncode == 2 and r.stdout == ""
    err = r.stderr.strip()
    assert "\n" not in err and message in err, err


def test_registry_name_needs_weights():
    r = nlpt("compare", "bert-base", "--word", "crane", "--context", "a crane", "--context", "the crane")
    assert r.returncode == 2 and "model folders with weights" in r.stderr
