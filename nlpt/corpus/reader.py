"""The streaming corpus reader: the single way every nlpt command reads text.

Inputs are files, globs, directories (recursive) and `-` for stdin, each
optionally gzip/bzip2/xz-compressed (detected from magic bytes). Text is read
in blocks of `chunk_bytes`, always cut at an ASCII whitespace byte, so memory
stays bounded whatever the line length (text8 is one 100 MB line) and no token
or UTF-8 sequence is ever split between blocks: a token longer than a block is
held until its end and yielded whole, as a byte range holds the whole token
that straddles its end, so the tokens are the same for any number of ranges.
A "sentence" is a line, cut into pieces of at most `max_sentence` tokens.

Plain files can be split into byte ranges (`plan_shards`) so that N workers
read N disjoint parts of the same files; a token belongs to the range that
holds its first byte, so the union of the shards is exactly the corpus.
"""

from __future__ import annotations

import glob
import io
import lzma
import zlib
import os
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from typing import BinaryIO, Iterable, Iterator

from nlpt.common import inputs as _inputs
from nlpt.common.errors import NlptError
from nlpt.common.output import os_reason
from nlpt.corpus.tokenize import TokenizerOptions, make_normaliser, make_splitter

UTF8_BOM = b"\xef\xbb\xbf"
WHITESPACE = b" \t\n\r\x0b\x0c"
_WS_SET = frozenset(WHITESPACE)
DEFAULT_CHUNK_BYTES = 1 << 20
DEFAULT_MAX_SENTENCE = 10_000



@dataclass(frozen=True)
class Source:
    """One input: a whole file (or stdin, `-`), or a byte range [start, end) of a plain file."""

    path: str
    start: int = 0
    end: int | None = None

    def __str__(self) -> str:
        if self.end is None and self.start == 0:
            return self.path
        return f"{self.path}[{self.start}:{'' if self.end is None else self.end}]"


@dataclass(frozen=True)
class ReaderOptions:
    tokenizer: TokenizerOptions = field(default_factory=TokenizerOptions)
    max_sentence: int = DEFAULT_MAX_SENTENCE
    force_binary: bool = False
    chunk_bytes: int = DEFAULT_CHUNK_BYTES


@dataclass
class ReadStats:
    """What the reader saw; reported once at the end of a command."""

    bytes: int = 0
    lines: int = 0
    files: int = 0
    invalid_utf8: dict = field(default_factory=lambda: defaultdict(int))

    def merge(self, other: "ReadStats") -> None:
        self.bytes += other.bytes
        self.lines += other.lines
        self.files += other.files
        for k, v in other.invalid_utf8.items():
            self.invalid_utf8[k] += v

    @property
    def total_invalid(self) -> int:
        return sum(self.invalid_utf8.values())

    def warnings(self) -> list[str]:
        return [
            f"{path}: {n} invalid UTF-8 sequence{'s' if n != 1 else ''} replaced by U+FFFD"
            for path, n in sorted(self.invalid_utf8.items())
            if n
        ]

    def report(self, quiet: bool = False) -> None:
        if quiet:
            return
        for line in self.warnings():
            print(f"nlpt: warning: {line}", file=sys.stderr, flush=True)


# -- locating inputs --------------------------------------------------------------


def _unreadable_folder(exc: OSError) -> None:
    """A folder inside an input folder that cannot be listed is an error, never silently half a corpus."""
    raise NlptError(f"{exc.filename}: cannot read the folder ({os_reason(exc)})")


