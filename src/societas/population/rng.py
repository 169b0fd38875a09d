"""Counter-based random numbers: a draw is a pure function of (seed, tick, stream, agent index).

A sequential generator hands out numbers in call order, so an agent's draw would change with
the number of shards, the order in which shards run, or which other agents drew first. Here
the draw of agent ``i`` at ``tick`` for purpose ``stream`` is

    key    = H(seed, tick, stream)                      (a 64-bit hash, Python ints)
    x_i    = mix64(key + (i + 1) * GOLDEN)              (splitmix64's output function)
    u_i    = (x_i >> 11) * 2**-53                       (53 random bits -> [0, 1))

that is, the i-th output of a SplitMix64 generator (Steele, Lea & Flood 2014, "Fast splittable
pseudorandom number generators"; constants from Vigna's public-domain splitmix64.c, a
generator that passes BigCrush) started at ``key``. Keys are hashes, so two (seed, tick,
stream) triples share draws only if their keys differ by a multiple of GOLDEN below the
population size: a chance of about N / 2**64. Everything is vectorised uint64 numpy
arithmetic (wrapping multiplication), so 1M draws take a few milliseconds, and agent ``i``
gets the same number whether it lives in shard 0 of 1 or shard 2 of 3.

Streams name the purpose of a draw within a tick (0: choose a partner, 1: an activation
slot, ...); two purposes must use different streams or their draws would be equal.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["bernoulli", "categorical", "integers", "normal", "raw_bits", "uniform"]

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_C1 = 0xBF58476D1CE4E5B9
_C2 = 0x94D049BB133111EB


def _mix_int(z: int) -> int:
    """splitmix64's finaliser on a Python int (no numpy scalar overflow warnings)."""
    z &= _M64
    z = ((z ^ (z >> 30)) * _C1) & _M64
    z = ((z ^ (z >> 27)) * _C2) & _M64
    return z ^ (z >> 31)


def _mix(z: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64's finaliser, vectorised (uint64 arrays wrap on overflow, silently)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_C1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_C2)
    return z ^ (z >> np.uint64(31))


def _key(seed: int, tick: int, stream: int) -> int:
    h = _mix_int(int(seed) ^ 0x5EED5EED5EED5EED)
    h = _mix_int(h ^ _mix_int((int(tick) * _GOLDEN + 0x7C1C) & _M64))
    return _mix_int(h ^ _mix_int((int(stream) * _C1 + 0x57EA) & _M64))


def _index(idx: ArrayLike) -> NDArray[np.int64]:
    arr = np.asarray(idx)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"agent indices must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def raw_bits(seed: int, tick: int, stream: int, idx: ArrayLike) -> NDArray[np.uint64]:
    """64 random bits per index."""
    index = _index(idx)
    key = _key(seed, tick, stream)
    counter = (index.astype(np.uint64) + np.uint64(1)) * np.uint64(_GOLDEN) + np.uint64(key)
    return _mix(counter)


def uniform(seed: int, tick: int, stream: int, idx: ArrayLike) -> NDArray[np.float64]:
    """One uniform number in [0, 1) per index (53 bits of resolution)."""
    bits = raw_bits(seed, tick, stream, idx)
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def integers(
    seed: int, tick: int, stream: int, idx: ArrayLike, low: ArrayLike, high: ArrayLike
) -> NDArray[np.int64]:
    """One integer in [low, high) per index; ``low``/``high`` may be per-index arrays.

    floor(u * (high - low)): the bias is at most (high - low) / 2**53, far below anything a
    simulation can see for ranges under a billion.
    """
    lo = np.asarray(low, dtype=np.int64)
    span = np.asarray(high, dtype=np.int64) - lo
    if np.any(span <= 0):
        raise ValueError("integers: every high must exceed its low")
    bits = raw_bits(seed, tick, stream, idx) >> np.uint64(11)
    # 53 bits scaled by span / 2**53 (exact), truncated: floor(u * span) for u in [0, 1).
    out = (bits.astype(np.float64) * (span * (1.0 / 9007199254740992.0))).astype(np.int64)
    if lo.ndim or int(lo) != 0:
        out += lo
    # u < 1 so out < high in exact arithmetic; guard the last float rounding step anyway.
    result: NDArray[np.int64] = np.minimum(out, lo + span - 1)
    return result


def bernoulli(seed: int, tick: int, stream: int, idx: ArrayLike, p: ArrayLike) -> NDArray[np.bool_]:
    """True with probability ``p`` (a scalar or one per index)."""
    prob = np.asarray(p, dtype=np.float64)
    if np.any((prob < 0.0) | (prob > 1.0)) or np.any(np.isnan(prob)):
        raise ValueError("bernoulli: probabilities must lie in [0, 1]")
    result: NDArray[np.bool_] = uniform(seed, tick, stream, idx) < prob
    return result


def categorical(
    seed: int, tick: int, stream: int, idx: ArrayLike, probs: ArrayLike
) -> NDArray[np.int64]:
    """One category in [0, k) per index; ``probs`` is shape (k,) or (len(idx), k), each row
    non-negative with a positive sum (normalised here)."""
    p = np.asarray(probs, dtype=np.float64)
    index = _index(idx)
    if p.ndim not in (1, 2) or p.shape[-1] == 0:
        raise ValueError("categorical: probs must have shape (k,) or (n, k) with k >= 1")
    if p.ndim == 2 and p.shape[0] != index.shape[0]:
        raise ValueError(f"categorical: {p.shape[0]} rows of probs for {index.shape[0]} indices")
    if np.any(p < 0.0) or np.any(np.isnan(p)):
        raise ValueError("categorical: probabilities must be non-negative numbers")
    total = p.sum(axis=-1, keepdims=True)
    if np.any(total <= 0.0):
        raise ValueError("categorical: each row of probabilities needs a positive sum")
    cdf = np.cumsum(p / total, axis=-1)
    u = uniform(seed, tick, stream, index)
    k = p.shape[-1]
    out = np.searchsorted(cdf, u, side="right") if p.ndim == 1 else (u[:, None] >= cdf).sum(1)
    # Rounding can leave the last cdf entry a hair under 1: never return k.
    result: NDArray[np.int64] = np.minimum(out.astype(np.int64), k - 1)
    return result


def normal(seed: int, tick: int, stream: int, idx: ArrayLike) -> NDArray[np.float64]:
    """One standard normal number per index (Box-Muller on two counter-based uniforms)."""
    index = _index(idx)
    u1 = uniform(seed, tick, stream, index)
    u2 = uniform(seed, tick, stream ^ 0x4E4F524D, index)
    radius = np.sqrt(-2.0 * np.log1p(-u1))  # 1 - u1 lies in (0, 1]
    result: NDArray[np.float64] = radius * np.cos(2.0 * np.pi * u2)
    return result
