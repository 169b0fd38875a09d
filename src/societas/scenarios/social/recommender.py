"""Feed recommenders: a candidate pool per active user, scored by a named recommender.

Candidates (all users at once, no per-user Python loop): the latest ``posts_per_author``
posts of up to ``followee_sample`` followees (all followees when a user follows fewer;
otherwise a sample drawn with the counter-based generator, so feeds do not depend on
sharding) plus the ``popular_slots`` most engaged recent posts of the whole platform (posts
with at least one like, repost or comment, ranked by the engagement-and-recency score below).
A user never sees its own posts; posts older than ``max_age`` ticks drop out; a post in the
pool twice is kept once (the copy from a followee).

Features of candidate ``j`` for a user at tick ``t`` (each in [0, 1]):
  recency    0.5 ** ((t - tick_j) / half_life)
  popularity log(1 + engagement_j) / log(1 + max engagement among recent posts)
  followed   1 if the post came from a followee
  interest   1 if the post's topic is the user's interest topic
A recommender maps the pool to one score per candidate; the feed is the ``size`` best.
OASIS (Yang et al. 2024) ships a random, a Reddit "hot score" and an interest-matching
(TwHIN-BERT similarity) recommender; ours are the feature-weighted analogues:

  mixed         w_recency*recency + w_popularity*popularity + w_followed*followed
                + w_interest*interest (weights from the config)
  chronological recency, followees' posts only
  popularity    popularity, then recency (0.01 weight) to break ties
  interest      interest, then recency (0.5 weight)
  random        a counter-based uniform number per (user, candidate)

Others can be added with ``register_recommender``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from societas.population import rng as crng
from societas.scenarios.social.config import FeedSettings
from societas.scenarios.social.graph import FollowGraph
from societas.scenarios.social.posts import PostTable
from societas.typing import ConfigError

__all__ = [
    "FeedPool",
    "Recommender",
    "available_recommenders",
    "build_pool",
    "get_recommender",
    "rank",
    "register_recommender",
]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

STREAM_FOLLOWEES = 101
STREAM_RANDOM_SCORE = 102


@dataclass
class FeedPool:
    """Candidates for ``users`` (row k belongs to ``users[k]``); -1 marks an empty slot."""

    tick: int
    seed: int
    users: I64
    user_topic: I64
    cand: I64
    followed: NDArray[np.bool_]
    posts: PostTable
    settings: FeedSettings

    def valid(self) -> NDArray[np.bool_]:
        ok: NDArray[np.bool_] = self.cand >= 0
        return ok

    def recency(self) -> F64:
        age = self.pool_tick().astype(np.float64)
        return np.power(0.5, (self.tick - age) / self.settings.half_life)

    def pool_tick(self) -> I64:
        ticks = self.posts["tick"]
        return np.where(self.cand >= 0, ticks[np.maximum(self.cand, 0)], self.tick).astype(np.int64)

    def popularity(self) -> F64:
        eng = self.posts["engagement"].astype(np.float64)
        recent = self.posts["tick"] >= self.tick - self.settings.max_age
        top = float(eng[recent].max()) if recent.any() else 0.0
        values: F64 = np.log1p(eng[np.maximum(self.cand, 0)])
        if top <= 0:
            return np.zeros_like(values)
        scaled: F64 = values / float(np.log1p(top))
        return scaled

    def interest(self) -> F64:
        topics = self.posts["topic"][np.maximum(self.cand, 0)]
        match: F64 = (topics == self.user_topic[:, None]).astype(np.float64)
        return match


Recommender = Callable[[FeedPool], F64]

_REGISTRY: dict[str, Recommender] = {}


def register_recommender(name: str, recommender: Recommender) -> None:
    _REGISTRY[name] = recommender


def available_recommenders() -> list[str]:
    return sorted(_REGISTRY)


def get_recommender(name: str) -> Recommender:
    if name not in _REGISTRY:
        raise ConfigError(
            "feed.recommender", "feed.recommender", f"one of {', '.join(sorted(_REGISTRY))}", name
        )
    return _REGISTRY[name]


def _mixed(pool: FeedPool) -> F64:
    s = pool.settings
    return (
        s.w_recency * pool.recency()
        + s.w_popularity * pool.popularity()
        + s.w_followed * pool.followed.astype(np.float64)
        + s.w_interest * pool.interest()
    )


def _chronological(pool: FeedPool) -> F64:
    return np.where(pool.followed, pool.recency(), -np.inf)


def _popularity(pool: FeedPool) -> F64:
    return pool.popularity() + 0.01 * pool.recency()


def _interest(pool: FeedPool) -> F64:
    return pool.interest() + 0.5 * pool.recency()


def _random(pool: FeedPool) -> F64:
    c = pool.cand.shape[1]
    idx = pool.users[:, None] * max(1, c) + np.arange(c)[None, :]
    return crng.uniform(pool.seed, pool.tick, STREAM_RANDOM_SCORE, idx.ravel()).reshape(
        pool.cand.shape
    )


for _name, _fn in (
    ("mixed", _mixed),
    ("chronological", _chronological),
    ("popularity", _popularity),
    ("interest", _interest),
    ("random", _random),
):
    register_recommender(_name, _fn)


def popular_posts(posts: PostTable, tick: int, settings: FeedSettings) -> I64:
    """The platform's most engaged recent posts (engagement >= 1), best first."""
    if settings.popular_slots == 0 or posts.n == 0:
        return np.zeros(0, dtype=np.int64)
    first = int(np.searchsorted(posts["tick"], tick - settings.max_age, side="left"))
    eng = posts["engagement"][first:].astype(np.float64)
    ids = np.flatnonzero(eng >= 1) + first
    if ids.size == 0:
        return ids.astype(np.int64)
    age = tick - posts["tick"][ids].astype(np.float64)
    score = np.log1p(posts["engagement"][ids].astype(np.float64)) + np.power(
        0.5, age / settings.half_life
    )
    k = min(settings.popular_slots, ids.size)
    best = np.argsort(-score, kind="stable")[:k]
    return ids[best].astype(np.int64)


