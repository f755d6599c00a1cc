"""JSON that nlpt writes, to stdout and into files, is strict JSON: a non-finite number becomes null with a
warning naming where it was (`nlpt.common.jsontext`), never the bare NaN or Infinity Python's `json` writes
(which strict readers refuse) and never silently."""

from __future__ import annotations

import json
import math
import os
import re

import pytest

from _cli import ROOT, nlpt
from nlpt.common import jsontext


def _strict(text: str):
    """Parse as a strict reader does: NaN, Infinity and -Infinity are errors."""
    def refuse(word):
        raise ValueError(f"not JSON: {word}")
    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_become_null_with_a_warning_naming_them(capsys):
    doc = {"loss": 1.5, "rows": [float("nan"), {"hours": float("inf")}], "n": 3, "name": "x"}
    text = jsontext.dumps(doc, "summary", indent=2)
    assert _strict(text) == {"loss": 1.5, "rows": [None, {"hours": None}], "n": 3, "name": "x"}
    err = capsys.readouterr().err.splitlines()
    assert err == ["nlpt: warning: summary: rows[0] is nan, written as null",
                   "nlpt: warning: summary: rows[1].hours is inf, written as null"]


def test_finite_documents_are_written_as_json_writes_them(capsys):
    doc = {"a": [1, 2.5, None, True], "b": {"c": "é"}, "d": -0.0}
    assert jsontext.dumps(doc, indent=1, ensure_ascii=False) == json.dumps(doc, indent=1, ensure_ascii=False)
    assert capsys.readouterr().err == ""
    assert jsontext.finite_or_none((1.0, -math.inf)) == [1.0, None]


def test_run_folder_json_files_stay_valid(tmp_path, capsys):
    from nlpt.common.runfolder import write_json

    path = tmp_path / "results.json"
    write_json(str(path), {"accuracy": float("nan"), "epochs": 2})
    assert _strict(path.read_text()) == {"accuracy": None, "epochs": 2}
    assert f"{path}: accuracy is nan, written as null" in capsys.readouterr().err


def test_gpu_hours_beyond_a_float_are_a_usage_error_not_infinity():
    r = nlpt("params", "gpt2", "--gpu", "a100", "--mfu", "1e-300", "--tokens", "1e18", "--json")
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "beyond a float's range" in r.stderr and "--mfu" in r.stderr
    assert r.stdout == ""
    ok = nlpt("params", "gpt2", "--gpu", "a100", "--mfu", "0.4", "--tokens", "1e12", "--json")
    assert ok.returncode == 0 and _strict(ok.stdout)["training"]["gpu_hours"] > 0


# Every JSON writer goes through jsontext; these calls of json.dumps write no output document
NOT_OUTPUTS = {
    ("nlpt/finetune/data.py", "Nested(json.dumps("),  # a JSONL cell's list kept as text, read not written
    ("nlpt/engine/tokens.py", "json.loads(json.dumps("),  # a round trip making a fingerprint
    ("nlpt/engine/resume.py", "json.loads(json.dumps("),  # the same for a run's settings
    ("nlpt/engine/recipe.py", "shown = json.dumps("),  # a value quoted in an error message
    ("nlpt/engine/checkpoint.py", "json.dumps("),  # the sharded checkpoint index: names and integers only
    ("nlpt/compare/table.py", "allow_nan=False"),  # strict already, after jsontext.finite_or_none
    ("nlpt/tokenizer/hf_folder.py", "Tokenizer.from_str(json.dumps("),  # handed to the tokenizers library
}


def test_every_json_writer_goes_through_jsontext():
    found = []
    for folder, _, files in os.walk(os.path.join(ROOT, "nlpt")):
        for name in files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, ROOT)
            if not name.endswith(".py") or rel == os.path.join("nlpt", "common", "jsontext.py"):
                continue
            for line in open(path, encoding="utf-8"):
                if re.search(r"\bjson\.dumps?\(", line) and not any(rel == f and mark in line for f, mark in NOT_OUTPUTS):
                    found.append(f"{rel}: {line.strip()}")
    assert not found, "JSON written without nlpt.common.jsontext:\n" + "\n".join(found)


@pytest.mark.parametrize("doc", [float("nan"), [float("-inf")]])
def test_a_bare_non_finite_value_is_null(doc, capsys):
    assert _strict(jsontext.dumps(doc)) in (None, [None])
    assert "written as null" in capsys.readouterr().err
