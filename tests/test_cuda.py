"""What only a CUDA device runs: bf16 autocast training, fused AdamW, SDPA's flash/efficient kernels, the memory
record of metrics.jsonl, and `pretrain eval` on the GPU equal to the CPU. `benchmarks/gpu_check.sh` runs these
(`-m cuda`); without a CUDA device each skips with the reason."""

from __future__ import annotations

import json
import os
import sys

import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, os.path.dirname(__file__))
from _cli import char_tokenizer_file, nlpt, synthetic_head  # noqa: E402

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device (benchmarks/gpu_check.sh "
                                                                       "runs these on a GPU machine)")]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return synthetic_head(tmp_path_factory, 3000)


@pytest.fixture(scope="module")
def tok(corpus, tmp_path_factory):
    return char_tokenizer_file(tmp_path_factory, corpus)


def tiny(corpus, tok, run, arch="gpt-mini", extra=()):
    return [corpus, "-o", run, "--tokenizer", tok, "--arch", arch, "--layers", 2, "--hidden", 64, "--heads", 4,
            "--context", 64, "--vocab", 128, "--batch", 16, "--max-steps", 40, "--lr", 3e-3, "--warmup", 5,
            "--eval-batches", 4, "--log-every", 10, "--device", "cuda", "--quiet", *extra]


@pytest.mark.parametrize("arch, precision", [("gpt-mini", "bf16"), ("llama-mini", "bf16"), ("gpt-mini", "fp16")])
def test_mixed_precision_training_learns_and_logs_memory(arch, precision, corpus, tok, tmp_path):
    run = tmp_path / "run"
    code, _, err = nlpt("pretrain", *tiny(corpus, tok, run, arch, ("--precision", precision)))
    assert code == 0, err
    with open(run / "metrics.jsonl") as fh:
        train = [r for r in map(json.loads, fh) if r["split"] == "train"]
    assert train[-1]["loss"] < train[0]["loss"] - 0.5, train
    assert all(r["max_memory_bytes"] > 0 for r in train)
    from nlpt.engine.run import _peak_flops

    if _peak_flops(torch.device("cuda")):  # a GPU of the hardware table: MFU is logged
        assert all(0 < r["mfu"] < 1 for r in train)


def test_fused_adamw_on_cuda():
    from nlpt.engine.optim import make_optimizer

    model = torch.nn.Linear(8, 8).cuda()
    opt = make_optimizer(model, 1e-3, 0.1, (0.9, 0.95), 1e-8, torch.device("cuda"))
    assert opt.defaults.get("fused") is True


def test_sdpa_flash_and_efficient_kernels_equal_the_math_kernel():
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from nlpt.models import build
    from nlpt.transformer.configs import GPTConfig

    torch.manual_seed(0)
    model = build(GPTConfig(vocab_size=128, hidden_size=128, num_layers=2, num_heads=2, ffn_size=256,
                            max_positions=128)).cuda().eval()
    ids = torch.randint(0, 128, (4, 128), device="cuda")
    out = {}
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        for backend in (SDPBackend.MATH, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION):
            with sdpa_kernel(backend):
                out[backend] = model(input_ids=ids)["logits"].float()
    for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION):
        assert torch.allclose(out[backend], out[SDPBackend.MATH], atol=5e-2, rtol=5e-2), backend


def test_eval_on_cuda_equals_cpu(corpus, tok, tmp_path):
    run = tmp_path / "run"
    code, _, err = nlpt("pretrain", *tiny(corpus, tok, run, extra=("--max-steps", 5)))
    assert code == 0, err
    docs = []
    for device in ("cpu", "cuda"):
        code, out, err = nlpt("pretrain", "eval", run, "--data", corpus, "--stride", 32, "--device", device,
                              "--json")
        assert code == 0, err
        docs.append(json.loads(out))
    assert docs[1]["nats"] == pytest.approx(docs[0]["nats"], rel=1e-3)
