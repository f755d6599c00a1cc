"""A finetune run folder says which CPU matrix-product backend the run used and why (cpu-matmul.json), as a
pretrain run folder does: both runs set up through the same engine session."""

from __future__ import annotations

import json
import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
pytest.importorskip("threadpoolctl")

from _cli import char_tokenizer_file, nlpt  # noqa: E402
from _finetune_task import write_task  # noqa: E402

from nlpt.models import cpu_matmul  # noqa: E402


@pytest.fixture(scope="module")
def task_and_model(tmp_path_factory):
    """The synthetic task, and a one-layer GPT pretrained for two steps on its sentences (character tokens)."""
    folder = tmp_path_factory.mktemp("task")
    write_task(folder, 3, {"train": 40, "dev": 16})
    corpus = folder / "corpus.txt"
    corpus.write_text("".join(line.split("\t")[0] + "\n" for line in (folder / "train.tsv").read_text().splitlines()[1:]))
    tok = char_tokenizer_file(tmp_path_factory, str(corpus))
    run = folder / "gpt"
    code, _, err = nlpt("pretrain", corpus, "-o", run, "--tokenizer", tok, "--arch", "gpt-mini", "--layers", 1,
                        "--hidden", 16, "--heads", 2, "--ffn", 32, "--context", 32, "--batch", 2, "--max-steps", 2,
                        "--eval-every", 0, "--threads", 1, "--cpu-matmul", "torch", "--quiet")
    assert code == 0, err
    return folder, run


@pytest.mark.parametrize("threads, backend", [(1, "numpy"), (2, "torch")])
def test_the_finetune_run_folder_says_which_backend_and_why(task_and_model, tmp_path, monkeypatch, threads,
                                                            backend):
    monkeypatch.setenv(cpu_matmul.CACHE_ENV, str(tmp_path / "cache"))
    timed = []

    def numpy_twice_as_fast(m, k, n, threads, **_):
        timed.append(threads)
        return 2.0, 1.0  # (torch seconds, numpy seconds)

    monkeypatch.setattr(cpu_matmul, "time_product", numpy_twice_as_fast)
    folder, model = task_and_model
    out = tmp_path / "ft"
    code, _, err = nlpt("finetune", "--train", folder / "train.tsv", "--dev", folder / "dev.tsv", "--model", model,
                        "--epochs", 1, "--threads", threads, "-o", out)
    assert code == 0, err
    record = json.loads((out / "cpu-matmul.json").read_text())
    assert record["requested"] == "auto" and record["backend"] == backend and record["threads"] == threads
    if backend == "numpy":
        assert timed and record["numpy_speedup"] == 2.0 and "2.00× torch's" in record["reason"]
        assert "through numpy's BLAS" in err  # and the log says so
    else:
        assert not timed and record["numpy_speedup"] is None and "thread pools would contend" in record["reason"]
    assert not os.path.exists(str(out / "cpu-matmul.json") + ".tmp")
    assert not cpu_matmul.active()  # the session put torch's products back
