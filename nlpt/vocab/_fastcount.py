"""A compact byte-string hash table for counting tokens, in numba.

Tokens are runs of non-ASCII-whitespace bytes (exactly `bytes.split()`).
The table is laid out like CPython's compact dict: an open-addressing index
of int32 slots pointing into a dense entry array; key bytes live in one
growing arena. An entry is 32 bytes, half a cache line:

    [hash (FNV-1a 64), first 8 key bytes, arena offset << 24 | length, count]

A lookup compares hash, prefix and length, and only for keys longer than 8
bytes the rest of the key in the arena, so counts are exact while most
lookups touch one entry. Memory is ~40 bytes per type plus the key bytes,
against ~150 for a Python dict of str.
"""

from __future__ import annotations

import mmap

import numpy as np
from numba import njit

from nlpt.common.hashing import FNV64_OFFSET, FNV64_PRIME, fnv1a
from nlpt.corpus.bytes import utf8_valid  # noqa: F401 - the shared byte-level helper

_MAX_LOAD = 0.6
_LEN_BITS = np.uint64(24)
_LEN_MASK = np.uint64((1 << 24) - 1)
MAX_TOKEN_BYTES = (1 << 24) - 1  # longer tokens are cut (the reader's blocks are far smaller)


@njit(cache=True, nogil=True)
def _upsert(src, s, length, h, c, index, ent, arena, state):
    """Add `c` to the count of key src[s:s+length]; False when a new key does not fit (grow first)."""
    mask = index.shape[0] - 1
    pre = np.uint64(0)
    for k in range(min(length, 8)):
        pre |= np.uint64(src[s + k]) << np.uint64(8 * k)
    ulen = np.uint64(length)
    i = np.int64(h & np.uint64(mask))
    while True:
        e = index[i]
        if e < 0:
            break
        if ent[e, 0] == h and ent[e, 1] == pre and (ent[e, 2] & _LEN_MASK) == ulen:
            same = True
            if length > 8:
                off = np.int64(ent[e, 2] >> _LEN_BITS)
                for k in range(8, length):
                    if arena[off + k] != src[s + k]:
                        same = False
                        break
            if same:
                ent[e, 3] += np.uint64(c)
                return True
        i = (i + 1) & mask
    n = state[0]
    used = state[1]
    if n >= ent.shape[0] or (n + 1) > _MAX_LOAD * index.shape[0] or used + length > arena.shape[0]:
        return False
    for k in range(length):
        arena[used + k] = src[s + k]
    ent[n, 0] = h
    ent[n, 1] = pre
    ent[n, 2] = (np.uint64(used) << _LEN_BITS) | ulen
    ent[n, 3] = np.uint64(c)
    index[i] = n
    state[0] = n + 1
    state[1] = used + length
    return True


@njit(cache=True, nogil=True)
def count_block(buf, pos, index, ent, arena, state):
    """Count the tokens of buf[pos:]; returns -1 when done, or the offset of a token that needs more room.

    The lookup of `_upsert` is written out here: numba calls with array
    arguments cost more than the lookup itself.
    """
    n = buf.shape[0]
    mask = index.shape[0] - 1
    limit = _MAX_LOAD * index.shape[0]
    tokens = 0
    while pos < n:
        while pos < n and (buf[pos] == 32 or (buf[pos] <= 13 and buf[pos] >= 9)):
            pos += 1
        if pos >= n:
            break
        s = pos
        h = FNV64_OFFSET
        pre = np.uint64(0)
        while pos < n and pos - s < MAX_TOKEN_BYTES:
            b = buf[pos]
            if b == 32 or (b <= 13 and b >= 9):
                break
            h = (h ^ np.uint64(b)) * FNV64_PRIME  # `fnv1a`, inlined in the scan
            if pos - s < 8:
                pre |= np.uint64(b) << np.uint64(8 * (pos - s))
            pos += 1
        length = pos - s
        ulen = np.uint64(length)
        i = np.int64(h & np.uint64(mask))
        while True:
            e = index[i]
            if e < 0:
                m = state[0]
                used = state[1]
                if m >= ent.shape[0] or m + 1 > limit or used + length > arena.shape[0]:
                    state[2] += tokens
                    return s
                for k in range(length):
                    arena[used + k] = buf[s + k]
                ent[m, 0] = h
                ent[m, 1] = pre
                ent[m, 2] = (np.uint64(used) << _LEN_BITS) | ulen
                ent[m, 3] = np.uint64(1)
                index[i] = m
                state[0] = m + 1
                state[1] = used + length
                break
            if ent[e, 0] == h and ent[e, 1] == pre and (ent[e, 2] & _LEN_MASK) == ulen:
                same = True
                if length > 8:
                    off = np.int64(ent[e, 2] >> _LEN_BITS)
                    for k in range(8, length):
                        if arena[off + k] != buf[s + k]:
                            same = False
                            break
                if same:
                    ent[e, 3] += np.uint64(1)
                    break
            i = (i + 1) & mask
        tokens += 1
    state[2] += tokens
    return -1


