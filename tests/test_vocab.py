"""`nlpt vocab`: exact counts, threads, normalisation, merge, pruning, errors, subword tokenizers."""

from __future__ import annotations

import json
import os
import sys
import random
from collections import Counter

import pytest

from _cli import nlpt
from nlpt.corpus.reader import ReaderOptions
from nlpt.corpus.tokenize import TokenizerOptions, make_splitter
from nlpt.vocab.count import count_words
from nlpt.vocab.vocab import Vocab

TRICKY = (
    "The cat sat on the mat. The end\n"
    "naïve café ｆｕｌｌ 北京欢迎你 a\u00a0b c\u2003d e\x1cf\n"  # NBSP, em space, ASCII file separator: str.split splits there
    "abcdefgh abcdefghi abcdefghij abcdefgX abcdefgh\n"  # keys sharing 8-byte prefixes
    "\tDon't  stop, (now)!\r\n"
)


def independent_count(text: str, opts: TokenizerOptions = TokenizerOptions()) -> Counter:
    """Tokenize the whole decoded text at once, as a plain reference."""
    return Counter(make_splitter(opts)(text))


def write_vocab_counts(path) -> dict:
    out = {}
    for line in open(path, encoding="utf-8"):
        w, c = line.split(" ")
        out[w] = int(c)
    return out


@pytest.fixture(scope="module")
def big_fixture(tmp_path_factory):
    """~3 MB of Zipf-like text with long lines, so that two threads really split it."""
    rng = random.Random(7)
    words = [f"w{i}" + "é" * (i % 3) + "x" * (i % 11) for i in range(20000)]
    weights = [1 / (r + 1) for r in range(len(words))]
    path = tmp_path_factory.mktemp("big") / "big.txt"
    with open(path, "w", encoding="utf-8") as fh:
        for _ in range(300):
            fh.write(" ".join(rng.choices(words, weights, k=1500)) + "\n")
    return path


def test_counts_equal_an_independent_count_of_a_fixture(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(TRICKY, encoding="utf-8")
    r = nlpt("vocab", path, "-q")
    assert r.returncode == 0, r.stderr
    got = {}
    for line in r.stdout.splitlines():
        w, c = line.split(" ")
        got[w] = int(c)
    assert got == dict(independent_count(TRICKY))
    assert got["The"] == 2 and got["a"] == 1 and got["b"] == 1 and got["abcdefgh"] == 2
    lines = r.stdout.splitlines()
    keys = [(-int(l.split()[1]), l.split()[0]) for l in lines]
    assert keys == sorted(keys)  # by count, then code point order


@pytest.mark.parametrize(
    "opts",
    [
        TokenizerOptions(),
        TokenizerOptions(lower=True),
        TokenizerOptions(lower=True, nfkc=True, split_punct=True),
        TokenizerOptions(cjk=True),
        TokenizerOptions(cjk=True, split_punct=True, nfkc=True),
    ],
)
def test_fast_engine_matches_the_token_level_reference(tmp_path, opts):
    path = tmp_path / "t.txt"
    path.write_bytes(TRICKY.encode() * 3 + b"bad\xff\xfebytes caf\xe9 ok\n")
    ro = ReaderOptions(tokenizer=opts)
    fast = count_words([str(path)], ro, engine="fast")
    ref = count_words([str(path)], ro, engine="python")
    assert fast.counts == ref.counts
    assert fast.tokens == ref.tokens
    assert fast.stats.invalid_utf8 == ref.stats.invalid_utf8 == {str(path): 3}
    text = path.read_bytes().decode("utf-8", "replace")
    assert fast.counts == independent_count(text, opts)


def test_threads_give_the_same_file_as_one_thread(tmp_path, big_fixture):
    outs = []
    for t in (1, 2, 3):
        out = tmp_path / f"v{t}.txt"
        r = nlpt("vocab", big_fixture, "-o", out, "--threads", t, "-q")
        assert r.returncode == 0, r.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2]
    ref = independent_count(big_fixture.read_text(encoding="utf-8"))
    assert write_vocab_counts(tmp_path / "v2.txt") == dict(ref)


