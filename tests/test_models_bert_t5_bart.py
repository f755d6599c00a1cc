"""BERT, T5 and BART models (#12): parameter counts equal `nlpt params`, exported folders load in transformers
with the same logits, and the models' own pieces (padding masks, MLM positions) behave."""

from __future__ import annotations

import dataclasses

import pytest

torch = pytest.importorskip("torch")

from nlpt.models import build  # noqa: E402
from nlpt.transformer.config import BartConfig, EncoderConfig, T5Config, resolve  # noqa: E402
from nlpt.transformer.params import count  # noqa: E402

TINY = {
    "bert": EncoderConfig(vocab_size=97, hidden_size=32, num_layers=2, num_heads=4, ffn_size=64, max_positions=40),
    "t5": T5Config(vocab_size=97, d_model=32, d_kv=8, num_heads=4, ffn_size=64, num_layers=2, num_decoder_layers=3,
                   relative_attention_num_buckets=8, relative_attention_max_distance=20),
    "t5-gated": T5Config(vocab_size=97, d_model=32, d_kv=8, num_heads=4, ffn_size=48, num_layers=2,
                         num_decoder_layers=2, gated_ffn=True, activation="gelu"),
    "bart": BartConfig(vocab_size=97, d_model=32, num_layers=2, num_decoder_layers=3, num_heads=4, ffn_size=64,
                       decoder_ffn_size=48, max_positions=40),
}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one thread is fastest, and far faster than several on a shared, busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _numel(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("config", [
    *TINY.values(),
    resolve("bert-mini").config, resolve("t5-mini").config, resolve("bart-mini").config,
    dataclasses.replace(TINY["bert"], sentence_head="sop"),
    dataclasses.replace(TINY["bert"], sentence_head=None, type_vocab_size=1),  # RoBERTa-style: no pooler either
    dataclasses.replace(TINY["bert"], embedding_size=16, shared_layers=True, sentence_head="sop"),  # ALBERT
    dataclasses.replace(TINY["t5"], tie_embeddings=False),
], ids=lambda c: f"{c.family}-{c.variant}-{getattr(c, 'sentence_head', '')}-{getattr(c, 'embedding_size', '')}")
def test_parameter_count_equals_nlpt_params(config):
    model = build(config)
    c = count(config)
    if config.family == "encoder":  # the bare encoder is params' total; with the heads, its pretraining total
        if config.sentence_head:  # (without a sentence head the pretraining model has no pooler, as RobertaForMaskedLM)
            assert _numel(model.encoder) == c.total
        assert _numel(model) == c.pretraining_total
    else:
        assert _numel(model) == c.total


def _inputs(B=2, T=12, S=9, V=97, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, V, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, T - 4:] = 0  # the second row is padded
    dec = torch.randint(5, V, (B, S), generator=g)
    return ids, mask, dec


def _hf_roundtrip(name, tmp_path):
    """Export nlpt's model through `nlpt.models.hf.export_hf` and load it with transformers' own class."""
    transformers = pytest.importorskip("transformers")
    from nlpt.models.hf import export_hf

    torch.manual_seed(1)
    model = build(TINY[name]).eval()
    with torch.no_grad():  # make every parameter (LayerNorm weights, biases too) non-trivial
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    out = tmp_path / name
    export_hf(model, str(out))
    cls = {"bert": "BertForPreTraining", "t5": "T5ForConditionalGeneration", "t5-gated": "T5ForConditionalGeneration",
           "bart": "BartForConditionalGeneration"}[name]
    hf = getattr(transformers, cls).from_pretrained(str(out)).eval()
    return model, hf


def test_bert_export_matches_transformers(tmp_path):
    model, hf = _hf_roundtrip("bert", tmp_path)
    ids, mask, _ = _inputs()
    types = torch.zeros_like(ids)
    types[:, 6:] = 1
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, token_type_ids=types)
        mlm, nsp = model(ids, mask, types)
    keep = mask.bool()  # padded positions are not compared (their outputs are meaningless either way)
    assert torch.allclose(mlm.view(*ids.shape, -1)[keep], ref.prediction_logits[keep], atol=1e-4)
    assert torch.allclose(nsp, ref.seq_relationship_logits, atol=1e-4)
    with torch.no_grad():  # the bare encoder too (what finetune uses)
        assert torch.allclose(model.hidden_states(ids, mask, types)[keep], hf.bert(ids, mask, types).last_hidden_state[keep],
                              atol=1e-4)


@pytest.mark.parametrize("name", ["t5", "t5-gated", "bart"])
def test_encoder_decoder_export_matches_transformers(name, tmp_path):
    model, hf = _hf_roundtrip(name, tmp_path)
    ids, mask, dec = _inputs()
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
        ours = model(ids, dec, mask)
    assert ours.shape == ref.shape
    assert torch.allclose(ours, ref, atol=1e-4), (ours - ref).abs().max()


@pytest.mark.parametrize("name", ["bert", "t5", "bart"])
def test_hf_state_dict_loads_back(name):
    from nlpt.models import family_module

    config = TINY[name]
    module = family_module(config.family)
    a, b = build(config).eval(), build(config).eval()
    module.load_hf_state_dict(b, module.hf_state_dict(a))
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb and torch.equal(pa, pb), na


def test_bert_mlm_positions_and_padding():
    model = build(TINY["bert"]).eval()
    ids, mask, _ = _inputs()
    with torch.no_grad():
        full, _ = model(ids, mask)
        some, _ = model(ids, mask, None, torch.tensor([0, 5, 13]))
        assert torch.allclose(full[[0, 5, 13]], some, atol=1e-6)
        # what is in the padded positions does not change the others
        other = ids.clone()
        other[1, -4:] = 7
        a, b = model.hidden_states(ids, mask), model.hidden_states(other, mask)
    assert torch.allclose(a[1, :-4], b[1, :-4], atol=1e-6)
    assert not torch.allclose(a[1, -4:], b[1, -4:])


def test_decoder_is_causal():
    for name in ("t5", "bart"):
        model = build(TINY[name]).eval()
        ids, mask, dec = _inputs()
        changed = dec.clone()
        changed[:, -1] = 3
        with torch.no_grad():
            a, b = model(ids, dec, mask), model(ids, changed, mask)
        assert torch.allclose(a[:, :-1], b[:, :-1], atol=1e-6), name
        assert not torch.allclose(a[:, -1], b[:, -1]), name
