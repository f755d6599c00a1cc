"""`nlpt.models.cpu_matmul`: numpy's BLAS for CPU matrix products gives torch's values and gradients,
is used only where it applies, is undone after a run, and is chosen through `nlpt pretrain --cpu-matmul`."""

from __future__ import annotations

import json
import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
pytest.importorskip("threadpoolctl")

import torch.nn.functional as F  # noqa: E402
from _cli import char_tokenizer_file, needs_synthetic, nlpt, synthetic_head  # noqa: E402

from nlpt.models import build, cpu_matmul  # noqa: E402
from nlpt.transformer.configs import GPTConfig, LlamaConfig  # noqa: E402


@pytest.fixture
def numpy_backend():
    choice = cpu_matmul.configure("numpy", 1)
    yield choice
    choice.restore()


def _leaf(*shape, seed, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype).requires_grad_()


@pytest.mark.parametrize("bias", [True, False])
def test_linear_values_and_gradients_equal_torch(numpy_backend, bias):
    x, w = _leaf(3, 5, 16, seed=1), _leaf(24, 16, seed=2)
    b = _leaf(24, seed=3) if bias else None
    y = cpu_matmul.linear(x, w, b)
    assert y.grad_fn is not None and "_Linear" in type(y.grad_fn).__name__  # the numpy path ran
    g = torch.randn(3, 5, 24, generator=torch.Generator().manual_seed(4))
    y.backward(g)
    got = [t.grad.clone() for t in (x, w, b) if t is not None]
    for t in (x, w, b):
        if t is not None:
            t.grad = None
    ref = F.linear(x, w, b)
    ref.backward(g)
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-5)
    for a, e in zip(got, [t.grad for t in (x, w, b) if t is not None]):
        torch.testing.assert_close(a, e, atol=1e-5, rtol=1e-5)


def test_linear_computes_only_the_gradients_asked_for(numpy_backend):
    x, w = _leaf(7, 8, seed=5), torch.randn(4, 8)  # a frozen weight
    cpu_matmul.linear(x, w).sum().backward()
    torch.testing.assert_close(x.grad, w.sum(0).expand(7, 8), atol=1e-5, rtol=1e-5)
    assert w.grad is None


def test_other_dtypes_and_the_torch_backend_use_torch_itself(numpy_backend):
    x, w = _leaf(4, 6, seed=6, dtype=torch.float64), _leaf(3, 6, seed=7, dtype=torch.float64)
    y = cpu_matmul.linear(x, w)
    assert "_Linear" not in type(y.grad_fn).__name__ and torch.equal(y, F.linear(x, w))
    inner = cpu_matmul.configure("torch", 1)
    try:
        assert not cpu_matmul.active()
        x32 = _leaf(4, 6, seed=8)
        y = cpu_matmul.linear(x32, _leaf(3, 6, seed=9))
        assert "_Linear" not in type(y.grad_fn).__name__
    finally:
        inner.restore()
    assert cpu_matmul.active()  # restore() puts the previous choice back


