"""Activation checkpointing per block (nlpt.models.checkpointing, `pretrain --activation-checkpointing`): the
same loss and gradients as without, for every family (with dropout, whose masks the recomputation must draw
again), the saved bytes dropping as `nlpt params` predicts, and runs through the CLI, with DDP and FSDP2 on
two gloo ranks, and with --compile."""

from __future__ import annotations

import json
import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
pytest.importorskip("tokenizers")

from _cli import nlpt, require_gloo  # noqa: E402
from test_pretrain_distributed import _torchrun, train_losses  # noqa: E402
from test_pretrain_distributed import args as gloo_args  # noqa: E402

from nlpt.engine import memory_probe  # noqa: E402
from nlpt.models import build, checkpointing  # noqa: E402
from nlpt.transformer.memory import training_memory  # noqa: E402

CONFIGS = memory_probe.family_configs(hidden=32, layers=2, vocab=64, context=16, dropout=0.1)


def _loss_and_grads(config, on: bool):
    torch.manual_seed(0)
    model = build(config)
    model.train()
    assert checkpointing.enable(model, on) == (config.num_layers + getattr(config, "num_decoder_layers", 0)
                                              if not getattr(config, "shared_layers", False) else 1)
    batch = memory_probe.synthetic_batch(config, 2, 16, 8, torch.Generator().manual_seed(1))
    torch.manual_seed(2)  # the dropout masks
    loss, _ = memory_probe._objective(config).loss(model, batch)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CONFIGS))
def test_same_loss_and_gradients_with_dropout(name):
    config = CONFIGS[name]
    loss, grads = _loss_and_grads(config, False)
    loss_ck, grads_ck = _loss_and_grads(config, True)
    assert torch.allclose(loss, loss_ck, rtol=0, atol=1e-6)
    assert grads.keys() == grads_ck.keys() and len(grads) > 4
    for n in grads:
        assert torch.allclose(grads[n], grads_ck[n], rtol=0, atol=1e-6), n


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gpt2", "mixtral", "bert", "t5", "bart"])
def test_saved_bytes_drop_as_params_predicts(name):
    config = CONFIGS[name]
    S = 8 if config.family in ("t5", "bart") else None
    measured = {on: memory_probe.measure(config, 2, 16, on, decoder_context=S)["saved_for_backward"]
                for on in (False, True)}
    predicted = {on: training_memory(config, 2, 16, "fp32", checkpointing=on, device="cpu",
                                     decoder_context=S)["bytes"]["activations"] for on in (False, True)}
    drop, predicted_drop = measured[False] - measured[True], predicted[False] - predicted[True]
    assert drop > 0
    assert abs(drop - predicted_drop) <= 0.1 * drop, (drop, predicted_drop)


def test_blocks_run_plainly_without_gradients():
    config = CONFIGS["gpt2"]
    model = build(config).eval()
    checkpointing.enable(model)
    ids = torch.randint(0, 64, (2, 16))
    with torch.no_grad():
        a = model(ids)["logits"]
    checkpointing.enable(model, False)
    with torch.no_grad():
        b = model(ids)["logits"]
    assert torch.equal(a, b)


# --------------------------------------------------------------------------- through the CLI


def _args(documents, run, arch, extra=()):
    tok = {"bert-mini": documents["wp"], "t5-mini": documents["t5"]}.get(arch, documents["bpe"])
    return [documents["corpus"], "-o", run, "--tokenizer", tok, "--arch", arch, "--layers", 2, "--hidden", 32,
            "--heads", 2, "--ffn", 64, "--context", 32, "--vocab", 320, "--batch", 4, "--max-steps", 3,
            "--warmup", 1, "--eval-every", 0, "--eval-batches", 1, "--log-every", 1, "--threads", 1,
            "--dropout", 0.1, "--quiet", *extra]


def _losses(run):
    with open(os.path.join(run, "metrics.jsonl")) as fh:
        return [r["loss"] for r in map(json.loads, fh) if r["split"] == "train"]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["gpt-mini", "llama-mini", "moe-mini", "bert-mini", "t5-mini", "bart-mini"])
def test_cli_same_losses_for_every_family(arch, documents, tmp_path):
    runs = {}
    for flag in ((), ("--activation-checkpointing",)):
        run = str(tmp_path / ("ckpt" if flag else "plain"))
        code, _, err = nlpt("pretrain", *_args(documents, run, arch, flag))
        assert code == 0, err
        runs[bool(flag)] = _losses(run)
    assert len(runs[False]) == 3
    assert runs[True] == pytest.approx(runs[False], rel=1e-6, abs=1e-6)
    with open(os.path.join(str(tmp_path / "ckpt"), "config.json")) as fh:
        assert json.load(fh)["train"]["activation_checkpointing"] is True


@pytest.fixture(scope="module")
def single_run(documents, tmp_path_factory) -> tuple:
    """One process's 4-step run (no checkpointing) and its token files: what the 2-rank runs are compared with."""
    folder = tmp_path_factory.mktemp("single")
    tokens, single = folder / "tokens", str(folder / "single")
    assert nlpt("pretrain", *gloo_args(documents["flat"], documents["char"], single, 4, tokens))[0] == 0
    return single, tokens


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_gloo_ranks_with_checkpointing_match_one_process(strategy, documents, single_run, tmp_path):
    require_gloo(fsdp=strategy == "fsdp")
    single, tokens = single_run
    char = documents["char"]
    double = str(tmp_path / "double")
    r = _torchrun("pretrain", *gloo_args(documents["flat"], char, double, 4, tokens,
                                         ["--strategy", strategy, "--activation-checkpointing"]))
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = train_losses(single), train_losses(double)
    assert [s for s, _ in a] == [s for s, _ in b] == [1, 2, 3, 4]
    for (_, la), (_, lb) in zip(a, b):
        assert lb == pytest.approx(la, rel=1e-4, abs=1e-5)


@pytest.mark.slow
def test_compile_with_checkpointing(documents, tmp_path):
    eager = str(tmp_path / "eager")
    assert nlpt("pretrain", *_args(documents, eager, "gpt-mini", ("--dropout", 0)))[0] == 0
    compiled = str(tmp_path / "compiled")
    code, _, err = nlpt("pretrain", *_args(documents, compiled, "gpt-mini",
                                                ("--dropout", 0, "--compile", "--activation-checkpointing")))
    if code != 0:
        plain = str(tmp_path / "plain-compile")
        if nlpt("pretrain", *_args(documents, plain, "gpt-mini", ("--dropout", 0, "--compile")))[0]:
            pytest.skip(f"torch.compile does not run on this machine: {err.strip()[-300:]}")
    assert code == 0, err
    assert _losses(compiled) == pytest.approx(_losses(eager), rel=1e-4, abs=1e-4)
