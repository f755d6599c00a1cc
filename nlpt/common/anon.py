"""Arrays in their own anonymous memory mappings, whose consumed prefixes can be handed back."""

from __future__ import annotations

import mmap

import numpy as np


class Anon:
    """A numpy array in its own anonymous mapping, so that consumed prefixes can be handed back
    to the system (`release_to`) while the rest is still in use. Pages never written cost nothing,
    so an array may be sized by an upper bound."""

    def __init__(self, n: int, dtype):
        dtype = np.dtype(dtype)
        self.mm = mmap.mmap(-1, max(1, int(n) * dtype.itemsize), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self.a = np.frombuffer(self.mm, dtype=dtype, count=int(n))
        self.itemsize = dtype.itemsize
        self.freed = 0

    def release_to(self, n: int) -> None:
        """Give back the whole pages below element n (their contents are lost)."""
        end = (int(n) * self.itemsize) // mmap.PAGESIZE * mmap.PAGESIZE
        if end > self.freed:
            self.mm.madvise(mmap.MADV_DONTNEED, self.freed, end - self.freed)
            self.freed = end
