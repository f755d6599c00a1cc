"""Vectors as text, fast: rows of float32 written as `%.9g` by a numba kernel.

Python's per-number formatting writes ~1 M numbers/s, so a 10 M x 300 text
file took close to an hour; this kernel produces the same characters (nine
significant digits, `%g`'s choice between positional and exponent notation,
trailing zeros stripped), which round-trip every float32 exactly. The
nine digits come from the float32 value scaled by a power of ten in float64
and rounded half to even; `tests/test_scale_counts.py` checks the text
against Python's formatting.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_POW10 = np.array([10.0**k for k in range(-60, 61)], dtype=np.float64)


@njit(cache=True, nogil=True, inline="always")
def _scale(x, k, pow10):
    """x * 10**k in float64, as exactly as one operation allows (division for negative k)."""
    if k >= 0:
        if k <= 22:
            return x * pow10[k + 60]
        return (x * pow10[22 + 60]) * pow10[k - 22 + 60]
    if -k <= 22:
        return x / pow10[-k + 60]
    return (x / pow10[22 + 60]) / pow10[-k - 22 + 60]


@njit(cache=True, nogil=True)
def _format_one(v, out, p, digits, pow10):
    """Write float v as '%.9g' at out[p:]; return the new position."""
    if v != v:
        out[p] = 110
        out[p + 1] = 97
        out[p + 2] = 110
        return p + 3
    if v < 0 or (v == 0 and np.signbit(v)):
        out[p] = 45
        p += 1
        v = -v
    if v == np.inf:
        out[p] = 105
        out[p + 1] = 110
        out[p + 2] = 102
        return p + 3
    if v == 0:
        out[p] = 48
        return p + 1
    e = int(np.floor(np.log10(v)))
    q = np.rint(_scale(v, 8 - e, pow10))
    if q >= 1e9:
        e += 1
        q = np.rint(_scale(v, 8 - e, pow10))
    elif q < 1e8:
        e -= 1
        q = np.rint(_scale(v, 8 - e, pow10))
    if q >= 1e9:  # 9.999999995 rounded up
        q = 1e8
        e += 1
    n = np.int64(q)
    for i in range(8, -1, -1):
        digits[i] = n % 10
        n //= 10
    last = 8
    while last > 0 and digits[last] == 0:
        last -= 1
    if e < -4 or e >= 9:
        out[p] = 48 + digits[0]
        p += 1
        if last > 0:
            out[p] = 46
            p += 1
            for i in range(1, last + 1):
                out[p] = 48 + digits[i]
                p += 1
        out[p] = 101
        p += 1
        if e < 0:
            out[p] = 45
            e = -e
        else:
            out[p] = 43
        p += 1
        if e >= 100:
            out[p] = 48 + e // 100
            p += 1
        out[p] = 48 + (e // 10) % 10
        out[p + 1] = 48 + e % 10
        return p + 2
    if e >= 0:
        for i in range(0, e + 1):
            out[p] = 48 + digits[i]
            p += 1
        if last > e:
            out[p] = 46
            p += 1
            for i in range(e + 1, last + 1):
                out[p] = 48 + digits[i]
                p += 1
        return p
    out[p] = 48
    out[p + 1] = 46
    p += 2
    for i in range(-e - 1):
        out[p] = 48
        p += 1
    for i in range(0, last + 1):
        out[p] = 48 + digits[i]
        p += 1
    return p


@njit(cache=True, nogil=True)
def _format_rows(words, offsets, matrix, pow10):
    n, d = matrix.shape
    out = np.empty(words.shape[0] + n * (d * 17 + 2), dtype=np.uint8)
    digits = np.zeros(9, dtype=np.int64)
    p = 0
    for i in range(n):
        for k in range(offsets[i], offsets[i + 1]):
            out[p] = words[k]
            p += 1
        for j in range(d):
            out[p] = 32
            p += 1
            p = _format_one(np.float64(matrix[i, j]), out, p, digits, pow10)
        out[p] = 10
        p += 1
    return out[:p]


def format_rows(words: list[str], matrix: np.ndarray) -> bytes:
    """`word v1 ... vd` lines (UTF-8) for `words` and the float32 rows of `matrix`."""
    encoded = [w.encode("utf-8") for w in words]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8) if encoded else np.zeros(0, np.uint8)
    return _format_rows(blob, offsets, np.ascontiguousarray(matrix, dtype=np.float32), _POW10).tobytes()


def format_blocks(words: list[str], matrix: np.ndarray, block: int = 4096, threads: int | None = None):
    """`format_rows` over blocks of rows, in order, formatted by `threads` threads (the kernel releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    from nlpt.common.threads import resolve_threads

    starts = range(0, len(words), block)
    threads = max(1, min(resolve_threads(threads), len(starts) or 1))
    if threads == 1:
        for s in starts:
            yield format_rows(words[s : s + block], matrix[s : s + block])
        return
    with ThreadPoolExecutor(threads) as pool:
        pending = []
        for s in starts:
            pending.append(pool.submit(format_rows, words[s : s + block], matrix[s : s + block]))
            if len(pending) > 2 * threads:  # bounded look-ahead: memory stays a few blocks
                yield pending.pop(0).result()
        for f in pending:
            yield f.result()
