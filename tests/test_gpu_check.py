"""benchmarks/gpu_check.sh: its CPU-runnable parts (`--cpu-smoke`: the CUDA tests' collection, the nlpt and
transformers runs, tokens/s, the memory estimate and the report) work end to end on a tiny model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "gpu_check.sh")


@pytest.mark.slow
def test_cpu_smoke_runs_every_part_and_reports(tmp_path):
    from nlpt.engine.run import model_config
    from nlpt.transformer.params import count

    out = tmp_path / "check.json"
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": ROOT}
    proc = subprocess.run(["bash", SCRIPT, "--cpu-smoke", "--json", str(out)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "== CUDA tests" in proc.stdout and "tests/test_cuda.py" in proc.stdout  # collected (skipped on CPU)
    result = json.loads(out.read_text())
    params = count(model_config("gpt-mini", {"layers": 2, "hidden": 64, "heads": 2, "vocab": 128})).total
    from nlpt.transformer.memory import training_memory

    assert result["parameters"] == params
    expected = training_memory(model_config("gpt-mini", {"layers": 2, "hidden": 64, "heads": 2, "vocab": 128}), 2, 32,
                               "fp32", device="cpu")["bytes"]
    assert result["estimate"]["total_bytes"] == expected["total"] and result["estimate"]["activations_bytes"] > 0
    systems = [r["system"] for r in result["rows"]]
    assert systems == ["nlpt pretrain", "transformers GPT2LMHeadModel"]
    assert all(r["tokens_per_s"] > 0 for r in result["rows"])
    assert result["ratio_nlpt_to_transformers"] == pytest.approx(
        result["rows"][0]["tokens_per_s"] / result["rows"][1]["tokens_per_s"])
    assert result["rows"][0]["final_loss"] > 0
    assert "| nlpt pretrain |" in proc.stdout and "nlpt / transformers tokens/s" in proc.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_without_cuda_the_gpu_run_says_so(capsys):
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        import gpu_check
    finally:
        sys.path.pop(0)
    assert gpu_check.main([]) == 1
    assert "no CUDA device here; `--cpu-smoke`" in capsys.readouterr().err