def build_pool(
    *,
    graph: FollowGraph,
    last_posts: NDArray[np.int64],
    posts: PostTable,
    users: I64,
    user_topic: I64,
    tick: int,
    settings: FeedSettings,
    seed: int,
) -> FeedPool:
    """Candidates for every user in ``users`` at once (see the module doc)."""
    n = users.shape[0]
    s = settings.followee_sample
    lo = graph.indptr[users]
    deg = graph.indptr[users + 1] - lo
    slot = np.arange(s, dtype=np.int64)[None, :]
    if s > 0 and n > 0 and graph.num_edges > 0:
        u = crng.uniform(seed, tick, STREAM_FOLLOWEES, (users[:, None] * s + slot).ravel())
        sampled = np.floor(u.reshape(n, s) * deg[:, None]).astype(np.int64)
        offset = np.where((deg <= s)[:, None], slot, sampled)
        has = slot < deg[:, None]
        pick = np.where(has, lo[:, None] + offset, 0)
        followees = np.where(has, graph.indices[pick].astype(np.int64), -1)
        follow_posts = np.where(
            (followees >= 0)[:, :, None], last_posts[np.maximum(followees, 0)], -1
        ).reshape(n, -1)
    else:
        follow_posts = np.zeros((n, 0), dtype=np.int64)
    popular = popular_posts(posts, tick, settings)
    cand = np.concatenate(
        [follow_posts, np.broadcast_to(popular[None, :], (n, popular.shape[0]))], axis=1
    ).astype(np.int64)
    followed = np.zeros(cand.shape, dtype=bool)
    followed[:, : follow_posts.shape[1]] = True
    if cand.size:
        safe = np.maximum(cand, 0)
        too_old = posts["tick"][safe] < tick - settings.max_age
        own = posts["author"][safe] == users[:, None]
        cand = np.where((cand >= 0) & ~too_old & ~own, cand, -1)
        # Drop repeats: keep the first copy (followees' slots come before popular ones).
        order = np.argsort(cand, axis=1, kind="stable")
        ordered = np.take_along_axis(cand, order, axis=1)
        dup_sorted = np.zeros(cand.shape, dtype=bool)
        dup_sorted[:, 1:] = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
        dup = np.zeros(cand.shape, dtype=bool)
        np.put_along_axis(dup, order, dup_sorted, axis=1)
        cand = np.where(dup, -1, cand)
    followed &= cand >= 0
    return FeedPool(
        tick=tick,
        seed=seed,
        users=users,
        user_topic=user_topic,
        cand=cand,
        followed=followed,
        posts=posts,
        settings=settings,
    )


def rank(pool: FeedPool, recommender: Recommender) -> I64:
    """The feed: ``settings.size`` best candidates per user, best first, -1 padded."""
    n, c = pool.cand.shape
    size = pool.settings.size
    if c == 0:
        return np.full((n, size), -1, dtype=np.int64)
    scores = np.asarray(recommender(pool), dtype=np.float64)
    scores = np.where(pool.cand >= 0, scores, -np.inf)
    # Ties go to the lower slot (stable sort on the negated score).
    order = np.argsort(-scores, axis=1, kind="stable")[:, :size]
    feed = np.take_along_axis(pool.cand, order, axis=1)
    best = np.take_along_axis(scores, order, axis=1)
    feed = np.where(np.isfinite(best), feed, -1)
    if feed.shape[1] < size:
        feed = np.concatenate([feed, np.full((n, size - feed.shape[1]), -1)], axis=1)
    return feed.astype(np.int64)
