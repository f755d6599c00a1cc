"""The output plan end to end: every writing command refuses an output onto an input (by name, hard link or
symlink), two outputs onto one file, and an output inside an input folder, with exit 2, one line naming both
options, and every input byte for byte unchanged."""

from __future__ import annotations

import os

import pytest

from _cli import nlpt


@pytest.fixture
def files(tmp_path):
    """A corpus with a hard link and a symlink to it, a vocabulary, vectors, a task file and a run folder."""
    (tmp_path / "c.txt").write_text("the cat sat on the mat\nthe dog sat on the log\n" * 3)
    os.link(tmp_path / "c.txt", tmp_path / "hard.txt")
    (tmp_path / "sym.txt").symlink_to(tmp_path / "c.txt")
    (tmp_path / "v.txt").write_text("the 4\nsat 2\n")
    (tmp_path / "vec.txt").write_text("2 2\nthe 1 0\nsat 0 1\n")
    (tmp_path / "train.tsv").write_text("sentence\tlabel\nthe cat\t1\nthe dog\t0\n")
    from nlpt.tokenizer.chars import char_tokenizer

    char_tokenizer([str(tmp_path / "c.txt")], 100).save(str(tmp_path / "tok.json"))
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.json", "tokenizer.json", "model.safetensors", "metrics.jsonl"):
        (run / name).write_text("{}")
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("the cat\n")
    return tmp_path


def _snapshot(root) -> dict:
    out = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                with open(path, "rb") as fh:
                    out[path] = fh.read()
    return out


CASES = [  # (arguments, what the one line says); {d} is the test's folder
    (["train-subword", "c.txt", "-o", "c.txt"], "--output is the same file as the input"),
    (["train-subword", "c.txt", "-o", "m.bin", "--vec", "hard.txt"], "--vec is the same file as the input"),
    (["train-subword", "c.txt", "-o", "m.bin", "--save-vocab", "sym.txt"], "--save-vocab is the same file as the input"),
    (["train-subword", "c.txt", "-o", "m.bin", "--vec", "m.bin"], "--output and --vec name the same file"),
    (["train-subword", "c.txt", "-o", "m.bin", "--checkpoint", "c.txt"], "--checkpoint is the same file as the input"),
    (["train-subword", "c.txt", "-o", "vec.txt", "--init", "vec.txt"], "--output is the same file as the input"),
    (["train-w2v", "c.txt", "-o", "v.txt", "--read-vocab", "v.txt"], "(--read-vocab)"),
    (["train-w2v", "c.txt", "-o", "x.txt", "--save-context", "hard.txt"], "--save-context is the same file"),
    (["train-w2v", "c.txt", "-o", "x.txt", "--save-vocab", "x.txt.json"], "--output's sidecar and --save-vocab"),
    (["train-w2v", "corpus", "-o", "corpus/new.txt"], "inside the input folder"),
    (["train-glove", "c.txt", "-o", "x.txt", "--save-cooccur", "sym.txt"], "--save-cooccur is the same file"),
    (["train-glove", "c.txt", "-o", "x.txt", "--checkpoint", "hard.txt"], "--checkpoint is the same file"),
    (["train-glove", "c.txt", "-o", "x.txt", "--save-vocab", "x.txt"], "--output and --save-vocab name the same"),
    (["vocab", "c.txt", "-o", "hard.txt"], "--output is the same file as the input"),
    (["vocab", "corpus", "-o", "corpus/v.txt"], "inside the input folder"),
    (["vocab", "merge", "v.txt", "-o", "v.txt"], "--output is the same file as the input"),
    (["vocab", "*.txt", "-o", "new.txt"], "--output matches the input pattern *.txt (INPUTS)"),
    (["vocab", "--tokenizer", "bpe", "--size", "300", "c.txt", "-o", "sym.txt"], "--output is the same file"),
    (["corpus", "tokenize", "c.txt", "-o", "hard.txt"], "--output is the same file as the input"),
    (["corpus", "shard", "c.txt", "-n", "1", "-o", "c"], "--output-prefix is the same file"),  # c00.txt links c.txt
    (["corpus", "shard", "corpus", "-n", "2", "-o", "corpus/part-"], "is the input folder corpus (INPUTS)"),
    (["compare", "vec.txt", "--words", "the:sat", "--plot", "vec.txt"], "--plot is the same file as the input"),
    (["compare", "run", "--plot", "run/checkpoints/loss.png"], "--plot is inside the input folder run (ITEM)"),
    (["pretrain", "add-sentinels", "tok.json", "-o", "tok.json"], "--output is the same file as the input"),
    (["pretrain", "export", "run", "-o", "run"], "--export-hf is the input folder"),
    (["pretrain", "corpus", "-o", "corpus/run", "--tokenizer", "tok.json", "--max-steps", "1"], "inside the input folder"),
    (["pretrain", "corpus", "-o", "run2", "--tokenizer", "tok.json", "--max-steps", "1", "--export-hf", "run2"], "name the same folder"),
    (["pretrain", "c.txt", "-o", "run3", "--tokenizer", "tok.json", "--max-steps", "1", "--token-dir", "run3/checkpoints"], "which --output writes"),
    (["pretrain", "c.txt", "-o", "run4", "--tokenizer", "tok.json", "--max-steps", "1", "--tensorboard", "run4"], "name the same folder"),
    (["finetune", "--train", "train.tsv", "--model", "run", "-o", "run"], "--output is the input folder"),
    (["finetune", "--train", "run/metrics.jsonl", "--vectors", "vec.txt", "-o", "run"], "which --output writes"),
    (["finetune", "predict", "run", "train.tsv", "-o", "run/config.json"], "--output is the same file as the input"),
    (["finetune", "predict", "run", "train.tsv", "-o", "train.tsv"], "--output is the same file as the input"),
]


@pytest.mark.parametrize("args,expected", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_every_writing_command_refuses_a_collision(files, args, expected):
    if args[:2] == ["corpus", "shard"] and args[-1] == "c":
        (files / "c00.txt").symlink_to(files / "c.txt")
    before = _snapshot(files)
    r = nlpt(*args, cwd=files)
    assert r.returncode == 2, (args, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], r.stderr
    assert _snapshot(files) == before  # nothing written, nothing replaced
    assert not os.path.exists(files / "corpus" / "run") and not os.path.exists(files / "run2")


def test_standard_output_redirected_onto_an_input_is_refused(files):
    import subprocess
    import sys

    before = (files / "c.txt").read_bytes()
    for args in (["corpus", "tokenize", "c.txt"], ["vocab", "c.txt"], ["query", "vectors", "vec.txt", "the"]):
        target = files / ("vec.txt" if args[0] == "query" else "c.txt")
        kept = target.read_bytes()
        with open(target, "ab") as out:
            r = subprocess.run([sys.executable, "-m", "nlpt", *args], cwd=files, stdout=out, stderr=subprocess.PIPE, text=True)
        assert r.returncode == 2 and "standard output: " in r.stderr and "is the same file as the input" in r.stderr, r.stderr
        assert target.read_bytes() == kept
    assert (files / "c.txt").read_bytes() == before


def test_outputs_beside_inputs_are_written(files):
    r = nlpt("finetune", "predict", "run", "train.tsv", "-o", "run/predictions.jsonl", cwd=files)
    assert "same file" not in r.stderr and "read back" not in r.stderr  # fails later: the run folder is a fake
    r = nlpt("corpus", "shard", "c.txt", "-n", "2", "-o", "shards/part-", "-q", cwd=files)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(files / "shards")) == ["part-00.txt", "part-01.txt"]
