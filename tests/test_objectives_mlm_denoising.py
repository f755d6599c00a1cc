"""MLM + NSP/SOP and T5/BART denoising objectives: masking statistics, pair construction that respects
document boundaries, corruption round-trips, batches, metrics and one-line errors for unusable tokenizers/corpora."""

from __future__ import annotations

import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tokenizers")

from nlpt.common.errors import NlptError  # noqa: E402
from nlpt.objectives import denoising as dn  # noqa: E402
from nlpt.objectives import mlm  # noqa: E402

BERT_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SEQ_SPECIAL = ["<pad>", "<unk>", "<s>", "</s>", "<mask>"] + [f"<extra_id_{i}>" for i in range(40)]
WORDS = 300


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one thread is fastest, and far faster than several on a shared, busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tokenizer(specials):
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {t: i for i, t in enumerate(specials + [f"w{i}" for i in range(WORDS)])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=specials[1]))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(specials)
    return tok


def split(docs, vocab_size):
    """A TokenSplit from documents of sentences of token ids (as engine/tokens.py lays them out)."""
    toks, lines, doc_starts = [], [], []
    for d in docs:
        doc_starts.append(len(lines))
        for line in d:
            lines.append(len(toks))
            toks.extend(line)
    lines.append(len(toks))
    doc_starts.append(len(lines) - 1)
    return types.SimpleNamespace(tokens=np.array(toks, dtype=np.uint16), line_starts=np.array(lines, dtype=np.int64),
                                 doc_starts=np.array(doc_starts, dtype=np.int64), newline_id=None,
                                 vocab_size=vocab_size, source="test")


def corpus(first_id, n_docs=60, seed=0, kinds=None):
    """Documents of sentences that repeat one token drawn from 4 that name the document (or, with `kinds`,
    the document's kind, doc % kinds, so that validation documents use the tokens training saw)."""
    rng = np.random.default_rng(seed)
    docs = []
    for d in range(n_docs):
        n_lines = 1 if d % 10 == 0 else int(rng.integers(2, 7))  # every 10th document has a single sentence
        docs.append([[first_id + (d % (kinds or n_docs)) * 4 + int(rng.integers(0, 4))] * int(rng.integers(3, 9))
                     for _ in range(n_lines)])
    return docs


def bert_objective(sentence_head="nsp", context=32, docs=None):
    tok = tokenizer(BERT_SPECIAL)
    docs = docs or corpus(len(BERT_SPECIAL))
    if docs == "kinds":
        docs = corpus(len(BERT_SPECIAL), kinds=10)
    n = len(docs) * 3 // 4
    V = tok.get_vocab_size()
    return mlm.make("mlm", tok, split(docs[:n], V), split(docs[n:], V), context, {"sentence_head": sentence_head})


# ---------------------------------------------------------------------------------------------- MLM

def test_masking_statistics_15_percent_and_80_10_10():
    obj = bert_objective()
    rng = np.random.default_rng(0)
    ids = np.concatenate([[obj.cls], rng.integers(5, 200, 400), [obj.sep]])
    chosen = masked = randomised = kept = 0
    for _ in range(200):
        positions, labels, out = obj.mask_tokens(ids, rng)
        assert np.array_equal(labels, ids[positions])
        assert not np.isin(positions, [0, len(ids) - 1]).any()  # [CLS]/[SEP] are never chosen
        assert np.array_equal(np.delete(out, positions), np.delete(ids, positions))  # only chosen positions change
        chosen += len(positions)
        masked += int((out[positions] == obj.mask).sum())
        same = out[positions] == ids[positions]
        kept += int(same.sum())
        randomised += int((~same & (out[positions] != obj.mask)).sum())
    assert chosen == 200 * round(400 * 0.15)
    assert abs(masked / chosen - 0.8) < 0.02
    # the 10% random tokens sometimes draw the original token back (1/V), so "unchanged" is 10% + a little
    assert abs(randomised / chosen - 0.1) < 0.015
    assert abs(kept / chosen - 0.1) < 0.015


def _segments(batch, row):
    ids, types_ = batch["input_ids"][row], batch["token_type_ids"][row]
    n = int(batch["attention_mask"][row].sum())
    ids, types_ = ids[:n].tolist(), types_[:n].tolist()
    sep = [i for i, t in enumerate(ids) if t == 3]
    return ids, types_, sep


def test_nsp_pairs_respect_document_boundaries():
    obj = bert_objective()
    g = torch.Generator().manual_seed(0)
    labels = []
    for _ in range(20):
        batch = obj.batch(16, g)
        # undo the masking to read the real tokens of each segment
        real = batch["input_ids"].reshape(-1).clone()
        real[batch["mlm_positions"]] = batch["mlm_labels"]
        batch["input_ids"] = real.view_as(batch["input_ids"])
        for row in range(16):
            ids, types_, sep = _segments(batch, row)
            assert ids[0] == obj.cls and ids[-1] == obj.sep and len(sep) == 2
            a, b = ids[1:sep[0]], ids[sep[0] + 1:-1]
            assert types_ == [0] * (len(a) + 2) + [1] * (len(b) + 1)
            doc = lambda t: (t - len(BERT_SPECIAL)) // 4  # noqa: E731  (every token names its document)
            same = {doc(t) for t in a} == {doc(t) for t in b}
            assert len({doc(t) for t in a}) == 1 and len({doc(t) for t in b}) == 1  # never across documents
            label = int(batch["sentence_labels"][row])
            assert same == (label == 0)  # 0 = B continues A in the same document; 1 = B from another document
            labels.append(label)
    assert 0.4 < np.mean(labels) < 0.6
    assert obj.skipped_documents["train"] == 5 and obj.notes  # single-sentence documents: skipped and counted


