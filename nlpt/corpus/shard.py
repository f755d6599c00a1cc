"""`nlpt corpus shard`: split a corpus into N files of about equal size.

Bytes are copied as they are (compressed inputs decompressed); each cut falls
at the first line end after the target size, or at whitespace when there is
no line end nearby (a one-line corpus such as text8), never inside a token.
"""

from __future__ import annotations

import contextlib
import gzip
import os

from nlpt.common.errors import NlptError, UsageError
from nlpt.common.output import atomic_output, os_reason
from nlpt.corpus.reader import Source, compression_of, iter_blocks

_WS = (b" ", b"\t", b"\r", b"\x0b", b"\x0c")
_ENDS = (b"\n", *_WS)


def _total_bytes(paths: list[str], force_binary: bool) -> int:
    total = 0
    for p in paths:
        if p == "-":
            raise UsageError("-: cannot shard stdin (its size is unknown); save it to a file first")
        if compression_of(p) is None:
            total += os.path.getsize(p)
        else:  # a first pass to learn the decompressed size
            total += sum(len(b) for b in iter_blocks(Source(p), force_binary=force_binary, exact=True))
    return total


def _cut(block: bytes, at: int) -> int:
    """The first token boundary at or after `at` (just past a newline, or a whitespace byte); -1 if none."""
    i = block.find(b"\n", at)
    if i >= 0 and i - at < (1 << 16):
        return i + 1
    best = i + 1 if i >= 0 else -1
    for ws in _WS:
        j = block.find(ws, at)
        if j >= 0 and (best < 0 or j + 1 < best):
            best = j + 1
    return best


_SPARE_FILES = 64  # descriptors kept for the inputs, the interpreter and the libraries


def check_shard_count(n: int) -> None:
    """All shards are written at once, each an open file: refuse (exit 2, before any work) more than the
    process may hold open (`ulimit -n`), which would otherwise fail only after the other shards were begun."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):  # pragma: no cover - no resource module (Windows)
        return
    if limit != resource.RLIM_INFINITY and n > limit - _SPARE_FILES:
        raise UsageError(f"--shards {n}: more files than this process may hold open at once (ulimit -n is {limit}; "
                         f"at most {max(1, limit - _SPARE_FILES):,} shards); give fewer shards or raise the limit")


def shard_names(prefix: str, n: int, gz: bool) -> list[str]:
    width = max(2, len(str(n - 1)))
    ext = ".txt.gz" if gz else ".txt"
    return [f"{prefix}{i:0{width}d}{ext}" for i in range(n)]


def shard_files(paths: list[str], n: int, prefix: str, gz: bool = False, force_binary: bool = False, quiet: bool = False) -> list[tuple[str, int, int]]:
    """Write `n` shards; returns (path, bytes, lines) per shard."""
    from nlpt.common.progress import Progress

    names = shard_names(prefix, n, gz)
    total = _total_bytes(paths, force_binary)
    if total == 0:
        raise NlptError(f"{paths[0] if len(paths) == 1 else 'input'}: empty input, nothing to shard")
    folder = os.path.dirname(prefix)
    if folder and not os.path.isdir(folder):
        if os.path.exists(folder):
            raise NlptError(f"{folder}: exists and is not a directory (from --output-prefix {prefix})")
        try:
            os.makedirs(folder, exist_ok=True)  # `-o shards/part-` creates shards/, as the README shows
        except OSError as exc:
            raise NlptError(f"{folder}: cannot create the directory ({os_reason(exc)})") from None
    targets = [round(total * (i + 1) / n) for i in range(n)]
    sizes = [0] * n
    lines = [0] * n
    k = 0
    written = 0
    with contextlib.ExitStack() as stack, Progress("sharding", total=total, unit="B", quiet=quiet) as bar:
        outs = []
        for name in names:
            fh = stack.enter_context(atomic_output(name, "wb"))
            if gz:
                fh = stack.enter_context(gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0))
            outs.append(fh)
        last = [b"\n"] * n  # last byte written to each shard
        for p in paths:
            for block in iter_blocks(Source(p), force_binary=force_binary, exact=True):
                pos = 0
                while pos < len(block):
                    room = targets[k] - written
                    if k == n - 1 or room >= len(block) - pos:
                        piece = block[pos:]
                    else:
                        c = _cut(block, pos + max(room, 0))
                        piece = block[pos:] if c < 0 else block[pos:c]
                    outs[k].write(piece)
                    sizes[k] += len(piece)
                    lines[k] += piece.count(b"\n")
                    written += len(piece)
                    pos += len(piece)
                    last[k] = piece[-1:]
                    if k < n - 1 and written >= targets[k] and last[k] in _ENDS:
                        k += 1
                bar.update(written)
            # Files are separate texts: never glue the last token of one to the first of the next.
            if last[k] not in _ENDS:
                outs[k].write(b"\n")
                sizes[k] += 1
                lines[k] += 1
                last[k] = b"\n"
            if k < n - 1 and written >= targets[k]:
                k += 1
    return list(zip(names, sizes, lines))
