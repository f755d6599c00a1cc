"""Huffman tree over the vocabulary for hierarchical softmax.

Built as word2vec.c does (two queues over counts sorted in descending order,
linear time). Word w's path from the root is `points[w, :lengths[w]]` (rows of
the inner-node matrix, 0..V-2) with branch bits `codes[w, :lengths[w]]`; the
training label at each node is `1 - code`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit


@njit(inline="always")
def _pop_smallest(count, pos1, pos2):
    """The smaller of the next leaf (pos1, moving down) and the next new node (pos2, moving up): (node, pos1, pos2)."""
    if pos1 >= 0 and count[pos1] < count[pos2]:
        return pos1, pos1 - 1, pos2
    return pos2, pos1, pos2 + 1


@njit(cache=True)
def _build(counts):
    v = counts.shape[0]
    count = np.empty(2 * v, np.int64)
    for i in range(v):
        count[i] = counts[i]
    big = np.int64(1) << 62
    for i in range(v, 2 * v):
        count[i] = big
    binary = np.zeros(2 * v, np.uint8)
    parent = np.zeros(2 * v, np.int64)
    pos1 = v - 1
    pos2 = v
    for a in range(v - 1):
        # two smallest among the leaves (descending, from pos1 down) and the new nodes (from pos2 up)
        min1, pos1, pos2 = _pop_smallest(count, pos1, pos2)
        min2, pos1, pos2 = _pop_smallest(count, pos1, pos2)
        count[v + a] = count[min1] + count[min2]
        parent[min1] = v + a
        parent[min2] = v + a
        binary[min2] = 1
    lengths = np.zeros(v, np.int32)
    maxlen = 0
    for w in range(v):
        b = w
        n = 0
        while b != 2 * v - 2:
            b = parent[b]
            n += 1
        lengths[w] = n
        if n > maxlen:
            maxlen = n
    codes = np.zeros((v, max(maxlen, 1)), np.uint8)
    points = np.zeros((v, max(maxlen, 1)), np.int32)
    for w in range(v):
        n = lengths[w]
        b = w
        i = 0
        # walk up: code bits of the nodes on the path, root last
        while b != 2 * v - 2:
            codes[w, n - 1 - i] = binary[b]
            b = parent[b]
            points[w, n - 1 - i] = b - v  # inner node row; the root is V-2
            i += 1
    return codes, points, lengths


@dataclass
class Huffman:
    codes: np.ndarray  # uint8 (V, maxlen)
    points: np.ndarray  # int32 (V, maxlen): inner-node rows, root first
    lengths: np.ndarray  # int32 (V,)

    @classmethod
    def build(cls, counts) -> "Huffman":
        counts = np.asarray(counts, dtype=np.int64)
        if len(counts) < 2:
            # One word: a single inner node with the word on branch 0.
            return cls(np.zeros((len(counts), 1), np.uint8), np.zeros((len(counts), 1), np.int32),
                       np.ones(len(counts), np.int32))
        order = np.argsort(-counts, kind="stable")
        if np.any(order != np.arange(len(counts))):
            codes, points, lengths = _build(counts[order])
            inv = np.empty_like(order)
            inv[order] = np.arange(len(order))
            return cls(codes[inv], points[inv], lengths[inv])
        return cls(*_build(counts))
