"""What a stop signal's one line says exists and how to continue, where something was kept: the checkpoint a
resumed pretraining run started from, a finished run whose --export-hf folder was not written, GloVe's
checkpoint; and the plain progress log's last line of a stopped run (`stopped by`, not `done in`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests._cli import ROOT, needs_synthetic, nlpt, synthetic_head

from nlpt.common.errors import Interrupted, stop_note
from nlpt.common.progress import Progress

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1 (POSIX)")
PLAIN = {**os.environ, "NLPT_LOG_INTERVAL": "0", "PYTHONPATH": ROOT}


def test_a_note_is_added_after_a_deeper_one_and_nothing_is_added_without_one():
    with pytest.raises(Interrupted) as caught:
        with stop_note("checkpoint c kept"):
            raise Interrupted(signal.SIGTERM, "the folder was removed")
    assert (caught.value.signum, caught.value.note) == (signal.SIGTERM, "the folder was removed; checkpoint c kept")
    with pytest.raises(Interrupted) as caught:
        with stop_note(lambda: "kept"):
            raise KeyboardInterrupt  # Ctrl-C without the CLI's handler
    assert (caught.value.signum, caught.value.note) == (signal.SIGINT, "kept")
    with pytest.raises(Interrupted) as caught:
        with stop_note(lambda: None):
            raise Interrupted(signal.SIGUSR1)
    assert caught.value.note is None


def test_the_plain_log_of_a_stopped_job_says_it_stopped(capsys):
    with Progress("pretrain", total=10, unit="tok", tty=False, interval=1e9) as progress:
        progress.update(4)
        progress.stopped_by = signal.SIGTERM
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "stopped by SIGTERM after 0m00s" in line and "done" not in line


def _stop_when(args, pattern: str, signum=signal.SIGTERM):
    """Start `nlpt ARGS`, send `signum` once a stderr line contains `pattern`; (exit code, stderr lines)."""
    proc = subprocess.Popen([sys.executable, "-m", "nlpt", *map(str, args)], cwd=ROOT, env=PLAIN,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stderr:
        lines.append(line.rstrip("\n"))
        if pattern in line:
            proc.send_signal(signum)
            break
    lines += proc.stderr.read().splitlines()
    return proc.wait(timeout=120), lines


@needs_synthetic
@pytest.mark.slow
def test_a_stopped_pretraining_run_says_so_and_a_stop_while_resuming_names_the_intact_checkpoint(tmp_path_factory):
    corpus = synthetic_head(tmp_path_factory, 400)
    d = tmp_path_factory.mktemp("run")
    r = nlpt("vocab", "--tokenizer", "char", "--size", 100, "-o", d / "tok.json", corpus, "-q")
    assert r.returncode == 0, r.stderr
    args = ["pretrain", corpus, "-o", d / "run", "--tokenizer", d / "tok.json", "--arch", "gpt-mini", "--layers", 1,
            "--hidden", 32, "--heads", 2, "--context", 16, "--batch", 2, "--max-steps", 100000, "--log-every", 1,
            "--threads", 1]
    code, lines = _stop_when(args, "step 3 ")
    assert code == 143, lines
    assert lines[-1].startswith("nlpt: stopped by SIGTERM at step "), lines
    step = int(lines[-1].split("at step ")[1].split(";")[0])
    assert "done" not in lines[-2] and "stopped by SIGTERM after" in lines[-2] and f"step {step} " in lines[-2], lines
    code, lines = _stop_when(args, "resuming from step")
    assert code == 143, lines
    assert lines[-1] == (f"nlpt: error: interrupted by SIGTERM; checkpoint {d / 'run' / 'checkpoints' / f'step-{step}'} "
                         f"(step {step}) intact; rerun the same command to continue"), lines


@needs_synthetic
def test_a_stop_during_the_export_after_training_says_the_run_finished_and_a_rerun_writes_it(tmp_path_factory,
                                                                                          monkeypatch):
    import nlpt.engine.export as export

    corpus = synthetic_head(tmp_path_factory, 200)
    d = tmp_path_factory.mktemp("run")
    r = nlpt("vocab", "--tokenizer", "char", "--size", 100, "-o", d / "tok.json", corpus, "-q")
    assert r.returncode == 0, r.stderr
    args = ["pretrain", corpus, "-o", d / "run", "--tokenizer", d / "tok.json", "--arch", "gpt-mini", "--layers", 1,
            "--hidden", 32, "--heads", 2, "--context", 16, "--batch", 2, "--max-steps", 2, "--threads", 1, "-q",
            "--export-hf", d / "hf"]
    monkeypatch.setattr(export, "export_run", lambda *a: os.kill(os.getpid(), signal.SIGTERM))
    r = nlpt(*args)
    assert r.returncode == 143, r.stderr
    assert r.stderr.strip() == (f"nlpt: error: interrupted by SIGTERM; the run finished at step 2 (checkpoint "
                                f"{d / 'run' / 'checkpoints' / 'step-2'}); {d / 'hf'} was not written; rerun the same "
                                f"command to write it")
    monkeypatch.undo()
    r = nlpt(*args)
    assert r.returncode == 0, r.stderr
    assert os.path.exists(d / "hf" / "model.safetensors")


@needs_synthetic
def test_glove_stopped_by_a_signal_names_the_checkpoint_it_kept(tmp_path_factory):
    corpus = synthetic_head(tmp_path_factory, 2000)
    d = tmp_path_factory.mktemp("glove")
    ckpt = d / "state.ckpt"
    code, lines = _stop_when(["train-glove", corpus, "-o", d / "v.txt", "--checkpoint", ckpt, "--iter", 1000,
                              "--vector-size", 10, "--threads", 1], "iter 2/", signal.SIGUSR1)
    assert code == 138, lines
    assert lines[-1].startswith(f"nlpt: error: interrupted by SIGUSR1; checkpoint {ckpt} (after iteration "), lines
    assert lines[-1].endswith("/1000) kept; rerun the same command to continue"), lines
    assert ckpt.exists() and sorted(os.listdir(d)) == ["state.ckpt"]


def _kill_after(monkeypatch, module, name: str, signum=signal.SIGTERM):
    """Make `module.name` send `signum` to this process right after it returns (its work done)."""
    real = getattr(module, name)

    def wrapped(*args, **kwargs):
        out = real(*args, **kwargs)
        os.kill(os.getpid(), signum)
        return out

    monkeypatch.setattr(module, name, wrapped)


def test_finetune_stopped_after_training_names_its_checkpoint_and_after_its_results_says_they_are_complete(
        tmp_path, monkeypatch):
    pytest.importorskip("torch")
    import nlpt.finetune.train as train
    from tests._finetune_task import write_task

    write_task(tmp_path, 7, {"train": 40, "dev": 20, "test": 20})
    run = tmp_path / "run"
    args = ["finetune", "--train", tmp_path / "train.tsv", "--dev", tmp_path / "dev.tsv", "--test",
            tmp_path / "test.tsv", "--vectors", tmp_path / "vec.txt", "--epochs", 1, "--threads", 1, "-o", run, "-q"]
    monkeypatch.setattr(train, "write_json", lambda *a: os.kill(os.getpid(), signal.SIGUSR1))
    r = nlpt(*args)
    assert r.returncode == 138, r.stderr
    assert r.stderr.strip() == (f"nlpt: error: interrupted by SIGUSR1; checkpoint {run / 'checkpoints' / 'step-2'} "
                                f"(step 2) intact; rerun the same command to continue")
    monkeypatch.undo()
    _kill_after(monkeypatch, train, "run_finetune")  # results.json written, checkpoints removed
    r = nlpt(*args)
    assert r.returncode == 143, r.stderr
    assert r.stderr.strip() == f"nlpt: error: interrupted by SIGTERM; the run had finished: {run / 'results.json'} is complete"
    assert not os.path.exists(run / "checkpoints")

    import nlpt.finetune.predict as predict

    _kill_after(monkeypatch, predict, "run_predict")
    r = nlpt("finetune", "predict", run, tmp_path / "test.tsv", "-o", tmp_path / "p.jsonl")
    assert r.returncode == 143, r.stderr
    assert r.stderr.strip() == f"nlpt: error: interrupted by SIGTERM; {tmp_path / 'p.jsonl'} is complete"
    r = nlpt("finetune", "predict", run, tmp_path / "test.tsv")
    assert r.returncode == 143, r.stderr
    assert len(r.stdout.splitlines()) == 20
    assert r.stderr.strip() == "nlpt: error: interrupted by SIGTERM; 20 prediction lines were written to standard output"


@needs_synthetic
def test_pretrain_export_stopped_once_its_folder_is_written_says_it_is_complete(tmp_path_factory, monkeypatch):
    import nlpt.engine.export as export

    corpus = synthetic_head(tmp_path_factory, 200)
    d = tmp_path_factory.mktemp("run")
    r = nlpt("vocab", "--tokenizer", "char", "--size", 100, "-o", d / "tok.json", corpus, "-q")
    assert r.returncode == 0, r.stderr
    r = nlpt("pretrain", corpus, "-o", d / "run", "--tokenizer", d / "tok.json", "--arch", "gpt-mini", "--layers", 1,
             "--hidden", 32, "--heads", 2, "--context", 16, "--batch", 2, "--max-steps", 1, "--threads", 1, "-q")
    assert r.returncode == 0, r.stderr
    _kill_after(monkeypatch, export, "export_run")
    r = nlpt("pretrain", "export", d / "run", "--export-hf", d / "hf")
    assert r.returncode == 143, r.stderr
    assert r.stderr.strip() == f"nlpt: error: interrupted by SIGTERM; {d / 'hf'} is complete"
