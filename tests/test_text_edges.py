"""Text edge cases of the one corpus reader: a UTF-8 byte-order mark, a final line without a newline,
a token longer than a block, and a sub-folder of an input folder that cannot be read."""

from __future__ import annotations

import gzip
import json
import os

import pytest

from _cli import nlpt
from nlpt.common.errors import NlptError
from nlpt.corpus.reader import (ReaderOptions, ReadStats, expand_inputs, iter_blocks, iter_token_chunks, plan_shards,
                                unterminated_line)

BOM = b"\xef\xbb\xbf"


def test_a_byte_order_mark_is_not_part_of_the_first_word(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(BOM + b"hello world\nhello\n")
    code, out, err = nlpt("vocab", path, "-q")
    assert code == 0, err
    assert out.splitlines() == ["hello 2", "world 1"]
    code, out, _ = nlpt("corpus", "tokenize", path, "-q")
    assert out == "hello world\nhello\n"
    gz = tmp_path / "bom.txt.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    code, out, _ = nlpt("corpus", "stats", gz, "--json", "-q")
    assert json.loads(out)["types"] == 2


def test_shards_keep_the_bytes_as_they_are(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(BOM + b"hello world\nhello\n")
    code, _, err = nlpt("corpus", "shard", path, "-n", "1", "-o", tmp_path / "s-", "-q")
    assert code == 0, err
    assert (tmp_path / "s-00.txt").read_bytes() == path.read_bytes()


@pytest.mark.parametrize("threads", ["1", "3"])
def test_a_final_line_without_a_newline_is_a_line(tmp_path, threads):
    path = tmp_path / "c.txt"
    path.write_text("one two three\n" * 3000 + "last line")
    code, out, err = nlpt("corpus", "stats", path, "--json", "-q", "--threads", threads)
    assert code == 0, err
    assert json.loads(out)["lines"] == 3001
    path.write_text("one two three\n" * 3000)
    _, out, _ = nlpt("corpus", "stats", path, "--json", "-q", "--threads", threads)
    assert json.loads(out)["lines"] == 3000
    (tmp_path / "empty.txt").write_text("")
    _, out, _ = nlpt("corpus", "stats", path, tmp_path / "empty.txt", "--json", "-q")
    assert json.loads(out)["lines"] == 3000


def test_vocab_counts_the_final_line_of_every_file(tmp_path):
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text("x y\nz")
    code, out, err = nlpt("vocab", tmp_path / "a.txt", tmp_path / "b.txt", "-o", tmp_path / "v.txt", "--json")
    assert code == 0, err
    assert json.loads(out)["lines"] == 4


def _read_shards(path, n, chunk_bytes):
    stats, tokens = ReadStats(), []
    for shard in plan_shards([str(path)], n):
        for chunk in iter_token_chunks(shard, ReaderOptions(chunk_bytes=chunk_bytes), stats):
            tokens.extend(chunk)
    lines = 0
    for shard in plan_shards([str(path)], n):
        for source in shard:
            block = b""
            for block in iter_blocks(source, chunk_bytes):
                lines += block.count(b"\n")
            lines += unterminated_line(source, block)
    return tokens, lines, stats


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_a_token_longer_than_a_block_is_one_token_for_any_number_of_ranges(tmp_path, n):
    path = tmp_path / "long.txt"
    text = "a b\n" + "x" * 900 + " c\n" + "é" * 700 + "\nd " + "y" * 1500  # the last line: no newline
    path.write_text(text, encoding="utf-8")
    tokens, lines, stats = _read_shards(path, n, chunk_bytes=128)
    assert tokens == text.split()
    assert lines == 4 and stats.total_invalid == 0


def test_a_final_token_longer_than_a_block_is_counted_once_at_any_threads(tmp_path):
    """The threads' byte ranges cut the file in the middle of its final token (3 MB, no newline after it): the
    range that reads it whole counts its line, and it stays one token whatever the --threads."""
    path = tmp_path / "tail.txt"
    path.write_bytes(b"a b\n" * 10 + b"y" * (3 << 20))
    results = []
    for threads in ("1", "2"):
        code, out, err = nlpt("corpus", "stats", path, "--json", "-q", "--threads", threads)
        assert code == 0, err
        s = json.loads(out)
        results.append((s["lines"], s["tokens"], s["types"]))
    assert results == [(11, 21, 3), (11, 21, 3)]


def test_a_linked_folder_is_read_once_and_a_link_loop_ends(tmp_path):
    corpus, outside = tmp_path / "corpus", tmp_path / "outside"
    (corpus / "sub").mkdir(parents=True)
    outside.mkdir()
    (corpus / "a.txt").write_text("a b\n")
    (outside / "c.txt").write_text("c d e\n")
    (corpus / "linked").symlink_to(outside, target_is_directory=True)
    (corpus / "sub" / "loop").symlink_to(corpus, target_is_directory=True)
    assert expand_inputs([str(corpus)]) == [str(corpus / "a.txt"), str(corpus / "linked" / "c.txt")]
    code, out, err = nlpt("corpus", "stats", corpus, "--json", "-q")
    assert code == 0, err
    assert json.loads(out)["tokens"] == 5


def test_a_broken_link_in_a_folder_is_named_as_missing(tmp_path):
    (tmp_path / "a.txt").write_text("a b\n")
    (tmp_path / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    with pytest.raises(NlptError, match=r"gone.txt: no such file or directory \(a broken symbolic link\)"):
        expand_inputs([str(tmp_path)])


def test_an_unreadable_sub_folder_is_an_error(tmp_path, monkeypatch):
    """Root reads any folder, so the refusal is simulated: listing `sub` raises PermissionError."""
    (tmp_path / "a.txt").write_text("a b\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("c d\n")
    real = os.scandir
    blocked = str(tmp_path / "sub")

    def scandir(path="."):
        if os.fspath(path) == blocked:
            raise PermissionError(13, "Permission denied", blocked)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(NlptError, match=r"sub: cannot read the folder \(permission denied\)"):
        expand_inputs([str(tmp_path)])
    code, _, err = nlpt("corpus", "stats", tmp_path)
    assert code == 1 and err.strip() == f"nlpt: error: {blocked}: cannot read the folder (permission denied)"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a folder whatever its mode: the monkeypatched test covers it")
def test_an_unreadable_sub_folder_is_an_error_for_real(tmp_path):
    (tmp_path / "a.txt").write_text("a b\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    sub.chmod(0)
    try:
        with pytest.raises(NlptError, match="cannot read the folder"):
            expand_inputs([str(tmp_path)])
    finally:
        sub.chmod(0o755)
