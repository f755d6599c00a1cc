"""`nlpt pretrain --dry-run` (the plan of a run, for every family, writing nothing) and `--tensorboard`
(the scalars of metrics.jsonl as TensorBoard events), through the CLI."""

from __future__ import annotations

import json
import math
import os
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tokenizers")

sys.path.insert(0, os.path.dirname(__file__))
from _cli import ROOT, nlpt  # noqa: E402

from nlpt.transformer.hardware import GPUS  # noqa: E402

TOKENIZER = {"gpt-mini": "char", "llama-mini": "char", "moe-mini": "char", "bert-mini": "wp", "t5-mini": "t5",
             "bart-mini": "bpe"}


def tiny(documents, run, arch, extra=()):
    return [documents["corpus"], "-o", run, "--tokenizer", documents[TOKENIZER[arch]], "--arch", arch, "--layers", 1,
            "--hidden", 32, "--heads", 2, "--ffn", 64, "--context", 32, "--vocab", 320, "--batch", 4,
            "--threads", 1, "--quiet", *extra]


def listing(path) -> list:
    return sorted(os.path.join(r, f) for r, _, fs in os.walk(path) for f in fs)


@pytest.mark.parametrize("arch", sorted(TOKENIZER))
def test_dry_run_plans_every_family_and_writes_nothing(arch, documents, tmp_path):
    from nlpt.transformer.params import count, flops

    run = tmp_path / "run"
    before = listing(os.path.dirname(documents["corpus"]))
    code, out, err = nlpt("pretrain", *tiny(documents, str(run), arch, ("--global-batch", 16, "--max-tokens", "100k",
                                                                         "--dry-run", "--json", "--gpu", "a100",
                                                                         "--mfu", 0.5, "--ranks", 2)))
    assert code == 0, err
    assert not run.exists() and listing(os.path.dirname(documents["corpus"])) == before
    plan = json.loads(out)
    b = plan["batch"]
    assert (b["ranks"], b["micro_batch"], b["accumulation"], b["global_batch"]) == (2, 4, 2, 16)
    assert b["tokens_per_step"] == 16 * 32 and b["strategy"] == "ddp"
    assert plan["steps"]["total"] == math.ceil(100_000 / (16 * 32))
    from nlpt.transformer.configs import config_from_dict

    model = config_from_dict(plan["model"]["config"], "plan")
    assert plan["model"]["parameters"] == count(model).total
    per_token = flops(count(model), 32)["training_per_token"]
    assert plan["flops"]["per_step"] == per_token * 16 * 32
    seconds = per_token * 16 * 32 / (2 * GPUS["a100"].peak_tflops * 1e12 * 0.5)
    assert plan["time"]["seconds_per_step"] == pytest.approx(seconds)
    assert plan["time"]["seconds"] == pytest.approx(seconds * plan["steps"]["total"])
    from nlpt.transformer.memory import training_memory

    mem = plan["memory_per_rank"]
    expected = training_memory(model, 4, 32, "fp32", 2, "ddp", False, device="cuda")["bytes"]
    assert mem["total_bytes"] == expected["total"] and mem["activations_bytes"] == expected["activations"] > 0
    assert mem["weights_bytes"] + mem["gradients_bytes"] + mem["optimizer_bytes"] + mem["activations_bytes"] + \
        mem["other_bytes"] == mem["total_bytes"]
    assert plan["tokens"]["source"] == "estimate" and plan["tokens"]["total"] > 0
    # the text form names the same figures
    code, out, err = nlpt("pretrain", *tiny(documents, str(run), arch, ("--max-steps", 10, "--dry-run")))
    assert code == 0, err
    assert "10 steps" not in out and "steps      10 " in out and "per rank" in out and not run.exists()


def test_dry_run_counts_the_token_files_of_an_earlier_run_and_its_checkpoint(documents, tmp_path):
    run = str(tmp_path / "run")
    args = tiny(documents, run, "gpt-mini", ("--max-steps", 2, "--eval-batches", 1, "--log-every", 1))
    code, out, err = nlpt("pretrain", *args, "--json", "--dry-run")
    assert code == 0, err
    estimate = json.loads(out)["tokens"]
    code, _, err = nlpt("pretrain", *args)
    assert code == 0, err
    with open(os.path.join(run, "config.json")) as fh:
        data = json.load(fh)["data"]
    before = listing(run)
    code, out, err = nlpt("pretrain", *args, "--max-steps", 4, "--resume-with-changes", "--json", "--dry-run")
    assert code == 0, err
    plan = json.loads(out)
    assert listing(run) == before
    assert plan["tokens"]["source"] == "token files"
    assert (plan["tokens"]["train"], plan["tokens"]["val"]) == (data["train_tokens"], data["val_tokens"])
    assert plan["resume"]["state"] == "continue" and plan["resume"]["checkpoint"].endswith("step-2")
    assert plan["resume"]["changes"] == [{"name": "max_steps", "then": 2, "now": 4}]
    # the same command again: the run is finished and would be left alone; other settings are refused as the run
    # refuses them
    code, out, err = nlpt("pretrain", *args, "--json", "--dry-run")
    assert code == 0 and json.loads(out)["resume"]["state"] == "finished", err
    code, _, err = nlpt("pretrain", *args, "--max-steps", 4, "--lr", 0.01, "--dry-run")
    real_code, _, real_err = nlpt("pretrain", *args, "--max-steps", 4, "--lr", 0.01)
    assert code == real_code == 1 and err == real_err and "lr: " in err, (err, real_err)
    assert listing(run) == before
    # the char tokenizer gives one token per character: the estimate is within a few per cent of the count
    total = data["train_tokens"] + data["val_tokens"]
    assert abs(estimate["total"] - total) <= 0.05 * total, (estimate, total)


