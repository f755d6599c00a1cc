"""`nlpt finetune` end to end: a synthetic task learnt from static vectors and from a small
Transformer (frozen and fine-tuned), label mapping and predictions, Hugging Face folders, errors."""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _cli import nlpt  # noqa: E402
from nlpt.finetune.train import Settings, run_finetune  # noqa: E402

from _finetune_task import FILLER, NEG, POS, labelled_sentence as _row, write_task  # noqa: E402


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    """train/dev/test TSV files of the synthetic task, and word vectors in which sentiment is one direction."""
    d = tmp_path_factory.mktemp("task")
    write_task(d, 7, {"train": 300, "dev": 100, "test": 100})
    return d


@pytest.fixture(scope="module")
def hf_bert(task):
    """A tiny randomly initialised BertModel saved by transformers, with a word-level tokenizer.json."""
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers

    torch.manual_seed(0)
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + POS + NEG + FILLER)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=32)
    path = task / "hf-bert"
    transformers.BertModel(config).save_pretrained(str(path))
    tokenizer.save(str(path / "tokenizer.json"))
    return path


@pytest.fixture(scope="module")
def gpt_run(task):
    """A tiny GPT pretrained for a few steps by `nlpt pretrain` on text of the task's words."""
    rng = random.Random(5)
    corpus = task / "corpus.txt"
    with open(corpus, "w", encoding="utf-8") as fh:
        for _ in range(500):
            words = POS if rng.random() < 0.5 else NEG
            fh.write(" ".join(rng.sample(FILLER, 2) + [rng.choice(words), rng.choice(words)]) + "\n")
    tok = task / "bpe.json"
    r = nlpt("vocab", "--tokenizer", "bpe", "--size", "300", "-o", tok, corpus, "-q")
    assert r.returncode == 0, r.stderr
    run = task / "gpt-run"
    r = nlpt("pretrain", corpus, "-o", run, "--tokenizer", tok, "--arch", "gpt-mini", "--layers", "1", "--hidden", "32",
             "--heads", "2", "--ffn", "64", "--context", "32", "--vocab", "300", "--max-steps", "5", "--warmup", "1", "-q")
    assert r.returncode == 0, r.stderr
    return run


def settings(task, out, **kw) -> Settings:
    base = dict(output=str(out), train=str(task / "train.tsv"), dev=str(task / "dev.tsv"), test=str(task / "test.tsv"),
                threads=1, quiet=True)
    return Settings(**{**base, **kw})


def read_jsonl(path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


# -- static vectors --------------------------------------------------------------------------------


def test_bag_of_frozen_vectors_learns_through_the_cli_and_predicts(task, tmp_path):
    run = tmp_path / "bag"
    r = nlpt("finetune", "--train", task / "train.tsv", "--dev", task / "dev.tsv", "--test", task / "test.tsv",
             "--vectors", task / "vec.txt", "--freeze", "--lr", "0.05", "--epochs", "4", "--threads", "1",
             "-o", run, "--json", "-q")
    assert r.returncode == 0, r.stderr
    results = json.loads(r.stdout)
    assert results["test"]["accuracy"] >= 0.9 and results["dev"]["roc_auc"] >= 0.95
    assert results["parameters"]["trainable"] == 2 * 16 + 2  # only the linear head: frozen vectors
    assert sorted(os.listdir(run)) == ["config.json", "metrics.jsonl", "model.safetensors", "results.json", "words.txt"]
    config = json.loads((run / "config.json").read_text())
    assert config["labels"] == ["neg", "pos"] and config["encoder"]["tokenizer"]["lower"]  # no upper case in vectors
    lines = read_jsonl(run / "metrics.jsonl")
    assert [line["split"] for line in lines[:3]] == ["train", "val", "test"]
    assert all({"step", "tokens", "elapsed_s", "loss", "epoch"} <= set(line) for line in lines)

    # predictions: stdin -> stdout, label names from the run, probabilities over every label
    r = nlpt("finetune", "predict", run, "-", "--threads", "1", input="superb w1 w2\n\nw3 awful\n")
    assert r.returncode == 0, r.stderr
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(o["line"], o["label"]) for o in out] == [(1, "pos"), (3, "neg")]
    assert all(set(o["probabilities"]) == {"neg", "pos"} and abs(sum(o["probabilities"].values()) - 1) < 1e-5 for o in out)
    assert "skipped 1 row (1 empty text" in r.stderr
    # a task file: the accuracy of the predictions is the run's test accuracy (labels and weights round-trip)
    r = nlpt("finetune", "predict", run, task / "test.tsv", "-o", tmp_path / "pred.jsonl", "-q", "--threads", "1")
    assert r.returncode == 0, r.stderr
    gold = [line.rstrip("\n").split("\t")[1] for line in open(task / "test.tsv", encoding="utf-8").readlines()[1:]]
    predicted = [o["label"] for o in read_jsonl(tmp_path / "pred.jsonl")]
    assert len(predicted) == len(gold)
    assert np.mean([p == g for p, g in zip(predicted, gold)]) == pytest.approx(results["test"]["accuracy"])


