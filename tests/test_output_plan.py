"""The output plan (nlpt.common.plan) as a unit: every kind of collision it refuses, and what it lets through."""

from __future__ import annotations

import os

import pytest

from nlpt.common.errors import NlptError, UsageError
from nlpt.common.plan import OutputPlan


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("the cat sat\n")
    return str(path)


def refused(plan: OutputPlan) -> str:
    with pytest.raises(UsageError) as info:
        plan.check()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_an_output_onto_an_input_by_any_spelling_is_refused(tmp_path, corpus):
    os.link(corpus, tmp_path / "hard.txt")
    (tmp_path / "sym.txt").symlink_to(corpus)
    for spelling in (corpus, f"{tmp_path}/./c.txt", str(tmp_path / "hard.txt"), str(tmp_path / "sym.txt")):
        message = refused(OutputPlan().read("INPUTS", corpus).write("--vec", spelling))
        assert "--vec is the same file as the input" in message and "(INPUTS)" in message and spelling in message


def test_an_input_reached_through_a_link_is_the_same_file(tmp_path, corpus):
    (tmp_path / "sym.txt").symlink_to(corpus)
    message = refused(OutputPlan().read("--read-vocab", str(tmp_path / "sym.txt")).write("-o", corpus))
    assert "-o is the same file as the input" in message and "(--read-vocab)" in message


def test_two_outputs_onto_one_file_are_refused(tmp_path):
    out = str(tmp_path / "m.bin")
    assert "-o and --vec name the same file" in refused(OutputPlan().write("-o", out).write("--vec", out))
    (tmp_path / "m.bin").write_text("x")
    os.link(out, tmp_path / "link.bin")
    assert "name the same file" in refused(OutputPlan().write("-o", out).write("--vec", str(tmp_path / "link.bin")))


def test_a_sidecar_is_an_output(tmp_path):
    out = str(tmp_path / "v.txt")
    message = refused(OutputPlan().write("-o", out, sidecar=True).write("--save-vocab", out + ".json"))
    assert "-o's sidecar and --save-vocab name the same file" in message


def test_an_output_inside_a_corpus_folder_is_refused(tmp_path, corpus):
    message = refused(OutputPlan().read("INPUTS", str(tmp_path)).write("-o", str(tmp_path / "new.txt")))
    assert "inside the input folder" in message and "read back" in message and "(INPUTS)" in message
    sub = tmp_path / "sub"
    sub.mkdir()
    assert "inside the input folder" in refused(OutputPlan().read("INPUTS", str(tmp_path)).write_folder("-o", str(sub / "run")))


def test_a_model_folder_reads_only_its_entries(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "model.safetensors").write_text("w")
    OutputPlan().read_folder("RUN_DIR", str(run)).write("-o", str(run / "predictions.jsonl")).check()
    assert "(RUN_DIR)" in refused(OutputPlan().read_folder("RUN_DIR", str(run)).write("-o", str(run / "config.json")))
    assert "read back" in refused(OutputPlan().read_folder("RUN_DIR", str(run)).write("-o", str(run / "other.safetensors")))
    assert "read back" in refused(OutputPlan().read_folder("RUN_DIR", str(run)).write_folder("--export-hf", str(run)))


def test_an_input_inside_a_replaced_or_written_folder_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "train.tsv").write_text("text\tlabel\n")
    message = refused(OutputPlan().read("--train", str(out / "train.tsv")).write_folder("--export-hf", str(out), replaced=True))
    assert "is inside" in message and "which --export-hf replaces" in message
    written = OutputPlan().read("--train", str(out / "train.tsv")).write_folder("-o", str(out), ("metrics.jsonl",))
    written.check()  # not among the entries the run writes
    (out / "metrics.jsonl").write_text("")
    assert "which -o writes" in refused(
        OutputPlan().read("--train", str(out / "metrics.jsonl")).write_folder("-o", str(out), ("metrics.jsonl",)))


def test_an_output_inside_a_folder_another_output_writes_is_refused(tmp_path):
    run = str(tmp_path / "run")
    message = refused(OutputPlan().write_folder("-o", run, ("checkpoints/",)).write_folder("--export-hf", run + "/checkpoints"))
    assert "--export-hf is inside" in message and "which -o writes" in message
    assert "name the same folder" in refused(OutputPlan().write_folder("-o", run).write_folder("--export-hf", run))
    OutputPlan().write_folder("-o", run, ("checkpoints/",)).write_folder("--export-hf", run + "/hf").check()


def test_standard_output_redirected_onto_an_input_is_refused(tmp_path, corpus, monkeypatch):
    fd = os.open(corpus, os.O_WRONLY | os.O_APPEND)
    saved = os.dup(1)
    try:
        os.dup2(fd, 1)
        with pytest.raises(UsageError, match="standard output: standard output is the same file as the input"):
            OutputPlan().read("INPUTS", corpus).write("standard output", "-").check()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(fd)


def test_what_does_not_collide_passes_and_outputs_are_checked_writable(tmp_path, corpus):
    OutputPlan().read("INPUTS", corpus, None, "-", str(tmp_path / "missing")).write("-o", str(tmp_path / "v.txt"),
                                                                                     sidecar=True).write("--vec", "-").check()
    OutputPlan().read("INPUTS", "/dev/null").write("-o", "/dev/null").check()  # devices are not files
    with pytest.raises(NlptError, match="does not exist"):
        OutputPlan().read("INPUTS", corpus).write("-o", str(tmp_path / "no" / "v.txt")).check()
    # a folder that does not exist yet, holding that option's files (corpus shard -o shards/part-)
    OutputPlan().write_folder("-o", str(tmp_path / "new")).write("-o", str(tmp_path / "new" / "x.txt")).check()


def test_two_outputs_onto_standard_output_are_refused():
    message = refused(OutputPlan().write("--output", "-").write("--save-context", "-"))
    assert message == "-: --output and --save-context both name standard output; give each output its own"


def test_an_output_that_an_input_pattern_matches_is_refused(tmp_path, corpus):
    pattern = str(tmp_path / "*.txt")
    message = refused(OutputPlan().read("INPUTS", pattern).write("-o", str(tmp_path / "vocab.txt")))
    assert message.endswith(f"-o matches the input pattern {pattern} (INPUTS), so the next run would read it back; "
                            "write it elsewhere")
    OutputPlan().read("INPUTS", pattern).write("-o", str(tmp_path / "vocab.tsv")).check()
