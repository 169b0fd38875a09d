"""The follow graph: CSR arrays (row = follower, columns = the users it follows).

Generated scale-free graphs use Price's model (Price 1976) in its copying form: user ``i``
(in arrival order) follows ``m_i`` earlier users; each follow picks a uniform earlier user
with probability ``uniform_attachment`` and otherwise copies the target of a uniform earlier
follow, i.e. picks a user with probability proportional to its follower count. With half and
half this is Barabasi-Albert preferential attachment (attachment proportional to total degree
when every user follows ``m`` others), whose follower counts have a power-law tail with
exponent 3 (Barabasi & Albert 1999). The copying is resolved for all edges at once by pointer
jumping (each copying edge points to an earlier edge; jumps double until every chain ends at a
uniform pick), so ten million edges take a few seconds and no Python loop runs per user.

Graphs can also be loaded from an OASIS user file (Yang et al. 2024, camel-ai/oasis,
``data/twitter_dataset/anonymous_topic_200_1h/*.csv``): one row per agent with
``following_agentid_list``, a Python-literal list of agent indices (parsed with
``ast.literal_eval``, which evaluates literals only).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from societas.typing import ConfigError

__all__ = [
    "FollowGraph",
    "OasisUsers",
    "load_oasis_users",
    "scale_free_graph",
    "unique_inverse",
    "unique_sorted",
]

I64 = NDArray[np.int64]
I32 = NDArray[np.int32]


def unique_sorted(values: NDArray[Any]) -> NDArray[Any]:
    """Sorted unique values by one sort (numpy 2.4's ``np.unique`` hashes, far slower here)."""
    s = np.sort(values)
    if s.shape[0] == 0:
        return s
    keep = np.empty(s.shape[0], dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def unique_inverse(values: NDArray[Any]) -> tuple[NDArray[Any], I64]:
    """Sorted unique values and, for each input, the index of its value among them."""
    order = np.argsort(values, kind="stable")
    s = values[order]
    if s.shape[0] == 0:
        return s, np.zeros(0, dtype=np.int64)
    new = np.empty(s.shape[0], dtype=bool)
    new[0] = True
    np.not_equal(s[1:], s[:-1], out=new[1:])
    ranks = np.cumsum(new) - 1
    inverse = np.empty(s.shape[0], dtype=np.int64)
    inverse[order] = ranks
    return s[new], inverse


@dataclass
class FollowGraph:
    """``indices[indptr[u]:indptr[u+1]]`` are the users ``u`` follows, sorted ascending."""

    n: int
    indptr: I64
    indices: I32
    _in_degree: I64 | None = field(default=None, repr=False)

    @classmethod
    def from_edges(cls, n: int, src: NDArray[Any], dst: NDArray[Any]) -> FollowGraph:
        """From edge lists; self-follows and duplicates are dropped."""
        s = np.asarray(src, dtype=np.int64)
        d = np.asarray(dst, dtype=np.int64)
        keep = s != d
        keys = unique_sorted(s[keep] * n + d[keep])
        rows = keys // n
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        return cls(n=n, indptr=indptr, indices=(keys % n).astype(np.int32))

    @property
    def num_edges(self) -> int:
        return int(self.indices.shape[0])

    def out_degree(self) -> I64:
        return np.diff(self.indptr)

    def in_degree(self) -> I64:
        """Follower counts."""
        if self._in_degree is None:
            self._in_degree = np.bincount(self.indices, minlength=self.n).astype(np.int64)
        return self._in_degree

    def followees(self, user: int) -> I32:
        return self.indices[self.indptr[user] : self.indptr[user + 1]]

    def has_edges(self, src: I64, dst: I64) -> NDArray[np.bool_]:
        """Whether each ``src[k]`` already follows ``dst[k]`` (rows are sorted: binary search)."""
        out = np.zeros(src.shape[0], dtype=bool)
        for k in range(src.shape[0]):  # called with the few follow actions of a tick
            row = self.followees(int(src[k]))
            j = int(np.searchsorted(row, dst[k]))
            out[k] = j < row.shape[0] and int(row[j]) == int(dst[k])
        return out

    def add_edges(self, src: I64, dst: I64) -> None:
        """Insert new follows (callers drop existing ones first); rows stay sorted."""
        if src.shape[0] == 0:
            return
        order = np.lexsort((dst, src))
        s, d = src[order], dst[order]
        # Position of each new edge: inside its row, before the first larger followee.
        pos = np.empty(s.shape[0], dtype=np.int64)
        for k in range(s.shape[0]):
            lo, hi = int(self.indptr[s[k]]), int(self.indptr[s[k] + 1])
            pos[k] = lo + int(np.searchsorted(self.indices[lo:hi], d[k]))
        self.indices = np.insert(self.indices, pos, d.astype(np.int32))
        added = np.bincount(s, minlength=self.n)
        self.indptr[1:] += np.cumsum(added)
        if self._in_degree is not None:
            self._in_degree += np.bincount(d, minlength=self.n)


def scale_free_graph(
    n: int, mean_degree: float, uniform_attachment: float, rng: np.random.Generator
) -> FollowGraph:
    """Price's model, vectorised (see the module doc). Mean out-degree ~ ``mean_degree``."""
    if n <= 1 or mean_degree <= 0:
        return FollowGraph(
            n=n, indptr=np.zeros(n + 1, dtype=np.int64), indices=np.zeros(0, dtype=np.int32)
        )
    base = int(np.floor(mean_degree))
    m = base + (rng.random(n) < mean_degree - base).astype(np.int64)
    # A user can follow at most the users who arrived before it; the first follows nobody.
    m = np.minimum(m, np.arange(n, dtype=np.int64))
    # Compensate the follows the first users could not make, so the mean stays on target.
    short = round(mean_degree * n) - int(m.sum())
    if short > 0:
        late = np.arange(max(base + 2, n // 2), n)
        if late.size:
            m[rng.choice(late, size=min(short, late.size), replace=False)] += 1
    src = np.repeat(np.arange(n, dtype=np.int64), m)
    num = src.shape[0]
    start = np.zeros(n, dtype=np.int64)
    np.cumsum(m[:-1], out=start[1:])
    earlier = start[src]  # follows made by users who arrived before src
    uniform = (rng.random(num) < uniform_attachment) | (earlier == 0)
    draws = rng.random(num)
    target = np.where(uniform, np.floor(draws * src).astype(np.int64), -1)
    edge_ids = np.arange(num, dtype=np.int64)
    ptr = np.where(uniform, edge_ids, np.floor(draws * earlier).astype(np.int64))
    # Pointer jumping: every copying edge ends at the uniform edge its chain leads to.
    while True:
        nxt = ptr[ptr]
        if np.array_equal(nxt, ptr):
            break
        ptr = nxt
    target = target[ptr]
    return FollowGraph.from_edges(n, src, target)


@dataclass
class OasisUsers:
    graph: FollowGraph
    names: list[str]
    descriptions: list[str]


def load_oasis_users(path: str | Path) -> OasisUsers:
    """An OASIS user file: one row per agent (its index is the row number)."""
    src = str(path)
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(src, "", "a readable OASIS user CSV", str(exc)) from exc
    if "following_agentid_list" not in frame.columns:
        raise ConfigError(src, "following_agentid_list", "a column of agent-index lists")
    n = int(frame.shape[0])
    if n < 2:
        raise ConfigError(src, "", "at least two users", n)
    followers: list[int] = []
    followees: list[int] = []
    for row, raw in enumerate(frame["following_agentid_list"].tolist()):
        items = _literal_list(raw, src, row)
        for item in items:
            if not isinstance(item, int) or isinstance(item, bool) or not 0 <= item < n:
                raise ConfigError(
                    src, f"following_agentid_list (row {row})", f"agent indices 0..{n - 1}", item
                )
            followers.append(row)
            followees.append(item)
    graph = FollowGraph.from_edges(
        n, np.asarray(followers, dtype=np.int64), np.asarray(followees, dtype=np.int64)
    )
    names = [str(x) for x in frame.get("name", pd.Series([f"user_{i}" for i in range(n)]))]
    desc_col = "description" if "description" in frame.columns else "user_char"
    descs = (
        [str(x) if isinstance(x, str) else "" for x in frame[desc_col]]
        if desc_col in frame.columns
        else [""] * n
    )
    return OasisUsers(graph=graph, names=names, descriptions=descs)


def _literal_list(raw: object, src: str, row: int) -> list[object]:
    if raw is None or (isinstance(raw, float) and np.isnan(raw)):
        return []
    try:
        value = ast.literal_eval(str(raw))
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise ConfigError(
            src, f"following_agentid_list (row {row})", "a list literal like [1, 2]", raw
        ) from exc
    if not isinstance(value, list | tuple):
        raise ConfigError(
            src, f"following_agentid_list (row {row})", "a list literal like [1, 2]", raw
        )
    return list(value)