def test_min_count_max_size_and_reading_back(tmp_path, big_fixture):
    out = tmp_path / "v.txt"
    r = nlpt("vocab", big_fixture, "-o", out, "--min-count", 5, "--max-size", 1000, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    ref = independent_count(big_fixture.read_text(encoding="utf-8"))
    expected = Vocab.from_counts(ref, 5, 1000)
    v = Vocab.load(str(out))
    assert v.words == expected.words and v.counts == expected.counts
    assert summary["kept"] == len(v) == 1000
    assert summary["tokens"] == sum(ref.values()) and summary["types"] == len(ref)


def test_gzip_stdin_and_directory_inputs_agree(tmp_path):
    import gzip

    d = tmp_path / "d"
    d.mkdir()
    (d / "a.txt.gz").write_bytes(gzip.compress(b"x y z x\n"))
    (d / "b.txt").write_bytes(b"y y\n")
    r1 = nlpt("vocab", d, "-q")
    r2 = nlpt("vocab", "-", "-q", input=b"x y z x\ny y\n")
    assert r1.returncode == r2.returncode == 0
    assert r1.stdout == r2.stdout.decode() == "y 3\nx 2\nz 1\n"


def test_merge_of_shard_counts_equals_the_count_of_the_whole(tmp_path, big_fixture):
    prefix = tmp_path / "shard-"
    r = nlpt("corpus", "shard", big_fixture, "-n", 3, "-o", prefix, "-q")
    assert r.returncode == 0, r.stderr
    parts = []
    for i in range(3):
        out = tmp_path / f"c{i}.txt"
        assert nlpt("vocab", f"{prefix}0{i}.txt", "-o", out, "-q").returncode == 0
        parts.append(out)
    whole = tmp_path / "whole.txt"
    assert nlpt("vocab", big_fixture, "-o", whole, "--min-count", 3, "-q").returncode == 0
    merged = tmp_path / "merged.txt"
    r = nlpt("vocab", "merge", *parts, "-o", merged, "--min-count", 3, "--json")
    assert r.returncode == 0, r.stderr
    assert merged.read_bytes() == whole.read_bytes()
    assert json.loads(r.stdout)["files"] == 3


def test_merge_reads_word2vec_and_glove_style_files(tmp_path):
    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt"
    a.write_text("the 5\ncat 2\n")
    b.write_text("cat 3\ndog 1\n")
    r = nlpt("vocab", "merge", a, b, "-q")
    assert r.returncode == 0
    assert r.stdout == "cat 5\nthe 5\ndog 1\n"  # ties by code point order
    bad = tmp_path / "bad.txt"
    bad.write_text("the five\n")
    r = nlpt("vocab", "merge", bad)
    assert r.returncode == 1 and f"{bad}:1: count 'five' is not an integer" in r.stderr


def test_pruning_bounds_the_table_and_is_reported(tmp_path):
    rng = random.Random(1)
    path = tmp_path / "many.txt"
    frequent = ["alpha", "beta", "gamma"]
    lines = []
    for i in range(60):
        lines.append(" ".join(frequent * 20 + [f"rare{i}_{j}" for j in range(500)]))
    rng.shuffle(lines)
    path.write_text("\n".join(lines) + "\n")
    res = count_words([str(path)], ReaderOptions(), prune_limit=1000)
    assert res.prune.times > 0 and res.prune.types_dropped > 0
    assert res.types <= 1000 + 30000  # bounded by the limit plus one block's new types
    for w in frequent:
        assert res.counts[w] == 1200  # frequent words survive pruning with exact counts
    assert res.tokens == 60 * (60 + 500)
    r = nlpt("vocab", path, "--prune-limit", 1000, "-o", tmp_path / "v.txt", "--json")
    assert r.returncode == 0, r.stderr
    assert "pruned" in r.stderr and "rare types" in r.stderr
    pruned = json.loads(r.stdout)["pruned"]
    assert pruned["times"] > 0 and pruned["types"] > 0 and pruned["tokens"] > 0


def test_python_reference_prunes_the_same_way(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text(" ".join(f"r{i}" for i in range(5000)) + "\n" + "keep " * 50 + "\n")
    ref = count_words([str(path)], ReaderOptions(chunk_bytes=4096), prune_limit=1000, engine="python")
    fast = count_words([str(path)], ReaderOptions(chunk_bytes=4096), prune_limit=1000, engine="fast")
    assert ref.counts["keep"] == fast.counts["keep"] == 50
    assert ref.prune.times > 0 and fast.prune.times > 0


def test_empty_input_is_an_error(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("  \n\n")
    r = nlpt("vocab", path, "-o", tmp_path / "v.txt")
    assert r.returncode == 1
    assert r.stderr.strip().endswith(f"nlpt: error: {path}: no tokens found")
    assert not (tmp_path / "v.txt").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permission bits (CI runs as root); "
                    "test_missing_input_and_unwritable_output covers unwritable paths that hold for root too")
def test_output_in_read_only_directory(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text("a b\n")
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    try:
        r = nlpt("vocab", src, "-o", ro / "v.txt")
        assert r.returncode == 1 and "not writable" in r.stderr
        assert list(ro.iterdir()) == []
    finally:
        os.chmod(ro, 0o700)


def test_missing_input_and_unwritable_output(tmp_path):
    r = nlpt("vocab", tmp_path / "nope.txt")
    assert r.returncode == 1 and r.stderr.strip() == f"nlpt: error: {tmp_path / 'nope.txt'}: no such file or directory"
    src = tmp_path / "a.txt"
    src.write_text("a b\n")
    r = nlpt("vocab", src, "-o", tmp_path / "missing-dir" / "v.txt")
    assert r.returncode == 1 and "does not exist" in r.stderr and "Traceback" not in r.stderr
    # A path under a regular file cannot be written by anyone, root included.
    r = nlpt("vocab", src, "-o", src / "v.txt")
    assert r.returncode == 1 and r.stderr.strip() == f"nlpt: error: {src / 'v.txt'}: {src} is not a directory"
    if sys.platform.startswith("linux"):
        # Even root cannot create files in /proc: the write itself fails, not only the access check.
        r = nlpt("vocab", src, "-o", "/proc/nlpt-v.txt")
        assert r.returncode == 1
        assert r.stderr.strip().splitlines()[-1].startswith("nlpt: error: /proc/nlpt-v.txt: cannot create a file in /proc")
        assert "Traceback" not in r.stderr


def test_json_needs_an_output_file(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text("a b\n")
    r = nlpt("vocab", src, "--json")
    assert r.returncode == 2 and "needs -o FILE" in r.stderr


@pytest.mark.parametrize("kind", ["bpe", "wordpiece"])
def test_subword_tokenizer_round_trip(tmp_path, kind):
    from tokenizers import Tokenizer

    corpus = tmp_path / "c.txt"
    rng = random.Random(3)
    vocab = ["lower", "lowest", "newer", "newest", "wider", "widest", "the", "a", "tokenizer"]
    corpus.write_text("\n".join(" ".join(rng.choices(vocab, k=12)) for _ in range(400)) + "\n")
    out = tmp_path / "tokenizer.json"
    r = nlpt("vocab", "--tokenizer", kind, "--size", 400, "-o", out, corpus, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    tok = Tokenizer.from_file(str(out))
    assert summary["size"] == tok.get_vocab_size() <= 400
    text = "the newest tokenizer widest lower"
    enc = tok.encode(text)
    assert len(enc.ids) < len(text)  # merges were learned
    decoded = tok.decode(enc.ids)
    assert decoded == text
    if kind == "bpe":
        assert tok.decode(tok.encode("unseen wörds 北京").ids) == "unseen wörds 北京"  # byte-level: nothing is unknown
    else:
        assert enc.tokens[0] == "[CLS]" and enc.tokens[-1] == "[SEP]"


def test_unknown_tokenizer_kind_is_a_usage_error(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text("a b\n")
    r = nlpt("vocab", "--tokenizer", "unigram", src)
    assert r.returncode == 2 and "bpe, wordpiece" in r.stderr


def test_vocabulary_order_with_shared_prefixes_and_ties(tmp_path):
    rng = random.Random(5)
    words = [f"international{rng.choice(['', 'ly', 'ism', 'ist', 'é', 'ization'])}{i % 7}" for i in range(3000)]
    words += ["abcdefgh", "abcdefg", "abcdefgh\u00e9", "Zürich", "zebra", "ÿ", "a"] * 3
    path = tmp_path / "w.txt"
    path.write_text(" ".join(words) + "\n", encoding="utf-8")
    res = count_words([str(path)])
    expected = sorted(Counter(words).items(), key=lambda wc: (-wc[1], wc[0]))
    assert res.sorted_items() == expected
    data, n = res.vocab_bytes(2, 10)
    assert data.decode().splitlines() == [f"{w} {c}" for w, c in expected if c >= 2][:10] and n == 10


def test_an_error_in_a_worker_thread_is_one_line_and_writes_nothing(tmp_path, big_fixture):
    path = tmp_path / "late-nul.txt"
    path.write_bytes(big_fixture.read_bytes() + b"tail \x00 bytes\n")  # the NUL is in the second shard
    out = tmp_path / "v.txt"
    r = nlpt("vocab", path, "--threads", 2, "-o", out)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == (
        f"nlpt: error: {path}: looks like a binary file (contains NUL bytes); pass --force-binary to read it anyway"
    )
    assert not out.exists()


def test_count_words_to_vocab_matches_vocab_from_counts(tmp_path, big_fixture):
    res = count_words([str(big_fixture)], threads=2)
    ref = independent_count(big_fixture.read_text(encoding="utf-8"))
    v = res.to_vocab(3, 500)
    expected = Vocab.from_counts(ref, 3, 500)
    assert v.words == expected.words and v.counts == expected.counts
    assert res.hapax() == sum(1 for c in ref.values() if c == 1)