def expand_inputs(specs: Iterable[str]) -> list[str]:
    """Turn files, globs, directories and `-` into an ordered list of readable paths."""
    paths: list[str] = []
    for spec in specs:
        if spec == "-":
            paths.append("-")
        elif os.path.isdir(spec):
            found = []
            # Links to folders are followed as links to files are; a folder already on the way down (a link
            # loop) is not entered again.
            seen = {os.path.realpath(spec)}
            for root, dirs, files in os.walk(spec, onerror=_unreadable_folder, followlinks=True):
                keep = []
                for d in sorted(d for d in dirs if not d.startswith(".")):
                    real = os.path.realpath(os.path.join(root, d))
                    if real not in seen:
                        seen.add(real)
                        keep.append(d)
                dirs[:] = keep
                found.extend(os.path.join(root, f) for f in sorted(files) if not f.startswith("."))
            if not found:
                raise NlptError(f"{spec}: directory contains no files")
            paths.extend(found)
        elif os.path.exists(spec):
            paths.append(spec)
        elif glob.has_magic(spec):
            found = sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
            if not found:
                raise NlptError(f"{spec}: no files match this pattern")
            paths.extend(found)
        else:
            raise NlptError(f"{spec}: no such file or directory")
    for p in paths:
        if p != "-" and not os.path.exists(p):
            raise NlptError(f"{p}: no such file or directory (a broken symbolic link)")
        if p != "-" and not os.access(p, os.R_OK):
            raise NlptError(f"{p}: permission denied")
    if not paths:
        raise NlptError("no input given (pass files, globs, directories or - for stdin)")
    if paths.count("-") > 1:
        from nlpt.common.errors import UsageError

        raise UsageError("standard input (-) can be read only once; name it once")
    return paths


def compression_of(path: str) -> str | None:
    """'gzip', 'bzip2', 'xz' or None, from the file's first bytes."""
    return _inputs.compression_of(path)


def open_binary(path: str) -> BinaryIO:
    """Open a path (or `-`) for reading bytes, decompressing transparently (`nlpt.common.inputs`)."""
    return _inputs.open_input(path)


def plan_shards(paths: list[str], n: int) -> list[list[Source]]:
    """Split inputs into `n` parts of about equal bytes.

    Plain files are cut into byte ranges; compressed files and stdin cannot be
    seeked into, so each goes whole to the least-loaded part.
    """
    n = max(1, n)
    shards: list[list[Source]] = [[] for _ in range(n)]
    load = [0] * n
    plain: list[tuple[str, int]] = []
    whole: list[tuple[str, int]] = []
    for p in paths:
        if p == "-" or not os.path.isfile(p) or compression_of(p) is not None:
            whole.append((p, os.path.getsize(p) * 4 if os.path.isfile(p) else 0))
        else:
            plain.append((p, os.path.getsize(p)))
    for p, size in sorted(whole, key=lambda x: -x[1]):
        k = load.index(min(load))
        shards[k].append(Source(p))
        load[k] += size
    # Plain bytes fill the parts in order, up to integer boundaries of the
    # cumulative byte count (whole compressed files are already in `load`).
    total = sum(load) + sum(s for _, s in plain)
    bounds = [round(total * (i + 1) / n) for i in range(n)]
    k = 0
    for p, size in plain:
        pos = 0
        while pos < size:
            while k < n - 1 and sum(load[: k + 1]) >= bounds[k]:
                k += 1
            room = size - pos if k == n - 1 else bounds[k] - sum(load[: k + 1])
            take = min(size - pos, room)
            shards[k].append(Source(p) if (pos, take) == (0, size) else Source(p, pos, pos + take))
            load[k] += take
            pos += take
    return shards


def as_sources(paths: Iterable[str]) -> list[Source]:
    return [Source(p) for p in paths]


# -- reading blocks of bytes ----------------------------------------------------


def _cut_point(block: bytes, split_tokens: bool = False) -> int:
    """Index just past the last safe cut in `block` (newline, else whitespace); 0 when `block` is inside one
    token, unless `split_tokens` (byte copies), which cut it at the last UTF-8 boundary instead."""
    i = block.rfind(b"\n")
    if i >= 0:
        return i + 1
    for ws in (b" ", b"\t", b"\r", b"\x0b", b"\x0c"):
        j = block.rfind(ws)
        if j > i:
            i = j
    if i >= 0:
        return i + 1
    if not split_tokens:
        return 0
    # One token longer than a block, copied as bytes: cut it, but never inside a UTF-8 sequence.
    cut = len(block)
    back = 0
    while cut > 0 and back < 4 and (block[cut - 1] & 0xC0) == 0x80:
        cut -= 1
        back += 1
    if cut > 0 and block[cut - 1] >= 0xC0:
        cut -= 1
    return cut if cut > 0 else len(block)