def test_sop_swaps_order_within_document():
    obj = bert_objective("sop")
    assert obj.metric_names == ("loss", "mlm_accuracy", "sop_loss", "sop_accuracy")
    batch = obj.batch(64, torch.Generator().manual_seed(1))
    assert 0.3 < batch["sentence_labels"].float().mean() < 0.7


def test_no_nsp_windows_and_eval_is_deterministic():
    obj = bert_objective(None)
    assert obj.metric_names == ("loss", "mlm_accuracy")
    batch = obj.batch(4, torch.Generator().manual_seed(0))
    assert "sentence_labels" not in batch and int(batch["token_type_ids"].sum()) == 0
    a = list(obj.eval_batches(4))
    b = list(obj.eval_batches(4))
    assert len(a) > 1 and all(torch.equal(x["input_ids"], y["input_ids"]) for x, y in zip(a, b))
    assert len(list(obj.eval_batches(4, limit=2))) == 2
    # two ranks share the batches out between them
    assert len(list(obj.eval_batches(4, 0, 2))) + len(list(obj.eval_batches(4, 1, 2))) == len(a)


def test_batches_identical_across_ranks():
    obj = bert_objective()
    whole = obj.batch(8, torch.Generator().manual_seed(5))
    halves = [obj.batch(4, torch.Generator().manual_seed(5), rank, 2) for rank in (0, 1)]
    assert torch.equal(whole["sentence_labels"], torch.cat([h["sentence_labels"] for h in halves]))


def test_mlm_loss_and_metrics_with_a_model():
    from nlpt.models import build
    from nlpt.transformer.configs import EncoderConfig

    obj = bert_objective()
    model = build(EncoderConfig(vocab_size=len(BERT_SPECIAL) + WORDS, hidden_size=32, num_layers=1, num_heads=4, ffn_size=64, max_positions=32))
    batch = obj.batch(8, torch.Generator().manual_seed(0))
    loss, metrics = obj.loss(model, batch)
    assert set(metrics) == set(obj.metric_names)
    n = batch["mlm_labels"].numel()
    assert metrics["loss"][1] == n and metrics["nsp_accuracy"][1] == 8
    assert abs(float(metrics["loss"][0] / n + metrics["nsp_loss"][0] / 8) - loss.item()) < 1e-4
    loss.backward()
    assert model.encoder.tok_emb.weight.grad is not None


def test_mlm_errors_name_what_is_missing():
    docs = corpus(len(BERT_SPECIAL))
    tok = tokenizer(["<pad>", "<unk>", "[CLS]"])
    sp = split(docs, 300)
    with pytest.raises(NlptError, match=r"no \[SEP\] \[MASK\] \[PAD\] tokens"):
        mlm.make("mlm", tok, sp, sp, 32, {})
    one_doc = [[line for d in docs for line in d]]  # no blank lines: a single document
    with pytest.raises(NlptError, match="no document boundaries.*--no-nsp"):
        bert_objective("nsp", docs=one_doc + one_doc)  # train = val = one document each
    singles = [[[7, 8, 9]] for _ in range(8)]
    with pytest.raises(NlptError, match="no document with two or more sentences"):
        bert_objective("nsp", docs=singles)
    bert_objective(None, docs=one_doc + one_doc)  # --no-nsp needs no boundaries


# ---------------------------------------------------------------------------------------------- T5 / BART

def test_t5_span_corruption_round_trip_and_statistics():
    rng = np.random.default_rng(0)
    sentinels = list(range(1000, 1100))
    noise = spans = total = 0
    for _ in range(200):
        tokens = rng.integers(10, 500, 114)
        mask = dn.random_spans_mask(len(tokens), 0.15, 3.0, rng)
        inputs, targets = dn.t5_corrupt(tokens, mask, sentinels, eos=1)
        assert dn.t5_reconstruct(inputs, targets, sentinels, eos=1) == tokens.tolist()
        assert inputs[-1] == 1 and targets[-1] == 1
        n_spans = sum(1 for t in inputs if t in sentinels)
        assert targets.count(sentinels[0]) == 1 and n_spans == sum(1 for t in targets if t in sentinels)
        noise += int(mask.sum())
        spans += n_spans
        total += len(tokens)
    assert abs(noise / total - 0.15) < 0.01
    assert abs(noise / spans - 3.0) < 0.3
    assert dn.t5_raw_length(128, 0.15, 3.0) > 128  # the input (with sentinels) still fits 128


