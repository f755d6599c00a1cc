"""`nlpt corpus stats | tokenize | shard` end to end."""

from __future__ import annotations

import gzip
import json
import os
from collections import Counter

import pytest

from _cli import SHARED, nlpt

TEXT = "The cat sat.\nThe dog sat, too!\n\nA cat\n"


@pytest.fixture()
def corpus(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text(TEXT)
    return p


def test_stats_json_matches_an_independent_count(tmp_path, corpus):
    vocab = tmp_path / "v.txt"
    vocab.write_text("The 10\ncat 3\nsat 1\n")
    r = nlpt("corpus", "stats", corpus, "--json", "--top", 2, "--vocab", vocab, "-q")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    ref = Counter(TEXT.split())
    assert s["bytes"] == len(TEXT.encode()) and s["lines"] == 4 and s["files"] == 1
    assert s["tokens"] == sum(ref.values()) and s["types"] == len(ref)
    assert s["type_token_ratio"] == pytest.approx(len(ref) / sum(ref.values()))
    assert s["top"] == [["The", 2], ["cat", 2]]
    assert s["hapax"] == sum(1 for c in ref.values() if c == 1)
    oov = sum(c for w, c in ref.items() if w not in {"The", "cat", "sat"})
    assert s["vocab"]["oov_tokens"] == oov
    assert s["vocab"]["oov_rate"] == pytest.approx(oov / sum(ref.values()))


def test_stats_table_and_lowercase(corpus):
    r = nlpt("corpus", "stats", corpus, "--lower", "--split-punct", "-q")
    assert r.returncode == 0, r.stderr
    assert "type/token ratio" in r.stdout
    rows = dict(line.split(None, 1) for line in r.stdout.splitlines() if line.startswith(("tokens", "types")))
    import re

    ref = Counter(re.findall(r"\w+|[^\w\s]", TEXT.lower()))
    assert rows["tokens"].strip() == str(sum(ref.values())) and rows["types"].strip() == str(len(ref))
    assert re.search(r"^\s+1\s+cat\s+2\s", r.stdout, re.M)  # ties (cat, sat, the) in code point order
    assert re.search(r"^\s+3\s+the\s+2\s", r.stdout, re.M)


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED, "ptb")), reason="shared data missing")
def test_stats_on_ptb_with_a_vocabulary_made_by_nlpt(tmp_path):
    train = os.path.join(SHARED, "ptb", "ptb.train.txt")
    test = os.path.join(SHARED, "ptb", "ptb.test.txt")
    vocab = tmp_path / "ptb.vocab"
    assert nlpt("vocab", train, "-o", vocab, "-q").returncode == 0
    r = nlpt("corpus", "stats", test, "--vocab", vocab, "--json", "-q")
    s = json.loads(r.stdout)
    assert s["tokens"] == 78669  # wc -w of ptb.test.txt
    assert s["vocab"]["size"] == 9999  # 10k types, <eos> is implicit
    assert s["vocab"]["oov_tokens"] == 0  # PTB's test words are all in its training vocabulary


def test_tokenize_stdin_to_stdout_normalised():
    r = nlpt("corpus", "tokenize", "-", "--lower", "--split-punct", "--nfkc", "-q", input="Ｈello, World!\n\nÉcole  d'été\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello , world !\nécole d'été\n"


def test_tokenize_cjk_and_max_sentence_length(tmp_path):
    p = tmp_path / "zh.txt"
    p.write_text("第一回 灵根育孕源流出\n" + "w " * 25)
    out = tmp_path / "out.txt"
    r = nlpt("corpus", "tokenize", p, "--cjk", "--max-sentence-length", 10, "-o", out, "-q")
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "第 一 回 灵 根 育 孕 源 流 出"
    assert [len(l.split()) for l in lines[1:]] == [10, 10, 5]


def test_tokenize_unwritable_output_and_binary_input(tmp_path, corpus):
    r = nlpt("corpus", "tokenize", corpus, "-o", tmp_path / "no" / "such" / "dir.txt")
    assert r.returncode == 1 and r.stderr.startswith("nlpt: error:") and "does not exist" in r.stderr
    blob = tmp_path / "x.bin"
    blob.write_bytes(b"\x00\x01\x02abc")
    out = tmp_path / "out.txt"
    r = nlpt("corpus", "tokenize", blob, "-o", out)
    assert r.returncode == 1 and "binary" in r.stderr
    assert not out.exists()  # nothing left under the final name
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.txt")]


def test_empty_file_stats(tmp_path):
    p = tmp_path / "empty.txt"
    p.write_bytes(b"")
    r = nlpt("corpus", "stats", p, "--json", "-q")
    assert r.returncode == 0
    s = json.loads(r.stdout)
    assert s["tokens"] == 0 and s["types"] == 0 and s["top"] == []


def test_shard_is_balanced_lossless_and_cuts_at_line_ends(tmp_path):
    p = tmp_path / "in.txt"
    lines = [" ".join(f"w{i}_{j}" for j in range(i % 17 + 1)) for i in range(3000)]
    p.write_text("\n".join(lines) + "\n")
    r = nlpt("corpus", "shard", p, "-n", 4, "-o", tmp_path / "s-", "--json", "-q")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert [os.path.basename(i["path"]) for i in info] == ["s-00.txt", "s-01.txt", "s-02.txt", "s-03.txt"]
    data = [open(i["path"], encoding="utf-8").read() for i in info]
    assert "".join(data) == p.read_text()  # byte for byte, in order
    assert all(d.endswith("\n") for d in data)  # whole lines only
    sizes = [len(d) for d in data]
    assert max(sizes) - min(sizes) < 200


def test_shard_one_line_gz_and_multiple_files(tmp_path):
    one = tmp_path / "one.txt.gz"
    words = [f"tok{i}" for i in range(20000)]
    one.write_bytes(gzip.compress(" ".join(words).encode()))  # like text8: no newline at all
    two = tmp_path / "two.txt"
    two.write_text("last file")  # no final newline: must not glue onto the previous file
    r = nlpt("corpus", "shard", one, two, "-n", 3, "-o", tmp_path / "p-", "--gzip", "-q")
    assert r.returncode == 0, r.stderr
    tokens = []
    for i in range(3):
        with gzip.open(tmp_path / f"p-0{i}.txt.gz", "rt") as fh:
            tokens.extend(fh.read().split())
    assert tokens == words + ["last", "file"]


def test_shard_force_binary_copies_nul_bytes_too(tmp_path):
    p = tmp_path / "nul.txt"
    data = b"".join(b"w%d \x00x%d\n" % (i, i) for i in range(2000))
    p.write_bytes(data)
    refused = nlpt("corpus", "shard", p, "-n", 2, "-o", tmp_path / "r-", "-q")
    assert refused.returncode == 1 and "--force-binary" in refused.stderr
    r = nlpt("corpus", "shard", p, "-n", 2, "-o", tmp_path / "s-", "--force-binary", "--json", "-q")
    assert r.returncode == 0, r.stderr
    copied = b"".join(open(i["path"], "rb").read() for i in json.loads(r.stdout))
    assert copied == data  # the bytes as they are, NULs included


def test_shard_stdin_is_a_usage_error():
    r = nlpt("corpus", "shard", "-", "-n", 2, input="a b\n")
    assert r.returncode == 2 and "stdin" in r.stderr
