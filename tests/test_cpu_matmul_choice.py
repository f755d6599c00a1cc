"""How `--cpu-matmul auto` decides: torch on several threads (the two thread pools would contend), on one
thread a timing kept per machine so that the same command always chooses alike, and the choice with its
reason written into the run folder."""

from __future__ import annotations

import json
import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
pytest.importorskip("threadpoolctl")

from _cli import char_tokenizer_file, needs_synthetic, nlpt, synthetic_head  # noqa: E402

from nlpt.models import cpu_matmul  # noqa: E402


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(cpu_matmul.CACHE_ENV, str(folder))
    return folder


@pytest.fixture
def timings(monkeypatch):
    """Replace the timed products: each timing (two products: into the FFN width and back) gets the next planned
    (torch seconds, numpy seconds) for both; `calls` holds the threads of each timing."""
    calls, products = [], []

    def fake(m, k, n, threads, **_):
        products.append(threads)
        if len(products) % 2:
            calls.append(threads)
            return planned[0]
        return planned.pop(0)

    planned: list = []
    monkeypatch.setattr(cpu_matmul, "time_product", fake)
    return planned, calls


def _choose(backend: str, threads: int) -> cpu_matmul.Choice:
    choice = cpu_matmul.configure(backend, threads)
    active = cpu_matmul.active()
    choice.restore()
    assert active == (choice.backend == "numpy")
    return choice


def test_auto_keeps_torch_on_several_threads_without_timing(cache_dir, timings):
    planned, calls = timings
    planned.append((1.0, 0.1))  # numpy "10× faster" in isolation must not matter
    choice = _choose("auto", 2)
    assert choice.backend == "torch" and calls == [] and "thread pools would contend" in choice.reason
    assert choice.record()["backend"] == "torch" and choice.record()["threads"] == 2
    assert not cache_dir.exists()


def test_auto_on_one_thread_times_once_and_then_reuses_the_decision(cache_dir, timings):
    planned, calls = timings
    planned += [(1.3, 1.0), (1.0, 1.3)]  # a second timing would flip the decision
    first = _choose("auto", 1)
    assert first.backend == "numpy" and first.speedup == pytest.approx(1.3) and not first.cached
    assert calls == [1]
    for _ in range(2):
        again = _choose("auto", 1)
        assert again.backend == "numpy" and again.cached and again.speedup == pytest.approx(1.3)
    assert calls == [1]  # timed once
    saved = json.loads((cache_dir / "cpu-matmul.json").read_text())
    assert [v["numpy_speedup"] for v in saved.values()] == [1.3]
    assert "threads 1" in next(iter(saved))


def test_auto_needs_the_margin_and_a_damaged_cache_is_timed_again(cache_dir, timings):
    planned, calls = timings
    cache_dir.mkdir()
    (cache_dir / "cpu-matmul.json").write_text("{not json")
    planned.append((1.05, 1.0))  # faster, but within the margin
    choice = _choose("auto", 1)
    assert choice.backend == "torch" and calls == [1] and "1.05×" in choice.reason
    assert json.loads((cache_dir / "cpu-matmul.json").read_text())  # rewritten whole


def test_explicit_backends_never_time(cache_dir, timings):
    _, calls = timings
    assert _choose("numpy", 2).backend == "numpy"
    assert _choose("torch", 1).backend == "torch"
    assert calls == [] and not cache_dir.exists()


@needs_synthetic
@pytest.mark.parametrize("threads, backend", [(1, "numpy"), (2, "torch")])
def test_the_run_folder_says_which_backend_and_why(tmp_path_factory, tmp_path, cache_dir, timings, threads,
                                                   backend):
    planned, _ = timings
    planned.append((2.0, 1.0))  # on one thread: numpy "2× faster"
    corpus = synthetic_head(tmp_path_factory, 200)
    tok = char_tokenizer_file(tmp_path_factory, corpus)
    run = tmp_path / "run"
    code, _, err = nlpt("pretrain", corpus, "-o", run, "--tokenizer", tok, "--arch", "gpt-mini", "--layers", 1,
                        "--hidden", 16, "--heads", 2, "--ffn", 32, "--context", 16, "--vocab", 64, "--batch", 2,
                        "--max-steps", 2, "--eval-every", 0, "--eval-batches", 1, "--threads", threads)
    assert code == 0, err
    record = json.loads((run / "cpu-matmul.json").read_text())
    assert record["requested"] == "auto" and record["backend"] == backend and record["threads"] == threads
    if backend == "numpy":
        assert record["numpy_speedup"] == 2.0 and "2.00× torch's" in record["reason"]
    else:
        assert record["numpy_speedup"] is None and "thread pools would contend" in record["reason"]
    assert not os.path.exists(str(run / "cpu-matmul.json") + ".tmp")


def test_the_decision_is_kept_per_shape(cache_dir, timings):
    from nlpt.transformer.configs import GPTConfig

    planned, calls = timings
    planned += [(1.5, 1.0), (1.0, 1.5)]
    config = GPTConfig(vocab_size=97, hidden_size=64, num_layers=1, num_heads=4, ffn_size=256, max_positions=32)
    shape = cpu_matmul.probe_shape(config, 4, 32)
    assert shape == (128, 64, 256)
    assert cpu_matmul.probe_shape(config, 512, 32)[0] == 2048  # rows capped
    for _ in range(2):
        choice = cpu_matmul.configure("auto", 1, shape)
        choice.restore()
        assert choice.backend == "numpy"
    other = cpu_matmul.configure("auto", 1, (128, 64, 128))
    other.restore()
    assert other.backend == "torch" and calls == [1, 1]  # one timing per shape


@pytest.mark.parametrize("threads", [1, 2])
def test_explicit_numpy_runs_its_blas_on_one_thread_beside_torchs_pool(threads):
    """On several threads numpy's BLAS pool would spin on the cores torch's parallel operations need: an explicit
    `--cpu-matmul numpy` keeps the products on the calling thread, says so, and records it; one thread is one."""
    from threadpoolctl import threadpool_info

    def blas_threads() -> set:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"
                and "numpy" in pool["filepath"]}

    if not blas_threads():
        pytest.skip("numpy's BLAS is not visible to threadpoolctl here")
    before = blas_threads()
    choice = cpu_matmul.configure("numpy", threads)
    try:
        assert cpu_matmul.active() and blas_threads() == {1}
        assert choice.record()["blas_threads"] == 1 and choice.record()["threads"] == threads
        assert ("numpy's BLAS on 1 thread" in choice.reason) == (threads > 1)
    finally:
        choice.restore()
    assert not cpu_matmul.active() and blas_threads() == before