def test_bart_infilling_round_trip_and_permutation():
    rng = np.random.default_rng(0)
    masked = total = 0
    for _ in range(200):
        tokens = rng.integers(10, 500, 100).tolist()
        corrupted, removed = dn.bart_infill(tokens, 0.3, 4, rng)
        assert dn.bart_reconstruct(corrupted, removed, 4) == tokens
        assert corrupted.count(4) == len(removed)
        masked += sum(len(r) for r in removed)
        total += len(tokens)
    assert 0.2 < masked / total < 0.35  # 30% asked for; overlapping spans make it a little less
    lengths = [len(r) for _ in range(100) for r in dn.bart_infill(list(range(10, 200)), 0.3, 4, rng)[1]]
    assert 2.0 < np.mean(lengths) < 3.2  # Poisson(3) spans (clipped at the end and by overlaps)


def seq_objective(name, context=48):
    tok = tokenizer(SEQ_SPECIAL)
    docs = corpus(len(SEQ_SPECIAL), seed=2, kinds=10)
    V = tok.get_vocab_size()
    return dn.make(name, tok, split(docs[:45], V), split(docs[45:], V), context, {})


def test_span_corruption_batches():
    obj = seq_objective("span_corruption")
    batch = obj.batch(8, torch.Generator().manual_seed(0))
    assert batch["input_ids"].shape[1] <= 48
    labels, dec = batch["labels"], batch["decoder_input_ids"]
    assert (dec[:, 0] == obj.pad).all()  # T5 starts decoding from <pad>
    keep = labels[:, :-1] != -100
    assert torch.equal(dec[:, 1:][keep], labels[:, :-1][keep])  # teacher forcing: targets shifted right
    for row in range(8):  # every row reconstructs a window of the stream
        inp = batch["input_ids"][row][batch["attention_mask"][row].bool()].tolist()
        tgt = labels[row][labels[row] != -100].tolist()
        original = dn.t5_reconstruct(inp, tgt, obj.sentinels, obj.eos)
        stream = obj.train.tokens.tolist()
        assert any(stream[i:i + len(original)] == original for i in obj.train.starts[:-1].tolist())


def test_bart_batches_reconstruct_the_original():
    obj = seq_objective("bart_denoising")
    batch = obj.batch(8, torch.Generator().manual_seed(0))
    assert (batch["decoder_input_ids"][:, 0] == obj.eos).all()  # BART starts decoding from </s>
    for row in range(8):
        tgt = batch["labels"][row][batch["labels"][row] != -100].tolist()
        inp = batch["input_ids"][row][batch["attention_mask"][row].bool()].tolist()
        assert tgt[0] == obj.bos and tgt[-1] == obj.eos and inp[0] == obj.bos and inp[-1] == obj.eos
        kept = [t for t in inp[1:-1] if t != obj.mask]
        assert sorted(kept) == sorted(kept) and set(kept) <= set(tgt)  # what the input keeps comes from the original
        assert obj.mask in inp


def test_denoising_errors_name_missing_tokens():
    docs = corpus(10)
    sp = split(docs, 300)
    with pytest.raises(NlptError, match=r"<extra_id_0>.*sentinels"):
        dn.make("span_corruption", tokenizer(["<pad>", "<unk>", "</s>"]), sp, sp, 48, {})
    with pytest.raises(NlptError, match=r"no <mask> token"):
        dn.make("bart_denoising", tokenizer(["<pad>", "<unk>", "<s>", "</s>"]), sp, sp, 48, {})


def _validate(obj, model):
    sums = {}
    with torch.no_grad():
        for b in obj.eval_batches(16):
            for k, v in obj.loss(model, b)[1].items():
                sums[k] = sums.get(k, 0) + v
    return {k: float(v[0] / v[1]) for k, v in sums.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mlm", "span_corruption", "bart_denoising"])
def test_loss_falls(name):
    """30 steps on a corpus of repeated-token sentences: validation loss must fall clearly, accuracy rise."""
    from nlpt.models import build
    from nlpt.transformer.configs import BartConfig, EncoderConfig, T5Config

    torch.manual_seed(0)
    V = len(SEQ_SPECIAL) + WORDS
    if name == "mlm":
        obj = bert_objective(docs="kinds")
        config = EncoderConfig(vocab_size=V, hidden_size=32, num_layers=1, num_heads=4, ffn_size=64, max_positions=32)
    elif name == "span_corruption":
        obj = seq_objective(name, context=32)
        config = T5Config(vocab_size=V, d_model=32, d_kv=8, num_heads=4, ffn_size=64, num_layers=1, num_decoder_layers=1)
    else:
        obj = seq_objective(name, context=32)
        config = BartConfig(vocab_size=V, d_model=32, num_layers=1, num_decoder_layers=1, num_heads=4, ffn_size=64,
                            max_positions=32)
    model = build(config)
    opt = torch.optim.AdamW(model.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)
    before = _validate(obj, model)
    for _ in range(30):
        loss, _ = obj.loss(model, obj.batch(16, g))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = _validate(obj, model)
    assert after["loss"] < before["loss"] - 1.0, (before, after)
    accuracy = "mlm_accuracy" if name == "mlm" else "accuracy"
    assert after[accuracy] > before[accuracy], (before, after)
