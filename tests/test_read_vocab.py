"""Vocabularies given with --read-vocab: words the corpus never has are reported and left out of the
vectors (never written with random, untrained rows); a word listed twice is an error naming the line."""

from __future__ import annotations

import pytest

from _cli import nlpt

VOCAB = "the 9\nsat 6\nzebra 5\ncat 3\nyak 2\n"


@pytest.fixture
def files(tmp_path):
    (tmp_path / "c.txt").write_text("the cat sat on the mat\nthe cat sat\n" * 50)
    (tmp_path / "v.txt").write_text(VOCAB)
    return tmp_path


def _words(path) -> list[str]:
    lines = path.read_text().splitlines()
    return [line.split()[0] for line in lines[1:]]


@pytest.mark.parametrize("command", [
    ["train-w2v", "--size", "8", "--epochs", "1", "--threads", "1"],
    ["train-subword", "--size", "8", "--epochs", "1", "--threads", "1", "--bucket", "100", "--vec", "{d}/v.vec"],
])
def test_words_the_corpus_never_has_are_reported_and_left_out(files, command):
    command = [a.replace("{d}", str(files)) for a in command]
    out = files / ("w.txt" if command[0] == "train-w2v" else "m.bin")
    code, _, err = nlpt(command[0], files / "c.txt", "-o", out, "--read-vocab", files / "v.txt",
                        "--min-count", "1", "-q", *command[1:])
    assert code == 0, err
    assert "2 of 5 words never occur in the corpus (zebra, yak): left out of the vectors" in err
    written = out if command[0] == "train-w2v" else files / "v.vec"
    assert sorted(_words(written)) == ["cat", "sat", "the"]
    assert written.read_text().startswith("3 8\n")


def test_glove_leaves_out_words_without_co_occurrences(files):
    code, _, err = nlpt("train-glove", files / "c.txt", "-o", files / "g.txt", "--read-vocab", files / "v.txt",
                        "--min-count", "1", "--size", "4", "--iter", "2", "--threads", "1", "-q")
    assert code == 0, err
    assert "2 of 5 words have no co-occurrence in the corpus (zebra, yak)" in err
    assert sorted(line.split()[0] for line in (files / "g.txt").read_text().splitlines()) == ["cat", "sat", "the"]


def test_a_vocabulary_of_words_the_corpus_never_has_is_an_error(files):
    (files / "v.txt").write_text("zebra 5\nyak 2\n")
    code, _, err = nlpt("train-w2v", files / "c.txt", "-o", files / "w.txt", "--read-vocab", files / "v.txt",
                        "--min-count", "1", "--size", "8", "--epochs", "1", "-q")
    assert code == 1 and "no word of the vocabulary file is trained" in err
    assert not (files / "w.txt").exists()


@pytest.mark.parametrize("command", [["train-w2v"], ["train-glove"], ["corpus", "stats"]])
def test_a_word_listed_twice_is_an_error_naming_the_line(files, command):
    (files / "v.txt").write_text("the 9\nsat 6\nthe 3\n")
    option = "--vocab" if command[0] == "corpus" else "--read-vocab"
    out = [] if command[0] == "corpus" else ["-o", files / "w.txt"]
    code, _, err = nlpt(*command, files / "c.txt", *out, option, files / "v.txt", "-q")
    assert code == 1
    assert err.strip() == f"nlpt: error: {files / 'v.txt'}:3: 'the' is listed a second time"


def test_glove_checks_the_checkpoint_before_counting(files):
    args = [files / "c.txt", "-o", files / "g.txt", "--min-count", "1", "--iter", "1", "--threads", "1",
            "--checkpoint", files / "state.bin"]
    code, _, err = nlpt("train-glove", *args, "--size", "4", "-q")
    assert code == 0, err
    code, _, err = nlpt("train-glove", *args, "--size", "8", "--iter", "2")
    assert code == 1 and "state has vector size 4, this run asks for 8" in err
    assert "vocabulary:" not in err and "co-occurrences" not in err  # refused before any counting
