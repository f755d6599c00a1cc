"""`nlpt pretrain` for BERT (MLM + NSP), T5 (span corruption) and BART (denoising) through the CLI:
loss falls, fill-mask and infill queries, --export-hf, resume equivalence, and the one-line errors.

Tiny configs on documents made of data/synthetic.txt lines (6 lines each, blank lines between documents).
"""

from __future__ import annotations

import json
import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
pytest.importorskip("tokenizers")

from _cli import nlpt  # noqa: E402


def args_for(documents, run, arch, steps=30, extra=()):
    tok = {"bert-mini": documents["wp"], "t5-mini": documents["t5"], "bart-mini": documents["bpe"]}[arch]
    return [documents["corpus"], "-o", run, "--tokenizer", tok, "--arch", arch, "--layers", 1, "--hidden", 32,
            "--heads", 2, "--ffn", 64, "--context", 32, "--vocab", 320, "--batch", 8, "--max-steps", steps,
            "--lr", 3e-3, "--warmup", 2, "--eval-every", 0, "--eval-batches", 4, "--log-every", 1, "--threads", 1,
            "--dropout", 0, "--quiet", *extra]


def metrics(run, split):
    with open(os.path.join(run, "metrics.jsonl")) as fh:
        return [r for r in map(json.loads, fh) if r["split"] == split]


@pytest.mark.parametrize("arch", ["bert-mini", "t5-mini", "bart-mini"])
def test_loss_falls_and_the_query_works(arch, documents, tmp_path):
    run = str(tmp_path / "run")
    steps = 60 if arch == "bert-mini" else 30
    code, _, err = nlpt("pretrain", *args_for(documents, run, arch, steps))
    assert code == 0, err
    train = [r["loss"] for r in metrics(run, "train")]
    assert len(train) == steps
    first, last, val = sum(train[:3]) / 3, sum(train[-5:]) / 5, metrics(run, "val")[-1]
    if arch == "bert-mini":  # MLM on 300 WordPiece types starts at ln 320 = 5.77 and first learns the unigram
        assert last < first - 0.25 and val["loss"] < first - 0.25, (train, val)
    else:
        assert last < 0.8 * first and val["loss"] < 0.8 * first, (train, val)
    if arch == "bert-mini":
        assert {"mlm_accuracy", "nsp_accuracy", "nsp_loss"} <= set(val)
        code, out, err = nlpt("pretrain", "fill-mask", run, "the [MASK] of the", "--top-k", 3, "--json")
        assert code == 0, err
        result = json.loads(out)
        assert result[0]["masks"][0]["position"] == 2 and len(result[0]["masks"][0]["predictions"]) == 3
    else:
        assert "accuracy" in val
        gap = "<mask>" if arch == "bart-mini" else "<extra_id_0>"
        code, out, err = nlpt("pretrain", "infill", run, f"the {gap} of the", "--json")
        assert code == 0, err
        output = json.loads(out)[0]["output"]
        assert isinstance(output, dict if arch == "t5-mini" else str)
    with open(os.path.join(run, "config.json")) as fh:
        cfg = json.load(fh)
    assert cfg["objective"] == {"bert-mini": "mlm", "t5-mini": "span_corruption", "bart-mini": "bart_denoising"}[arch]
    assert cfg["model"]["pad_token_id"] == 0  # the special-token ids the objective uses reach the exported config


def test_bert_export_hf_loads_as_bert_for_pretraining(documents, tmp_path):
    transformers = pytest.importorskip("transformers")
    run, out = str(tmp_path / "run"), str(tmp_path / "hf")
    code, _, err = nlpt("pretrain", *args_for(documents, run, "bert-mini", steps=3, extra=["--export-hf", out]))
    assert code == 0, err
    from nlpt.engine import load_run

    model, tok, _ = load_run(run)
    hf = transformers.BertForPreTraining.from_pretrained(out).eval()
    assert os.path.isfile(os.path.join(out, "tokenizer.json"))
    ids = torch.tensor([tok.encode("the [MASK] of the city", "and then some").ids])
    types_ = torch.tensor([tok.encode("the [MASK] of the city", "and then some").type_ids])
    with torch.no_grad():
        mlm, nsp = model(ids, None, types_)
        ref = hf(input_ids=ids, token_type_ids=types_)
    assert torch.allclose(mlm, ref.prediction_logits[0], atol=1e-4)
    assert torch.allclose(nsp, ref.seq_relationship_logits, atol=1e-4)


def test_no_nsp_trains_without_sentence_head(documents, tmp_path):
    run = str(tmp_path / "run")
    code, _, err = nlpt("pretrain", *args_for(documents, run, "bert-mini", steps=2, extra=["--no-nsp"]))
    assert code == 0, err
    assert "nsp_accuracy" not in metrics(run, "val")[-1]
    from nlpt.engine import load_run

    model, _, cfg = load_run(run)
    assert model.sentence_head is None and cfg["objective_options"] == {"sentence_head": None}


