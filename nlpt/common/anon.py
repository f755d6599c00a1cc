"""Arrays in their own anonymous memory mappings, whose consumed prefixes can be handed back."""

from __future__ import annotations

import mmap

import numpy as np


class Anon:
    """A numpy array in its own anonymous mapping, so that consumed prefixes can be handed back
    to the system (`release_to`) while the rest is still in use. Pages never written cost nothing,
    so an array may be sized by an upper bound (see `sparse_zeros` where huge pages are on)."""

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


HUGE_PAGE = 2 << 20


def sparse_zeros(shape: tuple[int, ...], dtype, rows_used: np.ndarray | None = None) -> np.ndarray:
    """A zero array whose memory is taken page by page as rows are written, for large arrays of which
    only scattered rows may be used (hashed n-gram rows).

    Where the system backs memory with transparent huge pages, the first write into each 2 MiB
    would make all of it resident. Given `rows_used` (the first-axis indices that will be written),
    a 2 MiB stretch is left on huge pages (fewer TLB misses) only where every one of its 4 KiB
    pages will be written anyway, so huge pages cost no memory; elsewhere, and without
    `rows_used`, the array is kept on 4 KiB pages.
    """
    shape = tuple(int(x) for x in shape)
    dtype = np.dtype(dtype)
    n = int(np.prod(shape))
    anon = Anon(n, dtype)
    a = anon.a.reshape(shape)
    if not hasattr(mmap, "MADV_NOHUGEPAGE") or n == 0:
        return a
    size = n * dtype.itemsize
    addr = anon.a.ctypes.data
    first = addr // HUGE_PAGE
    n_huge = (addr + size - 1) // HUGE_PAGE - first + 1
    dense = np.zeros(n_huge, bool)
    if rows_used is not None and len(rows_used) and len(shape) > 0:
        row_bytes = size // shape[0]
        rows = np.unique(np.asarray(rows_used, np.int64))
        start = addr + rows * row_bytes  # 4 KiB pages touched by each row's first and last byte
        pages = np.unique(np.concatenate([start // mmap.PAGESIZE, (start + row_bytes - 1) // mmap.PAGESIZE]))
        per_huge = np.bincount(pages * mmap.PAGESIZE // HUGE_PAGE - first, minlength=n_huge)
        dense = per_huge >= HUGE_PAGE // mmap.PAGESIZE
    # madvise the runs of equal decision (offsets within the mapping, whole 4 KiB pages)
    edges = np.flatnonzero(np.diff(dense.astype(np.int8))) + 1
    for lo, hi in zip(np.r_[0, edges], np.r_[edges, n_huge]):
        off_lo = max(0, (first + int(lo)) * HUGE_PAGE - addr)
        off_hi = min(len(anon.mm), (first + int(hi)) * HUGE_PAGE - addr)
        off_lo = off_lo // mmap.PAGESIZE * mmap.PAGESIZE
        if off_hi > off_lo:
            anon.mm.madvise(mmap.MADV_HUGEPAGE if dense[lo] else mmap.MADV_NOHUGEPAGE, off_lo, off_hi - off_lo)
    return a
