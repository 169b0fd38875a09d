"""Per-user updates as shard functions (``societas.population.executor``).

Each function runs on one contiguous shard of the users' arrays, draws random numbers only
from the counter-based generator keyed by global user indices, and returns partial results
that the world concatenates in shard order, so one shard or many (local or Ray) give the
same run.

State update on reading (after S3, Gao et al. 2023, who give every user an emotion and an
attitude toward the event that change with the messages it receives, and emotions that fade
over time; S3 asks the model for the new state, the crowd here uses this rule):

  emotion   for e in (anxiety, anger):
              e <- (1 - decay) * e                                   (fading)
              e <- e + contagion * max(0, mean of e over the feed - e)  (contagion; only up)
            the emotion is "calm" while both stay below ``calm_threshold``, otherwise
            the larger one ("anxious" or "angry").
  attitude  bounded-confidence averaging (Deffuant et al. 2000): with S the stances of the
            feed's posts on the seed topic that lie within ``confidence`` of the attitude x,
              x <- x + step * mean(s - x for s in S)                    (S empty: no change)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from societas.population import rng as crng
from societas.population.executor import ShardState

__all__ = [
    "STREAM_ACTIVE",
    "attitude_bucket",
    "emotion_bucket",
    "shard_activate",
    "shard_read",
    "shard_sample",
    "shard_stats",
    "update_states",
]

STREAM_ACTIVE = 1
ATTITUDE_EDGE = 1.0 / 3.0
EMOTIONS = ("calm", "anxious", "angry")
ATTITUDES = ("negative", "neutral", "positive")

F32 = NDArray[np.float32]


def update_states(
    attitude: NDArray[Any],
    anxiety: NDArray[Any],
    anger: NDArray[Any],
    stance: NDArray[Any],
    feed_anx: NDArray[Any],
    feed_anger: NDArray[Any],
    params: dict[str, float],
) -> tuple[F32, F32, F32]:
    """The reading rule above for rows of users; feeds are (rows, slots), NaN = empty slot."""
    x = attitude.astype(np.float64)
    gap = stance - x[:, None]
    use = np.isfinite(stance) & (np.abs(np.nan_to_num(gap)) <= params["confidence"])
    count = use.sum(axis=1)
    shift = np.where(use, gap, 0.0).sum(axis=1) / np.maximum(count, 1)
    x = np.clip(x + params["step"] * shift, -1.0, 1.0)
    seen = np.isfinite(feed_anx).any(axis=1)
    out = []
    for level, feed in ((anxiety, feed_anx), (anger, feed_anger)):
        e = (1.0 - params["decay"]) * level.astype(np.float64)
        with np.errstate(invalid="ignore"):
            mean = np.where(seen, np.nanmean(np.where(seen[:, None], feed, 0.0), axis=1), 0.0)
        e = e + params["contagion"] * np.maximum(0.0, np.where(seen, mean, 0.0) - e)
        out.append(np.clip(e, 0.0, 1.0).astype(np.float32))
    return x.astype(np.float32), out[0], out[1]


def emotion_bucket(
    anxiety: NDArray[Any], anger: NDArray[Any], threshold: float
) -> NDArray[np.int64]:
    """0 calm, 1 anxious, 2 angry."""
    calm = np.maximum(anxiety, anger) < threshold
    return np.where(calm, 0, np.where(anxiety >= anger, 1, 2)).astype(np.int64)


def attitude_bucket(attitude: NDArray[Any]) -> NDArray[np.int64]:
    """0 negative (< -1/3), 1 neutral, 2 positive (> 1/3)."""
    return (attitude >= -ATTITUDE_EDGE).astype(np.int64) + (attitude > ATTITUDE_EDGE).astype(
        np.int64
    )


# -- shard functions (module level so Ray can ship them) -------------------------------------


def shard_activate(shard: ShardState, shared: dict[str, Any]) -> NDArray[np.int64]:
    """Global indices of this shard's users who act this tick (OASIS-style activation)."""
    idx = shard.global_index()
    probs = np.asarray(shared["probs"], dtype=np.float64)[shard.arrays["activity"]]
    on = crng.uniform(int(shared["seed"]), int(shared["tick"]), STREAM_ACTIVE, idx) < probs
    return idx[on]


def _rows(shard: ShardState, active: NDArray[np.int64]) -> tuple[int, int]:
    lo = int(np.searchsorted(active, shard.offset, side="left"))
    hi = int(np.searchsorted(active, shard.offset + shard.n, side="left"))
    return lo, hi


def shard_read(shard: ShardState, shared: dict[str, Any]) -> tuple[F32, F32, F32]:
    """Apply the reading rule to this shard's active users; their new (attitude, anxiety,
    anger), in the order of ``shared["active"]``."""
    active = shared["active"]
    lo, hi = _rows(shard, active)
    rows = active[lo:hi] - shard.offset
    a = shard.arrays
    att, anx, ang = update_states(
        a["attitude"][rows],
        a["anxiety"][rows],
        a["anger"][rows],
        shared["stance"][lo:hi],
        shared["feed_anxiety"][lo:hi],
        shared["feed_anger"][lo:hi],
        shared["params"],
    )
    a["attitude"][rows] = att
    a["anxiety"][rows] = anx
    a["anger"][rows] = ang
    return att, anx, ang


def shard_stats(shard: ShardState, shared: dict[str, Any]) -> NDArray[np.float64]:
    """[n, sum attitude, sum attitude^2, calm, anxious, angry] over the shard."""
    a = shard.arrays
    x = a["attitude"].astype(np.float64)
    emo = np.bincount(
        emotion_bucket(a["anxiety"], a["anger"], float(shared["threshold"])), minlength=3
    )
    return np.asarray([shard.n, x.sum(), (x * x).sum(), *emo.tolist()], dtype=np.float64)


def shard_sample(shard: ShardState, shared: dict[str, Any]) -> F32:
    """Attitudes of the recorded sample users that live in this shard (sorted indices)."""
    sample = shared["sample"]
    lo, hi = _rows(shard, sample)
    values: F32 = shard.arrays["attitude"][sample[lo:hi] - shard.offset]
    return values
