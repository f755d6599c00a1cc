"""`nlpt pretrain` on several ranks: sharded FSDP2 checkpoints that resume on another number of ranks,
Slurm's environment, and the errors of distributed runs.

The 2-rank run is launched the way `srun` launches it (two processes with only SLURM_* variables), on
CPU with gloo; everything else runs in this process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from _cli import ROOT, needs_synthetic, nlpt, require_gloo  # noqa: E402

from nlpt.common.errors import NlptError  # noqa: E402
from nlpt.engine.launch import Launch, expand_nodelist, resolve_launch  # noqa: E402

LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
               "TORCHELASTIC_RUN_ID", "GROUP_RANK", "ROLE_RANK")


def args(corpus, tok, run_dir, steps, token_dir, extra=()):
    """A tiny GPT; a constant learning rate, so a run can be cut in two anywhere and continued."""
    return [corpus, "-o", run_dir, "--tokenizer", tok, "--arch", "gpt-mini", "--layers", 2, "--hidden", 32,
            "--heads", 4, "--ffn", 64, "--context", 32, "--vocab", 64, "--batch", 4, "--global-batch", 8,
            "--max-steps", steps, "--lr", 3e-3, "--warmup", 0, "--schedule", "constant", "--eval-every", 0,
            "--eval-batches", 2, "--log-every", 1, "--checkpoint-every", 0, "--threads", 1, "--token-dir",
            token_dir, "--quiet", *extra]


# --------------------------------------------------------------------------- Slurm's environment


def test_nodelist_expansion():
    assert expand_nodelist("node[01-04]") == ["node01", "node02", "node03", "node04"]
    assert expand_nodelist("gpu[03-05,07],cpu1") == ["gpu03", "gpu04", "gpu05", "gpu07", "cpu1"]
    assert expand_nodelist("localhost") == ["localhost"]
    assert expand_nodelist("a[1-2]-ib[8,10]") == ["a1-ib8", "a1-ib10", "a2-ib8", "a2-ib10"]
    assert expand_nodelist("n[9-11],m7") == ["n9", "n10", "n11", "m7"]
    with pytest.raises(NlptError, match="cannot read the Slurm node list"):
        expand_nodelist("node[a-c]")


def test_launch_from_torchrun_then_slurm_then_single():
    torchrun = {"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "h0",
                "MASTER_PORT": "1234"}
    slurm = {"SLURM_PROCID": "5", "SLURM_NTASKS": "16", "SLURM_LOCALID": "1", "SLURM_JOB_ID": "4242",
             "SLURM_STEP_NODELIST": "gpu[07-10]", "SLURM_JOB_NODELIST": "gpu[01-10]", "SLURM_NTASKS_PER_NODE": "4"}
    assert resolve_launch(torchrun) == Launch(3, 8, 1, 2, "h0", "1234", "torchrun")
    assert resolve_launch({**slurm, **torchrun}) == Launch(3, 8, 1, 2, "h0", "1234", "torchrun")  # torchrun first
    # srun: the step's first host, port 29500 + job id % 1000
    assert resolve_launch(slurm) == Launch(5, 16, 1, 4, "gpu07", "29742", "slurm")
    job_only = {k: v for k, v in slurm.items() if k != "SLURM_STEP_NODELIST"}
    assert resolve_launch(job_only).master_addr == "gpu01"
    nodelist_only = {**{k: v for k, v in job_only.items() if k != "SLURM_JOB_NODELIST"}, "SLURM_NODELIST": "c[3-4]"}
    assert resolve_launch(nodelist_only).master_addr == "c3"
    # the step's task count wins over the allocation's; '8(x2)' per node; MASTER_ADDR/PORT given win
    step = {**slurm, "SLURM_STEP_NUM_TASKS": "4", "SLURM_STEP_TASKS_PER_NODE": "2(x2)", "MASTER_ADDR": "login1",
            "MASTER_PORT": "6000"}
    assert resolve_launch(step) == Launch(5, 4, 1, 2, "login1", "6000", "slurm")
    # one task (an sbatch script without srun -n, a laptop): a single process
    assert resolve_launch({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}) == Launch()
    assert resolve_launch({}) == Launch()
    with pytest.raises(NlptError, match="SLURM_NTASKS='two' is not a whole number"):
        resolve_launch({"SLURM_PROCID": "0", "SLURM_NTASKS": "two"})


# --------------------------------------------------------------------------- sharded checkpoints


def _free_slurm_port() -> int:
    """A free port p in 29500..30499, so that SLURM_JOB_ID = p - 29500 makes the default MASTER_PORT free."""
    for port in range(29500 + os.getpid() % 500, 30500):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port in 29500..30499 for the Slurm-style launch")


def _srun_like(argv, ranks=2):
    """Start `nlpt` the way srun does: one process per task, only SLURM_* variables say who is who."""
    base = _clean_env()
    job = _free_slurm_port() - 29500
    procs = []
    for rank in range(ranks):
        env = {**base, "OMP_NUM_THREADS": "1", "SLURM_PROCID": str(rank), "SLURM_NTASKS": str(ranks),
               "SLURM_LOCALID": str(rank), "SLURM_STEP_NODELIST": "localhost", "SLURM_JOB_ID": str(job)}
        procs.append(subprocess.Popen([sys.executable, "-m", "nlpt", *map(str, argv)], cwd=ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        results.append((p.returncode, out, err))
    return results


def _assert_close(a: dict, b: dict):
    assert a.keys() == b.keys() and a
    for k in a:
        if k.endswith("attn.qkv.bias"):
            # The key bias adds the same term to every score of a query, which softmax cancels: its true gradient
            # is zero, so what AdamW applies to it is rounding noise normalised to the learning rate, and the
            # noise differs with the order of the sums across ranks. Its third of the tensor is held to the
            # size of those steps; the query and value biases are compared as every other weight.
            q, key, v = a[k].chunk(3)
            q2, key2, v2 = b[k].chunk(3)
            torch.testing.assert_close(torch.cat([q, v]), torch.cat([q2, v2]), atol=2e-5, rtol=1e-4, msg=k)
            torch.testing.assert_close(key, key2, atol=1e-3, rtol=0, msg=k + " (key part)")
            continue
        torch.testing.assert_close(a[k], b[k], atol=2e-5, rtol=1e-4, msg=k)


@needs_synthetic
@pytest.mark.slow
def test_sharded_checkpoints_resume_on_another_number_of_ranks(corpus, char_tok, tmp_path):
    """1 rank -> 2 FSDP ranks (launched as srun does) -> 1 rank: the weights follow the uninterrupted run."""
    require_gloo(fsdp=True)
    from safetensors import safe_open

    from nlpt.engine.checkpoint import Reader, latest, read_weights

    tokens = tmp_path / "tokens"
    straight = str(tmp_path / "straight")
    assert nlpt("pretrain", *args(corpus, char_tok, straight, 8, tokens))[0] == 0
    want = read_weights(os.path.join(straight, "checkpoints", "step-8"))

    mixed = str(tmp_path / "mixed")  # 4 steps on one process ...
    assert nlpt("pretrain", *args(corpus, char_tok, mixed, 4, tokens))[0] == 0
    # ... then 4 more on two FSDP ranks, from that whole checkpoint, with sharded checkpoints at 6 and 8
    results = _srun_like(["pretrain", *args(corpus, char_tok, mixed, 8, tokens, ["--strategy", "fsdp",
                                                                                 "--checkpoint-every", 2,
                                                                                 "--resume-with-changes"])])
    for code, _, err in results:
        assert code == 0 and "Traceback" not in err, err[-3000:]
    with open(os.path.join(mixed, "config.json")) as fh:
        train = json.load(fh)["train"]
    assert (train["world"], train["strategy"]) == (2, "fsdp")
    step8 = os.path.join(mixed, "checkpoints", "step-8")
    assert latest(mixed) == step8
    assert sorted(os.listdir(step8)) == ["index.json", "model-00000-of-00002.safetensors",
                                         "model-00001-of-00002.safetensors", "optim-00000-of-00002.safetensors",
                                         "optim-00001-of-00002.safetensors", "state.pt"]
    assert not [n for n in os.listdir(os.path.join(mixed, "checkpoints")) if n.startswith(".")]  # no leftovers
    # each rank wrote only its rows; the index says which
    with open(os.path.join(step8, "index.json")) as fh:
        index = json.load(fh)
    entry = index["tensors"]["model/blocks.0.attn.qkv.weight"]
    assert entry["shape"] == [96, 32] and [s["rows"] for s in entry["shards"]] == [[0, 48], [48, 96]]
    assert [s["rows"] for s in index["tensors"]["optim/blocks.0.attn.qkv.weight/exp_avg"]["shards"]] == [[0, 48], [48, 96]]
    with safe_open(os.path.join(step8, "model-00001-of-00002.safetensors"), "pt") as f:
        assert f.get_slice("blocks.0.attn.qkv.weight").get_shape() == [48, 32]
    got = read_weights(step8)
    _assert_close(got, want)
    # row ranges across the shard boundary read only what is asked for
    reader = Reader(step8)
    torch.testing.assert_close(reader.rows("model/blocks.0.attn.qkv.weight", 40, 60),
                               got["blocks.0.attn.qkv.weight"][40:60], atol=0, rtol=0)

    # 2 FSDP ranks -> 1 process: continue from the sharded step 6
    back = str(tmp_path / "back")
    code, _, err = nlpt("pretrain", *args(corpus, char_tok, back, 8, tokens,
                                               ["--resume", os.path.join(mixed, "checkpoints", "step-6")]))
    assert code == 0, err
    _assert_close(read_weights(os.path.join(back, "checkpoints", "step-8")), want)

    # load_run (export, sample, finetune) reads the sharded checkpoint
    from nlpt.engine import load_run

    model, _, _ = load_run(mixed)
    for name, value in model.state_dict().items():
        if name in got:
            torch.testing.assert_close(value, got[name], atol=0, rtol=0)
    code, out, err = nlpt("pretrain", "sample", mixed, "--prompt", "the ", "--max-new-tokens", 5, "--seed", 1)
    assert code == 0 and out.startswith("the "), err
    code, _, err = nlpt("pretrain", "export", mixed, "--export-hf", tmp_path / "hf")
    assert code == 0, err
    from safetensors.torch import load_file

    exported = load_file(str(tmp_path / "hf" / "model.safetensors"))
    assert any(torch.equal(v, got["blocks.0.attn.qkv.weight"].t()) or torch.equal(v, got["blocks.0.attn.qkv.weight"])
               for v in exported.values())

    # a missing shard is a one-line error naming the file
    os.unlink(os.path.join(step8, "model-00001-of-00002.safetensors"))
    code, _, err = nlpt("pretrain", "sample", mixed, "--prompt", "x", "--max-new-tokens", 2)
    assert code == 1 and "model-00001-of-00002.safetensors" in err and err.count("\n") == 1, err


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS and not k.startswith("SLURM_")}


def _torchrun(*argv):
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "nlpt", *map(str, argv)], capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**_clean_env(), "OMP_NUM_THREADS": "1"})


def train_losses(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as fh:
        return [(r["step"], r["loss"]) for r in map(json.loads, fh) if r["split"] == "train"]


@pytest.fixture(scope="module")
def single_run(corpus, char_tok, tmp_path_factory) -> tuple:
    """One process's 12-step run and its token files: what the 2-rank runs are compared with."""
    folder = tmp_path_factory.mktemp("single")
    tokens, single = folder / "tokens", str(folder / "single")
    assert nlpt("pretrain", *args(corpus, char_tok, single, 12, tokens))[0] == 0
    return single, tokens


