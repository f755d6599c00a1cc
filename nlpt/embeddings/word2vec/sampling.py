"""The sampling tables of word2vec (and subword) training, drawn from with `nlpt.common.rng`'s
xorshift64* generator (a per-thread state seeded from `--seed` and the thread id):

- `AliasTable`: Walker's alias method for the negative-sampling distribution
  (unigram counts raised to `ns_exponent`): O(1) per draw from two arrays of
  vocabulary size, exact up to float rounding, and small enough to stay in
  cache (word2vec.c's 1e8-entry table is 400 MB);
- `subsample_thresholds`: word2vec's subsampling of frequent words as uint32
  thresholds: a word is kept when a uniform 32-bit draw is <= its threshold.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from nlpt.common.rng import U32, XORSHIFT_MUL

_S32 = np.uint64(32)


@njit(inline="always")
def alias_draw(state, prob, alias):
    """One draw from an alias table; `state` must have just been advanced."""
    x = state * XORSHIFT_MUL
    col = np.int64(((x >> _S32) * np.uint64(prob.shape[0])) >> _S32)
    if (x & U32) < prob[col]:
        return col
    return np.int64(alias[col])


@njit(cache=True)
def _build_alias(weights):
    n = weights.shape[0]
    total = 0.0
    for i in range(n):
        total += weights[i]
    scaled = np.empty(n, np.float64)
    for i in range(n):
        scaled[i] = weights[i] * n / total
    alias = np.arange(n).astype(np.int32)
    prob = np.empty(n, np.uint64)
    small = np.empty(n, np.int64)
    large = np.empty(n, np.int64)
    ns = 0
    nl = 0
    for i in range(n):
        if scaled[i] < 1.0:
            small[ns] = i
            ns += 1
        else:
            large[nl] = i
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        l = large[nl - 1]
        prob[s] = np.uint64(scaled[s] * 4294967296.0)
        alias[s] = l
        scaled[l] = (scaled[l] + scaled[s]) - 1.0
        if scaled[l] < 1.0:
            nl -= 1
            small[ns] = l
            ns += 1
    full = np.uint64(4294967296)
    for k in range(nl):
        prob[large[k]] = full
    for k in range(ns):  # rounding leftovers
        prob[small[k]] = full
    return prob, alias


def unigram_weights(counts: np.ndarray, exponent: float) -> np.ndarray:
    """count ** exponent scaled so that the largest weight is 1, computed from logarithms: any finite exponent
    gives finite weights (a large one concentrates the draws on the most frequent words, as the power does,
    instead of overflowing). Words with count 0 weigh 0; all counts 0 is a uniform distribution."""
    positive = counts > 0
    if not positive.any():
        return np.ones_like(counts)
    logs = np.zeros_like(counts)
    logs[positive] = exponent * np.log(counts[positive])
    top = logs[positive].max()
    return np.where(positive, np.exp(logs - top), 0.0)


class AliasTable:
    """Negative-sampling distribution: P(w) proportional to count(w) ** exponent."""

    def __init__(self, counts: np.ndarray, exponent: float = 0.75):
        counts = np.asarray(counts, dtype=np.float64)
        if len(counts) == 0:
            raise ValueError("empty vocabulary")
        weights = unigram_weights(counts, exponent)
        self.prob, self.alias = _build_alias(weights)
        self.distribution = weights / weights.sum()


def subsample_thresholds(counts: np.ndarray, sample: float) -> np.ndarray:
    """uint64 thresholds: word w is kept when a uniform draw in [0, 2**32) is <= thr[w].

    Keep probability (word2vec.c): (sqrt(f / t) + 1) * t / f with f the word's
    count and t = sample * total count; 1 when `sample` <= 0.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0 or len(counts) == 0:
        return np.full(len(counts), 2**32, dtype=np.uint64)
    t = sample * counts.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (np.sqrt(counts / t) + 1.0) * t / counts
    p = np.where(counts > 0, np.minimum(p, 1.0), 1.0)
    return np.round(p * 2**32).astype(np.uint64)
