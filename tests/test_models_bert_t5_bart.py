"""BERT, T5 and BART models: parameter counts equal `nlpt params`, exported folders load in transformers
with the same logits, and the models' own pieces (padding masks, MLM positions) behave."""

from __future__ import annotations

import dataclasses

import pytest

torch = pytest.importorskip("torch")

from _cli import perturbed  # noqa: E402
from nlpt.models import build  # noqa: E402
from nlpt.transformer.configs import BartConfig, EncoderConfig, T5Config  # noqa: E402
from nlpt.transformer.registry import resolve  # noqa: E402
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
    model = perturbed(build(TINY[name]).eval(), 0.05)  # every parameter (LayerNorm weights, biases too) non-trivial
    out = tmp_path / name
    export_hf(model, str(out))
    cls = {"bert": "BertForPreTraining", "t5": "T5ForConditionalGeneration", "t5-gated": "T5ForConditionalGeneration",
           "bart": "BartForConditionalGeneration"}[name]
    hf = getattr(transformers, cls).from_pretrained(str(out)).eval()
    return model, hf


ENCODER_EXPORTS = {  # config → the transformers class `--export-hf` writes for it
    "albert-shared": (dataclasses.replace(TINY["bert"], embedding_size=16, shared_layers=True, sentence_head="sop",
                                          variant="albert"), "AlbertForPreTraining"),
    "albert-per-layer": (dataclasses.replace(TINY["bert"], embedding_size=16, sentence_head="sop", variant="albert"),
                         "AlbertForPreTraining"),
    "albert-mlm": (dataclasses.replace(TINY["bert"], embedding_size=16, shared_layers=True, sentence_head=None,
                                       variant="albert"), "AlbertForMaskedLM"),
    "roberta": (dataclasses.replace(TINY["bert"], sentence_head=None, type_vocab_size=1, variant="roberta",
                                    layer_norm_eps=1e-5), "RobertaForMaskedLM"),
    "roberta-pad0": (dataclasses.replace(TINY["bert"], sentence_head=None, type_vocab_size=1, variant="roberta",
                                         pad_token_id=0), "RobertaForMaskedLM"),  # nlpt's BPE: <pad> is 0
    "bert-mlm": (dataclasses.replace(TINY["bert"], sentence_head=None), "BertForMaskedLM"),
}


@pytest.mark.parametrize("name", sorted(ENCODER_EXPORTS))
def test_albert_roberta_and_mlm_only_exports_match_transformers(name, tmp_path):
    """ALBERT (shared or per-layer weights, with or without SOP), RoBERTa (positions after the padding id) and
    BERT without a sentence head: the class transformers loads gives nlpt's logits; nlpt reads the folder back."""
    transformers = pytest.importorskip("transformers")
    from nlpt.engine import load_pretrained
    from nlpt.models.hf import export_hf

    config, cls = ENCODER_EXPORTS[name]
    torch.manual_seed(1)
    model = perturbed(build(config).eval(), 0.05)
    out = tmp_path / name
    assert export_hf(model, str(out))["architectures"] == [cls]
    hf = getattr(transformers, cls).from_pretrained(str(out)).eval()
    ids, mask, _ = _inputs()
    ids[1, -4:] = config.pad_token_id if config.pad_token_id is not None else (1 if config.variant == "roberta" else 0)
    types = torch.zeros_like(ids)
    if config.sentence_head:
        types[:, 6:] = 1
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, token_type_ids=types)
        mlm, sentence = model(ids, mask, types)
    keep = mask.bool()
    logits = ref.prediction_logits if config.sentence_head else ref.logits
    assert torch.allclose(mlm.view(*ids.shape, -1)[keep], logits[keep], atol=1e-4)
    if config.sentence_head:
        assert torch.allclose(sentence, ref.sop_logits, atol=1e-4)
    else:
        assert sentence is None
    (out / "tokenizer.json").write_text(_tiny_tokenizer_json(config.vocab_size), encoding="utf-8")
    again, _, _ = load_pretrained(str(out))  # finetune's reader: config.json → the same nlpt config, same weights
    assert again.config.sentence_head == config.sentence_head and again.config.shared_layers == config.shared_layers
    with torch.no_grad():
        assert torch.allclose(again.hidden_states(ids, mask, types)[keep], model.hidden_states(ids, mask, types)[keep],
                              atol=1e-5)


def _tiny_tokenizer_json(vocab_size: int) -> str:
    from tokenizers import Tokenizer, models

    return Tokenizer(models.WordLevel({f"t{i}": i for i in range(vocab_size)}, unk_token="t0")).to_str()


def test_encoder_without_segments_is_refused_with_one_line(tmp_path):
    from nlpt.common.errors import NlptError
    from nlpt.models.hf import export_hf

    model = build(dataclasses.replace(TINY["bert"], type_vocab_size=0, pooler=False, sentence_head=None,
                                      variant="distilbert"))
    with pytest.raises(NlptError, match="without segment embeddings") as err:
        export_hf(model, str(tmp_path / "d"))
    assert "\n" not in str(err.value) and not (tmp_path / "d").exists()


