"""GloVe training kernels: learning, the NaN guard, clipping, state save/resume."""

from __future__ import annotations

import numpy as np
import pytest

from nlpt.common.errors import NlptError
from nlpt.embeddings import cooccur as co
from nlpt.embeddings import glove as gl


def _toy_records(V=40, seed=0):
    """A dense co-occurrence matrix of rank ~2 structure: words in two clusters co-occur within their cluster."""
    rng = np.random.default_rng(seed)
    w1, w2 = np.meshgrid(np.arange(V), np.arange(V), indexing="ij")
    same = (w1 % 2) == (w2 % 2)
    x = np.where(same, 50.0, 2.0) * rng.uniform(0.8, 1.2, size=(V, V))
    rec = np.zeros(V * V, dtype=co.REC_DTYPE)
    rec["w1"], rec["w2"], rec["x"] = w1.ravel(), w2.ravel(), x.ravel()
    return rec


def _train(rec, V, iterations, threads=1, state=None, **kw):
    config = gl.GloveConfig(vector_size=8, iterations=iterations, threads=threads, seed=5, **kw)
    records = gl.prepare_records([rec.copy()], config.x_max, config.alpha, config.seed)
    if state is None:
        state = gl.init_state(V, config.vector_size, config.seed, "h")
    reports = gl.train(records, state, config)
    return state, reports


def test_cost_decreases_and_clusters_are_learnt():
    V = 40
    state, reports = _train(_toy_records(V), V, 25, x_max=10.0)
    costs = [r.cost for r in reports]
    assert costs[-1] < 0.5 * costs[0]
    assert all(b <= a * 1.05 for a, b in zip(costs, costs[1:]))
    m = gl.output_matrix(state, "sum")
    m = m / np.linalg.norm(m, axis=1, keepdims=True)
    sim = m @ m.T
    same = (np.arange(V)[:, None] % 2) == (np.arange(V)[None, :] % 2)
    off = ~np.eye(V, dtype=bool)
    assert sim[same & off].mean() > sim[~same].mean() + 0.5


def test_weighting_function_and_log_are_precomputed():
    rec = np.zeros(3, dtype=co.REC_DTYPE)
    rec["x"] = [1.0, 50.0, 400.0]
    r = gl.prepare_records([rec], 100.0, 0.75, 1)
    order = np.argsort(r.logx)
    assert np.allclose(r.logx[order], np.log([1.0, 50.0, 400.0]), rtol=1e-6)
    assert np.allclose(r.fx[order], [(1 / 100) ** 0.75, 0.5 ** 0.75, 1.0], rtol=1e-6)


def test_nan_guard_stops_with_a_clear_message():
    V = 20
    with pytest.raises(NlptError, match="NaN or infinite in iteration 1"):
        _train(_toy_records(V), V, 3, eta=1e30, grad_clip=1e30)


def test_gradient_clipping_bounds_each_step():
    V = 20
    rec = _toy_records(V)
    config = gl.GloveConfig(vector_size=8, iterations=1, threads=1, seed=5, eta=10.0, grad_clip=1e-4)
    records = gl.prepare_records([rec.copy()], config.x_max, config.alpha, config.seed)
    state = gl.init_state(V, 8, 5, "h")
    before = state.W.copy()
    gl.train(records, state, config)
    # Every component step is at most grad_clip / sqrt(G) <= grad_clip; a row is updated once per record holding it.
    uses = np.bincount(rec["w1"], minlength=V)
    moved = np.abs(state.W[:V, :8] - before[:V, :8]).max(axis=1)
    assert np.all(moved <= uses * 1e-4 * 1.0001)
    assert moved.max() > 0


def test_resume_continues_exactly(tmp_path):
    V = 30
    rec = _toy_records(V, seed=2)
    straight, _ = _train(rec, V, 4)
    half, _ = _train(rec, V, 2)
    path = str(tmp_path / "state.npz")
    config = gl.GloveConfig(vector_size=8, iterations=2, seed=5)
    gl.save_state(path, half, config)
    loaded = gl.load_state(path, V, 8, "h")
    assert loaded.epoch == 2 and np.array_equal(loaded.G, half.G)
    resumed, reports = _train(rec, V, 4, state=loaded)
    assert [r.epoch for r in reports] == [3, 4]
    assert np.array_equal(resumed.W, straight.W) and np.array_equal(resumed.G, straight.G)
    with pytest.raises(NlptError, match="vector size"):
        gl.load_state(path, V, 9, "h")
    with pytest.raises(NlptError, match="different vocabulary"):
        gl.load_state(path, V, 8, "other")
    with pytest.raises(NlptError, match="state is for 30 words"):
        gl.load_state(path, V + 1, 8, "h")


def test_hogwild_threads_train_too():
    V = 40
    state, reports = _train(_toy_records(V), V, 10, threads=2, x_max=10.0)
    assert reports[-1].cost < reports[0].cost and np.isfinite(state.W).all()


def test_output_matrix_variants():
    state = gl.init_state(3, 4, 0, "h")
    assert np.allclose(gl.output_matrix(state, "sum"), state.W[:3, :4] + state.W[3:, :4])
    assert np.array_equal(gl.output_matrix(state, "main"), state.W[:3, :4])
