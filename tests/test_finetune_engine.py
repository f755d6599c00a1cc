"""`nlpt finetune` on the pretraining engine: accumulation to --global-batch, SIGTERM + resume, torchrun DDP,
and static vectors tokenized as their sidecar says. Through the CLI (in this process, except torchrun)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from _cli import ROOT, nlpt, require_gloo  # noqa: E402

from _finetune_task import write_task  # noqa: E402


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    """train/dev/test TSV files (three words, one of them decides the label) and 16-d vectors in which
    sentiment is one direction."""
    d = tmp_path_factory.mktemp("task")
    write_task(d, 11, {"train": 200, "dev": 60, "test": 60})
    return d


def args(task, out, *extra):
    return ["finetune", "--train", task / "train.tsv", "--dev", task / "dev.tsv", "--test", task / "test.tsv",
            "--vectors", task / "vec.txt", "--lr", "0.01", "--threads", "1", "--seed", "3", "-o", out, "--json", *extra]


def lines(run, drop=("elapsed_s", "tokens_per_s")):
    with open(os.path.join(run, "metrics.jsonl"), encoding="utf-8") as fh:
        return [{k: v for k, v in json.loads(line).items() if k not in drop} for line in fh]


def weights(run):
    from safetensors.torch import load_file

    return load_file(os.path.join(run, "model.safetensors"))


def test_global_batch_accumulation_equals_one_big_batch(task, tmp_path):
    common = ("--epochs", "3", "--patience", "3", "--dropout", "0")
    code, out, err = nlpt(*args(task, tmp_path / "big", "--batch-size", "40", *common))
    assert code == 0, err
    big = json.loads(out)
    code, out, err = nlpt(*args(task, tmp_path / "acc", "--batch-size", "10", "--global-batch", "40", *common))
    assert code == 0, err
    acc = json.loads(out)
    assert big["global_batch"] == acc["global_batch"] == 40 and big["steps"] == acc["steps"] == 15
    with open(tmp_path / "acc" / "config.json") as fh:
        assert json.load(fh)["train"]["accum"] == 4
    a, b = weights(tmp_path / "big"), weights(tmp_path / "acc")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    la, lb = lines(tmp_path / "big"), lines(tmp_path / "acc")
    assert [(x["split"], x["step"]) for x in la] == [(x["split"], x["step"]) for x in lb]
    for x, y in zip(la, lb):
        assert y["loss"] == pytest.approx(x["loss"], rel=1e-4, abs=1e-6)
    # and it learnt: the engine's loop trains the classifier
    assert acc["test"]["accuracy"] >= 0.9
    # a global batch that micro-batches cannot make up is refused before any work
    code, _, err = nlpt(*args(task, tmp_path / "bad", "--batch-size", "16", "--global-batch", "40"))
    assert code == 2 and "--global-batch 40 is not a multiple of --batch 16" in err
    assert not (tmp_path / "bad").exists()


def test_sigterm_mid_epoch_then_the_same_command_continues_to_the_same_result(task, tmp_path, monkeypatch):
    from nlpt.finetune.classification import ClassificationObjective

    # dropout on: the torch RNG must resume too; trainable vectors: the optimizer state as well
    common = ("--batch-size", "16", "--epochs", "4", "--patience", "4", "--dropout", "0.2", "--encoder", "cnn",
              "--filters", "8")
    code, out, err = nlpt(*args(task, tmp_path / "straight", *common))
    assert code == 0, err
    straight = json.loads(out)
    assert not (tmp_path / "straight" / "checkpoints").exists()  # removed once the run is finished

    real = ClassificationObjective.step_batch

    def step_batch(self, step, *a, **kw):  # a SIGTERM arrives in the middle of epoch 2 (13 steps per epoch)
        if step == 17 and kw.get("rank", 0) == 0:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(self, step, *a, **kw)

    monkeypatch.setattr(ClassificationObjective, "step_batch", step_batch)
    stopped = tmp_path / "stopped"
    code, out, err = nlpt(*args(task, stopped, *common))
    assert code == 143, err
    assert "stopped by SIGTERM at step 18" in err and "rerun the same command to continue" in err
    assert not (stopped / "results.json").exists() and (stopped / "checkpoints" / "step-18").is_dir()
    monkeypatch.setattr(ClassificationObjective, "step_batch", real)

    # other settings are refused, the same command continues
    code, _, err = nlpt(*args(task, stopped, *common[:-1], "9"))
    assert code == 1 and "holds an unfinished run with other settings (filters: 8 then, 9 now)" in err
    code, out, err = nlpt(*args(task, stopped, *common))
    assert code == 0, err
    resumed = json.loads(out)
    a, b = weights(tmp_path / "straight"), weights(stopped)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert resumed["history"] == straight["history"] and resumed["best_epoch"] == straight["best_epoch"]
    assert lines(stopped) == lines(tmp_path / "straight")
    assert [x["split"] for x in lines(stopped)][:3] == ["train", "val", "test"]


def test_early_stopping_is_a_loop_callback_that_keeps_the_best_epoch(task, tmp_path):
    code, out, err = nlpt(*args(task, tmp_path / "run", "--freeze", "--lr", "0.5", "--epochs", "40",
                                     "--patience", "1", "--batch-size", "50"))
    assert code == 0, err
    r = json.loads(out)
    assert r["stopped_early"] and r["epochs"] < 40 and "stopped early after epoch" in err
    dev = [h["dev"]["accuracy"] for h in r["history"]]
    assert r["best_epoch"] == r["epochs"] - 1  # patience 1: the last epoch did not improve on the one before
    assert dev[-1] <= dev[-2] and r["dev"]["accuracy"] == max(dev)
    vals = [x for x in lines(tmp_path / "run") if x["split"] == "val"]
    assert [x["epoch"] for x in vals] == list(range(1, r["epochs"] + 1)) and r["steps"] == 4 * r["epochs"]

    # without a dev set every epoch still reports test, and the last epoch is the model
    no_dev = args(task, tmp_path / "nodev", "--freeze", "--epochs", "2", "--dev-split", "0")
    assert no_dev[3] == "--dev"
    del no_dev[3:5]
    code, out, err = nlpt(*no_dev)
    assert code == 0, err
    r = json.loads(out)
    assert r["dev"] is None and r["best_epoch"] == 2 and [h["epoch"] for h in r["history"]] == [1, 2]
    assert r["selected_on"] == "last epoch (no dev set)" and r["test"]["accuracy"] >= 0.8
    assert [x["split"] for x in lines(tmp_path / "nodev")] == ["train", "test"] * 2


@pytest.mark.slow
def test_two_process_torchrun_gloo_matches_one_process(task, tmp_path):
    require_gloo()
    common = ("--epochs", "2", "--dropout", "0", "--global-batch", "40")
    code, out, err = nlpt(*args(task, tmp_path / "one", "--batch-size", "40", *common))
    assert code == 0, err
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "nlpt", *map(str, args(task, tmp_path / "two", "--batch-size", "20", *common))],
                       capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    two = json.loads(r.stdout)  # rank 0 alone prints
    with open(tmp_path / "two" / "config.json") as fh:
        train = json.load(fh)["train"]
    assert train["world"] == 2 and train["accum"] == 1
    la, lb = lines(tmp_path / "one"), lines(tmp_path / "two")
    assert [(x["split"], x["step"]) for x in la] == [(x["split"], x["step"]) for x in lb]
    for x, y in zip(la, lb):
        assert y["loss"] == pytest.approx(x["loss"], rel=1e-4, abs=1e-6)
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    assert two["test"]["accuracy"] >= 0.8


def test_static_vectors_are_tokenized_as_their_sidecar_says(task, tmp_path):
    """Vectors with upper-case words whose sidecar says the corpus was lower-cased and NFKC-normalised: the task
    text (upper case, full-width letters) is tokenized the same way, unless a flag says otherwise."""
    from nlpt.corpus.reader import ReaderOptions
    from nlpt.corpus.tokenize import TokenizerOptions
    from nlpt.embeddings.formats.sidecar import write_sidecar

    vec = tmp_path / "vec.txt"
    text = (task / "vec.txt").read_text(encoding="utf-8").splitlines()
    vec.write_text("\n".join(["31 16"] + text[1:] + ["Zebra " + " ".join(["0.5"] * 16)]) + "\n", encoding="utf-8")
    write_sidecar(str(vec), command="train-w2v", reader_options=ReaderOptions(tokenizer=TokenizerOptions(lower=True, nfkc=True)),
                  vocab_size=31, dim=16)
    shouted = tmp_path / "train.tsv"  # GOOD / ＧＯＯＤ (full width) must find the vector of "good"
    rows = (task / "train.tsv").read_text(encoding="utf-8").splitlines()
    wide = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in "abcdefghijklmnopqrstuvwxyz"})
    shouted.write_text("\n".join(rows[:1] + [(r.upper() if i % 2 else r.translate(wide)).replace("\tPOS", "\tpos")
                                             .replace("\tNEG", "\tneg").replace("\tｐｏｓ", "\tpos").replace("\tｎｅｇ", "\tneg")
                                             for i, r in enumerate(rows[1:])]) + "\n", encoding="utf-8")
    base = ["finetune", "--train", shouted, "--dev-split", "0.2", "--vectors", vec, "--freeze", "--lr", "0.05",
            "--epochs", "2", "--threads", "1", "--json"]
    code, out, err = nlpt(*base, "-o", tmp_path / "sidecar")
    assert code == 0, err
    assert "tokenizing task text as the vectors were trained (vec.txt.json: lower, nfkc)" in err
    results = json.loads(out)
    assert results["coverage"]["train_tokens_with_vectors"] == results["coverage"]["train_tokens"]
    with open(tmp_path / "sidecar" / "config.json") as fh:
        assert json.load(fh)["encoder"]["tokenizer"] == {"lower": True, "nfkc": True, "split_punct": False, "cjk": False}
    # an explicit flag wins over the sidecar, and the log says so
    code, out, err = nlpt(*base, "--keep-case", "-o", tmp_path / "keep")
    assert code == 0, err
    assert "changed by the options given to nfkc" in err
    assert 0 < json.loads(out)["coverage"]["train_tokens_with_vectors"] < results["coverage"]["train_tokens"]
    # without a sidecar: the old guess (the vectors have an upper-case word, so the case is kept)
    os.unlink(str(vec) + ".json")
    code, out, err = nlpt(*base, "-o", tmp_path / "none")
    assert code == 0, err
    assert "whitespace only (no sidecar)" in err


def test_compare_normalises_query_words_as_the_sidecar_says(task, tmp_path):
    """`compare --neighbours`: a full-width query word finds the vectors' word when their sidecar says the corpus
    was NFKC-normalised, and is unknown without the sidecar."""
    from nlpt.corpus.reader import ReaderOptions
    from nlpt.corpus.tokenize import TokenizerOptions
    from nlpt.embeddings.formats.sidecar import write_sidecar

    vec = tmp_path / "vec.txt"
    vec.write_bytes((task / "vec.txt").read_bytes())
    write_sidecar(str(vec), command="train-w2v", reader_options=ReaderOptions(tokenizer=TokenizerOptions(nfkc=True)),
                  vocab_size=30, dim=16)
    code, out, err = nlpt("compare", vec, "--neighbours", "ｇｏｏｄ", "--k", "2", "--json")
    assert code == 0, err
    data = json.loads(out)
    row = data["rows"][0]
    assert row["trained_tokenization"] == "nfkc" and row["neighbours_found_as"] == {"ｇｏｏｄ": "good"}
    assert len(row["neighbours"]["ｇｏｏｄ"]) == 2
    assert any("query words normalised as the vectors were trained (vec.txt.json: nfkc)" in n for n in data["notes"])
    os.unlink(str(vec) + ".json")
    code, out, err = nlpt("compare", vec, "--neighbours", "ｇｏｏｄ", "--k", "2", "--json")
    assert code == 0, err
    row = json.loads(out)["rows"][0]
    assert row["trained_tokenization"] is None and row["neighbours"]["ｇｏｏｄ"] is None