def test_textcnn_trainable_and_random_vectors_learn(task, tmp_path):
    cnn = run_finetune(settings(task, tmp_path / "cnn", vectors=str(task / "vec.txt"), encoder="cnn", filters=16, lr=3e-3, epochs=4))
    assert cnn["test"]["accuracy"] >= 0.9
    assert cnn["parameters"]["trainable"] == cnn["parameters"]["total"]  # the vectors train too
    scratch = run_finetune(settings(task, tmp_path / "dim", dim=8, lr=0.02, epochs=6, patience=6))
    assert scratch["test"]["accuracy"] >= 0.9 and scratch["source"] == {"kind": "random", "dim": 8}

    # the table the command prints: aligned plain text, one line per epoch, the kept one starred
    from nlpt.cli.finetune import results_table

    lines = results_table(scratch).lines(indent=0)
    assert lines[0] == f"nlpt finetune: {scratch['run_dir']}"
    assert lines[1].split() == ["epoch", "train", "loss", "dev", "acc", "dev", "F1", "dev", "AUC", "test", "acc",
                                "test", "F1", "test", "AUC"]
    rows = lines[3:3 + len(scratch["history"])]
    assert [r.split()[0] for r in rows] == [str(h["epoch"]) for h in scratch["history"]]
    kept = next(r for r in rows if r.split()[1] == "*")
    assert kept.split()[0] == str(scratch["best_epoch"]) and len({len(r) for r in rows}) == 1  # aligned columns
    assert lines[-1].startswith(f"* kept: epoch {scratch['best_epoch']} (") and "random vectors (dim 8)" in lines[-1]


def test_regression_on_sentence_pairs(task, tmp_path):
    """Relatedness 1-5: 5 when both texts have the same sentiment, 1 otherwise (SICK-style columns)."""
    rng = random.Random(3)
    for name, n in (("train", 300), ("dev", 80)):
        with open(tmp_path / f"{name}.tsv", "w", encoding="utf-8") as fh:
            fh.write("sentence_A\tsentence_B\trelatedness_score\n")
            for _ in range(n):
                (a, la), (b, lb) = _row(rng), _row(rng)
                fh.write(f"{a}\t{b}\t{5.0 if la == lb else 1.0}\n")
    s = Settings(output=str(tmp_path / "run"), train=str(tmp_path / "train.tsv"), dev=str(tmp_path / "dev.tsv"),
                 label_column="relatedness_score", regression=True, vectors=str(task / "vec.txt"), lr=0.01,
                 head="mlp", epochs=8, patience=8, threads=1, quiet=True)
    results = run_finetune(s)
    assert results["task"] == "regression" and results["labels"] is None
    assert results["dev"]["pearson"] >= 0.8 and results["dev"]["spearman"] >= 0.7
    r = nlpt("finetune", "predict", tmp_path / "run", "-", "--threads", "1", input="good w1\tgreat w2\ngood w1\tawful w2\n")
    assert r.returncode == 0, r.stderr
    same, different = (json.loads(line)["score"] for line in r.stdout.splitlines())
    assert same > different + 1.0