def test_mm_and_addmm_equal_torch(numpy_backend):
    a, b = torch.randn(9, 5), torch.randn(5, 11)
    torch.testing.assert_close(cpu_matmul.mm(a, b), a @ b, atol=1e-5, rtol=1e-5)
    out = torch.empty(9, 11)
    assert cpu_matmul.mm(a, b, out=out) is out
    torch.testing.assert_close(out, a @ b, atol=1e-5, rtol=1e-5)
    c = torch.randn(5, 5)
    left, right = a.t()[:5], a[:, :5]  # a transposed (strided) operand, as the LM loss passes
    torch.testing.assert_close(cpu_matmul.addmm_(c.clone(), left, right), c + left @ right, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("config", [
    GPTConfig(vocab_size=97, hidden_size=32, num_layers=2, num_heads=4, ffn_size=64, max_positions=32),
    LlamaConfig(vocab_size=97, hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2, ffn_size=48, max_positions=32,
                num_experts=4, experts_per_token=2, variant="mixtral"),
], ids=["gpt", "moe"])
def test_a_model_trains_alike_with_either_backend(config):
    """Loss and every gradient of a model (its linear layers and the chunked LM loss) agree to rounding."""
    ids = torch.randint(0, 97, (2, 17), generator=torch.Generator().manual_seed(0))
    results = []
    for backend in ("torch", "numpy"):
        torch.manual_seed(0)
        model = build(config).train()
        choice = cpu_matmul.configure(backend, 1)
        try:
            loss = model(ids[:, :-1], labels=ids[:, 1:])["loss"]
            loss.backward()
        finally:
            choice.restore()
        results.append((loss.detach(), {n: p.grad for n, p in model.named_parameters()}))
    (la, ga), (lb, gb) = results
    torch.testing.assert_close(la, lb, atol=1e-5, rtol=1e-6)
    assert ga.keys() == gb.keys()
    for name in ga:
        torch.testing.assert_close(ga[name], gb[name], atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.slow
def test_auto_says_what_it_chose(tmp_path, monkeypatch):
    monkeypatch.setenv(cpu_matmul.CACHE_ENV, str(tmp_path))  # a fresh timing, kept away from the user's cache
    choice = cpu_matmul.configure("auto", 1)
    try:
        assert choice.backend in ("torch", "numpy") and choice.speedup > 0
        assert cpu_matmul.active() == (choice.backend == "numpy") == (choice.speedup >= cpu_matmul.AUTO_MARGIN)
        assert "matrix products on CPU through" in choice.describe()
    finally:
        choice.restore()
    assert not cpu_matmul.active()


@needs_synthetic
def test_pretrain_cpu_matmul_flag_end_to_end(tmp_path_factory, tmp_path):
    corpus = synthetic_head(tmp_path_factory, 300)
    tok = char_tokenizer_file(tmp_path_factory, corpus)
    run = str(tmp_path / "run")
    args = [corpus, "-o", run, "--tokenizer", tok, "--arch", "gpt-mini", "--layers", 1, "--hidden", 32, "--heads", 4,
            "--ffn", 64, "--context", 32, "--vocab", 64, "--batch", 4, "--max-steps", 12, "--lr", 3e-3, "--warmup", 2,
            "--eval-every", 0, "--eval-batches", 2, "--log-every", 1, "--threads", 1]
    code, _, err = nlpt("pretrain", *args, "--cpu-matmul", "numpy")
    assert code == 0, err
    assert "matrix products on CPU through numpy's BLAS" in err
    assert not cpu_matmul.active()  # the run undid its choice
    with open(os.path.join(run, "metrics.jsonl")) as fh:
        losses = [r["loss"] for r in map(json.loads, fh) if r["split"] == "train"]
    assert losses[-1] < losses[0]
    with open(os.path.join(run, "config.json")) as fh:
        assert json.load(fh)["train"]["cpu_matmul"] == "numpy"

    code, _, err = nlpt("pretrain", *args[:2], str(tmp_path / "bad"), *args[3:], "--cpu-matmul", "blas")
    assert code == 2 and "--cpu-matmul must be one of auto, torch, numpy" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not os.path.exists(tmp_path / "bad")


def test_finetune_cpu_matmul_flag_end_to_end(tmp_path_factory, tmp_path):
    """`nlpt finetune --model` (a Hugging Face folder, read into nlpt's own BERT) multiplies through the chosen
    BLAS and says so; static vectors never configure it; a bad value is a usage error."""
    transformers = pytest.importorskip("transformers")
    from _finetune_task import FILLER, NEG, POS, write_task
    from tokenizers import Tokenizer, models, pre_tokenizers

    task = tmp_path_factory.mktemp("task")
    write_task(task, 7, {"train": 60, "dev": 20, "test": 20})
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + POS + NEG + FILLER)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    torch.manual_seed(0)
    bert = task / "hf-bert"
    transformers.BertModel(transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=32)).save_pretrained(str(bert))
    tokenizer.save(str(bert / "tokenizer.json"))
    base = ["finetune", "--train", task / "train.tsv", "--dev", task / "dev.tsv", "--epochs", 1, "--threads", 1]
    r = nlpt(*base, "--model", bert, "-o", tmp_path / "bert", "--cpu-matmul", "numpy")
    assert r.returncode == 0, r.stderr
    assert "matrix products on CPU through numpy's BLAS" in r.stderr
    r = nlpt(*base, "--vectors", task / "vec.txt", "-o", tmp_path / "static", "--cpu-matmul", "numpy")
    assert r.returncode == 0, r.stderr
    assert "matrix products on CPU" not in r.stderr  # its layers are torch's own
    r = nlpt(*base, "--model", bert, "-o", tmp_path / "bad", "--cpu-matmul", "blas")
    assert r.returncode == 2 and r.stderr.strip() == ("nlpt: error: --cpu-matmul must be one of auto, torch, numpy "
                                                      "(got 'blas')"), r.stderr
    assert not (tmp_path / "bad").exists()
