"""Rerunning `nlpt pretrain` / `nlpt finetune` on a run folder: foreign folders refused, finished runs left alone,
other settings refused unless --resume-with-changes (recorded), unreadable checkpoints, validation before any work,
file modes under the user's umask, signals while the token files are built. Through the CLI, in this process, with tiny models and a few steps."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from _cli import ROOT, nlpt  # noqa: E402

from _finetune_task import write_task  # noqa: E402


def gpt(corpus, tok, run, steps=3, *extra):
    return ["pretrain", corpus, "-o", run, "--tokenizer", tok, "--arch", "gpt-mini", "--layers", 1, "--hidden", 16,
            "--heads", 2, "--ffn", 32, "--context", 16, "--vocab", 64, "--batch", 2, "--max-steps", steps,
            "--eval-batches", 1, "--threads", 1, "--cpu-matmul", "torch", *extra]


def snapshot(folder) -> dict:
    """Every file under `folder` -> (sha256, mtime): what a refused or idle rerun must leave alone."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, folder)] = (hashlib.sha256(fh.read()).hexdigest(), os.stat(path).st_mtime_ns)
    return out


def fails(args, code, *needles):
    got, _, err = nlpt(*args)
    assert got == code, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err
    return err


# --------------------------------------------------------------------------- -o onto folders that are not runs


def test_pretrain_and_export_refuse_folders_that_are_not_theirs(corpus, char_tok, tmp_path):
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text('{"model_type": "gpt2"}')
    (hf / "tokenizer.json").write_text("{}")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    for folder in (hf, mine):
        before = snapshot(folder)
        fails(gpt(corpus, char_tok, folder), 1, f"{folder}: -o already exists and is not an empty folder or an nlpt run")
        assert snapshot(folder) == before and sorted(os.listdir(folder)) == sorted(before)
    # a finetune run folder is not a pretrain run either
    ft = tmp_path / "ft"
    ft.mkdir()
    (ft / "config.json").write_text('{"format": "nlpt-finetune/1"}')
    fails(gpt(corpus, char_tok, ft), 1, "holds an `nlpt finetune` run")
    # an empty folder, and a folder a first run left with only its token files, are fine
    run = tmp_path / "run"
    run.mkdir()
    assert nlpt(*gpt(corpus, char_tok, run, 2), "-q")[0] == 0
    # export and --export-hf: never into a folder with files
    fails(["pretrain", "export", run, "--export-hf", mine], 1, "--export-hf already exists and is not an empty folder")
    fails(gpt(corpus, char_tok, tmp_path / "new", 2, "--export-hf", mine), 1, "--export-hf already exists")
    assert snapshot(mine) == before and not (tmp_path / "new").exists()


# --------------------------------------------------------------------------- finished runs, changed settings


def test_a_finished_run_rerun_does_nothing(corpus, char_tok, tmp_path):
    run = tmp_path / "run"
    args = gpt(corpus, char_tok, run, 3, "--keep-last", 1)
    assert nlpt(*args, "-q")[0] == 0
    before = snapshot(run)
    code, _, err = nlpt(*args)
    assert code == 0, err
    assert "the run has already finished at step 3 (all 3 steps" in err and "nothing to do" in err, err
    assert snapshot(run) == before
    # with --export-hf: the export is left as it is, or written when the run ended before it
    hf = tmp_path / "hf"
    code, _, err = nlpt(*args, "--export-hf", hf)
    assert code == 0 and f"{hf}: exported (it was missing)" in err, err
    exported = snapshot(hf)
    code, _, err = nlpt(*args, "--export-hf", hf)
    assert code == 0 and "nothing to do" in err and "exported" not in err, err
    assert snapshot(hf) == exported and snapshot(run) == before
    # stopped by --max-time: the rerun trains no further step and keeps its checkpoints
    timed = tmp_path / "timed"
    args = gpt(corpus, char_tok, timed, 50, "--max-time", "0.001s", "--keep-last", 1, "-q")
    assert nlpt(*args)[0] == 0
    assert os.listdir(timed / "checkpoints") == ["latest", "step-1"] or sorted(os.listdir(timed / "checkpoints")) == ["latest", "step-1"]
    before = snapshot(timed)
    code, out, err = nlpt(*args, "--json")
    assert code == 0, err
    assert json.loads(out)["already_finished"].startswith("--max-time")
    assert snapshot(timed) == before


