"""Co-occurrence records in Stanford GloVe's binary layout (`--save-cooccur`, `--cooccur`).

`CREC` records, 16 bytes each, little-endian: int32 word1, int32 word2,
float64 value, with 1-based word ids = line numbers in the vocabulary file.
Sinks receive merged records (0-based ids, sorted by (word1, word2)) block by
block: `ChunkSink` collects them, `TeeSink` also writes them to a file.
"""

from __future__ import annotations

import os

import numpy as np

from nlpt.common.output import write_array
from nlpt.common.errors import NlptError

REC_DTYPE = np.dtype([("w1", "<i4"), ("w2", "<i4"), ("x", "<f8")])


class ChunkSink:
    """Collects merged records as REC_DTYPE chunks (0-based ids)."""

    def __init__(self):
        self.chunks: list[np.ndarray] = []

    def begin(self, upper_bound: int) -> None:
        pass

    def add(self, w1: np.ndarray, w2: np.ndarray, x: np.ndarray) -> None:
        rec = np.empty(len(w1), dtype=REC_DTYPE)
        rec["w1"], rec["w2"], rec["x"] = w1, w2, x
        self.chunks.append(rec)


def stanford(w1, w2, x) -> np.ndarray:
    """Records (0-based ids) in Stanford's CREC layout: 1-based ids."""
    out = np.empty(len(w1), dtype=REC_DTYPE)
    out["w1"] = w1 + 1
    out["w2"] = w2 + 1
    out["x"] = x
    return out


class TeeSink:
    """Writes merged records to a Stanford record file (an open binary file) and passes them on."""

    def __init__(self, fh, inner):
        self.fh, self.inner = fh, inner

    def begin(self, upper_bound: int) -> None:
        self.inner.begin(upper_bound)

    def add(self, w1, w2, x) -> None:
        write_array(self.fh, stanford(w1, w2, x))
        self.inner.add(w1, w2, x)


def write_records(path: str, chunks: list[np.ndarray]) -> None:
    """Write records (0-based ids) as Stanford CREC records with 1-based ids."""
    from nlpt.common.output import atomic_output

    with atomic_output(path, "wb") as fh:
        for c in chunks:
            write_array(fh, stanford(c["w1"], c["w2"], c["x"]))


def record_count(path: str) -> int:
    """Number of records in a Stanford co-occurrence file, checking its size."""
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        raise NlptError(f"{path}: no such co-occurrence file") from None
    if size == 0:
        raise NlptError(f"{path}: empty co-occurrence file")
    if size % REC_DTYPE.itemsize:
        raise NlptError(
            f"{path}: size {size} bytes is not a multiple of {REC_DTYPE.itemsize}; "
            "not a GloVe co-occurrence file (int32 word1, int32 word2, float64 value) or truncated"
        )
    return size // REC_DTYPE.itemsize


def iter_record_file(path: str, vocab_size: int, block: int = 1 << 20):
    """Read a Stanford co-occurrence file in blocks, checking it: yields REC_DTYPE arrays with 0-based ids."""
    record_count(path)
    first = 0
    with open(path, "rb") as fh:
        while True:
            rec = np.fromfile(fh, dtype=REC_DTYPE, count=block)
            if len(rec) == 0:
                return
            for name in ("w1", "w2"):
                col = rec[name]
                bad = np.flatnonzero((col < 1) | (col > vocab_size))
                if len(bad):
                    i = int(bad[0])
                    raise NlptError(
                        f"{path}: record {first + i + 1} has word id {int(col[i])} outside 1..{vocab_size} "
                        "(the vocabulary given with --read-vocab does not match this file)"
                    )
            x = rec["x"]
            bad = np.flatnonzero(~np.isfinite(x) | (x <= 0))
            if len(bad):
                i = int(bad[0])
                raise NlptError(f"{path}: record {first + i + 1} has value {float(x[i])!r}; co-occurrence values must be positive")
            rec["w1"] -= 1
            rec["w2"] -= 1
            first += len(rec)
            yield rec


def read_records(path: str, vocab_size: int) -> np.ndarray:
    """Read a whole Stanford co-occurrence file, checking it; return records with 0-based ids."""
    return np.concatenate(list(iter_record_file(path, vocab_size)))


def feed_record_file(path: str, vocab_size: int, sink) -> int:
    """Pass a co-occurrence file to `sink` block by block; return the number of records."""
    sink.begin(record_count(path))
    n = 0
    for rec in iter_record_file(path, vocab_size):
        sink.add(rec["w1"], rec["w2"], rec["x"])
        n += len(rec)
    return n
