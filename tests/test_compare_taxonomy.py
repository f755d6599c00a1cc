"""`nlpt compare` on architectures: the lecture's taxonomy, reported-only models, and the four output formats."""

from __future__ import annotations

import csv
import io
import json

import pytest

from _cli import nlpt
from test_compare_arch import _imported_modules
from nlpt.transformer.registry import resolve
from nlpt.transformer import report
from nlpt.transformer.taxonomy import DECODER, ENCODER, ENCODER_DECODER, MOE_DECODER, classify

THREE = ["gpt2", "bert-base", "t5-base"]


@pytest.fixture(scope="module")
def three():
    r = nlpt("compare", *THREE, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_three_family_taxonomy(three):
    assert three["comparison"] == "architectures"
    gpt2, bert, t5 = three["rows"]
    assert [r["kind"] for r in three["rows"]] == [DECODER, ENCODER, ENCODER_DECODER]
    assert gpt2["attention_pattern"].startswith("causal") and bert["attention_pattern"].startswith("bidirectional")
    assert "causal decoder" in t5["attention_pattern"] and "cross-attention" in t5["attention_pattern"]
    assert gpt2["objective"].startswith("causal LM")
    assert "masked LM" in bert["objective"] and "NSP" in bert["objective"]
    assert t5["objective"].startswith("span corruption")
    assert all(r["applications"] and r["adaptation"] for r in three["rows"])
    # exact counts: the Hugging Face classes' numel (checked against transformers in test_params_hf)
    assert [r["total"] for r in three["rows"]] == [124_439_808, 109_482_240, 222_903_552]
    for r in three["rows"]:
        assert r["total"] == report.build(report.resolve_model(r["argument"], None, {}))["parameters"]["total"]
    # published figures, marked and sourced
    assert (gpt2["reported_parameters"], bert["reported_parameters"], t5["reported_parameters"]) == ("117M", "110M", "220M")
    assert all(r["reported_source"] for r in three["rows"])


def test_taxonomy_table_is_the_lecture_layout():
    r = nlpt("compare", *THREE)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["model", *THREE]
    rows = {line.split("  ")[0]: line for line in lines[1:]}
    assert "autoregressive decoder" in rows["architecture"] and "encoder–decoder" in rows["architecture"]
    assert "span corruption" in rows["pretraining objective"]
    assert "124,439,808" in rows["parameters (exact)"] and "109,482,240" in rows["parameters (exact)"]
    assert "110M (reported)" in rows["reported parameters"]


@pytest.mark.parametrize("name, kind, objective", [
    ("roberta-base", ENCODER, "no NSP"), ("albert-base-v2", ENCODER, "SOP"), ("bart-base", ENCODER_DECODER, "infilling"),
    ("mixtral-8x7b", MOE_DECODER, "causal LM"), ("deepseek-v3", MOE_DECODER, "multi-token"),
    ("llama2-7b", DECODER, "causal LM"),
])
def test_classify_variants(name, kind, objective):
    t = classify(resolve(name).config)
    assert t.kind == kind and objective in t.objective


def test_dense_vs_moe_computed_versus_reported():
    r = nlpt("compare", "deepseek-r1", "o3-mini", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    ds, o3 = doc["rows"]
    assert set(ds) == set(o3)  # one row model: the same keys for a computed and a reported-only entry
    # computed: 671B total, ~37B active per token, MLA's latent KV cache
    assert ds["total"] == 671_026_404_352 and ds["active_per_token"] == 37_552_282_624
    assert ds["attention"] == "mla" and ds["kind"] == MOE_DECODER
    assert ds["kv_cache_bytes_per_token"] == 61 * (512 + 64) * 2  # latent + rotary key per layer, bf16
    assert (ds["reported_parameters"], ds["reported_active_parameters"]) == ("671B", "37B")
    assert ds["reported_training_cost_usd"] == 5_576_000 and "V3" in ds["reported_source"]
    # reported-only: nothing computed, nothing invented
    assert o3["source"] == "reported" and o3["kind"] == "not published"
    for key in ("total", "active_per_token", "layers", "hidden", "forward_flops_per_token", "reported_parameters",
                "reported_training_cost_usd", "reported_gpu_hours"):
        assert o3[key] is None, key
    assert o3["reported_context_window"] == "200,000" and "OpenAI" in o3["reported_source"]
    assert any(n.startswith("o3-mini: architecture, parameters and training cost not published") for n in doc["notes"])

    text = nlpt("compare", "deepseek-r1", "o3-mini").stdout
    rows = {line.split("  ")[0]: line.split() for line in text.splitlines()}
    assert rows["parameters (exact)"][-2:] == ["671,026,404,352", "unknown"]
    assert "(reported)" in rows["context window"][-1]


def test_reported_only_names_are_resolved_case_insensitively():
    r = nlpt("compare", "O3-Mini", "gpt2", "--csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows[0]["name"] == "O3-Mini (o3-mini)" and rows[0]["total"] == ""


def _markdown_rows(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("|:"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            out[cells[0]] = cells[1:]
    return out


def test_every_format_carries_the_same_numbers(three):
    names = ["gpt2", "bert-base", "deepseek-r1", "o3-mini"]
    doc = json.loads(nlpt("compare", *names, "--json").stdout)
    rows = list(csv.DictReader(io.StringIO(nlpt("compare", *names, "--csv").stdout)))
    md = _markdown_rows(nlpt("compare", *names, "--markdown").stdout)
    text = nlpt("compare", *names).stdout
    assert len(rows) == len(doc["rows"]) == 4
    for j, (js, cs) in enumerate(zip(doc["rows"], rows)):
        for key in ("total", "active_per_token", "forward_flops_per_token", "vocab", "kv_cache_bytes_per_token"):
            assert (cs[key] or None) == (None if js[key] is None else str(js[key])), key
        total = md["parameters (exact)"][j]
        assert total == ("unknown" if js["total"] is None else f"{js['total']:,}")
        assert md["architecture"][j] == js["kind"]
        assert (js["total"] is None) or f"{js['total']:,}" in text
    assert md["model"] == [r["name"] for r in doc["rows"]]


def test_one_output_format_at_a_time():
    r = nlpt("compare", "gpt2", "--json", "--csv")
    assert r.returncode == 2 and "--json and --csv" in r.stderr and r.stdout == ""


def test_no_numpy_torch_for_taxonomy_and_reported():
    for args in (THREE, ["deepseek-r1", "o3-mini", "--markdown"]):
        mods = _imported_modules("compare", *args)
        assert not mods & {"numpy", "numba", "torch", "matplotlib"}, args


def test_params_refuses_a_reported_only_model():
    r = nlpt("params", "o3-mini")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.strip() == "nlpt: error: o3-mini: architecture not published, nothing to count; " \
                               "its reported figures: nlpt compare o3-mini"


def test_terminal_text_has_the_same_cells_styled():
    from nlpt.common.texttable import Style
    from nlpt.compare import architectures
    from nlpt.compare import table as T

    table = architectures.compare(["deepseek-r1", "o3-mini"])
    plain, styled = T.to_text(table), T.to_text(table, Style(enabled=True))
    assert "671,026,404,352" in plain and "MoE decoder" in plain and "200,000 (reported)" in plain
    assert styled != plain and styled.replace("\x1b[1m", "").replace("\x1b[2m", "").replace("\x1b[0m", "") == plain
    assert all(n in plain for n in table.all_notes()) and any("o3-mini" in n for n in table.all_notes())