def test_other_settings_are_refused_unless_resume_with_changes(corpus, char_tok, tmp_path):
    run = tmp_path / "run"
    assert nlpt(*gpt(corpus, char_tok, run, 2), "-q")[0] == 0
    before = snapshot(run)
    err = fails(gpt(corpus, char_tok, run, 4, "--lr", "1e-3", "--seed", 5), 1,
                "holds a finished run with other settings", "lr: 0.0003 then, 0.001 now", "max_steps: 2 then, 4 now",
                "seed: 1337 then, 5 now", "--resume-with-changes")
    assert "threads" not in err
    assert snapshot(run) == before
    fails(gpt(corpus, char_tok, run, 2, "--resume", "none"), 1, "--resume none, but the folder holds a run (checkpoints "
          "up to step 2)")
    assert snapshot(run) == before
    other = tmp_path / "other.txt"
    other.write_text(open(corpus).read())
    fails(gpt(str(other), char_tok, run, 2), 1, "corpus: ")
    # threads, logging and the matrix backend may change freely: a finished run stays finished
    code, _, err = nlpt(*gpt(corpus, char_tok, run, 2, "--log-every", 7)[:-4], "--threads", 2)
    assert code == 0 and "already finished" in err, err
    # with the flag: continued, said, and recorded in the run folder
    code, _, err = nlpt(*gpt(corpus, char_tok, run, 4, "--lr", "1e-3"), "--resume-with-changes")
    assert code == 0, err
    assert f"resuming from step 2 (checkpoint {run}/checkpoints/step-2)" in err
    assert "continuing with changed settings (lr: 0.0003 then, 0.001 now, max_steps: 2 then, 4 now)" in err
    with open(run / "changes.jsonl") as fh:
        entries = [json.loads(line) for line in fh]
    assert len(entries) == 1 and entries[0]["step"] == 2
    assert entries[0]["changes"] == {"lr": {"then": 0.0003, "now": 0.001}, "max_steps": {"then": 2, "now": 4}}
    with open(run / "config.json") as fh:
        assert json.load(fh)["train"]["lr"] == 0.001
    assert os.path.isdir(run / "checkpoints" / "step-4")


def test_a_changed_corpus_file_is_a_changed_setting(corpus, char_tok, tmp_path):
    text = tmp_path / "c.txt"
    text.write_text(open(corpus).read())
    run = tmp_path / "run"
    assert nlpt(*gpt(str(text), char_tok, run, 2), "-q")[0] == 0
    text.write_text(open(corpus).read() + "more text\n")
    fails(gpt(str(text), char_tok, run, 2), 1, "corpus contents:", "modified since")


# --------------------------------------------------------------------------- unreadable checkpoints


def test_an_unreadable_newest_checkpoint_stops_unless_resume_from_older(corpus, char_tok, tmp_path):
    run = tmp_path / "run"
    args = gpt(corpus, char_tok, run, 4, "--checkpoint-every", 2, "--max-time", "1h")
    code, _, err = nlpt(*args, "-q")
    assert code == 0, err
    state = run / "checkpoints" / "step-4" / "state.pt"
    state.write_bytes(b"")  # an empty state.pt (a disk that filled up)
    before = snapshot(run)
    fails(args, 1, f"{state}: not a loadable checkpoint state", "newest checkpoint is unreadable",
          "--resume-from-older")
    assert snapshot(run) == before
    state.write_bytes(b"not a torch file")
    fails(args, 1, f"{state}: not a loadable checkpoint state")
    torch.save({"format": "nlpt-checkpoint/1", "step": 4}, state)  # a valid file without a resume's state
    fails(args, 1, f"{state}: not a complete checkpoint state (tokens is missing)")
    code, _, err = nlpt(*args, "--resume-from-older")
    assert code == 0, err
    assert f"resuming from step 2 (checkpoint {run}/checkpoints/step-2; step-4 unreadable, passed over)" in err
    from nlpt.engine.checkpoint import read_state

    assert read_state(str(run / "checkpoints" / "step-4"))["step"] == 4  # rewritten whole
    # the query commands read an explicit damaged checkpoint with one line too
    (run / "checkpoints" / "step-2" / "state.pt").write_bytes(b"")
    fails(["pretrain", "sample", run, "--checkpoint", "step-2", "-p", "a"], 1, "step-2/state.pt: not a loadable")