@njit(cache=True, nogil=True)
def merge_entries(start, oent, oarena, index, ent, arena, state):
    """Add another table's entries (from entry `start` on) to this one; -1 when done, else the entry that needs room."""
    for j in range(start, oent.shape[0]):
        c = oent[j, 3]
        if c == 0:
            continue
        off = np.int64(oent[j, 2] >> _LEN_BITS)
        length = np.int64(oent[j, 2] & _LEN_MASK)
        if not _upsert(oarena, off, length, oent[j, 0], c, index, ent, arena, state):
            return j
    return -1


@njit(cache=True, nogil=True)
def add_joined(start, blob, counts, index, ent, arena, state):
    """Add newline-separated keys with their counts, from key number `start`; (-1, 0) when done, else (key, length)."""
    n = blob.shape[0]
    pos = 0
    j = 0
    while pos <= n and j < counts.shape[0]:
        s = pos
        while pos < n and blob[pos] != 10:
            pos += 1
        h = fnv1a(blob, s, pos)
        if j >= start:
            if not _upsert(blob, s, pos - s, h, counts[j], index, ent, arena, state):
                return j, pos - s
        pos += 1
        j += 1
    return -1, 0


@njit(cache=True, nogil=True)
def rebuild_index(index, ent, n):
    index[:] = -1
    mask = index.shape[0] - 1
    for e in range(n):
        i = np.int64(ent[e, 0] & np.uint64(mask))
        while index[i] >= 0:
            i = (i + 1) & mask
        index[i] = e


@njit(cache=True, nogil=True)
def prune_entries(threshold, ent, arena, state):
    """Drop entries with count <= threshold, compacting entries and arena; returns (types, tokens) dropped."""
    n = state[0]
    w = 0
    used = 0
    types = 0
    tokens = 0
    t = np.uint64(threshold)
    for e in range(n):
        c = ent[e, 3]
        if c <= t:
            types += 1
            tokens += np.int64(c)
            continue
        off = np.int64(ent[e, 2] >> _LEN_BITS)
        length = np.int64(ent[e, 2] & _LEN_MASK)
        for k in range(length):
            arena[used + k] = arena[off + k]
        ent[w, 0] = ent[e, 0]
        ent[w, 1] = ent[e, 1]
        ent[w, 2] = (np.uint64(used) << _LEN_BITS) | np.uint64(length)
        ent[w, 3] = c
        used += length
        w += 1
    state[0] = w
    state[1] = used
    return types, tokens


@njit(cache=True, nogil=True)
def flag_unusual(ent, arena, n):
    """Entries whose key has a non-ASCII byte or one of the ASCII separators 0x1c-0x1f (str.split splits there)."""
    out = np.zeros(n, dtype=np.bool_)
    for e in range(n):
        off = np.int64(ent[e, 2] >> _LEN_BITS)
        length = np.int64(ent[e, 2] & _LEN_MASK)
        for k in range(length):
            b = arena[off + k]
            if b >= 128 or (b >= 28 and b <= 31):
                out[e] = True
                break
    return out


@njit(cache=True, nogil=True)
def join_selected(sel, ent, arena, sep):
    """Keys of the entries `sel`, separated by `sep`."""
    total = 0
    for j in range(sel.shape[0]):
        total += np.int64(ent[sel[j], 2] & _LEN_MASK) + 1
    out = np.empty(max(total - 1, 0), dtype=np.uint8)
    p = 0
    for j in range(sel.shape[0]):
        e = sel[j]
        off = np.int64(ent[e, 2] >> _LEN_BITS)
        length = np.int64(ent[e, 2] & _LEN_MASK)
        for k in range(length):
            out[p] = arena[off + k]
            p += 1
        if j < sel.shape[0] - 1:
            out[p] = sep
            p += 1
    return out