# -- pretrained Transformers -----------------------------------------------------------------------


def test_hugging_face_folder_loads_into_nlpts_bert(hf_bert):
    transformers = pytest.importorskip("transformers")
    from nlpt.engine import load_pretrained

    model, tokenizer, source = load_pretrained(str(hf_bert))
    assert source["kind"] == "hf" and model.config.family == "encoder" and model.config.hidden_size == 32
    reference = transformers.BertModel.from_pretrained(str(hf_bert)).eval()
    model.eval()
    ids = torch.tensor([[2, 6, 9, 3, 0], [2, 7, 3, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        ours = model.hidden_states(ids, attention_mask=mask)
        theirs = reference(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.allclose(ours * mask[..., None], theirs * mask[..., None], atol=1e-5)


@pytest.mark.parametrize("family", ["gpt2", "llama", "t5", "bart"])
def test_hugging_face_folders_of_other_families_load(family, tmp_path):
    """Bare and pretraining-head classes of each family: nlpt's model gives transformers' last hidden states."""
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models

    from nlpt.engine import load_pretrained

    torch.manual_seed(0)
    make = {
        "gpt2": lambda: transformers.GPT2LMHeadModel(transformers.GPT2Config(
            vocab_size=40, n_embd=16, n_layer=2, n_head=2, n_positions=32, bos_token_id=1, eos_token_id=1)),
        "llama": lambda: transformers.LlamaModel(transformers.LlamaConfig(
            vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=32)),
        "t5": lambda: transformers.T5Model(transformers.T5Config(
            vocab_size=40, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_decoder_layers=2, num_heads=2)),
        "bart": lambda: transformers.BartModel(transformers.BartConfig(
            vocab_size=40, d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
            decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=32)),
    }[family]
    reference = make().eval()
    reference.save_pretrained(str(tmp_path))
    Tokenizer(models.WordLevel({"<pad>": 0, "</s>": 1, "<unk>": 2}, unk_token="<unk>")).save(str(tmp_path / "tokenizer.json"))
    model, _, _ = load_pretrained(str(tmp_path))
    ids = torch.tensor([[3, 4, 5, 1], [6, 7, 1, 0]])
    mask = (ids != 0).long()
    body = getattr(reference, "transformer", None) or getattr(reference, "encoder", None) or reference
    with torch.no_grad():
        ours = model.eval().hidden_states(ids, attention_mask=mask)
        theirs = body(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.allclose(ours * mask[..., None], theirs * mask[..., None], atol=1e-5)


@pytest.mark.slow
def test_pretrained_frozen_and_fine_tuned_learn_and_predict(task, hf_bert, tmp_path):
    frozen = run_finetune(settings(task, tmp_path / "frozen", model=str(hf_bert), freeze=True, pooling="mean",
                                   lr=0.05, epochs=25, patience=25))
    assert frozen["parameters"]["trainable"] == 32 * 2 + 2
    assert frozen["test"]["accuracy"] >= 0.75  # a random body: its features still carry the words
    tuned = run_finetune(settings(task, tmp_path / "tuned", model=str(hf_bert), lr=3e-3, body_lr=3e-3, epochs=3))
    assert tuned["test"]["accuracy"] >= 0.95 and tuned["pooling"] == "cls"
    assert tuned["test"]["accuracy"] > frozen["test"]["accuracy"]
    # the saved run predicts alone (its own tokenizer.json and weights), with the run's own test accuracy
    from nlpt.finetune.predict import run_predict

    for run, results in ((tmp_path / "frozen", frozen), (tmp_path / "tuned", tuned)):
        out = tmp_path / f"{run.name}.jsonl"
        run_predict(str(run), str(task / "test.tsv"), str(out), quiet=True)
        gold = [line.rstrip("\n").split("\t")[1] for line in open(task / "test.tsv", encoding="utf-8").readlines()[1:]]
        predicted = [o["label"] for o in read_jsonl(out)]
        assert np.mean([p == g for p, g in zip(predicted, gold)]) == pytest.approx(results["test"]["accuracy"])


@pytest.mark.slow
def test_nlpt_pretrain_run_folder_fine_tunes_with_last_token_pooling(task, gpt_run, tmp_path):
    tuned = run_finetune(settings(task, tmp_path / "gpt", model=str(gpt_run), lr=3e-3, body_lr=3e-3, epochs=4))
    assert tuned["source"]["kind"] == "run" and tuned["pooling"] == "last"
    assert tuned["test"]["accuracy"] >= 0.9
    frozen = run_finetune(settings(task, tmp_path / "gpt-frozen", model=str(gpt_run), freeze=True, epochs=1))
    assert frozen["parameters"]["trainable"] == 32 * 2 + 2 and frozen["rows"]["test"] == 100
    scratch = run_finetune(settings(task, tmp_path / "gpt-scratch", model=str(gpt_run), from_scratch=True, epochs=1))
    assert scratch["source"]["from_scratch"] is True


# -- bad input through the CLI ---------------------------------------------------------------------


def _fails(r, code: int, *fragments: str) -> None:
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("nlpt: error: ")
    for fragment in fragments:
        assert fragment in r.stderr, r.stderr


def test_errors_are_one_line_and_leave_nothing(task, tmp_path):
    train, dev = str(task / "train.tsv"), str(task / "dev.tsv")
    vec = str(task / "vec.txt")
    out = tmp_path / "run"
    base = ["finetune", "--train", train, "-o", out]
    _fails(nlpt(*base, "--vectors", vec, "--text-column", "review"), 1, "train.tsv: no column 'review' (--text-column)")
    bad_dev = tmp_path / "dev.tsv"
    bad_dev.write_text("sentence\tlabel\ngood w1\tpos\nw2 bad\tneutral\n")
    _fails(nlpt(*base, "--vectors", vec, "--dev", bad_dev), 1, "dev.tsv:3: label 'neutral' does not occur in the training data")
    txt = tmp_path / "train.txt"
    txt.write_text("sentence\tlabel\ngood\tpos\n")
    _fails(nlpt("finetune", "--train", txt, "--vectors", vec, "-o", out), 1, "train.txt: unknown task file format")
    empty = tmp_path / "empty-model"
    empty.mkdir()
    _fails(nlpt(*base, "--model", empty), 1, "not a model folder (no config.json)")
    foreign = tmp_path / "xlnet"
    foreign.mkdir()
    (foreign / "config.json").write_text('{"model_type": "xlnet"}')
    (foreign / "model.safetensors").write_bytes(b"")
    _fails(nlpt(*base, "--model", foreign), 1, "model_type", "xlnet")
    _fails(nlpt(*base, "--vectors", vec, "--dim", "7"), 1, "vec.txt: vectors have dimension 16, but --dim 7 was asked")
    _fails(nlpt(*base, "--vectors", vec, "--model", empty), 2, "give one representation")
    _fails(nlpt(*base, "--vectors", vec, "--encoder", "rnn"), 2, "--encoder 'rnn' must be one of bag, cnn")
    open_quote = tmp_path / "open-quote.csv"  # before, every later line was merged into the quoted cell
    open_quote.write_text('sentence,label\ngood w1,pos\n"bad w2,neg\nw3 good,pos\n')
    _fails(nlpt("finetune", "--train", open_quote, "--vectors", vec, "-o", out), 1,
           "open-quote.csv:3: a quoted cell opened in this row is never closed")
    strict = tmp_path / "strict.tsv"
    strict.write_text("sentence\tlabel\ngood w1\tpos\n \tneg\nbad w2\tneg\n")
    _fails(nlpt("finetune", "--train", strict, "--dev", dev, "--vectors", vec, "--strict", "-o", out), 1,
           "strict.tsv:3: empty text (--strict)")
    _fails(nlpt("finetune", "predict", empty, "-"), 1, "not a finetune run folder")
    assert not out.exists()  # nothing was started
    out.mkdir()
    (out / "keep.txt").write_text("x")
    _fails(nlpt(*base, "--vectors", vec), 1, "already exists and is not an empty folder")