def _read_some(fh: BinaryIO, n: int, path: str) -> bytes:
    try:
        if fh is sys.stdin.buffer and hasattr(fh, "read1"):
            return fh.read1(n)
        return fh.read(n)
    except (BrokenPipeError, NlptError):
        raise
    except (EOFError, OSError, lzma.LZMAError, zlib.error) as exc:
        if isinstance(exc, OSError) and exc.filename:
            raise
        raise NlptError(f"{path}: corrupt or truncated compressed data ({exc})") from None


_WS_RE = re.compile(rb"[ \t\n\r\x0b\x0c]")


def _skip_to_whitespace(fh: BinaryIO) -> bool:
    """Advance `fh` to its next whitespace byte; False at end of file."""
    while True:
        piece = fh.read(1 << 16)
        if not piece:
            return False
        m = _WS_RE.search(piece)
        if m:
            fh.seek(m.start() - len(piece), io.SEEK_CUR)
            return True


def _rest_of_token(fh: BinaryIO) -> bytes:
    """The bytes from the current position up to (not including) the next whitespace."""
    parts = []
    while True:
        piece = fh.read(1 << 12)
        if not piece:
            break
        m = _WS_RE.search(piece)
        if m:
            parts.append(piece[: m.start()])
            break
        parts.append(piece)
    return b"".join(parts)


def unterminated_line(source: Source, last_block: bytes) -> int:
    """1 when `last_block`, the last one read from `source`, ends the file's final line without a newline
    (it is a line all the same), else 0: what the readers add to their `lines` count after each source.

    A byte range ends the file when it reaches the file's end, or when the token that straddles its end (which
    it reads whole) runs to the file's end: the later ranges then hold no token and count nothing."""
    if not last_block or last_block.endswith(b"\n"):
        return 0
    if source.end is not None and source.path != "-":
        try:
            if source.end >= os.path.getsize(source.path):
                return 1
            return int(range_begin(Source(source.path, source.end)) is None)  # the next range reads nothing
        except OSError:
            return 0
    return 1


def _begin_range(fh: BinaryIO, source: Source) -> int | None:
    """Move `fh` to where reading `source` begins: its start, past the token that began in the previous range
    (that range reads it); None when that token runs to the end of the file (nothing left to read)."""
    pos = source.start
    if pos > 0:
        fh.seek(pos - 1)
        if fh.read(1)[0] not in _WS_SET and not _skip_to_whitespace(fh):
            return None
        pos = fh.tell()
    return pos


def range_begin(source: Source) -> int | None:
    """The byte offset at which `iter_blocks` begins reading `source` (its blocks' sizes count from there), or None
    when it reads nothing: what a resumable reader records as its position must start from here."""
    if not source.start:
        return 0
    fh = open_binary(source.path)
    try:
        return _begin_range(fh, source)
    finally:
        fh.close()


