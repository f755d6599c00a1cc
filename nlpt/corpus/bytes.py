"""Byte-level helpers of the reading path, below every package that reads text.

* `utf8_valid` / `is_utf8`: strict UTF-8 validation of a block without decoding it.
* `align_shards`: byte-range shards moved to line starts (a co-occurrence
  window never crosses a line, so line-aligned shards make counts independent
  of the number of threads).
"""

from __future__ import annotations

import os

import numpy as np
from numba import njit

@njit(cache=True, nogil=True)
def utf8_valid(buf):
    """Whether the bytes are valid UTF-8 by Python's strict decoder (no overlong forms,
    surrogates or code points past U+10FFFF), without decoding them."""
    n = buf.shape[0]
    i = 0
    while i < n:
        c = buf[i]
        if c < 0x80:
            i += 1
            continue
        lo = 0x80
        hi = 0xBF
        if c < 0xC2:
            return False
        elif c < 0xE0:
            need = 1
        elif c < 0xF0:
            need = 2
            if c == 0xE0:
                lo = 0xA0
            elif c == 0xED:
                hi = 0x9F
        elif c < 0xF5:
            need = 3
            if c == 0xF0:
                lo = 0x90
            elif c == 0xF4:
                hi = 0x8F
        else:
            return False
        if i + need >= n:
            return False
        c1 = buf[i + 1]
        if c1 < lo or c1 > hi:
            return False
        for k in range(2, need + 1):
            if (buf[i + k] & 0xC0) != 0x80:
                return False
        i += need + 1
    return True


def is_utf8(block: bytes) -> bool:
    """Whether `block` is valid UTF-8, checked in numba without decoding it (decoding a
    1 MB block would make a str of up to 4 MB per thread just to find out)."""
    return bool(utf8_valid(np.frombuffer(block, dtype=np.uint8)))


def _line_boundary(path: str, pos: int, cache: dict, limit: int = 1 << 20) -> int:
    """`pos` moved to the start of the next line (just past the first newline at or after pos - 1).

    A window never crosses a line, so cutting shards at line starts makes the
    counts independent of the number of threads. If no newline follows within
    `limit` bytes (one huge line), the cut stays where it was.
    """
    key = (path, pos)
    if key not in cache:
        with open(path, "rb") as fh:
            fh.seek(max(0, pos - 1))
            block = fh.read(limit)
        i = block.find(b"\n")
        cache[key] = pos if i < 0 else max(0, pos - 1) + i + 1
    return cache[key]


def align_shards(shards):
    """Move byte-range cuts of `plan_shards` to line starts (dropping ranges that become empty)."""
    from nlpt.corpus.reader import Source

    cache: dict = {}
    out = []
    for shard in shards:
        new = []
        for src in shard:
            if src.start == 0 and src.end is None:
                new.append(src)
                continue
            start = _line_boundary(src.path, src.start, cache) if src.start > 0 else 0
            end = src.end
            if end is not None:
                end = _line_boundary(src.path, end, cache)
                if end >= os.path.getsize(src.path):
                    end = None
            if end is None or start < end:
                new.append(Source(src.path, start, end))
        out.append(new)
    return out