def test_a_half_written_metrics_line_does_not_stop_a_resume(corpus, char_tok, tmp_path):
    import shutil

    run = tmp_path / "run"
    args = gpt(corpus, char_tok, run, 4, "--checkpoint-every", 2, "--log-every", 1, "--eval-every", 0, "-q")
    assert nlpt(*args)[0] == 0
    shutil.rmtree(run / "checkpoints" / "step-4")  # killed after writing step 4's lines, before its checkpoint...
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 5, "spl')  # ... and in the middle of a line
    code, _, err = nlpt(*args)
    assert code == 0, err
    with open(run / "metrics.jsonl") as fh:
        rows = [json.loads(line) for line in fh]
    assert [r["step"] for r in rows if r["split"] == "train"] == [1, 2, 3, 4]


# --------------------------------------------------------------------------- validation before any work


def test_objective_and_recipe_values_are_checked_before_any_work(corpus, char_tok, tmp_path):
    run = tmp_path / "run"
    fails(gpt(corpus, char_tok, run, 2, "--objective", "mlm"), 2, "--objective mlm does not fit the gpt family",
          "causal_lm")
    for line, message in (('lr = "fast"', 'lr = "fast": expected a number'), ("warmup = 2.5", "expected an integer"),
                          ("seed = true", "seed = true: expected an integer"), ("[train]\ndropout = 2", "between"),
                          ("compile = 1", "expected true or false"), ("eval_every = -1", "must be at least 0"),
                          ("dropout = nan", "dropout = NaN: not a finite number"), ("lr = inf", "not a finite number")):
        recipe = tmp_path / "r.toml"
        recipe.write_text(line + "\n")
        fails(gpt(corpus, char_tok, run, 2, "--config", recipe), 2, f"{recipe}: ", message)
    assert not run.exists()


# --------------------------------------------------------------------------- queries and file modes


def test_checkpoint_names_resolve_inside_the_run_and_files_follow_the_umask(corpus, char_tok, tmp_path):
    run = tmp_path / "run"
    old = os.umask(0o022)
    try:
        assert nlpt(*gpt(corpus, char_tok, run, 2, "--checkpoint-every", 1, "-q"))[0] == 0
        code, out, err = nlpt("pretrain", "sample", run, "--checkpoint", "step-1", "-p", "a", "--max-new-tokens", 2)
        assert code == 0 and out.startswith("a"), err
        fails(["pretrain", "sample", run, "--checkpoint", "step-9", "-p", "a"], 1, "step-9: no such checkpoint",
              "step-1, step-2")
        assert nlpt("pretrain", "export", run, "-o", tmp_path / "hf")[0] == 0
        os.umask(0o077)
        assert nlpt("pretrain", "export", run, "-o", tmp_path / "private")[0] == 0
    finally:
        os.umask(old)
    for folder in (run / "checkpoints" / "step-2", tmp_path / "hf"):
        assert os.stat(folder).st_mode & 0o777 == 0o755
        for name in os.listdir(folder):
            assert os.stat(folder / name).st_mode & 0o777 == 0o644, name
    assert os.stat(tmp_path / "private" / "model.safetensors").st_mode & 0o777 == 0o600


# --------------------------------------------------------------------------- finetune follows the same rule


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    d = tmp_path_factory.mktemp("task")
    write_task(d, 5, {"train": 80, "dev": 30})
    return d


def finetune(task, out, *extra):
    return ["finetune", "--train", task / "train.tsv", "--dev", task / "dev.tsv", "--vectors", task / "vec.txt",
            "--epochs", "2", "--batch-size", "16", "--threads", "1", "--seed", "3", "-o", out, *extra]