@needs_synthetic
@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_process_gloo_run_matches_one_process(strategy, corpus, char_tok, single_run, tmp_path):
    """torchrun with 2 ranks gives one process's loss curve; FSDP also stops at step 6 and resumes 2 -> 2 sharded."""
    require_gloo(fsdp=strategy == "fsdp")
    from nlpt.engine.checkpoint import read_weights

    single, tokens = single_run
    double = str(tmp_path / "double")
    for steps in ([6, 12] if strategy == "fsdp" else [12]):  # 6 more steps: a change of --max-steps, said so
        r = _torchrun("pretrain", *args(corpus, char_tok, double, steps, tokens,
                                        ["--strategy", strategy] + (["--resume-with-changes"] if steps == 12 else [])))
        assert r.returncode == 0, r.stderr[:3000] + "\n...\n" + r.stderr[-3000:]
    a, b = train_losses(single), train_losses(double)
    assert [s for s, _ in a] == [s for s, _ in b] == list(range(1, 13))
    for (_, la), (_, lb) in zip(a, b):
        assert lb == pytest.approx(la, rel=1e-4, abs=1e-5)
    with open(os.path.join(double, "config.json")) as fh:
        assert json.load(fh)["train"]["world"] == 2
    if strategy == "fsdp":
        assert os.path.isfile(os.path.join(double, "checkpoints", "step-6", "index.json"))
        _assert_close(read_weights(os.path.join(double, "checkpoints", "step-12")),
                      read_weights(os.path.join(single, "checkpoints", "step-12")))


