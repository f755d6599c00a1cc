"""`nlpt params`: counts, breakdowns, formula, arithmetic, inputs and errors (no torch needed)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from _cli import nlpt
from nlpt.common.errors import NlptError
from nlpt.transformer.hf_config import from_hf_config
from nlpt.transformer.registry import REGISTRY, resolve
from nlpt.transformer.hardware import GPUS
from nlpt.transformer.params import count, lecture_formula, parse_count


def run(*args, ok=True):
    """`nlpt params ARGS`, checked to succeed unless `ok=False`."""
    proc = nlpt("params", *args)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def run_json(*args):
    return json.loads(run(*args, "--json").stdout)


# --------------------------------------------------------------------------- counts

@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_breakdown_sums_to_total_and_embeddings_are_rows(name):
    c = count(REGISTRY[name].config)
    assert c.total == sum(r.count for r in c.rows) > 0
    assert all(r.count >= 0 for r in c.rows)
    assert all(r.count == r.per_layer * r.layers for r in c.rows if r.per_layer is not None)
    assert c.embeddings == sum(r.count for r in c.rows if r.kind == "embedding")
    assert c.without_embeddings == c.total - c.embeddings
    if c.pretraining_class:
        assert c.pretraining_total == c.total + sum(r.count for r in c.pretraining_rows)


def test_bert_base_by_hand():
    V, P, T, H, F, L = 30522, 512, 2, 768, 3072, 12
    layer = 4 * H * H + 4 * H + 2 * H * F + F + H + 4 * H
    bare = (V + P + T) * H + 2 * H + L * layer + H * H + H
    c = count(REGISTRY["bert-base"].config)
    assert c.total == bare
    assert c.pretraining_total == bare + (H * H + H) + 2 * H + V + (2 * H + 2)


@pytest.mark.parametrize("name", [n for n, e in REGISTRY.items() if e.config.family == "encoder"])
def test_lecture_formula_items_account_for_the_whole_gap(name):
    c = count(REGISTRY[name].config)
    f = lecture_formula(c)
    cfg = c.config
    assert f["value"] == (cfg.vocab_size // 1000 * 1000) * cfg.hidden_size + 12 * cfg.num_layers * cfg.hidden_size ** 2
    assert f["value"] + sum(i["count"] for i in f["left_out"]) == f["exact"] == c.total


def test_mixtral_active_parameters_by_hand():
    # Per token: everything except 6 of the 8 experts in each of the 32 layers.
    V, H, L, F, kv_dim = 32000, 4096, 32, 14336, 8 * 128
    attention = H * H * 2 + 2 * H * kv_dim
    expert = 3 * H * F
    active = 2 * V * H + H + L * (attention + 2 * H + H * 8 + 2 * expert)
    c = count(REGISTRY["mixtral-8x7b"].config)
    assert c.active == active
    assert c.total == active + L * 6 * expert


def test_deepseek_v3_active_parameters_by_hand():
    V, H, heads = 129280, 7168, 128
    q = H * 1536 + 1536 + 1536 * heads * (128 + 64)                      # q down, norm, up
    kv = H * (512 + 64) + 512 + 512 * heads * (128 + 128)                 # kv down (+ rope key), norm, up
    o = heads * 128 * H
    layer_common = q + kv + o + 2 * H
    dense = 3 * layer_common + 3 * (3 * H * 18432)
    moe_active = 58 * (layer_common + 256 * H + (1 + 8) * 3 * H * 2048)  # router + shared + 8 routed
    active = V * H + dense + moe_active + H + V * H
    c = count(REGISTRY["deepseek-v3"].config)
    assert c.active == active
    assert c.total == active + 58 * (256 - 8) * 3 * H * 2048
    assert c.is_moe and not count(REGISTRY["llama3-8b"].config).is_moe


# --------------------------------------------------------------------------- arithmetic

def test_parse_count():
    assert parse_count("300B") == 300 * 10**9
    assert parse_count("14.8T") == 148 * 10**11
    assert parse_count("2e12") == 2 * 10**12
    assert parse_count("1_000k") == 10**6
    for bad in ("", "abc", "-5B", "0", "1.5x"):
        with pytest.raises(ValueError):
            parse_count(bad)


def test_cli_training_memory_kv_and_gpu_hours():
    d = run_json("llama2-70b", "--tokens", "2T", "--gpu", "a100", "--mfu", "0.5", "--context", "4096", "--batch", "8")
    total = d["parameters"]["total"]
    assert d["memory"]["weights_bytes"] == {"fp32": 4 * total, "bf16": 2 * total, "int8": total,
                                           "int4": (total + 1) // 2}
    assert d["memory"]["training_adamw_mixed_bytes"] == 16 * total
    kv = d["kv_cache"]
    assert kv["bytes_per_token"] == 2 * 80 * 8 * 128 * 2  # K,V × layers × KV heads × head dim × bf16
    assert kv["total_bytes"] == kv["bytes_per_token"] * 4096 * 8
    tr = d["training"]
    assert tr["tokens"] == 2 * 10**12 and tr["tokens_source"] == "flag"
    fl = d["flops"]
    assert tr["flops_6nd"] == 6 * fl["matmul_parameters"] * 2 * 10**12  # the forward's N: one N for both figures
    assert tr["parameters_used"] == fl["matmul_parameters"] == total - 32000 * 8192
    assert fl["attention_term"] == 80 * 4096 * 2 * 8192  # causal: n_layer · n_ctx · (d_qk + d_v)
    assert fl["forward_per_token"] == 2 * (total - 32000 * 8192) + fl["attention_term"]
    assert tr["flops_with_attention"] == 3 * fl["forward_per_token"] * tr["tokens"]
    assert tr["flops_with_attention"] == tr["flops_6nd"] + 3 * fl["attention_term"] * tr["tokens"]
    hours = tr["flops_with_attention"] / (GPUS["a100"].peak_tflops * 1e12 * 0.5) / 3600
    assert tr["gpu_hours"] == pytest.approx(hours)
    assert tr["reported_gpu_hours"] == 1_720_320  # Llama 2 paper, shown beside


def test_cli_deepseek_r1_uses_active_parameters_and_reported_figures():
    d = run_json("deepseek-r1")
    assert d["model"] == "deepseek-v3"
    p = d["parameters"]
    assert p["active_per_token"] < p["total"] // 10
    tr = d["training"]
    assert tr["tokens_source"] == "reported" and tr["tokens"] == 14_800_000_000_000 and tr["gpu"] == "h800"
    assert tr["flops_6nd"] == 6 * d["flops"]["matmul_parameters"] * tr["tokens"]
    assert d["flops"]["matmul_parameters"] < p["active_per_token"]  # active, outside the lookup tables
    assert tr["reported_gpu_hours"] == 2_788_000 and 0 < tr["implied_mfu"] < 1
    # MLA caches the latent (512) plus the rotary key (64) per layer
    assert d["kv_cache"]["elements_per_token"] == 61 * (512 + 64)


def test_cli_bert_base_json_has_lecture_formula_next_to_exact():
    d = run_json("bert-base")
    assert d["lecture_formula"]["value"] == 30_000 * 768 + 12 * 12 * 768 ** 2 == 107_974_656
    assert d["lecture_formula"]["exact"] == d["parameters"]["total"] == count(REGISTRY["bert-base"].config).total
    assert d["parameters"]["pretraining_class"] == "BertForPreTraining"
    assert d["kv_cache"] is None and d["hf_class"] == "BertModel"
    assert sum(r["count"] for r in d["breakdown"]) == d["parameters"]["total"]
    assert all(isinstance(r["count"], int) for r in d["breakdown"])


def test_cli_table_output_mentions_both_figures():
    out = run("bert-large").stdout
    assert "335,141,888" in out and "332,709,888" in out  # exact and 30k·1024 + 12·24·1024²
    assert "BertForPreTraining" in out


def test_cli_list():
    models = json.loads(run("--list", "--json").stdout)
    assert [m["name"] for m in models] == list(REGISTRY)
    assert "deepseek-r1" in next(m for m in models if m["name"] == "deepseek-v3")["aliases"]
    assert "mixtral-8x7b" in run("--list").stdout


# --------------------------------------------------------------------------- inputs agree

CUSTOM = {
    "llama3-8b": ["--family", "llama", "--layers", "32", "--hidden", "4096", "--heads", "32", "--kv-heads", "8",
                  "--ffn", "14336", "--vocab", "128256"],
    "bert-base": ["--family", "bert", "--layers", "12", "--hidden", "768"],
    "bert-large": ["--family", "bert", "--layers", "24", "--hidden", "1024"],
    "gpt2-medium": ["--family", "gpt", "--layers", "24", "--hidden", "1024"],
    "mixtral-8x7b": ["--family", "mixtral", "--layers", "32", "--hidden", "4096", "--heads", "32", "--kv-heads", "8",
                     "--ffn", "14336", "--experts", "8", "--top-k", "2"],
    "t5-base": ["--family", "t5", "--layers", "12", "--hidden", "768"],
    "albert-base-v2": ["--family", "albert", "--layers", "12", "--hidden", "768", "--embedding-size", "128"],
    "deepseek-v3": ["--family", "deepseek"],
}


@pytest.mark.parametrize("name", sorted(CUSTOM))
def test_custom_flags_agree_with_registry(name):
    custom = run_json(*CUSTOM[name])
    named = run_json(name)
    assert custom["source"] == "custom"
    assert custom["parameters"] == named["parameters"]
    assert custom["breakdown"] == named["breakdown"]


def test_custom_llama_derives_swiglu_width():
    d = run_json("--family", "llama", "--layers", "32", "--hidden", "4096")
    assert d["config"]["ffn_size"] == 11008 and d["config"]["num_kv_heads"] == 32  # Llama's 8H/3 → multiple of 256


@pytest.mark.parametrize("name", ["bert-base", "llama3-8b", "deepseek-v3", "t5-small", "gpt"])
def test_config_json_file_agrees_with_registry(tmp_path, name):
    from test_params_hf import HF_CONFIGS

    path = tmp_path / "config.json"
    path.write_text(json.dumps(HF_CONFIGS[name]))
    by_file = run_json(str(path))
    by_dir = run_json(str(tmp_path))
    named = run_json(name)
    assert by_file["source"] == "config"
    assert by_file["parameters"] == by_dir["parameters"] == named["parameters"]


def test_name_with_overrides():
    d = run_json("bert-base", "--layers", "6")
    assert d["config"]["num_layers"] == 6 and "modified" in d["model"]
    per_layer = sum(r.per_layer for r in count(REGISTRY["bert-base"].config).rows if r.layers == 12)
    assert d["parameters"]["total"] == run_json("bert-base")["parameters"]["total"] - 6 * per_layer


def test_resolve_aliases_and_hub_ids():
    assert resolve("deepseek-r1").name == "deepseek-v3"
    assert resolve("meta-llama/Llama-2-7b-hf").name == "llama2-7b"
    assert resolve("BERT-Base-Uncased").name == "bert-base"


# --------------------------------------------------------------------------- errors

def _one_line_error(proc, code=1):
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nlpt: error:"), proc.stderr
    assert proc.stdout == ""
    return lines[0]


def test_unknown_name_suggests_closest():
    msg = _one_line_error(run("bert-bsae", ok=False))
    assert "bert-base" in msg and "unknown model" in msg


def test_malformed_configs_name_the_field(tmp_path):
    cases = {
        "missing.json": ({"model_type": "llama", "vocab_size": 32000}, "'hidden_size'"),
        "type.json": ({"model_type": "electra"}, "'model_type'"),
        "bad.json": ({**{"model_type": "gpt2", "vocab_size": 50257, "n_embd": "768", "n_layer": 12, "n_head": 12,
                          "n_positions": 1024}}, "'n_embd'"),
        "groups.json": ({"model_type": "albert", "vocab_size": 30000, "hidden_size": 768, "num_hidden_layers": 12,
                         "num_attention_heads": 12, "intermediate_size": 3072, "max_position_embeddings": 512,
                         "num_hidden_groups": 2}, "'num_hidden_groups'"),
    }
    for fname, (cfg, field) in cases.items():
        p = tmp_path / fname
        p.write_text(json.dumps(cfg))
        msg = _one_line_error(run(str(p), ok=False))
        assert field in msg and fname in msg
    p = tmp_path / "broken.json"
    p.write_text("{not json")
    assert "not valid JSON" in _one_line_error(run(str(p), ok=False))
    assert "no such file" in _one_line_error(run(str(tmp_path / "nope.json"), ok=False))
    with pytest.raises(NlptError, match="'num_key_value_heads'"):
        from_hf_config({"model_type": "llama", "vocab_size": 10, "hidden_size": 64, "num_hidden_layers": 2,
                        "num_attention_heads": 4, "num_key_value_heads": 3, "intermediate_size": 128,
                        "max_position_embeddings": 64})


@pytest.mark.parametrize("args", [["gpt2", "--tokens", "lots"], ["gpt2", "--gpu", "h1000"], ["gpt2", "--batch", "x"],
                                  ["bert-base", "--kv-heads", "4"], ["--family", "nope"], [],
                                  ["gpt2", "--no-such-flag"], ["gpt2", "--layers", "0"], ["gpt2", "--mfu", "2"],
                                  ["gpt2", "--kv-dtype", "fp7"], ["gpt2", "--family", "llama"]])
def test_usage_errors_exit_2(args):
    _one_line_error(run(*args, ok=False), code=2)


# --------------------------------------------------------------------------- startup

def test_no_numpy_numba_torch_imported():
    code = ("import sys, io, contextlib\n"
            "from nlpt.cli import main\n"
            "buf = io.StringIO()\n"
            "try:\n"
            "    with contextlib.redirect_stdout(buf): main(['params', 'bert-large'])\n"
            "except SystemExit as e:\n"
            "    assert not e.code, e.code\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'numba', 'torch'))\n"
            "assert '335,141,888' in buf.getvalue()\n"
            "print(heavy)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("value", ["1e19", "1e300", "1e400"])
def test_token_counts_beyond_a_million_trillion_are_usage_errors(tmp_path, value):
    """--tokens (params) and --max-tokens (pretrain) share one reader: a count past 1e18 is refused with one line
    (before, the FLOP and GPU-hour arithmetic overflowed into an internal error)."""
    code, out, err = nlpt("params", "gpt2", "--tokens", value)
    assert code == 2 and err.count("\n") == 1 and "is too large (at most 1e18" in err, err
    code, out, err = nlpt("pretrain", tmp_path / "absent.txt", "-o", tmp_path / "run", "--tokenizer",
                          tmp_path / "absent.json", "--max-tokens", value, "--dry-run")
    assert code == 2 and err.count("\n") == 1 and "--max-tokens: tokens" in err and "too large" in err, err
