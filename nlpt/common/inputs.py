"""One opener for every file a command reads: `-` for stdin, gzip/bzip2/xz detected from magic bytes.

Corpora, vocabularies, count files, evaluation sets, vector files and config.json files all go through
`open_input`, so every file option accepts what the corpus arguments accept. Read errors name the path
and the operation ("big.txt: cannot read (input/output error)"); corrupt compressed data names the
file too. Standard input can be read once: commands refuse a second `-` (`expand_inputs` does so
for corpus arguments).
"""

from __future__ import annotations

import io
import os
import sys
from typing import IO

from nlpt.common.errors import NlptError
from nlpt.common.output import NamedFile, os_reason

MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"))


def _kind(head: bytes) -> str | None:
    for magic, name in MAGIC:
        if head.startswith(magic):
            return name
    return None


def compression_of(path: str) -> str | None:
    """'gzip', 'bzip2', 'xz' or None, from the file's first bytes.

    None for stdin and for FIFOs or devices (`<(zcat ...)`), whose bytes a peek would consume:
    `open_input` detects their compression from the stream itself.
    """
    if path == "-" or not os.path.isfile(path):
        return None
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise open_error(path, exc) from None
    with fh:
        try:
            return _kind(fh.read(6))
        except OSError as exc:
            raise NlptError(f"{path}: cannot read ({os_reason(exc)})") from None


def open_error(path: str, exc: OSError) -> NlptError:
    """The one-line error for a file that cannot be opened for reading."""
    if isinstance(exc, FileNotFoundError):
        return NlptError(f"{path}: no such file or directory")
    if isinstance(exc, IsADirectoryError):
        return NlptError(f"{path}: is a directory")
    return NlptError(f"{path}: cannot open for reading ({os_reason(exc)})")


def _decompressor(kind: str, fileobj, owned: IO | None = None) -> IO[bytes]:
    """A decompressing reader over `fileobj`; closing it also closes `owned` (the file we opened)."""
    import bz2
    import gzip
    import lzma

    base = {"gzip": gzip.GzipFile, "bzip2": bz2.BZ2File, "xz": lzma.LZMAFile}[kind]

    class Decompressed(base):
        def close(self) -> None:
            try:
                super().close()
            finally:
                if owned is not None:
                    owned.close()

    return Decompressed(fileobj=fileobj, mode="rb") if kind == "gzip" else Decompressed(fileobj, "rb")


def open_input(path: str, text: bool = False, encoding: str = "utf-8", errors: str = "strict") -> IO:
    """Open `path` (or `-`) for reading, decompressing transparently; bytes, or text with `text=True`."""
    if path == "-":
        raw = sys.stdin.buffer
        head = raw.peek(6)[:6] if hasattr(raw, "peek") else b""
        fh = raw
        kind = _kind(head)
        if kind is not None:
            fh = _decompressor(kind, raw)
        return io.TextIOWrapper(fh, encoding=encoding, errors=errors) if text else fh
    try:
        raw = NamedFile(path, "rb", path)
    except OSError as exc:
        raise open_error(path, exc) from None
    buffered = io.BufferedReader(raw, 1 << 16)
    kind = _kind(buffered.peek(6)[:6])
    fh = buffered if kind is None else _decompressor(kind, buffered, owned=buffered)
    return io.TextIOWrapper(fh, encoding=encoding, errors=errors) if text else fh


def read_all(path: str) -> bytes:
    """The whole (decompressed) content of `path` or stdin, with corrupt data named."""
    fh = open_input(path)
    try:
        return fh.read()
    except (BrokenPipeError, NlptError):
        raise
    except Exception as exc:  # noqa: BLE001 - EOFError, BadGzipFile, lzma.LZMAError, zlib.error
        raise NlptError(f"{path}: corrupt or truncated compressed data ({exc})") from None
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()
