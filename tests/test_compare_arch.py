"""`nlpt compare NAME...`: architectures side by side, with the figures `nlpt params` computes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from _cli import ROOT, nlpt


@pytest.fixture(scope="module")
def arch_json():
    r = nlpt("compare", "bert-base", "gpt2", "deepseek-r1", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["rows"]


def test_json_totals_equal_params(arch_json):
    assert [row["argument"] for row in arch_json] == ["bert-base", "gpt2", "deepseek-r1"]
    for row in arch_json[:2]:
        r = nlpt("params", row["argument"], "--json")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert row["model"] == doc["model"]
        assert row["hf_class"] == doc["hf_class"]
        assert isinstance(row["total"], int) and row["total"] == doc["parameters"]["total"]
        assert row["without_embeddings"] == doc["parameters"]["without_embeddings"]
        assert row["forward_flops_per_token"] == doc["flops"]["forward_per_token"]
        assert row["weights_bytes_bf16"] == doc["memory"]["weights_bytes"]["bf16"]
        assert row["context"] == doc["flops"]["context"]
    bert, gpt2, ds = arch_json
    assert bert["kv_cache_bytes_per_token"] is None  # encoder: nothing cached
    assert gpt2["kv_cache_bytes_per_token"] == 2 * gpt2["layers"] * gpt2["hidden"] * 2  # K and V, bf16
    assert bert["layers"] == gpt2["layers"] == 12 and bert["vocab"] != gpt2["vocab"]
    # MoE: fewer active than total parameters, and the alias resolves to the registry entry
    assert ds["model"] != "deepseek-r1" and ds["attention"] == "mla"
    assert 0 < ds["active_per_token"] < ds["total"]
    # stable keys: every row has the same ones
    assert len({tuple(row) for row in arch_json}) == 1


def test_table_lists_each_name():
    names = ["bert-base", "gpt2", "llama2-7b", "deepseek-r1"]
    r = nlpt("compare", *names)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    header = lines[0].split()  # one column per model (the lecture's layout)
    assert header[0] == "model" and [h for h in header[1:] if not h.startswith("(")] == names
    assert lines[1].split()[0] == "architecture"
    assert "6,738,415,616" in r.stdout  # llama2-7b, exact (the figure `nlpt params llama2-7b` prints)


def test_config_json_path(tmp_path):
    cfg = {"model_type": "gpt2", "vocab_size": 50257, "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    r = nlpt("compare", str(tmp_path / "config.json"), "gpt2", "--json")
    assert r.returncode == 0, r.stderr
    a, b = json.loads(r.stdout)["rows"]
    assert a["source"] == "config" and a["total"] == b["total"]


def test_mixing_vectors_and_names_is_a_usage_error(tmp_path):
    vec = tmp_path / "v.txt"
    vec.write_text("2 3\na 1 2 3\nb 4 5 6\n")
    r = nlpt("compare", str(vec), "gpt2")
    assert r.returncode == 2
    assert r.stdout == ""
    err = r.stderr.strip()
    assert "\n" not in err and "not a mix" in err


def test_vector_options_rejected_for_architectures():
    r = nlpt("compare", "gpt2", "--analogies", "q.txt")
    assert r.returncode == 2 and "--analogies" in r.stderr


def test_unknown_name_gives_closest_names():
    r = nlpt("compare", "gpt2", "bertbase")
    assert r.returncode == 1 and r.stdout == ""
    err = r.stderr.strip()
    assert "\n" not in err
    assert "unknown model 'bertbase'" in err and "closest:" in err and "bert-base" in err
    assert err == nlpt("params", "bertbase").stderr.strip()  # the same line `nlpt params` gives


def test_missing_vectors_path_keeps_its_message(tmp_path):
    r = nlpt("compare", str(tmp_path / "nothere.txt"))
    assert r.returncode == 1
    assert "no such vectors file" in r.stderr


def _imported_modules(*args):
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "nlpt", *args], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    mods = {line.split("|")[-1].strip().split(".")[0] for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert "nlpt" in mods  # the importtime report was read
    return mods


def test_no_numpy_numba_torch_on_the_architecture_path():
    mods = _imported_modules("compare", "bert-base", "gpt2")
    assert not mods & {"numpy", "numba", "torch"}


def test_vectors_path_does_import_numpy(tmp_path):
    # the check above can fail: the vectors path is seen to load numpy through the same report
    vec = tmp_path / "v.txt"
    vec.write_text("2 3\na 1 2 3\nb 4 5 6\n")
    assert "numpy" in _imported_modules("compare", str(vec))