def test_half_written_checkpoints_are_never_the_latest(tmp_path):
    from nlpt.engine.checkpoint import latest, list_checkpoints

    root = tmp_path / "checkpoints"
    (root / "step-2").mkdir(parents=True)
    (root / "step-2" / "state.pt").write_bytes(b"x")
    (root / "step-2" / "index.json").write_text("{}")
    (root / ".step-4.partial").mkdir()  # a sharded save in progress (or killed)
    (root / ".step-4.partial" / "state.pt").write_bytes(b"x")
    (root / ".step-4.partial" / "index.json").write_text("{}")
    (root / "step-6").mkdir()  # no state.pt: not complete
    (root / "step-6" / "index.json").write_text("{}")
    assert [s for s, _ in list_checkpoints(str(tmp_path))] == [2]
    assert latest(str(tmp_path)) == str(root / "step-2")
    # the next save clears what killed saves left behind
    from nlpt.engine.checkpoint import save

    save(str(tmp_path), 8, {"w": torch.zeros(2)}, {"step": 8}, keep_last=0)
    assert sorted(os.listdir(root)) == ["latest", "step-2", "step-6", "step-8"]
    assert latest(str(tmp_path)) == str(root / "step-8")


# --------------------------------------------------------------------------- errors of distributed runs


@needs_synthetic
def test_world_size_not_dividing_the_global_batch(corpus, char_tok, tmp_path, monkeypatch):
    # torchrun's variables for rank 0 of 2: the check comes before joining the group (no peer needed)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    run = tmp_path / "run"
    code, _, err = nlpt("pretrain", *args(corpus, char_tok, str(run), 4, tmp_path / "tokens",
                                               ["--global-batch", 12]))
    assert code == 2 and err.count("\n") == 1, err
    assert "--global-batch 12 is not a multiple of --batch 4 × 2 ranks = 8" in err
    assert not run.exists()