def test_finetune_reruns_follow_the_same_rule(task, tmp_path, monkeypatch):
    done = tmp_path / "done"
    code, out, _ = nlpt(*finetune(task, done, "--json"))
    assert code == 0
    first = json.loads(out)
    before = snapshot(done)
    code, out, err = nlpt(*finetune(task, done, "--json"))
    assert code == 0 and "the run has already finished" in err and "nothing to do" in err, err
    again = json.loads(out)
    assert again["already_finished"] and again["history"] == first["history"]
    assert snapshot(done) == before
    fails(finetune(task, done, "--lr", "0.5"), 1, "holds a finished run with other settings (lr: 0.001 then, 0.5 now")
    assert snapshot(done) == before

    # a run stopped by a signal: other settings refused, then continued with --resume-with-changes
    from nlpt.finetune.classification import ClassificationObjective

    real = ClassificationObjective.step_batch

    def step_batch(self, step, *a, **kw):
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(self, step, *a, **kw)

    monkeypatch.setattr(ClassificationObjective, "step_batch", step_batch)
    stopped = tmp_path / "stopped"
    assert nlpt(*finetune(task, stopped))[0] == 143
    monkeypatch.setattr(ClassificationObjective, "step_batch", real)
    fails(finetune(task, stopped, "--epochs", "3"), 1, "holds an unfinished run with other settings (epochs: 2 then, "
          "3 now)")
    code, _, err = nlpt(*finetune(task, stopped, "--epochs", "3", "--resume-with-changes"))
    assert code == 0, err
    assert f"resuming from step 3 (checkpoint {stopped}/checkpoints/step-3)" in err
    with open(stopped / "changes.jsonl") as fh:
        assert json.loads(fh.readline())["changes"] == {"epochs": {"then": 2, "now": 3}}
    # a folder of other files is refused as before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("x")
    fails(finetune(task, mine), 1, "already exists and is not an empty folder")


# --------------------------------------------------------------------------- signals while building token files


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGUSR1, signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_building_token_files_removes_the_temporary_folder(signum, char_tok, tmp_path):
    # the corpus is a FIFO nobody writes to: the builder waits in it, its temporary folder made, until the signal
    fifo = tmp_path / "corpus.fifo"
    os.mkfifo(fifo)
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "nlpt", *map(str, gpt(str(fifo), char_tok, run, 1, "-q"))], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tokens = run / "tokens"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if tokens.is_dir() and any(n.startswith(".tokens.") for n in os.listdir(tokens)):
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    temporary = [n for n in os.listdir(tokens) if n.startswith(".tokens.")]
    assert len(temporary) == 1
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert f"interrupted by {signal.Signals(signum).name}; the token files were not finished" in err
    assert temporary[0] in err and "Traceback" not in err and err.count("\n") == 1, err
    assert os.listdir(tokens) == []


def test_a_later_run_removes_what_dead_builders_left(corpus, char_tok, tmp_path):
    run = tmp_path / "run"
    tokens = run / "tokens"
    tokens.mkdir(parents=True)
    host = socket.gethostname().replace(".", "-")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])  # a process id that is gone once it is waited for
    dead.wait()
    left = [f".tokens.{host}.{dead.pid}.abc", f".tokens.{host}.{os.getpid()}.live", f".tokens.otherhost.{dead.pid}.x"]
    for name in left:
        (tokens / name).mkdir()
        (tokens / name / "tokens.bin").write_bytes(b"\0" * 10)
    code, _, err = nlpt(*gpt(corpus, char_tok, run, 1, "-q"))
    assert code == 0, err
    names = os.listdir(tokens)
    assert left[0] not in names  # its builder is gone
    assert left[1] in names and left[2] in names  # a live builder's, another machine's: not ours to judge
    assert "meta.json" in names


# --------------------------------------------------------------------------- finetune notes


def test_finetune_notes_labels_of_one_split_extra_cells_and_a_capped_max_length(task, corpus, char_tok, tmp_path):
    dev = tmp_path / "dev.tsv"
    rows = open(task / "dev.tsv").read().splitlines()
    dev.write_text("\n".join([rows[0]] + [r for r in rows[1:] if r.endswith("\tpos")]) + "\n")  # no "neg" here
    train = tmp_path / "train.tsv"
    lines = open(task / "train.tsv").read().splitlines()
    train.write_text("\n".join(lines[:3] + [lines[3] + "\textra cell"] + lines[4:]) + "\n")
    base = ["finetune", "--train", train, "--dev", dev, "--vectors", task / "vec.txt", "--epochs", "1", "--threads", "1"]
    code, _, err = nlpt(*base, "-o", tmp_path / "run")
    assert code == 0, err
    assert f"{dev}: 1 of the 2 training labels never occur in the dev split ('neg')" in err
    assert f"{train}: 1 row with cells beyond the header (ignored)" in err
    fails(base + ["--strict", "-o", tmp_path / "strict"], 1, f"{train}:4: 1 more cell than the header's 2 columns (--strict)")
    assert not (tmp_path / "strict").exists()
    # a --max-length beyond the pretrained model's context is cut to it, and said
    run = tmp_path / "gpt"
    assert nlpt(*gpt(corpus, char_tok, run, 1, "-q"))[0] == 0
    code, _, err = nlpt("finetune", "--train", task / "train.tsv", "--dev", task / "dev.tsv", "--model", run,
                        "--freeze", "--max-length", "64", "--epochs", "1", "--threads", "1", "-o", tmp_path / "ft")
    assert code == 0, err
    assert f"--max-length 64 is more than {run}'s context: examples are cut at 16 tokens" in err