def iter_blocks(source: Source, chunk_bytes: int = DEFAULT_CHUNK_BYTES, force_binary: bool = False,
                exact: bool = False) -> Iterator[bytes]:
    """Yield the bytes of `source` in blocks that each end at a token boundary.

    A UTF-8 byte-order mark at the start of a file becomes three spaces (it is not part of the first word,
    and byte offsets stay those of the file), and NUL bytes (with `force_binary`) become spaces, unless
    `exact` (copies such as `corpus shard`, which keep every byte).
    """
    path = source.path
    fh = open_binary(path)
    try:
        remaining = None  # bytes left in a byte range; None = read to the end
        if source.start or source.end is not None:
            pos = _begin_range(fh, source)
            if pos is None:
                return  # the token that began in the previous range runs to the end
            if source.end is not None:
                remaining = max(0, source.end - pos)
        carry = b""
        held: list[bytes] = []  # the pieces of a token longer than a block, yielded whole at its end
        at_start = not source.start and not exact
        while True:
            want = chunk_bytes if remaining is None else min(chunk_bytes, remaining)
            data = _read_some(fh, want, path) if want > 0 else b""
            if at_start and data:
                at_start = False
                if data.startswith(UTF8_BOM):
                    data = b"   " + data[3:]
            at_end = not data
            if remaining is not None:
                remaining -= len(data)
                if remaining <= 0:
                    at_end = True
                    last = (data or carry)[-1:]
                    if last and last[0] not in _WS_SET:
                        data += _rest_of_token(fh)  # the straddling token belongs to this range
            if b"\x00" in data:
                if not force_binary:
                    raise NlptError(f"{path}: looks like a binary file (contains NUL bytes); pass --force-binary to read it anyway")
                if not exact:  # a copy keeps the NULs; readers of text see spaces
                    data = data.replace(b"\x00", b" ")
            block = carry + data if carry else data
            if at_end:
                if held:
                    block = b"".join(held) + block
                if block:
                    yield block
                return
            cut = _cut_point(block, split_tokens=exact)
            if cut == 0:  # inside one token: hold it (joined once, at its end, not copied block after block)
                held.append(block)
                carry = b""
                continue
            carry = block[cut:]
            if held:
                yield b"".join(held) + block[:cut]
                held = []
            else:
                yield block[:cut]
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()


def decode(block: bytes, path: str, stats: ReadStats | None) -> str:
    """UTF-8 decode; invalid sequences become U+FFFD and are counted per file."""
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        text = block.decode("utf-8", "replace")
        if stats is not None:
            stats.invalid_utf8[path] += text.count("\ufffd") - block.count(b"\xef\xbf\xbd")
        return text


# -- text, tokens, sentences ------------------------------------------------------


def iter_text(sources: Iterable[Source], opts: ReaderOptions = ReaderOptions(), stats: ReadStats | None = None) -> Iterator[str]:
    """Decoded, normalised (NFKC/lower) text blocks, each ending at a token boundary."""
    normalise = make_normaliser(opts.tokenizer)
    for source in sources:
        if stats is not None:
            stats.files += 1
        block = b""
        for block in iter_blocks(source, opts.chunk_bytes, opts.force_binary):
            if stats is not None:
                stats.bytes += len(block)
                stats.lines += block.count(b"\n")
            yield normalise(decode(block, source.path, stats))
        if stats is not None:
            stats.lines += unterminated_line(source, block)


def iter_token_chunks(
    sources: Iterable[Source], opts: ReaderOptions = ReaderOptions(), stats: ReadStats | None = None
) -> Iterator[list[str]]:
    """Flat token lists, one per block: the fast path for counting."""
    split = make_splitter(TokenizerOptions(split_punct=opts.tokenizer.split_punct, cjk=opts.tokenizer.cjk))
    for text in iter_text(sources, opts, stats):
        tokens = split(text)
        if tokens:
            yield tokens


def iter_sentences(
    sources: Iterable[Source], opts: ReaderOptions = ReaderOptions(), stats: ReadStats | None = None
) -> Iterator[list[str]]:
    """Sentences (lines) as token lists of at most `opts.max_sentence` tokens; empty lines skipped."""
    split = make_splitter(TokenizerOptions(split_punct=opts.tokenizer.split_punct, cjk=opts.tokenizer.cjk))
    limit = opts.max_sentence
    for source in sources:
        pending: list[str] = []
        for text in iter_text([source], opts, stats):
            lines = text.split("\n")
            complete = text.endswith("\n")
            if complete:
                lines.pop()  # the empty string after the final newline
            last = len(lines) - 1
            for i, line in enumerate(lines):
                tokens = split(line)
                if pending:
                    tokens = pending + tokens
                    pending = []
                while len(tokens) > limit:
                    yield tokens[:limit]
                    tokens = tokens[limit:]
                if i == last and not complete:
                    pending = tokens
                elif tokens:
                    yield tokens
        if pending:
            yield pending


