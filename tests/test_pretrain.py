"""`nlpt pretrain` (GPT, Llama, MoE): models, token files, training loop, checkpoints, resume, DDP/FSDP, export.

Everything runs on CPU with tiny configs on the head of data/synthetic.txt.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from _cli import ROOT, needs_synthetic, nlpt, perturbed  # noqa: E402

from nlpt.models import build  # noqa: E402
from nlpt.transformer.configs import GPTConfig, LlamaConfig  # noqa: E402
from nlpt.transformer.registry import REGISTRY  # noqa: E402
from nlpt.transformer.params import count  # noqa: E402

TINY = {
    "gpt": GPTConfig(vocab_size=97, hidden_size=32, num_layers=2, num_heads=4, ffn_size=64, max_positions=32),
    "llama": LlamaConfig(vocab_size=97, hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2, ffn_size=48,
                         max_positions=32),
    "moe": LlamaConfig(vocab_size=97, hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2, ffn_size=48,
                       max_positions=32, num_experts=4, experts_per_token=2, variant="mixtral"),
}


def tiny_args(corpus, tok, run_dir, family="gpt", steps=20, extra=()):
    arch = {"gpt": "gpt-mini", "llama": "llama-mini", "moe": "moe-mini"}[family]
    args = [corpus, "-o", run_dir, "--tokenizer", tok, "--arch", arch, "--layers", 2, "--hidden", 32, "--heads", 4,
            "--ffn", 64, "--context", 32, "--vocab", 64, "--batch", 4, "--max-steps", steps, "--lr", 3e-3,
            "--warmup", 5, "--eval-every", 0, "--eval-batches", 4, "--log-every", 1, "--threads", 1, "--quiet"]
    if family in ("llama", "moe"):
        args += ["--kv-heads", 2]
    if family == "moe":
        args += ["--experts", 4, "--top-k", 2]
    return args + list(extra)


def train_losses(run_dir, split="train"):
    with open(os.path.join(run_dir, "metrics.jsonl")) as fh:
        rows = [json.loads(line) for line in fh]
    return [(r["step"], r["loss"]) for r in rows if r["split"] == split]


# --------------------------------------------------------------------------- models


@pytest.mark.parametrize("name", ["gpt-mini", "llama-mini", "moe-mini", "gpt2", "gpt", "llama2-7b", "llama2-70b",
                                  "mixtral-8x7b", "qwen2.5-7b", "gpt2-medium"])
def test_parameter_count_equals_nlpt_params(name):
    config = REGISTRY[name].config
    with torch.device("meta"):
        model = build(config)
    assert sum(p.numel() for p in model.parameters()) == count(config).total


def test_registry_builder_fields_round_trip_and_leave_counts_alone():
    import dataclasses

    from nlpt.transformer.configs import config_fields, config_from_dict

    for entry in REGISTRY.values():
        assert config_from_dict(config_fields(entry.config)) == entry.config
    c = REGISTRY["moe-mini"].config
    changed = dataclasses.replace(c, dropout=0.3, init_std=0.01, activation="gelu", rope_scaling=2.0, router_jitter=0.1)
    assert count(changed).total == count(c).total
    from nlpt.common.errors import NlptError

    with pytest.raises(NlptError, match="no_such_field"):
        config_from_dict({**config_fields(c), "no_such_field": 1})


@pytest.mark.parametrize("family", ["gpt", "llama", "moe"])
def test_export_loads_in_transformers_with_equal_logits(family, tmp_path):
    transformers = pytest.importorskip("transformers")
    from nlpt.models.hf import export_hf

    torch.manual_seed(0)
    model = perturbed(build(TINY[family]).eval(), 0.1, vectors_only=True)  # a wrong norm or bias mapping shows
    config = export_hf(model, str(tmp_path / "hf"))
    hf = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path / "hf")).eval()
    assert type(hf).__name__ == config["architectures"][0] == {"gpt": "GPT2LMHeadModel", "llama": "LlamaForCausalLM",
                                                                 "moe": "MixtralForCausalLM"}[family]
    ids = torch.randint(0, 97, (2, 32), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        mine, theirs = model(ids)["logits"], hf(ids).logits
    assert mine.abs().max() > 0.01
    torch.testing.assert_close(mine, theirs, atol=1e-4, rtol=0)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gpt", "llama", "moe"])
def test_chunked_lm_loss_equals_cross_entropy_of_the_logits(family, monkeypatch):
    """The loss computed chunk by chunk without logits (gradients made in the forward pass) equals
    F.cross_entropy over the materialised logits, with ignored labels, in training and under no_grad."""
    import nlpt.models.lm_loss as lm_loss

    monkeypatch.setattr(lm_loss, "CHUNK_ELEMENTS", 97 * 7)  # 7 rows per chunk: several chunks and a ragged last one
    monkeypatch.setattr(lm_loss, "MIN_ROWS", 1)
    torch.manual_seed(0)
    model = build(TINY[family]).train()
    ids = torch.randint(0, 97, (3, 17))
    labels = ids[:, 1:].clone()
    labels[0, :5] = -100
    loss = model(ids[:, :-1], labels=labels)["loss"]
    loss.backward()
    fused = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    logits = model(ids[:, :-1])["logits"]
    assert "loss" not in model(ids[:, :-1]) and "logits" not in model(ids[:, :-1], labels=labels)
    reference = torch.nn.functional.cross_entropy(logits.reshape(-1, 97), labels.reshape(-1), ignore_index=-100)
    reference.backward()
    torch.testing.assert_close(loss, reference, atol=1e-6, rtol=0)
    for got, want in zip(fused, (p.grad for p in model.parameters())):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(model(ids[:, :-1], labels=labels)["loss"], reference, atol=1e-6, rtol=0)


def test_cpu_gelu_tanh_equals_torch(monkeypatch):
    """GPT-2's GELU computed through σ in pieces gives `F.gelu(approximate="tanh")`'s values and gradients
    (float32, several pieces and a ragged last one); its gradient is exact (gradcheck)."""
    import torch.nn.functional as F

    from nlpt.models import ops
    from nlpt.models.layers import activation_fn

    assert activation_fn("gelu_tanh") is ops.gelu_tanh
    monkeypatch.setattr(ops, "_GELU_PIECE", 1000)
    torch.manual_seed(0)
    x = (torch.randn(7, 300) * 3).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    grad = torch.randn(7, 300)
    ops.gelu_tanh(x).backward(grad)
    F.gelu(x_ref, approximate="tanh").backward(grad)
    torch.testing.assert_close(ops.gelu_tanh(x), F.gelu(x_ref, approximate="tanh"), atol=2e-6, rtol=0)
    torch.testing.assert_close(x.grad, x_ref.grad, atol=2e-5, rtol=1e-5)
    assert torch.autograd.gradcheck(ops._GeluTanh.apply, (torch.randn(1100, dtype=torch.float64, requires_grad=True),))


def test_cpu_swiglu_equals_the_plain_composite(monkeypatch):
    """SwiGLU from the fused gate/up output, in pieces (several and a ragged last one), gives silu(gate) · up's
    values and gradients, keeps only that output for backward, and its gradient is exact (gradcheck)."""
    import torch.nn.functional as F

    from nlpt.models import ops

    monkeypatch.setattr(ops, "_GATED_PIECE", 1000)
    torch.manual_seed(0)
    y = torch.randn(3, 70, 2 * 30, requires_grad=True)
    y_ref = y.detach().clone().requires_grad_()
    grad = torch.randn(3, 70, 30)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.shape) or t, lambda t: t):
        out = ops.gated(y, 30, F.silu)
    assert saved == [y.shape]
    out.backward(grad)
    gate, up = y_ref.split(30, dim=-1)
    ref = F.silu(gate) * up
    ref.backward(grad)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)
    torch.testing.assert_close(y.grad, y_ref.grad, atol=1e-5, rtol=1e-5)
    assert torch.autograd.gradcheck(lambda t: ops._SwiGLU.apply(t, 7), (torch.randn(5, 14, dtype=torch.float64,
                                                                                    requires_grad=True),))
    g = torch.randn(4, 2 * 6)
    torch.testing.assert_close(ops.gated(g, 6, F.gelu), F.gelu(g[:, :6]) * g[:, 6:])  # other activations: plain


def test_hidden_states_and_padding_mask():
    torch.manual_seed(0)
    for config in TINY.values():
        model = build(config).eval()
        ids = torch.randint(0, 97, (2, 10))
        h = model.hidden_states(ids)
        assert h.shape == (2, 10, 32)
        mask = torch.ones(2, 10, dtype=torch.long)
        mask[1, 7:] = 0  # right padding must not change the real positions
        hm = model.hidden_states(ids, attention_mask=mask)
        torch.testing.assert_close(hm[:, :7], h[:, :7], atol=1e-5, rtol=0)


def test_moe_routes_top_k_and_returns_balancing_loss():
    from nlpt.models.llama import MoE

    torch.manual_seed(0)
    moe = MoE(TINY["moe"])
    for p in moe.parameters():
        torch.nn.init.normal_(p, 0, 0.1)
    x = torch.randn(64, 32)
    y, aux = moe(x)
    # reference: every token through its two best experts, weights renormalised
    probs = torch.softmax(moe.router(x), -1)
    w, idx = probs.topk(2, -1)
    w = w / w.sum(-1, keepdim=True)
    ref = torch.zeros_like(x)
    for t in range(64):
        for j in range(2):
            e = idx[t, j]
            g, u = (moe.gate_up[e] @ x[t]).split(48)
            ref[t] += w[t, j] * (moe.down[e] @ (torch.nn.functional.silu(g) * u))
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-4)
    assert 2.0 - 1e-4 <= aux.item() <= 4.0  # = k when perfectly balanced, larger otherwise


# --------------------------------------------------------------------------- data


def test_token_files_lines_documents_and_reuse(tmp_path):
    from nlpt.engine.tokens import prepare_tokens
    from nlpt.tokenizer.chars import char_tokenizer

    text = "first line\nsecond line\n\ndoc two\nmore\n\n\ndoc three\nend"
    path = tmp_path / "c.txt"
    path.write_text(text)
    tok = char_tokenizer([str(path)], 100)
    tok.save(str(tmp_path / "tok.json"))
    data = prepare_tokens([str(path)], str(tmp_path / "tok.json"), str(tmp_path / "tokens"), val_fraction=0.3)
    assert not data.reused and data.train.tokens.dtype.name == "uint16"
    whole = data.train.tokens.tolist() + data.val.tokens.tolist()
    assert tok.decode(whole) == text  # the flat stream is the text
    tr = data.train
    lines = [tok.decode(tr.tokens[a:b].tolist()) for a, b in zip(tr.line_starts[:-1], tr.line_starts[1:])]
    assert lines == ["first line\n", "second line\n\n", "doc two\n", "more\n\n\n"]
    assert tr.doc_starts.tolist() == [0, 2, 4]
    assert tok.decode(data.val.tokens.tolist()) == "doc three\nend"
    assert data.val.line_starts.tolist() == [0, 10, 13] and data.val.doc_starts.tolist() == [0, 2]
    assert data.train.newline_id == tok.token_to_id("\n")
    again = prepare_tokens([str(path)], str(tmp_path / "tokens/../tok.json"), str(tmp_path / "tokens"), val_fraction=0.3)
    assert again.reused
    path.write_text(text + " changed")
    assert not prepare_tokens([str(path)], str(tmp_path / "tok.json"), str(tmp_path / "tokens"), val_fraction=0.3).reused


def test_token_files_interrupted_while_moved_into_place_are_rebuilt_not_reused(tmp_path, monkeypatch):
    """A crash after the new tokens.bin is in place but before the new meta.json: the earlier meta.json must not
    survive to describe (and reuse) files of another corpus."""
    import os as os_module

    from nlpt.engine.tokens import prepare_tokens
    from nlpt.tokenizer.chars import char_tokenizer

    path, tokens = tmp_path / "c.txt", str(tmp_path / "tokens")
    first, second = "the first corpus\nof two lines\n", "another text altogether, longer\nand different\n"
    path.write_text(first + second)
    tok = char_tokenizer([str(path)], 100)
    tok.save(str(tmp_path / "tok.json"))
    path.write_text(first)
    prepare_tokens([str(path)], str(tmp_path / "tok.json"), tokens, val_fraction=0.3)
    first_stat = os_module.stat(path)
    path.write_text(second)
    real_replace = os_module.replace

    def crash_after_tokens(src, dst):
        if os_module.path.basename(dst) == "lines.bin":
            raise OSError("simulated crash")
        return real_replace(src, dst)

    monkeypatch.setattr(os_module, "replace", crash_after_tokens)
    with pytest.raises(OSError, match="simulated crash"):
        prepare_tokens([str(path)], str(tmp_path / "tok.json"), tokens, val_fraction=0.3)
    monkeypatch.setattr(os_module, "replace", real_replace)
    path.write_text(first)  # the first corpus again, as an earlier meta.json described it
    os_module.utime(path, ns=(first_stat.st_atime_ns, first_stat.st_mtime_ns))
    data = prepare_tokens([str(path)], str(tmp_path / "tok.json"), tokens, val_fraction=0.3)
    assert tok.decode(data.train.tokens.tolist() + data.val.tokens.tolist()) == first


def test_batches_are_the_same_whatever_the_split_into_ranks(corpus, char_tok, tmp_path):
    from nlpt.engine.tokens import prepare_tokens
    from nlpt.tokenizer.files import load_tokenizer
    from nlpt.objectives.causal_lm import make

    data = prepare_tokens([corpus], char_tok, str(tmp_path / "t"))
    obj = make("causal_lm", load_tokenizer(char_tok), data.train, data.val, 16, {})
    whole = obj.batch(8, torch.Generator().manual_seed(3))
    parts = [obj.batch(4, torch.Generator().manual_seed(3), rank=r, world=2) for r in range(2)]
    assert torch.equal(whole["input_ids"], torch.cat([p["input_ids"] for p in parts]))
    assert torch.equal(whole["input_ids"][:, 1:], whole["labels"][:, :-1])
    # validation covers every token of the split once
    covered = sum(int((b["labels"] != -100).sum()) for b in obj.eval_batches(8))
    assert covered == len(data.val.tokens) - 1


# --------------------------------------------------------------------------- training


@pytest.mark.slow
@needs_synthetic
@pytest.mark.parametrize("family", ["gpt", "llama", "moe"])
def test_loss_falls(family, corpus, char_tok, tmp_path):
    run = str(tmp_path / "run")
    code, _, err = nlpt("pretrain", *tiny_args(corpus, char_tok, run, family, steps=40))
    assert code == 0, err
    losses = [loss for _, loss in train_losses(run)]
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:3]) / 3
    val = train_losses(run, "val")
    assert val and val[-1][1] < losses[0]
    with open(os.path.join(run, "config.json")) as fh:
        cfg = json.load(fh)
    assert cfg["model"]["family"] == ("gpt" if family == "gpt" else "llama") and cfg["objective"] == "causal_lm"
    from nlpt.engine import load_run

    model, tok, cfg2 = load_run(run)
    assert sum(p.numel() for p in model.parameters()) == count(model.config).total
    if family == "moe":
        assert model.config.num_experts == 4


@needs_synthetic
def test_sample_and_export_through_the_cli(corpus, char_tok, tmp_path):
    transformers = pytest.importorskip("transformers")
    run = str(tmp_path / "run")
    recipe = tmp_path / "recipe.toml"
    recipe.write_text('[train]\nseed = 7\nwarmup = 1\nmin-lr-ratio = 0.5\n')
    code, _, err = nlpt("pretrain", *tiny_args(corpus, char_tok, run, "llama", steps=5), "--config", recipe)
    assert code == 0, err
    with open(os.path.join(run, "config.json")) as fh:
        train = json.load(fh)["train"]
    assert (train["seed"], train["min_lr_ratio"], train["warmup"]) == (7, 0.5, 5)  # the command line wins
    code, out, err = nlpt("pretrain", "sample", run, "--prompt", "the ", "--max-new-tokens", 12, "--seed", 1)
    assert code == 0, err
    assert out.startswith("the ") and len(out) > 10
    assert nlpt("pretrain", "sample", run, "--prompt", "the ", "--max-new-tokens", 12, "--seed", 1)[1] == out
    code, _, err = nlpt("pretrain", "export", run, "--export-hf", tmp_path / "hf")
    assert code == 0, err
    hf = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path / "hf"))
    assert type(hf).__name__ == "LlamaForCausalLM"
    assert os.path.isfile(tmp_path / "hf" / "tokenizer.json")


@pytest.mark.slow
@needs_synthetic
def test_sigterm_then_resume_equals_an_uninterrupted_run(corpus, char_tok, tmp_path):
    from safetensors.torch import load_file

    steps = 40
    # dropout: the RNG must resume too; one named BLAS (not auto's timing) so that both runs multiply alike
    extra = ["--dropout", 0.1, "--checkpoint-every", 0, "--global-batch", 8, "--cpu-matmul", "numpy"]
    straight = str(tmp_path / "straight")
    code, _, err = nlpt("pretrain", *tiny_args(corpus, char_tok, straight, "gpt", steps, extra))
    assert code == 0, err

    stopped = str(tmp_path / "stopped")
    proc = subprocess.Popen([sys.executable, "-m", "nlpt", "pretrain",
                             *map(str, tiny_args(corpus, char_tok, stopped, "gpt", steps, extra))],  # --quiet too
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = os.path.join(stopped, "metrics.jsonl")
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(metrics) and os.path.getsize(metrics) > 0:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "stopped by SIGTERM" in err  # --quiet keeps the line that explains the 143
    with open(os.path.join(stopped, "checkpoints", "latest")) as fh:
        stop_step = int(fh.read().strip().removeprefix("step-"))
    assert 1 <= stop_step < steps
    code, _, err = nlpt("pretrain", *tiny_args(corpus, char_tok, stopped, "gpt", steps, extra))
    assert code == 0, err
    a = load_file(os.path.join(straight, "checkpoints", f"step-{steps}", "model.safetensors"))
    b = load_file(os.path.join(stopped, "checkpoints", f"step-{steps}", "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert train_losses(straight) == train_losses(stopped)


# --------------------------------------------------------------------------- bad input


@needs_synthetic
def test_error_cases_are_one_line(corpus, char_tok, tmp_path):
    def fails(*args, code=1, match):
        got, out, err = nlpt("pretrain", *args)
        assert got == code, err
        assert match in err and "Traceback" not in err and err.count("\n") == 1, err

    short = tmp_path / "short.txt"
    short.write_text("the cat sat\n" * 3)
    fails(*tiny_args(str(short), char_tok, str(tmp_path / "r1"), "gpt"), match="fewer than one sequence of --context 32")
    bad_tok = tmp_path / "bad.json"
    bad_tok.write_text('{"not": "a tokenizer"}')
    fails(*tiny_args(corpus, str(bad_tok), str(tmp_path / "r2"), "gpt"), match="bad.json: not a tokenizer.json")
    fails(*tiny_args(corpus, char_tok, str(tmp_path / "r3"), "gpt", extra=["--heads", 5]), code=2,
          match="--heads 5 does not divide --hidden 32")
    fails(*tiny_args(corpus, char_tok, str(tmp_path / "r4"), "gpt", extra=["--global-batch", 10]), code=2,
          match="--global-batch 10 is not a multiple of --batch 4")
    fails(*tiny_args(corpus, char_tok, str(tmp_path / "r5"), "gpt", extra=["--vocab", 10]), code=2,
          match="the tokenizer has")
    bad_recipe = tmp_path / "bad.toml"
    bad_recipe.write_text("no_such_option = 1\n")
    fails(*tiny_args(corpus, char_tok, str(tmp_path / "r0"), "gpt"), "--config", str(bad_recipe), code=2,
          match="bad.toml: unknown option 'no_such_option'")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    fails(*tiny_args(corpus, char_tok, str(blocker / "run"), "gpt"), match="cannot create the")
    # a checkpoint from another architecture: rerun into the same folder with another width
    run = str(tmp_path / "r6")
    assert nlpt("pretrain", *tiny_args(corpus, char_tok, run, "gpt", 2))[0] == 0
    fails(*tiny_args(corpus, char_tok, run, "gpt", 4, extra=["--hidden", 64]), match="checkpoint is from another architecture")
    fails(*tiny_args(corpus, char_tok, str(tmp_path / "r7"), "gpt", 4, extra=["--resume", run, "--layers", 3]),
          match="checkpoint is from another architecture")
    assert not os.path.exists(tmp_path / "r7" / "checkpoints")


@needs_synthetic
def test_max_time_stops_early_with_a_checkpoint_and_validation(corpus, char_tok, tmp_path):
    run = str(tmp_path / "run")
    code, out, err = nlpt("pretrain", *tiny_args(corpus, char_tok, run, "gpt", 50, ["--max-time", "0.001s", "--json"]))
    assert code == 0, err
    summary = json.loads(out)
    assert summary["steps"] == 1 and summary["stopped_by"] is None and summary["val"]["loss"] > 0
    assert os.path.isdir(os.path.join(run, "checkpoints", "step-1"))
    assert [r["split"] for r in map(json.loads, open(os.path.join(run, "metrics.jsonl")))] == ["train", "val"]


@needs_synthetic
@pytest.mark.slow
def test_the_summary_says_how_long_the_command_took_to_start_training(corpus, char_tok, tmp_path):
    """`startup_s` counts from the process's start (the interpreter's own start-up included) to the first step."""
    from nlpt.common.process import seconds_since_start

    began = time.perf_counter()
    assert seconds_since_start() >= time.perf_counter() - began  # this test process is older than this test
    code, out, err = nlpt("pretrain", *tiny_args(corpus, char_tok, str(tmp_path / "run"), "gpt", 1, ["--json"]),
                          process=True)
    wall = time.perf_counter() - began
    assert code == 0, err
    startup = json.loads(out)["startup_s"]
    assert 0.2 < startup < wall, (startup, wall)  # importing torch alone takes longer than 0.2 s


def test_vocab_char_tokenizer_through_the_cli(tmp_path):
    from tokenizers import Tokenizer

    text = "To be, or not to be:\n\tthat is the question.  Ünïcödé\n"
    (tmp_path / "c.txt").write_text(text, encoding="utf-8")
    out = tmp_path / "tok.json"
    code, _, err = nlpt("vocab", "--tokenizer", "char", "-o", out, tmp_path / "c.txt")
    assert code == 0, err
    tok = Tokenizer.from_file(str(out))
    assert tok.get_vocab_size() == len(set(text)) + 1  # every character, whitespace included, plus <unk>
    ids = tok.encode(text, add_special_tokens=False).ids
    assert len(ids) == len(text) and tok.decode(ids) == text
    assert tok.encode("z", add_special_tokens=False).ids == [tok.token_to_id("<unk>")]


@pytest.mark.slow
def test_the_optimizers_first_import_starts_in_the_background():
    """`torch.optim` imports torch._dynamo (~1 s) at its first call; the session starts that import on a thread so
    that it overlaps the data and the model. The optimizer made meanwhile works, and a second start does nothing."""
    code = ("import sys, threading, torch\n"
            "from nlpt.engine.optim import import_in_background, make_optimizer\n"
            "assert 'torch._dynamo' not in sys.modules\n"
            "import_in_background()\n"
            "thread = [t for t in threading.enumerate() if t.name == 'nlpt-import-dynamo']\n"
            "assert thread, 'no import thread'\n"
            "model = torch.nn.Linear(3, 2)\n"
            "opt = make_optimizer(model, 0.1, 0.0, (0.9, 0.99), 1e-8, torch.device('cpu'))\n"
            "model(torch.ones(1, 3)).sum().backward(); opt.step()\n"
            "thread[0].join(120)\n"
            "assert 'torch._dynamo' in sys.modules\n"
            "import_in_background()\n"
            "assert not [t for t in threading.enumerate() if t.name == 'nlpt-import-dynamo']\n"
            "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=180)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
