"""GloVe training kernels: learning, the NaN guard, clipping, state save/resume."""

from __future__ import annotations

import numpy as np
import pytest

from nlpt.common.errors import NlptError
from nlpt.embeddings.glove import cooccur as co
from nlpt.embeddings.glove import glove as gl


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


def _disk_records(rec, tmp_path, memory_bytes=1 << 40, upper=None, seed=5):
    sink = gl.DiskSink(100.0, 0.75, str(tmp_path), memory_bytes, seed)
    sink.begin(len(rec) if upper is None else upper)
    for i in range(0, len(rec), 7000):  # arrives in pieces, like the merge's row ranges
        sink.add(rec["w1"][i : i + 7000], rec["w2"][i : i + 7000], rec["x"][i : i + 7000])
    return sink, sink.finish(seed)


def test_training_from_disk_matches_memory_exactly(tmp_path):
    V = 300  # 90 000 records: several blocks, several reads per thread
    rec = _toy_records(V)
    config = gl.GloveConfig(vector_size=8, iterations=3, threads=1, seed=5)
    in_memory = gl.prepare_records([rec.copy()], config.x_max, config.alpha, config.seed)
    a = gl.init_state(V, 8, 5, "h")
    gl.train(in_memory, a, config)
    sink, on_disk = _disk_records(rec, tmp_path)
    assert sink.nb == 1 and isinstance(on_disk, gl.DiskRecords) and len(on_disk) == len(rec)
    b = gl.init_state(V, 8, 5, "h")
    reports = gl.train(on_disk, b, config)
    assert np.array_equal(a.W, b.W) and np.array_equal(a.G, b.G)
    # Hogwild threads read their own slices from the file.
    c = gl.init_state(V, 8, 5, "h")
    reports = gl.train(on_disk, c, gl.GloveConfig(vector_size=8, iterations=3, threads=2, seed=5))
    assert reports[-1].cost < reports[0].cost and np.isfinite(c.W).all()
    on_disk.close()
    assert not any(tmp_path.iterdir())  # the temporary directory is gone


def test_disk_buckets_hold_a_shuffled_copy_of_every_record(tmp_path):
    V = 300
    rec = _toy_records(V)
    sink, on_disk = _disk_records(rec, tmp_path, memory_bytes=0, upper=3 << 20)  # 48 MB announced: 3 buckets of 16 MB
    assert sink.nb == 3
    disk = np.fromfile(on_disk.path, dtype=gl.TRAIN_DTYPE)
    key = lambda w1, w2: w1.astype(np.int64) * V + w2  # noqa: E731
    k = key(disk["w1"], disk["w2"])
    assert np.array_equal(np.sort(k), np.sort(key(rec["w1"], rec["w2"])))
    assert not np.all(np.diff(k) > 0)  # shuffled, not in merge order
    x = dict(zip(key(rec["w1"], rec["w2"]).tolist(), rec["x"].tolist()))
    xs = np.array([x[int(i)] for i in k])
    assert np.allclose(disk["logx"], np.log(xs), rtol=1e-6)
    assert np.allclose(disk["fx"], np.minimum(1.0, (xs / 100.0) ** 0.75), rtol=1e-6)
    on_disk.close()


def test_memory_sink_columns_and_released_pages():
    rec = _toy_records(50)
    sink = gl.MemorySink(100.0, 0.75)
    sink.begin(10 * len(rec))  # an upper bound: the unused tail is never touched
    sink.add(rec["w1"], rec["w2"], rec["x"])
    with pytest.raises(RuntimeError, match="upper bound"):
        sink.add(np.zeros(10 * len(rec), np.int32), np.zeros(10 * len(rec), np.int32), np.ones(10 * len(rec)))
    r = sink.finish(1)
    assert len(r) == len(rec)
    assert sorted(zip(r.w1.tolist(), r.w2.tolist())) == sorted(zip(rec["w1"].tolist(), rec["w2"].tolist()))

    def rss_mib():
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024

    block = co.Anon(64 << 17, np.float64)  # 64 MiB
    block.a[:] = 1.0
    before = rss_mib()
    block.release_to(len(block.a) // 2)
    assert before - rss_mib() > 24  # half of it handed back
    assert block.a[-1] == 1.0


def test_state_file_is_a_driver_checkpoint_and_other_files_are_refused(tmp_path):
    from nlpt.embeddings.training.driver import load_checkpoint, save_checkpoint

    state = gl.init_state(4, 3, 0, "h")
    state.epoch = 2
    path = str(tmp_path / "s.npz")
    gl.save_state(path, state, gl.GloveConfig(vector_size=3))
    arrays, meta = load_checkpoint(path)
    assert meta["kind"] == "nlpt-glove-state" and meta["epoch"] == 2 and meta["vocab_hash"] == "h"
    assert np.array_equal(arrays["W"], state.W)
    other = str(tmp_path / "w2v.npz")
    save_checkpoint(other, {"syn0": np.zeros((4, 3), np.float32)}, {"kind": "nlpt-w2v-checkpoint"})
    with pytest.raises(NlptError, match="not an nlpt GloVe checkpoint"):
        gl.load_state(other, 4, 3, "h")
    for name, data in (("empty.npz", b""), ("zip.npz", b"PK\x03\x04broken"), ("text.npz", b"hello")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(NlptError, match="not a valid nlpt checkpoint"):
            gl.load_state(str(tmp_path / name), 4, 3, "h")
    with pytest.raises(NlptError, match="no such checkpoint"):
        gl.load_state(str(tmp_path / "missing.npz"), 4, 3, "h")