# -- encoding for the trainers ------------------------------------------------------


def write_sentences(paths: list[str], opts: ReaderOptions, output: str, quiet: bool = False) -> ReadStats:
    """Every sentence of `paths`, normalised and space-separated, one per line, into `output` (a file renamed
    into place when whole, or - for stdout): `nlpt corpus tokenize`. Returns what was read."""
    from nlpt.common.output import atomic_output
    from nlpt.common.progress import Progress

    st = ReadStats()
    n = 0
    with atomic_output(output) as fh, Progress("tokenizing", unit="B", quiet=quiet) as bar:
        buf: list[str] = []
        for sentence in iter_sentences(as_sources(paths), opts, st):
            buf.append(" ".join(sentence))
            if len(buf) >= 4096:
                buf.append("")
                fh.write("\n".join(buf))
                n += len(buf) - 1
                buf = []
                bar.update(st.bytes, sentences=n)
        if buf:
            buf.append("")
            fh.write("\n".join(buf))
            n += len(buf) - 1
        bar.update(st.bytes, sentences=n)
    return st


class _IdMap(dict):
    """word -> id, with -1 for words outside the vocabulary."""

    def __missing__(self, key):
        return -1


@dataclass
class EncodedChunk:
    """Token ids of whole sentences: sentence i is ids[starts[i]:starts[i+1]]."""

    ids: "object"  # np.ndarray[int32]
    starts: "object"  # np.ndarray[int64], len = sentences + 1
    tokens_read: int  # tokens seen, including those outside the vocabulary


def iter_encoded(
    sources: Iterable[Source],
    word_ids: dict,
    opts: ReaderOptions = ReaderOptions(),
    stats: ReadStats | None = None,
    target_tokens: int = 1 << 20,
) -> Iterator[EncodedChunk]:
    """Encode sentences to int32 ids (out-of-vocabulary words dropped) in chunks of about `target_tokens`.

    Sentence length is counted after dropping, as word2vec.c does.
    """
    import numpy as np

    lookup = word_ids if isinstance(word_ids, _IdMap) else _IdMap(word_ids)
    get = lookup.__getitem__
    limit = opts.max_sentence
    buf_ids: list = []
    buf_lens: list[int] = []
    n_buf = 0
    read = 0
    for sentence in iter_sentences(sources, ReaderOptions(opts.tokenizer, 1 << 62, opts.force_binary, opts.chunk_bytes), stats):
        read += len(sentence)
        ids = np.fromiter(map(get, sentence), dtype=np.int32, count=len(sentence))
        ids = ids[ids >= 0]
        for s in range(0, len(ids), limit):
            piece = ids[s : s + limit]
            buf_ids.append(piece)
            buf_lens.append(len(piece))
            n_buf += len(piece)
        if n_buf >= target_tokens:
            yield _pack(buf_ids, buf_lens, read)
            buf_ids, buf_lens, n_buf, read = [], [], 0, 0
    if buf_ids or read:
        yield _pack(buf_ids, buf_lens, read)


def _pack(buf_ids: list, buf_lens: list[int], read: int) -> EncodedChunk:
    import numpy as np

    ids = np.concatenate(buf_ids) if buf_ids else np.zeros(0, dtype=np.int32)
    starts = np.zeros(len(buf_lens) + 1, dtype=np.int64)
    if buf_lens:
        np.cumsum(buf_lens, out=starts[1:])
    return EncodedChunk(ids.astype(np.int32, copy=False), starts, read)
