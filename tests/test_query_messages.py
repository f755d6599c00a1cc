"""Messages of the Transformer queries and arithmetic: fill-mask past the context and line by line on stdin,
`params`' one N and small GPU-hours, `compare` on a missing run folder. Through the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading

import pytest

from _cli import ROOT, nlpt


@pytest.fixture(scope="module")
def bert_run(documents, tmp_path_factory):
    """A BERT-style run of one step at context 16 (predictions are not the point: where they go is)."""
    pytest.importorskip("torch")
    run = tmp_path_factory.mktemp("bert") / "run"
    code, _, err = nlpt("pretrain", documents["corpus"], "-o", run, "--tokenizer", documents["wp"], "--arch", "bert-mini",
                        "--layers", 1, "--hidden", 16, "--heads", 2, "--ffn", 32, "--context", 16, "--vocab", 320,
                        "--batch", 2, "--max-steps", 1, "--eval-batches", 1, "--threads", 1, "--quiet")
    assert code == 0, err
    return run


def test_fill_mask_says_when_a_mask_lies_past_the_context(bert_run):
    long = "the [MASK] " + "the " * 30 + "[MASK] ."
    code, out, err = nlpt("pretrain", "fill-mask", bert_run, long, "--json")
    assert code == 0, err
    masks = json.loads(out)[0]["masks"]
    assert masks[0]["position"] == 2 and len(masks[0]["predictions"]) == 5
    assert masks[1]["predictions"] is None and masks[1]["position"] > 16
    assert "past the model's context of 16 tokens" in masks[1]["note"]
    code, out, err = nlpt("pretrain", "fill-mask", bert_run, "the " * 30 + "[MASK] .")
    assert code == 0, err
    assert "past the model's context of 16 tokens: not predicted" in out


@pytest.mark.slow
def test_fill_mask_answers_each_stdin_line_before_reading_the_next(bert_run):
    proc = subprocess.Popen([sys.executable, "-m", "nlpt", "pretrain", "fill-mask", str(bert_run)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(120, proc.kill)  # a reader that waits for the end of stdin never answers: fail
    watchdog.start()
    try:
        proc.stdin.write("the [MASK] of\n")
        proc.stdin.flush()
        first = [proc.stdout.readline(), proc.stdout.readline()]  # stdin is still open: answered line by line
        assert first[0] == "the [MASK] of\n" and first[1].startswith("  [MASK] at 2: "), first
        proc.stdin.write("\n[MASK] the\n")
        proc.stdin.close()
        rest = proc.stdout.read()
        assert rest.startswith("[MASK] the\n  [MASK] at 1: "), rest
        assert proc.wait() == 0, proc.stderr.read()
    finally:
        watchdog.cancel()
        proc.kill()


def test_params_one_n_for_both_training_figures_and_small_gpu_hours():
    code, out, err = nlpt("params", "gpt2", "--tokens", "1M", "--json")
    assert code == 0, err
    d = json.loads(out)
    fl, tr = d["flops"], d["training"]
    assert tr["parameters_used"] == fl["matmul_parameters"]
    assert tr["flops_with_attention"] == tr["flops_6nd"] + 3 * fl["attention_term"] * tr["tokens"]
    code, out, err = nlpt("params", "gpt2", "--tokens", "1M")
    assert code == 0, err
    row = next(line for line in out.splitlines() if "GPU-hours on" in line)
    hours = re.split(r"\s{2,}", row.strip())[-1]
    assert hours != "0" and float(hours) == pytest.approx(tr["gpu_hours"], rel=1e-2), row
    assert f"6·N·D (N = {fl['matmul_parameters'] / 1e6:.1f}M)" in out


def test_compare_names_a_missing_run_folder(bert_run, tmp_path):
    for missing in (tmp_path / "nothere", f"{tmp_path}/gone/"):
        code, _, err = nlpt("compare", bert_run, missing)
        assert code == 1 and err.strip() == f"nlpt: error: {missing}: no such file or folder", err
