"""The random number generators of nlpt's numba trainers, in one place.

Both generators keep their state in a local uint64 inside the kernels, so a run with one
thread and one seed is reproducible bit for bit and costs no call or lock per draw:

- xorshift64* (word2vec and subword training): `seed_state` gives a thread's state from
  (seed, thread id) through splitmix64's finaliser; `rng_next` advances it, `rng_u32` reads
  32 random bits, `rng_below` an integer in [0, n) (multiply-shift, no modulo);
- splitmix64 (GloVe's shuffles): `splitmix64` advances a state by the golden-ratio increment
  and returns (state, 64 random bits); `mix_seed` derives the seed of one shuffle from the
  run's seed and where it is used (iteration, thread, bucket), so each shuffle's order depends
  on those alone.
"""

from __future__ import annotations

import hashlib

import numpy as np
from numba import njit

U32 = np.uint64(0xFFFFFFFF)
XORSHIFT_MUL = np.uint64(0x2545F4914F6CDD1D)  # xorshift64*'s output multiplier
_S12 = np.uint64(12)
_S25 = np.uint64(25)
_S27 = np.uint64(27)
_S32 = np.uint64(32)


def seed_state(seed: int, stream: int) -> np.uint64:
    """A non-zero 64-bit xorshift state for (seed, stream), via splitmix64."""
    mask = (1 << 64) - 1
    z = (seed * 0x9E3779B97F4A7C15 + (stream + 1) * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    z ^= z >> 31
    return np.uint64(z or 0x1234567)


@njit(inline="always")
def rng_next(state):
    """Advance an xorshift64 state (uint64)."""
    state ^= state >> _S12
    state ^= state << _S25
    state ^= state >> _S27
    return state


@njit(inline="always")
def rng_u32(state):
    """32 random bits (as uint64) from a state just advanced by `rng_next`."""
    return (state * XORSHIFT_MUL) >> _S32


@njit(inline="always")
def rng_below(state, n):
    """An integer in [0, n) from a state just advanced (multiply-shift, no modulo bias worth noting)."""
    return np.int64((rng_u32(state) * np.uint64(n)) >> _S32)


@njit(cache=True, inline="always")
def splitmix64(x):
    """(the next state, 64 random bits) of splitmix64."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    z = x
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return x, z


def mix_seed(*parts: int) -> int:
    """A 63-bit seed from the run's seed and the parts that say where it is used."""
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        h.update(int(p).to_bytes(8, "little", signed=True))
    return int.from_bytes(h.digest(), "little") & ((1 << 63) - 1)