# --------------------------------------------------------------------------- a peer rank that dies


@pytest.mark.slow
def test_a_dead_peer_rank_is_named_in_one_line(corpus, char_tok, tmp_path):
    from _cli import require_gloo

    require_gloo()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = tmp_path / "run"
    argv = [sys.executable, "-m", "nlpt", *map(str, gpt(corpus, char_tok, run, 100000, "--log-every", 1))]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "RANK", "LOCAL_RANK", "WORLD_SIZE"))}
    env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", LOCAL_WORLD_SIZE="2", OMP_NUM_THREADS="1")
    ranks = [subprocess.Popen(argv, cwd=ROOT, env={**env, "RANK": str(r), "LOCAL_RANK": str(r)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for r in range(2)]
    try:
        deadline = time.time() + 180
        while time.time() < deadline and not (run / "metrics.jsonl").exists() and ranks[0].poll() is None:
            time.sleep(0.1)
        assert (run / "metrics.jsonl").exists(), ranks[0].communicate()
        ranks[1].kill()  # SIGKILL: no chance to say goodbye
        _, err = ranks[0].communicate(timeout=120)
    finally:
        for p in ranks:
            p.kill()
    assert ranks[0].returncode == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("nlpt: error: rank 1 went away (") and "rerun the job" in last, err
    assert "Traceback" not in err and "gloo" not in err.lower() and "internal error" not in err, err


# --------------------------------------------------------------------------- damaged config.json of a run folder


def _edit_config(folder, change) -> None:
    path = os.path.join(folder, "config.json")
    with open(path) as fh:
        config = json.load(fh)
    with open(path, "w") as fh:
        json.dump(change(config), fh)


@pytest.mark.parametrize("change, problem", [
    (lambda c: {**c, "model": "gpt-mini"}, "field 'model' has the wrong type (str)"),
    (lambda c: {**c, "tokenizer": None}, "field 'tokenizer' has the wrong type (NoneType)"),
    (lambda c: {k: v for k, v in c.items() if k != "model"}, "field 'model' is missing"),
])
def test_a_damaged_pretrain_run_config_is_one_line_for_every_reader(corpus, char_tok, tmp_path, change, problem):
    """A hand-edited or damaged run config.json: every command that reads the run (sample, export, eval, --init,
    finetune --model, a rerun into it) names the file and the field, and the rerun leaves the run alone."""
    run = tmp_path / "run"
    assert nlpt(*gpt(corpus, char_tok, run, 1, "--quiet"))[0] == 0
    _edit_config(run, change)
    before = snapshot(run)
    where = f"{run}/config.json: {problem}"
    fails(["pretrain", "sample", run, "-p", "a", "--max-new-tokens", 2], 1, where)
    fails(["pretrain", "export", run, "-o", tmp_path / "hf"], 1, where)
    fails(["pretrain", "eval", run, "--data", corpus], 1, where)
    fails(["pretrain", corpus, "-o", tmp_path / "again", "--init", run, "--max-steps", 1], 1, where)
    fails(["finetune", "--train", corpus, "--model", run, "-o", tmp_path / "ft"], 1, where)
    fails(gpt(corpus, char_tok, run, 2, "--resume-with-changes"), 1, where)
    assert snapshot(run) == before


@pytest.mark.parametrize("change, problem", [
    (lambda c: {k: v for k, v in c.items() if k != "encoder"}, "field 'encoder' is missing"),
    (lambda c: {**c, "labels": "neg,pos"}, "field 'labels' has the wrong type (str)"),
    (lambda c: {**c, "head": {**c["head"], "outputs": "2"}}, "field 'head.outputs' has the wrong type (str)"),
])
def test_a_damaged_finetune_run_config_is_one_line(task, tmp_path, change, problem):
    done = tmp_path / "done"
    assert nlpt(*finetune(task, done, "--quiet"))[0] == 0
    _edit_config(done, change)
    before = snapshot(done)
    fails(["finetune", "predict", done, task / "dev.tsv"], 1, f"{done}/config.json: {problem}")
    fails(finetune(task, done), 1, f"{done}/config.json: {problem}")
    assert snapshot(done) == before