@needs_synthetic
def test_cuda_out_of_memory_names_the_flags_to_lower(corpus, char_tok, tmp_path, monkeypatch):
    from nlpt.engine import loop

    def oom(*a, **k):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(loop, "train_loop", oom)
    code, _, err = nlpt("pretrain", *args(corpus, char_tok, str(tmp_path / "run"), 4, tmp_path / "tokens"))
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "CUDA out of memory with --batch 4 and --context 32: lower --batch" in err and "--strategy fsdp" in err


@needs_synthetic
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_unwritable_run_folder(corpus, char_tok, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    run.chmod(0o555)
    try:
        code, _, err = nlpt("pretrain", *args(corpus, char_tok, str(run), 4, tmp_path / "tokens"))
    finally:
        run.chmod(0o755)
    assert code == 1 and "the run folder is not writable" in err and err.count("\n") == 1, err


# --------------------------------------------------------------------------- --arch from files (library)


def test_arch_from_registry_run_config_bare_dict_and_hf_config(tmp_path):
    from nlpt.common.errors import UsageError
    from nlpt.engine.run import model_config
    from nlpt.transformer.configs import config_fields

    want = model_config("gpt-mini", {"layers": 2, "hidden": 32, "heads": 4, "ffn": 64, "vocab": 64}, context=32)
    assert (want.family, want.num_layers, want.hidden_size, want.max_positions) == ("gpt", 2, 32, 32)
    run_cfg = tmp_path / "run.json"
    run_cfg.write_text(json.dumps({"format": "nlpt-run/1", "model": config_fields(want)}))
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(config_fields(want)))
    hf = tmp_path / "hf.json"
    hf.write_text(json.dumps({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": 64,
                              "n_positions": 32, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_inner": 64}))
    assert model_config(str(run_cfg)) == want
    assert model_config(str(bare)) == want
    got = model_config(str(hf))
    assert (got.family, got.num_layers, got.hidden_size, got.ffn_size, got.vocab_size) == ("gpt", 2, 32, 64, 64)
    assert model_config(str(run_cfg), {"layers": 3}).num_layers == 3
    with pytest.raises(UsageError, match="--heads 5 does not divide --hidden 32"):
        model_config(str(run_cfg), {"heads": 5})
    # through the CLI: one JSON error handler, one line, exit 1
    broken = tmp_path / "broken.json"
    broken.write_text('{"model_type": "gpt2",')
    code, _, err = nlpt("pretrain", "corpus.txt", "-o", tmp_path / "run", "--tokenizer", "tok.json", "--arch",
                        broken, "--max-steps", 1)
    assert code == 1 and "broken.json: not valid JSON" in err and err.count("\n") == 1, err
    code, _, err = nlpt("pretrain", "corpus.txt", "-o", tmp_path / "run", "--tokenizer", "tok.json", "--arch",
                        tmp_path / "absent.json", "--max-steps", 1)
    assert code == 1 and "absent.json: no such file" in err, err
    assert not (tmp_path / "run").exists()
