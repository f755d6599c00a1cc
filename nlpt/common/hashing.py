"""The hashes of nlpt, in one place: FNV-1a, 64-bit for nlpt's own tables and 32-bit for fastText's n-grams.

* `fnv1a` (64-bit, `FNV64_OFFSET`/`FNV64_PRIME`): the hash of every byte-string table in nlpt: the
  count table of `nlpt.vocab._fastcount` and the vocabulary table of the trainers' encoder
  (`nlpt.embeddings.training.bytescan`). Both must hash a token alike, so they share this function
  (`_fastcount` also inlines the same steps where it hashes while it scans).
* `fnv1a_signed` (32-bit, `FNV32_OFFSET`/`FNV32_PRIME`): fastText's `Dictionary::hash`, each byte
  sign-extended as a C `char`; subword n-grams must land in the same rows as fastText's for `.bin`
  files to be exchangeable (`nlpt.embeddings.subword.subword` inlines it in its numba kernel).
"""

from __future__ import annotations

import numpy as np
from numba import njit

FNV64_OFFSET = np.uint64(0xCBF29CE484222325)
FNV64_PRIME = np.uint64(0x100000001B3)
FNV32_OFFSET, FNV32_PRIME = 2166136261, 16777619
FNV32_MASK = 0xFFFFFFFF


@njit(inline="always")
def fnv1a(buf, start, end):
    """FNV-1a 64 hash of buf[start:end]."""
    h = FNV64_OFFSET
    for i in range(start, end):
        h = (h ^ np.uint64(buf[i])) * FNV64_PRIME
    return h


def fnv1a_signed(data: bytes) -> int:
    """fastText's `Dictionary::hash`: 32-bit FNV-1a with each byte sign-extended (read as int8)."""
    h = FNV32_OFFSET
    for b in data:
        h = ((h ^ (b | 0xFFFFFF00 if b >= 0x80 else b)) * FNV32_PRIME) & FNV32_MASK
    return h