@pytest.mark.parametrize("flags, message, code", [
    (("--global-batch", 10, "--max-steps", 5), "--global-batch 10 is not a multiple of --batch 4", 2),
    (("--max-steps", 5, "--gpu", "h1000"), "--gpu must be one of", 2),
    (("--max-steps", 5, "--mfu", 1.5), "--mfu must be in (0, 1]", 2),
    (("--max-steps", 5, "--tokenizer", "/nonexistent/tok.json"), "no such tokenizer file", 1),
    ((), "give --max-steps or --max-tokens", 2),
])
def test_dry_run_refuses_what_the_run_would_refuse(flags, message, code, documents, tmp_path):
    run = tmp_path / "run"
    rc, out, err = nlpt("pretrain", *tiny(documents, str(run), "gpt-mini", flags), "--dry-run")
    assert rc == code and message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and not run.exists()


@pytest.mark.parametrize("flag, value", [("--gpu", "h100"), ("--mfu", 0.4), ("--ranks", 2)])
def test_dry_run_options_need_dry_run(flag, value, documents, tmp_path):
    run = tmp_path / "run"
    rc, _, err = nlpt("pretrain", *tiny(documents, str(run), "gpt-mini", ("--max-steps", 1, flag, value)))
    assert rc == 2 and f"{flag} applies to --dry-run only" in err and not run.exists()


# ---------------------------------------------------------------------------------------------
# --tensorboard

def test_tensorboard_events_equal_the_metrics_lines(documents, tmp_path):
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        pytest.skip("the tensorboard package is not installed (pip install 'nlpt[tensorboard]')")
    run, events = str(tmp_path / "run"), str(tmp_path / "tb")
    code, _, err = nlpt("pretrain", *tiny(documents, run, "gpt-mini", ("--max-steps", 4, "--log-every", 2,
                                                                      "--eval-every", 2, "--eval-batches", 2,
                                                                      "--tensorboard", events)))
    assert code == 0, err
    with open(os.path.join(run, "metrics.jsonl")) as fh:
        records = [json.loads(line) for line in fh]
    acc = EventAccumulator(events)
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "train/lr", "train/grad_norm", "train/tokens_per_s", "val/loss", "val/ppl"} <= tags
    for split in ("train", "val"):
        lines = [r for r in records if r["split"] == split]
        assert len(lines) == 2
        for name in ("loss", "tokens") + (("lr", "grad_norm") if split == "train" else ("ppl",)):
            got = [(e.step, e.value) for e in acc.Scalars(f"{split}/{name}")]
            assert got == [(r["step"], pytest.approx(r[name], rel=1e-6)) for r in lines], name


@pytest.mark.slow
def test_tensorboard_absent_is_one_line_before_any_work(documents, tmp_path):
    import subprocess

    shim = tmp_path / "shim" / "tensorboard"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('no tensorboard here')\n")
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim.parent), ROOT])}
    proc = subprocess.run([sys.executable, "-m", "nlpt", "pretrain",
                           *map(str, tiny(documents, str(run), "gpt-mini", ("--max-steps", 2, "--tensorboard",
                                                                        tmp_path / "tb")))],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.strip().endswith("--tensorboard needs the tensorboard package: pip install 'nlpt[tensorboard]'")
    assert not run.exists() and not (tmp_path / "tb").exists()


def test_dry_run_memory_follows_checkpointing_and_sharding(documents, tmp_path):
    run = str(tmp_path / "run")

    def memory(*flags):
        code, out, err = nlpt("pretrain", *tiny(documents, run, "llama-mini", ("--max-steps", 5, "--ranks", 4,
                                                                              *flags)),
                              "--dry-run", "--json")
        assert code == 0, err
        return json.loads(out)["memory_per_rank"]

    plain, checkpointed, sharded = memory(), memory("--activation-checkpointing"), memory("--strategy", "fsdp")
    assert checkpointed["checkpointing"] and checkpointed["activations_bytes"] < plain["activations_bytes"]
    assert sharded["optimizer_bytes"] < plain["optimizer_bytes"] and sharded["weights_bytes"] < plain["weights_bytes"]