def test_roberta_style_with_a_bpe_tokenizer(documents, tmp_path):
    """--arch roberta-base (no sentence head) with byte-level BPE: <s> </s> <mask> <pad> play [CLS] [SEP] [MASK] [PAD];
    positions start after the padding id, and --export-hf writes a RobertaForMaskedLM with the same logits."""
    transformers = pytest.importorskip("transformers")
    run, out = str(tmp_path / "run"), str(tmp_path / "hf")
    code, _, err = nlpt("pretrain", *[documents["bpe"] if a == documents["wp"] else ("roberta-base" if a == "bert-mini" else a)
                                           for a in args_for(documents, run, "bert-mini", steps=2, extra=["--export-hf", out])])
    assert code == 0, err
    code, text, err = nlpt("pretrain", "fill-mask", run, "the<mask> of", "--json")
    assert code == 0, err
    assert len(json.loads(text)[0]["masks"]) == 1
    from nlpt.engine import load_run

    model, tok, _ = load_run(run)
    assert model.config.max_positions == 32 + 1  # --context 32 tokens after <pad> (id 0): rows 1…32
    hf = transformers.RobertaForMaskedLM.from_pretrained(out).eval()
    ids = torch.tensor([[tok.token_to_id("<s>")] + tok.encode("the <mask> of the city").ids[:29] + [tok.token_to_id("</s>")]])
    with torch.no_grad():
        mlm, _ = model(ids)
        assert torch.allclose(mlm, hf(input_ids=ids).logits[0], atol=1e-4)


def test_sentence_order_prediction_through_the_cli(documents, tmp_path):
    """--sentence-head sop on BERT, and ALBERT (whose config says sop): SOP loss and accuracy in the validation
    metrics; the ALBERT run exports as AlbertForPreTraining with the same MLM and SOP logits."""
    transformers = pytest.importorskip("transformers")
    run = str(tmp_path / "bert-sop")
    code, _, err = nlpt("pretrain", *args_for(documents, run, "bert-mini", steps=2, extra=["--sentence-head", "sop"]))
    assert code == 0, err
    val = metrics(run, "val")[-1]
    assert {"sop_accuracy", "sop_loss"} <= set(val) and "nsp_accuracy" not in val and 0 <= val["sop_accuracy"] <= 1
    run, out = str(tmp_path / "albert"), str(tmp_path / "albert-hf")
    code, _, err = nlpt("pretrain", *[("albert-base-v2" if a == "bert-mini" else a) for a in
                                           args_for(documents, run, "bert-mini", steps=2, extra=["--export-hf", out])])
    assert code == 0, err
    assert "sop_accuracy" in metrics(run, "val")[-1]
    from nlpt.engine import load_run

    model, tok, _ = load_run(run)
    assert model.config.shared_layers and model.config.sentence_head == "sop"
    hf = transformers.AlbertForPreTraining.from_pretrained(out).eval()
    enc = tok.encode("the [MASK] of the city", "and then some")
    ids, types_ = torch.tensor([enc.ids]), torch.tensor([enc.type_ids])
    with torch.no_grad():
        mlm, sop = model(ids, None, types_)
        ref = hf(input_ids=ids, token_type_ids=types_)
    assert torch.allclose(mlm, ref.prediction_logits[0], atol=1e-4)
    assert torch.allclose(sop, ref.sop_logits, atol=1e-4)


def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(documents, tmp_path):
    """BERT with dropout: 2N steps in one go == N steps, then a new run resumed from that checkpoint."""
    from safetensors.torch import load_file

    extra = ["--dropout", 0.1, "--checkpoint-every", 4, "--keep-last", 0, "--cpu-matmul", "numpy"]
    straight = str(tmp_path / "straight")
    code, _, err = nlpt("pretrain", *args_for(documents, straight, "bert-mini", 8, extra))
    assert code == 0, err
    resumed = str(tmp_path / "resumed")
    code, _, err = nlpt("pretrain", *args_for(documents, resumed, "bert-mini", 8, extra),
                        "--resume", os.path.join(straight, "checkpoints", "step-4"))
    assert code == 0, err
    a = load_file(os.path.join(straight, "checkpoints", "step-8", "model.safetensors"))
    b = load_file(os.path.join(resumed, "checkpoints", "step-8", "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert [r["loss"] for r in metrics(straight, "train")][4:] == [r["loss"] for r in metrics(resumed, "train")]


def test_errors_are_one_line_and_nothing_is_written(documents, tmp_path):
    def fails(*args, match, code=1):
        got, _, err = nlpt("pretrain", *args)
        assert got == code, err
        line = err.strip()
        assert "\n" not in line and "Traceback" not in line and match in line, line

    run = str(tmp_path / "never")
    base = args_for(documents, run, "bert-mini", steps=2)
    fails(*[documents["char"] if a == documents["wp"] else a for a in base],  # no [CLS]/[SEP]/[MASK] (nor <s> </s> <mask>)
          match=f"{documents['char']}: the tokenizer has no [CLS] [SEP] [MASK] [PAD] tokens")
    fails(*[documents["bpe"] if a == documents["t5"] else a for a in args_for(documents, run, "t5-mini", steps=2)],
          match="has no <extra_id_0>")
    assert not os.path.exists(run)  # the tokenizer is checked before anything is written
    fails(*[documents["flat"] if a == documents["corpus"] else a for a in base], match="no document boundaries")
    fails(*args_for(documents, str(tmp_path / "gpt"), "bert-mini", steps=2, extra=["--arch", "gpt-mini", "--no-nsp"]),
          match="--no-nsp applies to encoders", code=2)
    fails(*base, "--sentence-head", "sop", "--no-nsp", match="--no-nsp contradicts --sentence-head sop", code=2)
    fails(*base, "--sentence-head", "order", match="--sentence-head must be nsp, sop or none", code=2)
    fails(*args_for(documents, str(tmp_path / "t5x"), "t5-mini", steps=2), "--sentence-head", "sop",
          match="--sentence-head applies to encoders", code=2)
    ok_run = str(tmp_path / "t5")
    assert nlpt("pretrain", *args_for(documents, ok_run, "t5-mini", steps=1))[0] == 0
    fails("fill-mask", ok_run, "a [MASK] b", match="fill-mask needs an encoder run", code=2)
    fails("infill", ok_run, "no gap here", match="mark gaps with")
