"""Atomic output: write to a temporary file beside the target, then rename.

An interrupted or failed run therefore never leaves a truncated file under the
final name, and an existing file is only replaced once the new one is whole.
`-` means standard output.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from typing import IO, Iterator

from nlpt.common.errors import NlptError


def check_writable(path: str) -> None:
    """Fail early, before hours of training, if `path` cannot be written."""
    if path == "-":
        return
    if os.path.isdir(path):
        raise NlptError(f"{path}: is a directory, expected a file path")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise NlptError(f"{path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise NlptError(f"{path}: directory {parent} is not writable")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise NlptError(f"{path}: file is not writable")


def _make_temp(path: str) -> tuple[int, str]:
    """A temporary file beside `path` (same filesystem, so the final rename is atomic)."""
    parent = os.path.dirname(os.path.abspath(path))
    try:
        return tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise NlptError(f"{path}: cannot create a file in {parent} ({reason})") from None


@contextlib.contextmanager
def atomic_output(path: str, mode: str = "w", encoding: str = "utf-8") -> Iterator[IO]:
    """Yield a file object whose content appears at `path` only on success."""
    binary = "b" in mode
    if path == "-":
        stream = sys.stdout.buffer if binary else sys.stdout
        yield stream
        stream.flush()
        return
    check_writable(path)
    fd, tmp = _make_temp(path)
    try:
        if binary:
            fh: IO = os.fdopen(fd, "wb")
        else:
            fh = io.TextIOWrapper(os.fdopen(fd, "wb"), encoding=encoding, newline="\n")
        with fh:
            yield fh
        if os.path.exists(path):
            with contextlib.suppress(OSError):
                os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
