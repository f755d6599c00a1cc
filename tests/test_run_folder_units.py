"""Units of the run-folder rule (torch-free): which folders a run may be written into, and how setting changes
are found, described and recorded."""

from __future__ import annotations

import json

import pytest

from nlpt.common.errors import NlptError
from nlpt.common.runfolder import check_run_folder, is_new_folder, is_run_dir, require_new_folder, run_kind
from nlpt.engine.resume import describe, differences, record_changes, refuse_changes


def test_new_empty_own_and_foreign_folders(tmp_path):
    assert is_new_folder(str(tmp_path / "absent")) and is_new_folder(str(tmp_path))
    assert check_run_folder(str(tmp_path / "absent"), "nlpt-run/1") is None
    run = tmp_path / "run"
    run.mkdir()
    (run / "tokens").mkdir()
    (run / ".config.json.x1.tmp").write_text("")  # a temporary file of an interrupted write
    assert check_run_folder(str(run), "nlpt-run/1", own=("tokens",)) is None  # a first run stopped early
    with pytest.raises(NlptError, match="not an empty folder or an nlpt run \\(tokens\\)"):
        check_run_folder(str(run), "nlpt-run/1")  # without `own`, its token folder is foreign
    saved = {"format": "nlpt-run/1", "model": {"family": "gpt"}, "train": {"lr": 0.1}}
    (run / "config.json").write_text(json.dumps(saved))
    assert run_kind(str(run)) == "nlpt-run/1" and is_run_dir(str(run)) and not is_run_dir(str(tmp_path / "absent"))
    assert check_run_folder(str(run), "nlpt-run/1") == saved  # its config
    (run / "config.json").write_text(json.dumps({"format": "nlpt-run/1", "train": {"lr": 0.1}}))
    with pytest.raises(NlptError, match="config.json: field 'model' is missing"):  # damaged: refused, not continued
        check_run_folder(str(run), "nlpt-run/1")
    with pytest.raises(NlptError, match="holds an `nlpt pretrain` run"):
        check_run_folder(str(run), "nlpt-finetune/1")
    hf = tmp_path / "hf"
    hf.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "vocab.txt"):
        (hf / name).write_text("{}")
    with pytest.raises(NlptError, match=r"\(config.json, model.safetensors, tokenizer.json, …\)"):
        check_run_folder(str(hf), "nlpt-run/1")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NlptError, match="exists and is not a folder"):
        check_run_folder(str(tmp_path / "file"), "nlpt-run/1")
    with pytest.raises(NlptError, match="--export-hf already exists and is not an empty folder"):
        require_new_folder(str(hf), "--export-hf")
    require_new_folder(str(tmp_path / "new"), "--export-hf")


def test_differences_are_named_refused_and_recorded(tmp_path):
    saved = {"lr": 3e-4, "seed": 1, "threads": 4, "corpus": ["/a"]}
    now = {"lr": 1e-3, "seed": 1, "threads": 1, "corpus": ["/a", "/b"], "new_option": True}
    changes = differences(saved, now, ignore=("threads",))
    assert [(c.name, c.then, c.now) for c in changes] == [("lr", 3e-4, 1e-3), ("corpus", ["/a"], ["/a", "/b"]),
                                                        ("new_option", None, True)]
    assert describe(changes, limit=2) == "lr: 0.0003 then, 0.001 now, corpus: ['/a'] then, ['/a', '/b'] now and 1 more"
    with pytest.raises(NlptError, match="holds an unfinished run with other settings \\(lr: "):
        refuse_changes("run", changes, allowed=False)
    refuse_changes("run", changes, allowed=True)
    refuse_changes("run", [], allowed=False)
    path = record_changes(str(tmp_path), 7, "ckpt", changes[:1])
    record_changes(str(tmp_path), 9, "ckpt2", changes[1:2])
    with open(path) as fh:
        lines = [json.loads(line) for line in fh]
    assert [(e["step"], e["checkpoint"]) for e in lines] == [(7, "ckpt"), (9, "ckpt2")]  # appended, never rewritten
    assert lines[0]["changes"] == {"lr": {"then": 3e-4, "now": 1e-3}}