@njit(cache=True, nogil=True, inline="always")
def _before(a, b, ent, arena, by_count):
    """Entry a sorts before entry b: by key bytes (= code point order for UTF-8), after a higher count
    first when `by_count` (the vocabulary's order; key order alone is the sorted runs' order)."""
    if by_count:
        ca = ent[a, 3]
        cb = ent[b, 3]
        if ca != cb:
            return ca > cb
    la = np.int64(ent[a, 2] & _LEN_MASK)
    lb = np.int64(ent[b, 2] & _LEN_MASK)
    oa = np.int64(ent[a, 2] >> _LEN_BITS)
    ob = np.int64(ent[b, 2] >> _LEN_BITS)
    m = la if la < lb else lb
    for k in range(m):
        x = arena[oa + k]
        y = arena[ob + k]
        if x != y:
            return x < y
    return la < lb


@njit(cache=True, nogil=True)
def sort_entries(sel, ent, arena, by_count):
    """`sel` sorted by (-count, key), or by key alone: a bottom-up merge sort (stable, n log n)."""
    n = sel.shape[0]
    a = sel.copy()
    b = np.empty_like(a)
    width = 1
    while width < n:
        lo = 0
        while lo < n:
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i = lo
            j = mid
            k = lo
            while i < mid and j < hi:
                if _before(a[j], a[i], ent, arena, by_count):
                    b[k] = a[j]
                    j += 1
                else:
                    b[k] = a[i]
                    i += 1
                k += 1
            while i < mid:
                b[k] = a[i]
                i += 1
                k += 1
            while j < hi:
                b[k] = a[j]
                j += 1
                k += 1
            lo = hi
        a, b = b, a
        width *= 2
    return a


@njit(cache=True, nogil=True)
def fix_ties(order, ent, arena, by_count):
    """`order` is sorted by ((-count,) first 8 key bytes): sort the runs that tie on those by the whole key."""
    n = order.shape[0]
    i = 0
    while i < n:
        j = i
        ci = ent[order[i], 3]
        pi = ent[order[i], 1]
        while j + 1 < n and (not by_count or ent[order[j + 1], 3] == ci) and ent[order[j + 1], 1] == pi:
            j += 1
        if j > i:
            order[i : j + 1] = sort_entries(order[i : j + 1], ent, arena, by_count)
        i = j + 1


@njit(cache=True, nogil=True)
def format_vocab(order, ent, arena):
    """`key count\\n` lines for the entries in `order`, as UTF-8 bytes."""
    total = 0
    for j in range(order.shape[0]):
        e = order[j]
        c = ent[e, 3]
        digits = 1
        while c >= 10:
            c //= 10
            digits += 1
        total += np.int64(ent[e, 2] & _LEN_MASK) + digits + 2
    out = np.empty(total, dtype=np.uint8)
    p = 0
    for j in range(order.shape[0]):
        e = order[j]
        off = np.int64(ent[e, 2] >> _LEN_BITS)
        length = np.int64(ent[e, 2] & _LEN_MASK)
        for k in range(length):
            out[p] = arena[off + k]
            p += 1
        out[p] = 32
        p += 1
        c = np.int64(ent[e, 3])
        digits = 1
        t = c
        while t >= 10:
            t //= 10
            digits += 1
        for d in range(digits - 1, -1, -1):
            out[p + d] = 48 + c % 10
            c //= 10
        p += digits
        out[p] = 10
        p += 1
    return out


def _reserve(maps: dict, name: str, nbytes: int):
    """Anonymous memory mapped lazily (zero pages until written), as a uint8 array."""
    mm = mmap.mmap(-1, max(nbytes, mmap.PAGESIZE))
    maps[name] = mm
    return np.frombuffer(mm, dtype=np.uint8)


