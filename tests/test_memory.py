"""Training memory of `nlpt params` (nlpt.transformer.memory) against a CPU step measured with
saved_tensors_hooks (nlpt.engine.memory_probe): model state exactly, activations within 10 %, with and
without activation checkpointing, for every family nlpt trains at three sizes; and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from _cli import ROOT, nlpt

from nlpt.transformer.registry import REGISTRY
from nlpt.transformer.memory import training_memory

SIZES = [(32, 1, 64, 16), (48, 2, 96, 24), (64, 3, 128, 32)]  # hidden, layers, vocabulary, context


def test_params_imports_no_torch_numpy_or_numba():
    code = ("import sys; import nlpt.cli.params, nlpt.transformer.memory, nlpt.transformer.report; "
            "from nlpt.cli import main\n"
            "try:\n    main(['params', 'gpt2', '--batch', '2', '--activation-checkpointing', '--json'])\n"
            "except SystemExit as e:\n    assert not e.code\n"
            "bad = [m for m in ('torch', 'numpy', 'numba') if m in sys.modules]\n"
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert '"training_memory"' in r.stdout


def _measured(config, batch, context, checkpointing):
    from nlpt.engine.memory_probe import measure

    S = context // 2 if config.family in ("t5", "bart") else None
    est = training_memory(config, batch, context, "fp32", 1, "ddp", checkpointing, device="cpu", decoder_context=S)
    return est, measure(config, batch, context, checkpointing, decoder_context=S)


@pytest.mark.parametrize("size, dropout", [(0, 0.0), pytest.param(1, 0.0, marks=pytest.mark.slow),
                                           pytest.param(2, 0.0, marks=pytest.mark.slow),
                                           pytest.param(0, 0.1, marks=pytest.mark.slow)])
def test_estimate_matches_a_measured_cpu_step(size, dropout):
    """Every family at three sizes (the larger ones and dropout are slow), with and without checkpointing."""
    pytest.importorskip("torch")
    from nlpt.engine.memory_probe import family_configs

    hidden, layers, vocab, context = SIZES[size]
    failures = []
    for name, config in family_configs(hidden, layers, vocab, context, dropout).items():
        for ckpt in (False, True):
            est, got = _measured(config, 2, context, ckpt)
            b = est["bytes"]
            assert got["parameters"] == b["weights"], name
            assert got["gradients"] == b["gradients"], name
            assert got["optimizer"] == b["optimizer"], name
            assert got["parameter_tensors"] == est["parameter_tensors"], name
            ratio = b["activations"] / got["saved_for_backward"]
            if not 0.9 <= ratio <= 1.1:
                failures.append(f"{name} checkpointing={ckpt}: estimate {b['activations']:,} measured "
                                f"{got['saved_for_backward']:,} ({ratio:.3f})")
    assert not failures, failures


def test_checkpointing_keeps_less_than_it_recomputes():
    c = REGISTRY["gpt2"].config
    plain = training_memory(c, 8, 1024, "bf16")
    ckpt = training_memory(c, 8, 1024, "bf16", checkpointing=True)
    assert ckpt["activations_without_checkpointing"] == plain["bytes"]["activations"]
    per_layer = plain["activations_per_layer"]["layers"]
    assert per_layer["layers"] == 12 and per_layer["bytes"] * 12 < plain["bytes"]["activations"]
    # the blocks keep only their inputs (one fp32 hidden state per token): 4 of the ~36 bytes per hidden unit
    saved = plain["bytes"]["activations"] - ckpt["bytes"]["activations"]
    assert saved == 12 * (per_layer["bytes"] - 8 * 1024 * 768 * 4)
    assert ckpt["bytes"]["temporary"] >= per_layer["bytes"]
    # bigger batch, more activations; model state unchanged
    big = training_memory(c, 16, 1024, "bf16")
    assert big["bytes"]["activations"] > 1.9 * plain["bytes"]["activations"]
    assert big["bytes"]["weights"] == plain["bytes"]["weights"]


def test_ranks_strategy_and_precision():
    c = REGISTRY["llama2-7b"].config
    one = training_memory(c, 1, 4096, "bf16")
    P = one["parameters"]
    assert one["bytes"]["weights"] == 4 * P and one["bytes"]["gradients"] == 4 * P
    assert one["bytes"]["half_weight_copies"] > 0 and one["bytes"]["ddp_buckets"] == 0
    ddp = training_memory(c, 1, 4096, "bf16", ranks=8, strategy="ddp")
    assert ddp["bytes"]["ddp_buckets"] == 4 * P and ddp["bytes"]["weights"] == 4 * P
    fsdp = training_memory(c, 1, 4096, "bf16", ranks=8, strategy="fsdp")
    assert fsdp["bytes"]["weights"] == -(-4 * P // 8)
    assert fsdp["bytes"]["total"] < ddp["bytes"]["total"] / 2
    fp32 = training_memory(c, 1, 4096, "fp32")
    assert fp32["bytes"]["half_weight_copies"] == 0
    assert fp32["bytes"]["activations"] > one["bytes"]["activations"]
    for bad in ({"precision": "fp8"}, {"strategy": "zero3"}, {"ranks": 0}):
        with pytest.raises(ValueError):
            training_memory(c, 1, 128, **{"precision": "fp32", **bad})


@pytest.mark.parametrize("model", ["gpt2", "llama2-7b", "mixtral-8x7b", "deepseek-v3", "bert-base", "albert-base-v2",
                                   "roberta-base", "t5-small", "bart-base"])
def test_cli_json_and_table_for_every_family(model):
    code, out, _ = nlpt("params", model, "--batch", 2, "--context", 128, "--json")
    assert code == 0
    tm = json.loads(out)["training_memory"]
    assert tm["precision"] == "bf16" and tm["batch"] == 2 and tm["context"] == 128
    assert tm["bytes"]["total"] == sum(v for k, v in tm["bytes"].items() if k != "total")
    assert tm["bytes"]["activations"] > 0 and tm["activations_per_layer"]
    code, out, _ = nlpt("params", model, "--batch", 2, "--context", 128, "--activation-checkpointing",
                        "--ranks", 4, "--strategy", "fsdp", "--precision", "fp32")
    assert code == 0
    assert "Training memory per rank" in out and "activation checkpointing" in out and "total per rank" in out


def test_cli_rejects_bad_options():
    for flags, what in ((["--precision", "fp8"], "--precision"), (["--strategy", "zero"], "--strategy"),
                        (["--ranks", "0"], "--ranks")):
        code, _, err = nlpt("params", "gpt2", *flags)
        assert code == 2 and what in err, err