@pytest.mark.parametrize("gated", [False, True])
def test_untied_t5_export_matches_transformers(gated, tmp_path):
    """T5 v1.1-style untied head: no d_model**-0.5 on the decoder output. transformers >= 5 forces
    tie_word_embeddings true and keys the scaling on the config's tie_word_embeddings false (scale_decoder_outputs),
    keeping lm_head.weight apart when the file's differs from shared.weight."""
    transformers = pytest.importorskip("transformers")
    from nlpt.models.hf import export_hf
    from nlpt.transformer.hf_config import from_hf_config

    config = dataclasses.replace(TINY["t5-gated" if gated else "t5"], tie_embeddings=False)
    torch.manual_seed(1)
    model = perturbed(build(config).eval(), 0.05)
    out = tmp_path / "t5"
    export_hf(model, str(out))
    hf = transformers.T5ForConditionalGeneration.from_pretrained(str(out)).eval()
    ids, mask, dec = _inputs()
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
        ours = model(ids, dec, mask)
    assert torch.allclose(ours, ref, atol=1e-4), (ours - ref).abs().max()
    saved = tmp_path / "resaved"  # what transformers itself writes for it still reads as untied
    hf.save_pretrained(str(saved))
    import json

    assert from_hf_config(json.loads((saved / "config.json").read_text()), "config.json").tie_embeddings is False


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


@pytest.mark.parametrize("name", ["t5", "bart"])
def test_encoder_padding_changes_nothing_at_real_tokens(name):
    """The encoder runs its token-wise layers on the non-padding rows only: extra padding columns leave the
    real tokens' outputs (and the decoder's logits) as they were."""
    model = build(TINY[name]).eval()
    ids, mask, dec = _inputs()
    wider = torch.cat([ids, torch.full((2, 5), 3)], dim=1)
    wider_mask = torch.cat([mask, torch.zeros(2, 5, dtype=torch.long)], dim=1)
    with torch.no_grad():
        a, b = model.hidden_states(ids, mask), model.hidden_states(wider, wider_mask)
        keep = mask.bool()
        assert torch.allclose(a[keep], b[:, :ids.shape[1]][keep], atol=1e-5)
        assert torch.allclose(model(ids, dec, mask), model(wider, dec, wider_mask), atol=1e-5)


def test_training_ops_equal_the_plain_functions():
    """nlpt.models.ops: dropout keeps 1 − p scaled by the inverse of the kept fraction; the attention used in training is SDPA's
    arithmetic (checked with a negligible p, so nothing is dropped); T5's RMS norm gradient is exact."""
    import torch.nn.functional as F

    from nlpt.models.layers import _RMSNormFunction, attention
    from nlpt.models.ops import dropout, residual

    torch.manual_seed(0)
    x = torch.ones(200_000)
    y = dropout(x, 0.1, True)
    kept = 1 - round(0.1 * 2**15) / 2**15  # p on the mask's 2⁻¹⁵ grid
    assert abs(float((y == 0).float().mean()) - 0.1) < 0.005 and torch.allclose(y[y != 0], torch.tensor(1 / kept))
    for lane in range(4):  # each of the four elements a 64-bit draw decides is dropped with probability p
        assert abs(float((y.view(-1, 4)[:, lane] == 0).float().mean()) - 0.1) < 0.01, lane
    assert abs(float(dropout(torch.ones(1_000_003), 0.3, True).mean()) - 1.0) < 0.005  # unbiased, odd length
    torch.manual_seed(0)
    assert torch.equal(dropout(x, 0.1, True), y)  # torch's generator: seeded runs repeat
    assert dropout(x.bfloat16().view(400, 500), 0.5, True).dtype == torch.bfloat16
    assert dropout(x, 0.1, False) is x and torch.equal(residual(x, x, 0.5, False), 2 * x)
    assert dropout(x, 1e-6, True) is x and torch.equal(residual(x, x, 1e-6, True), 2 * x)  # below the grid: no mask
    assert float((dropout(x, 2**-14, True) == 0).float().mean()) > 0  # the grid's smallest step still drops
    for p in (1.0, 1 - 1e-6):  # the grid's top: everything dropped, no division by zero
        assert not dropout(x, p, True).any() and torch.equal(residual(x, x, p, True), x)
    assert abs(float(residual(torch.zeros(200_000), x, 0.5, True).mean()) - 1.0) < 0.02
    q, k, v = (torch.randn(2, 3, 7, 8, dtype=torch.float64) for _ in range(3))
    mask = torch.randn(2, 3, 7, 7, dtype=torch.float64)
    for kw in ({}, {"mask": mask, "scale": 1.0}, {"causal": True}):
        plain = F.scaled_dot_product_attention(q, k, v, attn_mask=kw.get("mask"), is_causal=kw.get("causal", False),
                                               scale=kw.get("scale"))
        assert torch.allclose(attention(q, k, v, dropout_p=1e-12, training=True, own_dropout=True, **kw), plain,
                              atol=1e-9), kw
    # on CPU every family drops attention weights with this mask, not SDPA's bernoulli_ (its unfused path)
    q32, k32, v32 = (t.float() for t in (q, k, v))
    torch.manual_seed(1)
    got = attention(q32, k32, v32, dropout_p=0.5, training=True)
    torch.manual_seed(1)
    want = dropout((q32 @ k32.transpose(-2, -1) * 8 ** -0.5).softmax(-1), 0.5, True) @ v32
    assert torch.allclose(got, want, atol=1e-6)
    w = torch.randn(8, dtype=torch.float64, requires_grad=True)
    xs = torch.randn(3, 4, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: _RMSNormFunction.apply(a, b, 1e-6), (xs, w))
    assert torch.allclose(_RMSNormFunction.apply(xs, w, 1e-6), F.rms_norm(xs, (8,), w, 1e-6))
