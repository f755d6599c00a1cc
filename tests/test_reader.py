"""The streaming reader: input kinds, bounded memory, UTF-8, binary files, tokenization, shards."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import subprocess
import sys
import textwrap
from collections import Counter

import pytest

from _cli import SHARED, nlpt
from nlpt.common.errors import NlptError
from nlpt.corpus.reader import (
    ReaderOptions,
    ReadStats,
    as_sources,
    expand_inputs,
    iter_encoded,
    iter_sentences,
    iter_token_chunks,
    plan_shards,
)
from nlpt.corpus.tokenize import TokenizerOptions, make_splitter

TEXT = "the quick brown fox\njumps over the lazy dog\n\nthe end\n"
TOKENS = TEXT.split()


def tokens_of(paths, opts=ReaderOptions(), stats=None):
    return [t for chunk in iter_token_chunks(as_sources(paths), opts, stats) for t in chunk]


@pytest.mark.parametrize("kind", ["plain", "gz", "bz2", "xz"])
def test_every_compression_reads_the_same_tokens_and_sentences(tmp_path, kind):
    data = TEXT.encode()
    path = tmp_path / f"c.txt{'' if kind == 'plain' else '.' + kind}"
    opener = {"plain": lambda b: b, "gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[kind]
    path.write_bytes(opener(data))
    assert tokens_of([str(path)]) == TOKENS
    sents = list(iter_sentences(as_sources([str(path)])))
    assert sents == [["the", "quick", "brown", "fox"], ["jumps", "over", "the", "lazy", "dog"], ["the", "end"]]


def test_compression_is_detected_from_content_not_name(tmp_path):
    path = tmp_path / "misleading.txt"
    path.write_bytes(gzip.compress(TEXT.encode()))
    assert tokens_of([str(path)]) == TOKENS


def test_glob_and_directory_are_expanded_recursively_in_order(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "b.txt").write_text("b1 b2\n")
    (tmp_path / "d" / "a.txt").write_text("a1\n")
    (tmp_path / "d" / "sub" / "c.txt.gz").write_bytes(gzip.compress(b"c1 c2 c3\n"))
    (tmp_path / "d" / ".hidden").write_text("secret\n")
    paths = expand_inputs([str(tmp_path / "d")])
    assert [os.path.basename(p) for p in paths] == ["a.txt", "b.txt", "c.txt.gz"]
    assert tokens_of(paths) == ["a1", "b1", "b2", "c1", "c2", "c3"]
    globbed = expand_inputs([str(tmp_path / "d" / "*.txt")])
    assert [os.path.basename(p) for p in globbed] == ["a.txt", "b.txt"]


def test_stdin_through_the_cli(tmp_path):
    r = nlpt("corpus", "tokenize", "-", "-q", input=TEXT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["the quick brown fox", "jumps over the lazy dog", "the end"]
    r = nlpt("corpus", "tokenize", "-", "-q", input=gzip.compress(TEXT.encode()))
    assert r.returncode == 0
    assert r.stdout.decode().split() == TOKENS


def test_missing_file_and_empty_glob_are_one_line_errors(tmp_path):
    with pytest.raises(NlptError, match="no such file"):
        expand_inputs([str(tmp_path / "nope.txt")])
    with pytest.raises(NlptError, match="no files match"):
        expand_inputs([str(tmp_path / "*.nothing")])
    r = nlpt("corpus", "tokenize", str(tmp_path / "nope.txt"))
    assert r.returncode == 1
    assert r.stderr.strip() == f"nlpt: error: {tmp_path / 'nope.txt'}: no such file or directory"
    assert "Traceback" not in r.stderr


def test_empty_file_gives_no_tokens(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    assert tokens_of([str(path)]) == []
    assert list(iter_sentences(as_sources([str(path)]))) == []


def test_invalid_utf8_is_replaced_and_counted_per_file(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"caf\xe9 ok \xff\xfe done \xef\xbf\xbd\n")  # 3 invalid bytes; a real U+FFFD is not counted
    st = ReadStats()
    toks = tokens_of([str(path)], stats=st)
    assert toks == ["caf\ufffd", "ok", "\ufffd\ufffd", "done", "\ufffd"]
    assert st.invalid_utf8[str(path)] == 3
    assert st.warnings() == [f"{path}: 3 invalid UTF-8 sequences replaced by U+FFFD"]


def test_invalid_utf8_is_reported_once_at_the_end(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes((b"x\xff y\n" * 50000))
    r = nlpt("corpus", "tokenize", str(path), "-o", str(tmp_path / "out.txt"))
    assert r.returncode == 0
    warnings = [l for l in r.stderr.splitlines() if "warning" in l]
    assert warnings == [f"nlpt: warning: {path}: 50000 invalid UTF-8 sequences replaced by U+FFFD"]


def test_binary_file_is_an_error_unless_forced(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(b"abc\x00\x01\x02 def\n")
    with pytest.raises(NlptError, match="binary"):
        tokens_of([str(path)])
    forced = tokens_of([str(path)], ReaderOptions(force_binary=True))
    assert forced == ["abc", "\x01\x02", "def"]
    r = nlpt("vocab", str(path), "-q")  # (-q: no "compiling kernels" note on a first run)
    assert r.returncode == 1
    assert r.stderr.strip().startswith(f"nlpt: error: {path}: looks like a binary file")
    assert len(r.stderr.strip().splitlines()) == 1
    assert nlpt("vocab", str(path), "--force-binary", "-q").returncode == 0


def test_cjk_characters_become_tokens():
    split = make_splitter(TokenizerOptions(cjk=True))
    assert split("第一回 灵根育孕 abc한국어カタカナ") == ["第", "一", "回", "灵", "根", "育", "孕", "abc", "한", "국", "어", "カ", "タ", "カ", "ナ"]
    split = make_splitter(TokenizerOptions(cjk=True, split_punct=True))
    assert split("诗曰：混沌未分,hello!") == ["诗", "曰", "：", "混", "沌", "未", "分", ",", "hello", "!"]


def test_lower_nfkc_and_punctuation():
    assert make_splitter(TokenizerOptions(lower=True, nfkc=True))("ＡＢＣ ﬁne Ǆ") == ["abc", "fine", "dž"]
    assert make_splitter(TokenizerOptions(split_punct=True))("Don't stop, (now)!") == ["Don't", "stop", ",", "(", "now", ")", "!"]


@pytest.mark.skipif(not os.path.isdir(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data", "zh-classics")), reason="shared data missing")
def test_chinese_classic_without_segmenter():
    path = os.path.join(SHARED, "zh-classics", "xiyouji.txt")
    opts = ReaderOptions(tokenizer=TokenizerOptions(cjk=True), chunk_bytes=1 << 16)
    first = next(iter_sentences(as_sources([path]), opts))
    assert first[:3] == ["《", "西", "游"]
    counts = Counter(t for chunk in iter_token_chunks(as_sources([path]), opts) for t in chunk)
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    for ch in "悟空行者道":  # independent count: occurrences in the raw text
        assert counts[ch] == text.count(ch) > 100
    assert all(len(w) == 1 for w in counts if "\u4e00" <= w[0] <= "\u9fff")


def test_long_lines_are_cut_into_sentences_of_max_length(tmp_path):
    path = tmp_path / "one-line.txt"
    path.write_text(" ".join(f"w{i}" for i in range(2500)))  # no newline at all
    opts = ReaderOptions(max_sentence=1000, chunk_bytes=1024)
    sents = list(iter_sentences(as_sources([str(path)]), opts))
    assert [len(s) for s in sents] == [1000, 1000, 500]
    assert [t for s in sents for t in s] == [f"w{i}" for i in range(2500)]


def test_tokens_longer_than_a_block_are_not_split_across_utf8(tmp_path):
    path = tmp_path / "long.txt"
    word = "é" * 5000
    path.write_text(f"a {word} b\n")
    st = ReadStats()
    toks = tokens_of([str(path)], ReaderOptions(chunk_bytes=999), st)
    assert "".join(toks[1:-1]) == word and toks[0] == "a" and toks[-1] == "b"
    assert st.total_invalid == 0


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_byte_offset_shards_cover_the_corpus_exactly(tmp_path, n):
    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt.gz"
    words_a = [f"a{i}" + "x" * (i % 13) for i in range(3000)]
    a.write_text(" ".join(words_a[:1000]) + "\n" + " ".join(words_a[1000:]))  # long lines, no final newline
    b.write_bytes(gzip.compress(("b1 b2\nb3\n" * 100).encode()))
    shards = plan_shards([str(a), str(b)], n)
    assert len(shards) == n
    seen = Counter()
    for shard in shards:
        seen.update(tokens_of_sources(shard))
    assert seen == Counter(words_a) + Counter(["b1", "b2", "b3"] * 100)
    # Compressed files are never cut; plain ranges are disjoint and contiguous.
    ranges = sorted((s.start, s.end if s.end is not None else a.stat().st_size) for sh in shards for s in sh if s.path == str(a))
    assert ranges[0][0] == 0 and ranges[-1][1] == a.stat().st_size
    assert all(x[1] == y[0] for x, y in zip(ranges, ranges[1:]))
    assert sum(1 for sh in shards for s in sh if s.path == str(b)) == 1


def tokens_of_sources(sources):
    return [t for chunk in iter_token_chunks(sources, ReaderOptions(chunk_bytes=256)) for t in chunk]


def test_iter_encoded_gives_int32_ids_and_sentence_bounds(tmp_path):
    import numpy as np

    path = tmp_path / "c.txt"
    path.write_text("a b c\nb z a\n\nc\n")
    chunks = list(iter_encoded(as_sources([str(path)]), {"a": 0, "b": 1, "c": 2}, ReaderOptions(max_sentence=2)))
    ids = np.concatenate([c.ids for c in chunks])
    assert ids.dtype == np.int32
    assert ids.tolist() == [0, 1, 2, 1, 0, 2]
    starts = chunks[0].starts
    assert starts.dtype == np.int64
    sents = [chunks[0].ids[starts[i]:starts[i + 1]].tolist() for i in range(len(starts) - 1)]
    assert sents == [[0, 1], [2], [1, 0], [2]]
    assert sum(c.tokens_read for c in chunks) == 7


RSS_SCRIPT = textwrap.dedent(
    """
    import sys
    from nlpt.corpus.reader import ReaderOptions, as_sources, iter_sentences

    def peak_rss():
        # VmHWM is this process image's own peak (ru_maxrss would include the forking parent's).
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

    base = peak_rss()
    n = longest = 0
    for s in iter_sentences(as_sources([sys.argv[1]]), ReaderOptions()):
        n += len(s)
        longest = max(longest, len(s))
    print(n, longest, peak_rss() - base)
    """
)


def _stream(path):
    r = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return tuple(map(int, r.stdout.split()))


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc for peak RSS")
def test_50mb_single_line_streams_with_bounded_memory(tmp_path):
    piece = (" ".join(f"w{i % 5000}x" for i in range(20000)) + " ").encode()
    assert b"\n" not in piece
    growth = {}
    for size in (10_000_000, 50_000_000):
        path = tmp_path / f"oneline-{size}.txt"
        reps = size // len(piece)
        with open(path, "wb") as fh:
            for _ in range(reps):
                fh.write(piece)
        n, longest, growth[size] = _stream(path)
        assert n == reps * 20000
        assert longest == 10_000  # the default --max-sentence-length
        path.unlink()
    big = growth[50_000_000]
    assert big < 50_000_000 / 2, f"peak RSS grew by {big / 1e6:.1f} MB while reading a 50 MB line"
    # Bounded: five times the input costs no more memory (it depends on the block size only).
    assert big < growth[10_000_000] + 5_000_000, growth


def test_range_begin_is_the_file_offset_the_blocks_count_from(tmp_path):
    """A byte range that starts inside a token skips it (the previous range reads it); `range_begin` says where
    reading began, so a resumable reader's position (begin + the sizes of the blocks read) is a file offset."""
    from nlpt.corpus.reader import Source, iter_blocks, range_begin

    p = tmp_path / "c.txt"
    data = b"alpha beta\ngamma delta epsilon\nzeta " + b"x" * 300 + b" eta\n"
    p.write_bytes(data)
    size = len(data)
    for start in range(0, size):
        src = Source(str(p), start, min(size, start + 40))
        begin = range_begin(src)
        blocks = b"".join(iter_blocks(src, chunk_bytes=16))
        if begin is None:  # the token at the start runs to the end of the file
            assert blocks == b"" and not data[start - 1:].strip().count(b" ")
            continue
        assert begin >= start and data[begin:begin + len(blocks)] == blocks, start
        assert begin == start or data[begin:begin + 1].isspace() or begin == size


def test_an_embedding_trainers_resume_positions_are_file_offsets(tmp_path):
    """The position a trainer checkpoints after each block of its part (`CorpusStream.blocks`) is the file offset
    up to which it has read, also for a part that begins inside a token: resuming there re-reads nothing."""
    from nlpt.corpus.reader import ReaderOptions, ReadStats
    from nlpt.embeddings.training.driver import CorpusStream

    p = tmp_path / "c.txt"
    data = b"".join(b"word%d " % i + (b"\n" if i % 7 == 0 else b"") for i in range(3000))
    p.write_bytes(data)
    stream = CorpusStream([str(p)], ["word1"], ReaderOptions(), 3, block_bytes=64)
    for part in stream.shards:
        begin = part[0].start
        for block, (_, position) in stream.blocks(part, 0, ReadStats()):
            assert data[position - len(block):position] == block, (begin, position)