class ByteCounter:
    """Exact counts of byte tokens with bounded, compact memory."""

    def __init__(self, capacity: int = 1 << 16, reserve: int = 0):
        """`reserve`: entries to make room for up front, as untouched zero pages (virtual memory only).

        Growing an array by copying needs the old and the new one at once;
        with a reservation the index, the entries and the key arena grow in
        place, and resident memory follows what is actually used. Without
        one (or if the reservation is refused) the arrays grow by copying.
        """
        cap = 1 << max(4, int(capacity - 1).bit_length())
        rows = int(cap * _MAX_LOAD) + 1
        self._index_room = self.ent = None
        self._maps: dict = {}
        arena_room = 0
        if reserve > rows:
            try:
                slots = 1 << int(reserve / _MAX_LOAD).bit_length()
                self._index_room = _reserve(self._maps, "index", slots * 4).view(np.int32)
                self.ent = _reserve(self._maps, "ent", reserve * 32).view(np.uint64).reshape(reserve, 4)
                arena_room = reserve * 16
                self.arena = _reserve(self._maps, "arena", arena_room)
            except (OSError, MemoryError, ValueError):
                self._index_room = self.ent = None
                self._maps = {}
                arena_room = 0
        if self.ent is None:
            self.ent = np.zeros((rows, 4), dtype=np.uint64)
            self.arena = np.zeros(cap * 8, dtype=np.uint8)
        self.index = self._new_index(cap)
        self.state = np.zeros(3, dtype=np.int64)  # entries, arena bytes used, tokens counted

    def release(self, name: str, nbytes: int) -> None:
        """Give the first `nbytes` of a reserved array back to the system (they read as zeros afterwards)."""
        mm = self._maps.get(name)
        if mm is None or nbytes <= 0:
            return
        length = min(nbytes, len(mm)) // mmap.PAGESIZE * mmap.PAGESIZE
        if length and hasattr(mm, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
            mm.madvise(mmap.MADV_DONTNEED, 0, length)

    def _new_index(self, slots: int):
        if self._index_room is not None and slots <= len(self._index_room):
            index = self._index_room[:slots]
        else:
            self._index_room = None
            self._maps.pop("index", None)
            index = np.empty(slots, dtype=np.int32)
        index[:] = -1
        return index

    def __len__(self) -> int:
        return int(self.state[0])

    @property
    def tokens(self) -> int:
        return int(self.state[2])

    @property
    def nbytes(self) -> int:
        """Bytes in use (entries, keys, index), not counting reserved room."""
        n, used = int(self.state[0]), int(self.state[1])
        return n * 32 + used + self.index.nbytes

    def _grow(self, need_key: int) -> None:
        n, used = int(self.state[0]), int(self.state[1])
        if (n + 1) > _MAX_LOAD * len(self.index):
            size = len(self.index) * 2
            self.index = None  # rebuilt from the entries: free (or reuse) the old one first
            self.index = self._new_index(size)
            rebuild_index(self.index, self.ent, n)
        if n >= len(self.ent):
            new = max(int(len(self.ent) * 1.5), int(len(self.index) * _MAX_LOAD) + 1)
            arr = np.zeros((new, 4), dtype=np.uint64)
            arr[:n] = self.ent[:n]
            self.ent = arr
            self._maps.pop("ent", None)
        if used + need_key > len(self.arena):
            arr = np.zeros(max(int(len(self.arena) * 1.5), used + need_key), dtype=np.uint8)
            arr[:used] = self.arena[:used]
            self.arena = arr
            self._maps.pop("arena", None)

    def add_block(self, block) -> None:
        """Count the whitespace-separated tokens of a bytes block."""
        buf = np.frombuffer(block, dtype=np.uint8)
        pos = 0
        while True:
            pos = count_block(buf, pos, self.index, self.ent, self.arena, self.state)
            if pos < 0:
                return
            end = pos
            while end < len(buf) and buf[end] not in (9, 10, 11, 12, 13, 32) and end - pos < MAX_TOKEN_BYTES:
                end += 1
            self._grow(end - pos)

    def add_keys(self, keys: list, counts) -> None:
        """Add `counts[i]` to each key (bytes without b"\\n")."""
        if not keys:
            return
        blob = np.frombuffer(b"\n".join(keys), dtype=np.uint8)
        cnt = np.asarray(counts, dtype=np.uint64)
        start = 0
        while True:
            start, need = add_joined(start, blob, cnt, self.index, self.ent, self.arena, self.state)
            if start < 0:
                break
            self._grow(int(need))

    def merge(self, other: "ByteCounter", step: int = 1 << 16) -> None:
        """Add every entry of `other` to this table, consuming `other`.

        `other`'s reserved pages are given back as its entries are merged, so
        merging two tables needs little more memory than the two tables.
        """
        n = len(other)
        other.release("index", other.index.nbytes)
        for lo in range(0, n, step):
            hi = min(lo + step, n)
            start = 0
            chunk = other.ent[lo:hi]
            while True:
                start = merge_entries(start, chunk, other.arena, self.index, self.ent, self.arena, self.state)
                if start < 0:
                    break
                self._grow(int(chunk[start, 2] & _LEN_MASK))
            if hi < n:
                other.release("ent", hi * 32)
                other.release("arena", int(other.ent[hi, 2] >> _LEN_BITS))
        self.state[2] += other.state[2]

    def prune(self, threshold: int) -> tuple[int, int]:
        """Drop the entries with count <= threshold; returns (types, tokens) dropped."""
        types, tokens = prune_entries(threshold, self.ent, self.arena, self.state)
        rebuild_index(self.index, self.ent, int(self.state[0]))
        return int(types), int(tokens)

    def zero(self, entries) -> None:
        """Set the counts of `entries` to zero and drop them."""
        if len(entries):
            self.ent[np.asarray(entries, dtype=np.int64), 3] = 0
            prune_entries(0, self.ent, self.arena, self.state)
            rebuild_index(self.index, self.ent, int(self.state[0]))

    # -- reading the table ------------------------------------------------------------
    def counts(self):
        return self.ent[: len(self), 3].astype(np.int64)

    def unusual(self):
        """Entry numbers of keys that are not plain printable ASCII (see `flag_unusual`)."""
        return np.flatnonzero(flag_unusual(self.ent, self.arena, len(self)))

    def keys(self, sel) -> list:
        """Keys (bytes) of the entries `sel`."""
        sel = np.asarray(sel, dtype=np.int64)
        if len(sel) == 0:
            return []
        return join_selected(sel, self.ent, self.arena, 10).tobytes().split(b"\n")

    def sorted_entries(self, min_count: int = 1, max_size: int | None = None):
        """Entry numbers with count >= min_count by (-count, key), the first max_size."""
        cnt = self.ent[: len(self), 3]
        sel = np.flatnonzero(cnt >= max(1, min_count))
        if max_size is not None and 0 < max_size < len(sel):
            # Only entries at least as frequent as the max_size-th can be kept: sort those.
            kth = np.partition(cnt[sel], len(sel) - max_size)[len(sel) - max_size]
            sel = sel[cnt[sel] >= kth]
        # Sort by (-count, first 8 bytes as a big-endian number = their byte order; shorter
        # keys are zero-padded and so come first, as in a byte comparison), then settle
        # the few ties on both by the whole key.
        counts = cnt[sel].astype(np.int64)
        prefix = self.ent[sel, 1].byteswap()
        order = sel[np.lexsort((prefix, -counts))].astype(np.int64)
        fix_ties(order, self.ent, self.arena, True)
        if max_size is not None and 0 < max_size < len(order):
            order = order[:max_size]
        return order

    def format(self, order) -> bytes:
        return format_vocab(np.asarray(order, dtype=np.int64), self.ent, self.arena).tobytes()

    def format_array(self, order):
        """`format` as a uint8 array (written with `.tofile`, without a bytes copy)."""
        return format_vocab(np.asarray(order, dtype=np.int64), self.ent, self.arena)

    def key_order(self):
        """Entry numbers with a non-zero count, sorted by key bytes."""
        cnt = self.ent[: len(self), 3]
        sel = np.flatnonzero(cnt > 0)
        order = sel[np.argsort(self.ent[sel, 1].byteswap(), kind="stable")].astype(np.int64)
        fix_ties(order, self.ent, self.arena, False)
        return order

    def add_lines(self, blob) -> int:
        """Add the `key count` lines of `blob` (bytes or uint8 array of whole lines); returns -1,
        or the byte offset of the first malformed line (nothing after it is added)."""
        buf = np.frombuffer(blob, dtype=np.uint8) if isinstance(blob, (bytes, bytearray, memoryview)) else blob
        start = 0
        while True:
            pos, need, bad = add_count_lines(start, buf, self.index, self.ent, self.arena, self.state)
            if pos < 0:
                return -1
            if bad:
                return int(pos)
            self._grow(int(need))
            start = int(pos)


# -- count lines: the sorted runs of bounded-memory counting (`nlpt.vocab.runs`) ----------


@njit(cache=True, nogil=True)
def add_count_lines(start, blob, index, ent, arena, state):
    """Add `key count` lines of blob[start:] (each ending in a newline; the key is what precedes
    the line's last space). Returns (-1, 0, 0) when done, (pos, key length, 0) when the key at pos
    needs room (grow, then call again from pos), or (pos, 0, 1) for a malformed line at pos."""
    n = blob.shape[0]
    pos = start
    while pos < n:
        s = pos
        sp = -1
        while pos < n and blob[pos] != 10:
            if blob[pos] == 32:
                sp = pos
            pos += 1
        end = pos  # the newline (or n)
        e = end
        if e == s:  # empty line
            pos += 1
            continue
        if sp < 0 or sp == s or sp + 1 >= e or e - sp - 1 > 18:
            return s, 0, 1  # not plain `key count`: the caller parses it (or reports it)
        for k in range(s, sp):
            d = blob[k]
            if d == 32 or (d >= 9 and d <= 13):
                return s, 0, 1
        c = np.uint64(0)
        for k in range(sp + 1, e):
            d = blob[k]
            if d < 48 or d > 57:
                return s, 0, 1
            c = c * np.uint64(10) + np.uint64(d - 48)
        length = sp - s
        h = fnv1a(blob, s, sp)
        if not _upsert(blob, s, length, h, c, index, ent, arena, state):
            return s, length, 0
        pos = end + 1
    return -1, 0, 0
