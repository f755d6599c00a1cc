"""Tokenize and encode UTF-8 bytes to word ids in numba, without the GIL.

The trainers' fast path: blocks of bytes from the reader (`iter_blocks`, which
cuts at whitespace and handles byte-range shards) are split on whitespace
exactly as Python's `str.split()` splits the decoded text (ASCII whitespace,
U+001C-U+001F, and the Unicode spaces U+0085, U+00A0, U+1680, U+2000-U+200A,
U+2028, U+2029, U+202F, U+205F, U+3000), each token is looked up in an
open-addressing hash table over the vocabulary's UTF-8 bytes, and lines become
sentences of at most `max_sentence` in-vocabulary words (words outside the
vocabulary dropped first, as `iter_encoded` and word2vec.c do).

Blocks that are not valid UTF-8, or that need lower-casing/NFKC, are decoded
and normalised in Python first (as the reader does), then encoded here.

The vocabulary itself is counted by `nlpt.vocab.count.count_words` (the one
counting engine), which splits raw bytes on ASCII whitespace and then re-splits
the few types holding other `str.split()` whitespace, so its words are exactly
the tokens this encoder produces. The hash is `nlpt.common.hashing.fnv1a`, as the counter's.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from nlpt.common.hashing import fnv1a as _hash


@njit(inline="always")
def ws_len(buf, i, n):
    """Length in bytes of the whitespace character at buf[i], 0 if it is not whitespace."""
    c = buf[i]
    if c < 0x80:
        if c == 32 or (9 <= c <= 13) or (28 <= c <= 31):
            return 1
        return 0
    if c == 0xC2:
        if i + 1 < n and (buf[i + 1] == 0x85 or buf[i + 1] == 0xA0):
            return 2
        return 0
    if c == 0xE1:
        if i + 2 < n and buf[i + 1] == 0x9A and buf[i + 2] == 0x80:
            return 3
        return 0
    if c == 0xE2:
        if i + 2 < n:
            c1 = buf[i + 1]
            c2 = buf[i + 2]
            if c1 == 0x80 and ((0x80 <= c2 <= 0x8A) or c2 == 0xA8 or c2 == 0xA9 or c2 == 0xAF):
                return 3
            if c1 == 0x81 and c2 == 0x9F:
                return 3
        return 0
    if c == 0xE3:
        if i + 2 < n and buf[i + 1] == 0x80 and buf[i + 2] == 0x80:
            return 3
        return 0
    return 0


@njit(cache=True)
def _build_table(arena, offsets, cap):
    """Slots -> word id (-1 empty) for words arena[offsets[i]:offsets[i+1]]."""
    slots = np.full(cap, -1, np.int32)
    mask = np.uint64(cap - 1)
    n = offsets.shape[0] - 1
    for w in range(n):
        a = offsets[w]
        b = offsets[w + 1]
        s = _hash(arena, a, b) & mask
        while slots[s] >= 0:
            s = (s + np.uint64(1)) & mask
        slots[s] = w
    return slots


@njit(inline="always")
def _find(buf, a, b, slots, arena, offsets):
    mask = np.uint64(slots.shape[0] - 1)
    s = _hash(buf, a, b) & mask
    length = b - a
    while True:
        w = slots[s]
        if w < 0:
            return -1
        o = offsets[w]
        if offsets[w + 1] - o == length:
            same = True
            for k in range(length):
                if arena[o + k] != buf[a + k]:
                    same = False
                    break
            if same:
                return w
        s = (s + np.uint64(1)) & mask


@njit(nogil=True, cache=True)
def encode_block(buf, slots, arena, offsets, max_sentence, ids, starts, meta):
    """Encode `buf` into `ids`; sentence k is ids[starts[k]:starts[k+1]].

    `ids` needs len(buf) // 2 + 1 room, `starts` as much plus one. Returns the
    number of sentences; meta[0] = ids written, meta[1] = tokens read
    (in-vocabulary or not).
    """
    n = buf.shape[0]
    i = 0
    n_ids = 0
    n_sent = 0
    read = 0
    sent_len = 0
    starts[0] = 0
    while i < n:
        c = buf[i]
        if c == 10:  # newline ends a sentence
            if sent_len > 0:
                n_sent += 1
                starts[n_sent] = n_ids
                sent_len = 0
            i += 1
            continue
        k = ws_len(buf, i, n)
        if k > 0:
            i += k
            continue
        j = i + 1
        while j < n and ws_len(buf, j, n) == 0:
            j += 1
        read += 1
        w = _find(buf, i, j, slots, arena, offsets)
        if w >= 0:
            ids[n_ids] = w
            n_ids += 1
            sent_len += 1
            if sent_len >= max_sentence:
                n_sent += 1
                starts[n_sent] = n_ids
                sent_len = 0
        i = j
    if sent_len > 0:
        n_sent += 1
        starts[n_sent] = n_ids
    meta[0] = n_ids
    meta[1] = read
    return n_sent


class ByteVocab:
    """A vocabulary as a hash table over UTF-8 bytes, for `encode_block`."""

    def __init__(self, words: list[str]):
        encoded = [w.encode("utf-8", "surrogatepass") for w in words]
        self.arena = np.frombuffer(b"".join(encoded) or b"\0", dtype=np.uint8).copy()
        lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
        self.offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.offsets[1:])
        cap = 1
        while cap < 2 * len(words) + 16:
            cap *= 2
        self.slots = _build_table(self.arena, self.offsets, cap)

    def __len__(self) -> int:
        return self.offsets.shape[0] - 1

    def words(self) -> list[str]:
        """The words back as str, in id order (the table holds them compactly meanwhile)."""
        blob = self.arena.tobytes()
        o = self.offsets.tolist()
        return [blob[o[i]: o[i + 1]].decode("utf-8", "surrogatepass") for i in range(len(o) - 1)]


class BlockEncoder:
    """Per-thread buffers: turn a bytes block into (ids, starts, tokens_read)."""

    def __init__(self, vocab: ByteVocab, max_sentence: int):
        self.vocab = vocab
        self.max_sentence = max_sentence
        self.ids = np.empty(0, np.int32)
        self.starts = np.empty(1, np.int64)
        self.meta = np.zeros(2, np.int64)

    def encode(self, block: bytes):
        need = len(block) // 2 + 2
        if self.ids.shape[0] < need:
            self.ids = np.empty(need, np.int32)
        need_starts = block.count(b"\n") + len(block) // (2 * self.max_sentence) + 3
        if self.starts.shape[0] < need_starts:
            self.starts = np.empty(need_starts, np.int64)
        buf = np.frombuffer(block, dtype=np.uint8)
        v = self.vocab
        n_sent = encode_block(buf, v.slots, v.arena, v.offsets, self.max_sentence, self.ids, self.starts, self.meta)
        return self.ids[: self.meta[0]], self.starts[: n_sent + 1], int(self.meta[1])
