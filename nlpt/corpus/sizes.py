"""How many bytes a pass over the inputs will read, for progress bars.

The reader counts uncompressed bytes, so a `.gz` input's total must be its
uncompressed size, not its file size (which made progress stop at ~30%).
"""

from __future__ import annotations

import os

from nlpt.corpus.reader import compression_of


def uncompressed_size(path: str) -> int | None:
    """Bytes the reader will produce from `path`: its size, or for gzip the size in its trailer
    (exact for one-member files under 4 GiB); None when unknown (stdin, bzip2, xz, larger gzip)."""
    if path == "-":
        return None
    kind = compression_of(path)
    size = os.path.getsize(path)
    if kind is None:
        return size
    if kind == "gzip" and 18 <= size < (1 << 32):
        with open(path, "rb") as fh:
            fh.seek(size - 4)
            isize = int.from_bytes(fh.read(4), "little")
        return isize if isize >= size // 1100 else None  # deflate cannot compress better than ~1032:1
    return None


def progress_total(paths: list[str]) -> int | None:
    """The bytes a pass over `paths` reads (uncompressed), for a progress bar; None when unknown."""
    total = 0
    for p in paths:
        n = uncompressed_size(p)
        if n is None:
            return None
        total += n
    return total
