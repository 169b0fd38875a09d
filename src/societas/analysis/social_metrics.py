"""Metrics for social-network runs: cascades, power laws, polarization, socialization.

Pure functions over tables the caller reads from a run store (never live objects):

* a **cascade table**: a DataFrame with columns ``post_id`` (int, unique), ``author`` (int),
  ``parent_post`` (int, or NA for a root post), ``root_post`` (int) and ``tick`` (int); one row
  per post, repost or comment that belongs to a cascade;
* a **posts table**: a DataFrame with columns ``author`` (int), ``tick`` (int), ``text`` (str);
* **embeddings**: an ``(n_posts, dim)`` float array aligned with the posts table's rows, or an
  :class:`~societas.typing.Embedder` that embeds the ``text`` column;
* **attitudes**: float arrays with values in ``[-1, 1]``.

Everything is vectorised (numpy, pandas, scipy); no per-node Python recursion, so a
million-node cascade table takes about a second. Definitions, formulas and sources are in
``docs/metrics/social.md``. Bad input raises :class:`~societas.typing.ConfigError`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.optimize
import scipy.sparse
import scipy.sparse.linalg
import scipy.special
import scipy.stats

from societas.typing import ConfigError, Embedder

__all__ = [
    "CASCADE_COLUMNS",
    "POST_COLUMNS",
    "PowerLawFit",
    "SocialMetric",
    "attitude_summary",
    "bimodality_coefficient",
    "cascade_growth",
    "cascade_stats",
    "collective_consensus",
    "compare_distributions",
    "compare_with_real",
    "fit_power_law",
    "individual_inertia",
    "influence_persistence",
    "lexical_turnover",
    "load_real_cascades",
    "polarization_index",
    "polarization_over_time",
    "semantic_stabilization",
]

CASCADE_COLUMNS = ("post_id", "author", "parent_post", "root_post", "tick")
POST_COLUMNS = ("author", "tick", "text")

# Trees up to this depth get their subtree sizes by a loop over levels (exact, fast when
# shallow); deeper ones by one sparse triangular solve.
_LEVEL_LOOP_MAX_DEPTH = 64

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
ArrayLike = npt.ArrayLike


# --------------------------------------------------------------------------- input checks


def _require_frame(df: object, columns: Sequence[str], source: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise ConfigError(source, "", f"a pandas DataFrame with columns {list(columns)}", df)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ConfigError(
            source, "columns", f"columns {list(columns)} (missing {missing})", list(df.columns)
        )
    return df


def _int_column(df: pd.DataFrame, name: str, source: str, *, allow_na: bool = False) -> IntArray:
    """The column as int64; NA (where allowed) becomes 0 and is reported by ``isna``."""
    col = df[name]
    na = col.isna().to_numpy()
    if na.any() and not allow_na:
        row = int(np.flatnonzero(na)[0])
        raise ConfigError(source, name, "an integer in every row (no NA)", f"NA in row {row}")
    try:
        values = col.astype("Int64")
    except (TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(source, name, "integer values", str(exc)) from exc
    return np.asarray(values.to_numpy(dtype=np.int64, na_value=0), dtype=np.int64)


@dataclass(frozen=True)
class _Forest:
    """A validated cascade table as arrays (row positions, not post ids)."""

    post_id: IntArray
    author: IntArray
    tick: IntArray
    parent: IntArray  # row of the parent; a root points to itself
    is_root: BoolArray
    root: IntArray  # row of the cascade's root
    depth: IntArray  # distance to the root


def _forest(df: pd.DataFrame, source: str) -> _Forest:
    df = _require_frame(df, CASCADE_COLUMNS, source)
    post_id = _int_column(df, "post_id", source)
    author = _int_column(df, "author", source)
    tick = _int_column(df, "tick", source)
    root_post = _int_column(df, "root_post", source)
    is_root = df["parent_post"].isna().to_numpy()
    parent_id = _int_column(df, "parent_post", source, allow_na=True)
    index = pd.Index(post_id)
    if not index.is_unique:
        dup = int(post_id[index.duplicated()][0])
        raise ConfigError(source, "post_id", "unique post ids", f"post_id {dup} twice")
    n = len(post_id)
    parent = np.arange(n, dtype=np.int64)
    child_rows = np.flatnonzero(~is_root)
    found = index.get_indexer(pd.Index(parent_id[child_rows]))
    if (found < 0).any():
        bad = int(child_rows[np.flatnonzero(found < 0)[0]])
        raise ConfigError(
            source,
            "parent_post",
            "NA or the post_id of a row in the same table",
            f"post {int(post_id[bad])} has parent_post {int(parent_id[bad])}",
        )
    if (found == child_rows).any():
        bad = int(child_rows[np.flatnonzero(found == child_rows)[0]])
        raise ConfigError(
            source, "parent_post", "a post other than itself", f"post {int(post_id[bad])}"
        )
    parent[child_rows] = found
    roots = np.flatnonzero(is_root)
    if (root_post[roots] != post_id[roots]).any():
        bad = int(roots[np.flatnonzero(root_post[roots] != post_id[roots])[0]])
        raise ConfigError(
            source,
            "root_post",
            "root_post == post_id on a root post (parent_post NA)",
            f"post {int(post_id[bad])} has root_post {int(root_post[bad])}",
        )
    root, depth = _root_and_depth(parent, is_root, post_id, source)
    wrong = post_id[root] != root_post
    if wrong.any():
        bad = int(np.flatnonzero(wrong)[0])
        raise ConfigError(
            source,
            "root_post",
            "the post_id of the root reached by following parent_post",
            f"post {int(post_id[bad])} has root_post {int(root_post[bad])}, "
            f"its root is {int(post_id[root[bad]])}",
        )
    return _Forest(post_id, author, tick, parent, is_root, root, depth)


def _root_and_depth(
    parent: IntArray, is_root: BoolArray, post_id: IntArray, source: str
) -> tuple[IntArray, IntArray]:
    """Root row and distance to it for every row, by pointer doubling: O(n log depth)."""
    anc = parent.copy()
    dist = (~is_root).astype(np.int64)
    limit = max(1, len(anc)).bit_length() + 2
    for _ in range(limit):
        nxt = anc[anc]
        if np.array_equal(nxt, anc):
            break
        dist = dist + dist[anc]
        anc = nxt
    stuck = ~is_root[anc]  # a cycle never reaches a root (its pointers end up circling)
    if stuck.any():
        cyc = int(np.flatnonzero(stuck)[0])
        raise ConfigError(
            source,
            "parent_post",
            "parent links that reach a root post (no cycles)",
            f"post {int(post_id[cyc])} is on or below a cycle",
        )
    return anc, dist


def _subtree_sizes(parent: IntArray, is_root: BoolArray, depth: IntArray) -> IntArray:
    """Nodes in each row's subtree, itself included.

    ``s_v = 1 + sum of s_c over v's children`` is the triangular system ``(I - C) s = 1``
    (``C[parent, child] = 1``) once rows are ordered by depth; scipy solves it in O(n).
    """
    n = len(parent)
    children = np.flatnonzero(~is_root)
    if children.size == 0:
        return np.ones(n, dtype=np.int64)
    order = np.argsort(depth, kind="stable")
    max_depth = int(depth.max())
    if max_depth <= _LEVEL_LOOP_MAX_DEPTH:
        # shallow trees (the usual case): add each level's sizes to the parents, deepest first
        sizes = np.ones(n, dtype=np.int64)
        starts = np.searchsorted(depth[order], np.arange(max_depth + 2), side="left")
        for d in range(max_depth, 0, -1):
            level = order[starts[d] : starts[d + 1]]
            sizes += np.bincount(parent[level], weights=sizes[level], minlength=n).astype(np.int64)
        return sizes
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n, dtype=np.int64)
    rows = np.concatenate([np.arange(n, dtype=np.int64), rank[parent[children]]])
    cols = np.concatenate([np.arange(n, dtype=np.int64), rank[children]])
    vals = np.concatenate([np.ones(n), -np.ones(children.size)])
    matrix = scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))
    by_rank = scipy.sparse.linalg.spsolve_triangular(matrix, np.ones(n), lower=False)
    return np.asarray(np.rint(np.asarray(by_rank)[rank]), dtype=np.int64)


# --------------------------------------------------------------------------- cascades


def cascade_stats(df: pd.DataFrame, *, source: str = "cascade table") -> pd.DataFrame:
    """One row per cascade: size, depth, max breadth and structural virality.

    Columns: ``root_post``, ``size`` (nodes incl. the root), ``depth`` (largest distance from
    the root), ``max_breadth`` (most nodes at one depth; the root's level counts 1),
    ``structural_virality`` (Goel et al. 2016: mean shortest-path distance over all pairs of
    nodes, ``W / C(n, 2)`` with the Wiener index ``W = sum over edges s*(n-s)``; NaN for a
    single-node cascade). Sorted by ``root_post``.
    """
    forest = _forest(df, source)
    n = len(forest.post_id)
    if n == 0:
        return pd.DataFrame(
            {
                "root_post": np.empty(0, dtype=np.int64),
                "size": np.empty(0, dtype=np.int64),
                "depth": np.empty(0, dtype=np.int64),
                "max_breadth": np.empty(0, dtype=np.int64),
                "structural_virality": np.empty(0, dtype=np.float64),
            }
        )
    root, depth = forest.root, forest.depth
    sizes = _subtree_sizes(forest.parent, forest.is_root, depth)
    roots = np.flatnonzero(forest.is_root)
    roots = roots[np.argsort(forest.post_id[roots], kind="stable")]
    total = np.bincount(root, minlength=n)
    max_depth = np.zeros(n, dtype=np.int64)
    np.maximum.at(max_depth, root, depth)
    # breadth: count nodes per (root, depth); keys sort by root first
    key = root * (int(depth.max()) + 1) + depth
    keys, counts = np.unique(key, return_counts=True)
    key_root = keys // (int(depth.max()) + 1)
    breadth = np.zeros(n, dtype=np.int64)
    np.maximum.at(breadth, key_root, counts)
    # Wiener index: each edge (v, parent v) separates s_v nodes from n_root - s_v nodes
    child = ~forest.is_root
    s = sizes[child].astype(np.float64)
    terms = s * (total[root[child]].astype(np.float64) - s)
    wiener = np.bincount(root[child], weights=terms, minlength=n)
    size_r = total[roots].astype(np.float64)
    pairs = size_r * (size_r - 1.0) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        virality = np.where(size_r >= 2, wiener[roots] / pairs, np.nan)
    return pd.DataFrame(
        {
            "root_post": forest.post_id[roots],
            "size": total[roots].astype(np.int64),
            "depth": max_depth[roots],
            "max_breadth": breadth[roots],
            "structural_virality": virality,
        }
    )


def cascade_growth(df: pd.DataFrame, *, source: str = "cascade table") -> pd.DataFrame:
    """Size, depth and max breadth of every cascade as they stood after each tick.

    One row per (``root_post``, ``tick``) at which the cascade gained nodes, with the
    cumulative ``size``, ``depth`` and ``max_breadth`` of the nodes whose tick is at most that
    tick (the OASIS scale/depth/max-breadth curves). Sorted by root, then tick.
    """
    forest = _forest(df, source)
    if len(forest.post_id) == 0:
        return pd.DataFrame(
            {c: np.empty(0, dtype=np.int64) for c in ("root_post", "tick", "size", "depth")}
            | {"max_breadth": np.empty(0, dtype=np.int64)}
        )
    root, depth = forest.root, forest.depth
    frame = pd.DataFrame({"root": root, "depth": depth, "tick": forest.tick})
    frame = frame.sort_values(["root", "depth", "tick"], kind="stable")
    # nodes at this depth of this cascade once this node has arrived
    frame["level_count"] = frame.groupby(["root", "depth"], sort=False).cumcount() + 1
    per_tick = (
        frame.groupby(["root", "tick"], sort=True)
        .agg(n=("depth", "size"), d=("depth", "max"), b=("level_count", "max"))
        .reset_index()
    )
    by_root = per_tick.groupby("root", sort=False)
    out = pd.DataFrame(
        {
            "root_post": forest.post_id[per_tick["root"].to_numpy()],
            "tick": per_tick["tick"].to_numpy(dtype=np.int64),
            "size": by_root["n"].cumsum().to_numpy(dtype=np.int64),
            "depth": by_root["d"].cummax().to_numpy(dtype=np.int64),
            "max_breadth": by_root["b"].cummax().to_numpy(dtype=np.int64),
        }
    )
    return out.sort_values(["root_post", "tick"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- power law


@dataclass(frozen=True)
class PowerLawFit:
    """A discrete power law ``p(x) = x**-alpha / zeta(alpha, xmin)`` for ``x >= xmin``."""

    alpha: float
    xmin: int
    ks_d: float  # Kolmogorov-Smirnov distance between the tail and the fitted law
    n_tail: int  # values >= xmin
    sigma: float  # standard error (alpha - 1) / sqrt(n_tail)
    n: int  # all values given
    method: str  # "discrete_mle" or "approx"


def _discrete_alpha(
    n: int,
    log_sum: float,
    log_shift_sum: float,
    xmin: int,
    method: str,
    bounds: tuple[float, float],
) -> float:
    """Alpha for ``n`` tail values; ``log_sum = sum ln x``, ``log_shift_sum`` as in eq. 3.7."""
    if method == "approx":
        # Clauset, Shalizi & Newman 2009, eq. (3.7)
        return 1.0 + n / log_shift_sum

    # exact discrete MLE (CSN 2009, eq. (3.5)): maximise
    # L(alpha) = -n ln zeta(alpha, xmin) - alpha * sum ln x_i
    def neg_log_likelihood(alpha: float) -> float:
        return n * math.log(float(scipy.special.zeta(alpha, xmin))) + alpha * log_sum

    res = scipy.optimize.minimize_scalar(
        neg_log_likelihood, bounds=bounds, method="bounded", options={"xatol": 1e-7}
    )
    return float(res.x)


def _ks_distance(values: FloatArray, counts: IntArray, xmin: int, alpha: float) -> float:
    """Largest gap between the empirical and the fitted CDF over the integers >= xmin.

    ``values``: the distinct tail values (ascending), ``counts``: how often each occurs.
    """
    emp = np.cumsum(counts) / counts.sum()
    norm = float(scipy.special.zeta(alpha, xmin))

    def cdf(x: FloatArray) -> FloatArray:
        return np.asarray(1.0 - scipy.special.zeta(alpha, x + 1.0) / norm, dtype=np.float64)

    gap = np.abs(emp - cdf(values))
    # between observed values the empirical CDF is flat and the model's rises: check the
    # integer just before the next observed value, and before the first one
    before_next = values[1:] - 1.0
    gaps = [float(gap.max())]
    if before_next.size:
        gaps.append(float(np.abs(emp[:-1] - cdf(before_next)).max()))
    if values[0] > xmin:
        gaps.append(float(cdf(np.array([values[0] - 1.0]))[0]))
    return max(gaps)


def fit_power_law(
    data: ArrayLike,
    *,
    xmin: int | None = None,
    method: Literal["discrete_mle", "approx"] = "discrete_mle",
    min_tail: int = 10,
    alpha_bounds: tuple[float, float] = (1.0001, 10.0),
) -> PowerLawFit:
    """Fit a discrete power law to positive integers (e.g. cascade sizes).

    Clauset, Shalizi & Newman (2009): ``alpha`` by maximum likelihood for a given ``xmin``
    (``"discrete_mle"``: the exact likelihood with the Hurwitz zeta function, maximised
    numerically; ``"approx"``: ``1 + n / sum ln(x / (xmin - 1/2))``). Without ``xmin`` every
    observed value with at least ``min_tail`` values at or above it is tried and the one with
    the smallest KS distance is kept. Cost: O(n log n + u**2) for u distinct values.
    """
    source = "fit_power_law"
    if method not in ("discrete_mle", "approx"):
        raise ConfigError(source, "method", "'discrete_mle' or 'approx'", method)
    x = np.asarray(data, dtype=np.float64).ravel()
    if x.size == 0 or not np.isfinite(x).all():
        raise ConfigError(source, "data", "a non-empty array of finite values", x.size)
    if (x < 1).any() or (x != np.rint(x)).any():
        raise ConfigError(source, "data", "integers >= 1", x[(x < 1) | (x != np.rint(x))][:5])
    if isinstance(min_tail, bool) or not isinstance(min_tail, int) or min_tail < 2:
        raise ConfigError(source, "min_tail", "an integer >= 2", min_tail)
    uniq, counts = np.unique(x, return_counts=True)
    counts = counts.astype(np.int64)
    # tail sums from each distinct value upward
    tail_n = np.cumsum(counts[::-1])[::-1]
    tail_log = np.cumsum((counts * np.log(uniq))[::-1])[::-1]
    if xmin is not None:
        if isinstance(xmin, bool) or int(xmin) != xmin or xmin < 1:
            raise ConfigError(source, "xmin", "an integer >= 1", xmin)
        start = int(np.searchsorted(uniq, xmin, side="left"))
        if start == uniq.size or tail_n[start] < 2:
            raise ConfigError(source, "xmin", "a value with >= 2 data points at or above it", xmin)
        starts = [(start, int(xmin))]
    else:
        ok = np.flatnonzero(tail_n >= min_tail)
        if ok.size == 0:
            raise ConfigError(
                source, "data", f"at least min_tail={min_tail} values to fit", int(x.size)
            )
        starts = [(int(j), int(uniq[j])) for j in ok]
    best: PowerLawFit | None = None
    for j, xm in starts:
        n_t = int(tail_n[j])
        log_sum = float(tail_log[j])
        alpha = _discrete_alpha(
            n_t, log_sum, log_sum - n_t * math.log(xm - 0.5), xm, method, alpha_bounds
        )
        d = _ks_distance(uniq[j:], counts[j:], xm, alpha)
        if best is None or d < best.ks_d:
            sigma = (alpha - 1.0) / math.sqrt(n_t)
            best = PowerLawFit(alpha, xm, d, n_t, sigma, int(x.size), method)
    assert best is not None  # starts is non-empty
    return best


# --------------------------------------------------------------------------- attitudes


def _attitudes(values: ArrayLike, source: str, ndim: int) -> FloatArray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != ndim or a.size == 0:
        shape = "(n_agents,)" if ndim == 1 else "(n_ticks, n_agents)"
        raise ConfigError(source, "attitudes", f"a non-empty float array of shape {shape}", a.shape)
    if not np.isfinite(a).all() or (np.abs(a) > 1).any():
        raise ConfigError(source, "attitudes", "finite values in [-1, 1]", a[np.abs(a) > 1][:5])
    return a


def polarization_index(attitudes: ArrayLike) -> float:
    """Morales et al. (2015): ``P = (1 - |dA|) * d`` in ``[0, 1]``.

    ``dA = (N+ - N-) / N`` (agents with attitude > 0, < 0, all agents),
    ``d = |g+ - g-| / 2`` with ``g+``/``g-`` the mean attitude of each camp. 0 when either
    camp is empty; 1 for two equal camps at -1 and +1.
    """
    a = _attitudes(attitudes, "polarization_index", 1)
    pos, neg = a[a > 0], a[a < 0]
    if pos.size == 0 or neg.size == 0:
        return 0.0
    delta = (pos.size - neg.size) / a.size
    distance = abs(float(pos.mean()) - float(neg.mean())) / 2.0
    return (1.0 - abs(delta)) * distance


def bimodality_coefficient(values: ArrayLike) -> float:
    """Sarle's bimodality coefficient ``(g**2 + 1) / (k + 3 (n-1)**2 / ((n-2)(n-3)))``.

    ``g``: sample skewness, ``k``: sample excess kurtosis (both bias-corrected). Above 5/9
    (the value of a uniform distribution) suggests bimodality. NaN for fewer than 4 values
    or zero variance.
    """
    a = np.asarray(values, dtype=np.float64).ravel()
    if not np.isfinite(a).all():
        raise ConfigError("bimodality_coefficient", "values", "finite values", a[~np.isfinite(a)])
    n = a.size
    if n < 4 or float(np.ptp(a)) == 0.0:
        return float("nan")
    g = float(scipy.stats.skew(a, bias=False))
    k = float(scipy.stats.kurtosis(a, fisher=True, bias=False))
    return (g * g + 1.0) / (k + 3.0 * (n - 1) ** 2 / ((n - 2) * (n - 3)))


def attitude_summary(attitudes: ArrayLike) -> dict[str, float]:
    """Polarization index, mean, variance, standard deviation and bimodality coefficient."""
    a = _attitudes(attitudes, "attitude_summary", 1)
    return {
        "polarization": polarization_index(a),
        "mean": float(a.mean()),
        "variance": float(a.var()),
        "std": float(a.std()),
        "bimodality": bimodality_coefficient(a),
    }


def polarization_over_time(attitudes: ArrayLike) -> pd.DataFrame:
    """:func:`attitude_summary` for every row of an ``(n_ticks, n_agents)`` array."""
    a = _attitudes(attitudes, "polarization_over_time", 2)
    rows = [attitude_summary(row) for row in a]
    frame = pd.DataFrame(rows, columns=["polarization", "mean", "variance", "std", "bimodality"])
    frame.index.name = "tick"
    return frame


# --------------------------------------------------------------------------- socialization


@dataclass(frozen=True)
class SocialMetric:
    """A per-window series (index: the window's first tick) and one summary number."""

    name: str
    series: pd.Series
    summary: float


def _posts(posts: pd.DataFrame, source: str) -> tuple[IntArray, IntArray, list[str]]:
    posts = _require_frame(posts, POST_COLUMNS, source)
    author = _int_column(posts, "author", source)
    tick = _int_column(posts, "tick", source)
    texts = posts["text"].tolist()
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ConfigError(
            source, "text", "a string in every row", f"row {bad[0]}: {texts[bad[0]]!r}"
        )
    return author, tick, texts


def _windows(tick: IntArray, window: int, source: str) -> IntArray:
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ConfigError(source, "window", "an integer >= 1 (ticks per window)", window)
    return np.asarray(np.floor_divide(tick, window), dtype=np.int64)


def _unit_embeddings(
    embeddings: ArrayLike | Embedder, texts: list[str], source: str
) -> npt.NDArray[np.floating[Any]]:
    if isinstance(embeddings, Embedder):
        emb = np.asarray(embeddings.embed(texts))
    else:
        emb = np.asarray(embeddings)
    if emb.ndim != 2 or emb.shape[0] != len(texts) or emb.shape[1] == 0:
        raise ConfigError(
            source,
            "embeddings",
            f"an array of shape ({len(texts)}, dim): one row per post",
            emb.shape,
        )
    if not np.issubdtype(emb.dtype, np.floating):
        emb = emb.astype(np.float64)
    if not np.isfinite(emb).all():
        raise ConfigError(source, "embeddings", "finite values", "NaN or inf")
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    if (norms == 0).any():
        row = int(np.flatnonzero(norms.ravel() == 0)[0])
        raise ConfigError(
            source, "embeddings", "non-zero rows (a direction per post)", f"row {row}"
        )
    return np.asarray(emb / norms)


def _group_sum(groups: IntArray, n_groups: int, emb: npt.NDArray[np.floating[Any]]) -> FloatArray:
    """Row sums of ``emb`` per group, via a sparse indicator product (no copy of ``emb``)."""
    ind = scipy.sparse.csr_matrix(
        (np.ones(groups.size), (groups, np.arange(groups.size))), shape=(n_groups, groups.size)
    )
    return np.asarray(ind @ emb, dtype=np.float64)


def _series(name: str, labels: IntArray | list[int], values: ArrayLike) -> pd.Series:
    index = pd.Index(np.asarray(labels, dtype=np.int64), name="tick")
    s = pd.Series(np.asarray(values, dtype=np.float64), index=index)
    s.name = name
    return s


def _nanmean(values: FloatArray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def semantic_stabilization(
    posts: pd.DataFrame, embeddings: ArrayLike | Embedder, *, window: int = 1
) -> SocialMetric:
    """Cosine similarity between the mean post embedding of a window and of the previous one.

    Near 1 when the society's average content has stopped moving (``1 - value`` is the
    centroid's drift). Series over consecutive windows that have posts; summary: its mean.
    """
    source = "semantic_stabilization"
    _, tick, texts = _posts(posts, source)
    emb = _unit_embeddings(embeddings, texts, source)
    labels, inv = np.unique(_windows(tick, window, source), return_inverse=True)
    sums = _group_sum(inv.astype(np.int64), labels.size, emb)
    norms = np.linalg.norm(sums, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = (sums[1:] * sums[:-1]).sum(axis=1) / (norms[1:] * norms[:-1])
    series = _series(source, labels[1:] * window, sim)
    return SocialMetric(source, series, _nanmean(series.to_numpy()))


_TOKEN = re.compile(r"[^\W_]+")


def _ngrams(text: str, n: int) -> set[str]:
    words = _TOKEN.findall(text.lower())
    if n == 1:
        return set(words)
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def lexical_turnover(
    posts: pd.DataFrame,
    *,
    n: int = 1,
    window: int = 1,
    kind: Literal["jaccard", "novelty"] = "jaccard",
) -> SocialMetric:
    """How much of the vocabulary (word n-grams) changes from one window to the next.

    ``"jaccard"``: Jaccard distance ``1 - |V_t & V_prev| / |V_t | V_prev|`` between the sets
    of n-grams used in a window and in the previous window with posts. ``"novelty"``: the
    share of a window's n-grams never used in any earlier window. Words are runs of letters
    and digits, lower-cased. Summary: the mean over windows. 0 for a fixed vocabulary.
    """
    source = "lexical_turnover"
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(source, "n", "an integer >= 1 (words per n-gram)", n)
    if kind not in ("jaccard", "novelty"):
        raise ConfigError(source, "kind", "'jaccard' or 'novelty'", kind)
    _, tick, texts = _posts(posts, source)
    wins = _windows(tick, window, source)
    labels = np.unique(wins)
    pair_w: list[int] = []
    pair_g: list[str] = []
    for w, text in zip(wins.tolist(), texts, strict=True):
        grams = _ngrams(text, n)
        pair_w.extend([w] * len(grams))
        pair_g.extend(grams)
    vocab = pd.DataFrame({"w": pd.Series(pair_w, dtype=np.int64), "g": pair_g})
    vocab = vocab.drop_duplicates(ignore_index=True)
    size = vocab.groupby("w").size().reindex(labels, fill_value=0).to_numpy(dtype=np.float64)
    if kind == "jaccard":
        following = dict(zip(labels[:-1].tolist(), labels[1:].tolist(), strict=True))
        moved = vocab.assign(w=vocab["w"].map(following)).dropna()
        moved["w"] = moved["w"].astype(np.int64)
        shared = moved.merge(vocab, on=["w", "g"]).groupby("w").size()
        inter = shared.reindex(labels[1:], fill_value=0).to_numpy(dtype=np.float64)
        union = size[1:] + size[:-1] - inter
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(union > 0, 1.0 - inter / union, np.nan)
    else:
        first = vocab.groupby("g")["w"].min()
        births = first.value_counts().reindex(labels, fill_value=0).to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(size[1:] > 0, births[1:] / size[1:], np.nan)
    name = f"{source}_{kind}"
    series = _series(name, labels[1:] * window, values)
    return SocialMetric(name, series, _nanmean(series.to_numpy()))


def individual_inertia(
    posts: pd.DataFrame,
    embeddings: ArrayLike | Embedder,
    *,
    window: int = 1,
    chunk: int = 65_536,
) -> SocialMetric:
    """How much more an agent's new post resembles its own last post than the others' posts.

    For each pair of consecutive posts ``(p, q)`` by one agent:
    ``cos(e_q, e_p) - cos(e_q, c)``, where ``c`` is the mean embedding of the *other* agents'
    posts in ``p``'s window (what the agent could have taken up). Positive: the agent keeps to
    its own line; near 0 or negative: it moves with the society. Series: the mean over the
    pairs whose later post falls in each window; summary: the mean over all pairs.
    """
    source = "individual_inertia"
    author, tick, texts = _posts(posts, source)
    emb = _unit_embeddings(embeddings, texts, source)
    wins = _windows(tick, window, source)
    labels, w_idx = np.unique(wins, return_inverse=True)
    w_idx = w_idx.astype(np.int64)
    order = np.lexsort((np.arange(tick.size), tick, author))
    same = author[order][1:] == author[order][:-1]
    prev, cur = order[:-1][same], order[1:][same]
    if prev.size == 0:
        return SocialMetric(source, _series(source, [], []), float("nan"))
    win_sum = _group_sum(w_idx, labels.size, emb)
    win_cnt = np.bincount(w_idx, minlength=labels.size)
    aw_codes, aw_keys = pd.factorize(pd.MultiIndex.from_arrays([author, w_idx]))
    aw_codes = np.asarray(aw_codes, dtype=np.int64)
    aw_sum = _group_sum(aw_codes, len(aw_keys), emb)
    aw_cnt = np.bincount(aw_codes, minlength=len(aw_keys))
    values = np.empty(prev.size, dtype=np.float64)
    for start in range(0, prev.size, chunk):
        p, q = prev[start : start + chunk], cur[start : start + chunk]
        others = win_sum[w_idx[p]] - aw_sum[aw_codes[p]]
        n_others = win_cnt[w_idx[p]] - aw_cnt[aw_codes[p]]
        norm = np.linalg.norm(others, axis=1)
        own = (emb[q] * emb[p]).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            pop = (emb[q] * others).sum(axis=1) / norm
        pop[(n_others == 0) | (norm == 0)] = np.nan
        values[start : start + chunk] = own - pop
    frame = pd.DataFrame({"w": wins[cur], "v": values}).dropna()
    per_window = frame.groupby("w")["v"].mean()
    series = _series(source, per_window.index.to_numpy() * window, per_window.to_numpy())
    return SocialMetric(source, series, _nanmean(values))


def _spearman(a: FloatArray, b: FloatArray) -> float:
    if a.size < 2 or float(np.ptp(a)) == 0.0 or float(np.ptp(b)) == 0.0:
        return float("nan")
    ra, rb = scipy.stats.rankdata(a), scipy.stats.rankdata(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def _top_k(counts: pd.Series, k: int) -> set[int]:
    frame = pd.DataFrame({"a": counts.index.to_numpy(), "c": counts.to_numpy()})
    frame = frame.sort_values(["c", "a"], ascending=[False, True], kind="stable")
    return set(frame["a"].head(k).tolist())


def influence_persistence(
    cascades: pd.DataFrame,
    *,
    window: int = 1,
    method: Literal["spearman", "top_k"] = "spearman",
    top_k: int = 10,
    source: str = "cascade table",
) -> SocialMetric:
    """Whether the agents who draw the most reposts/replies in one window keep it in the next.

    Influence of agent ``a`` in window ``t``: the rows of the cascade table in ``t`` whose
    parent post was written by ``a`` (self-replies excluded). ``"spearman"``: rank correlation
    of influence in ``t`` and in the previous window with any, over the agents influential in
    either (0 where absent); ``"top_k"``: Jaccard overlap of the ``top_k`` most influential
    agents (ties by lower id). Summary: the mean over windows. Near 1: persistent hubs.
    """
    if method not in ("spearman", "top_k"):
        raise ConfigError("influence_persistence", "method", "'spearman' or 'top_k'", method)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ConfigError("influence_persistence", "top_k", "an integer >= 1", top_k)
    forest = _forest(cascades, source)
    wins = _windows(forest.tick, window, "influence_persistence")
    child = np.flatnonzero(~forest.is_root)
    target = forest.author[forest.parent[child]]
    keep = target != forest.author[child]
    received = pd.DataFrame({"w": wins[child][keep], "a": target[keep]}).groupby(["w", "a"]).size()
    labels = np.unique(received.index.get_level_values("w").to_numpy())
    values: list[float] = []
    for before, now in zip(labels[:-1].tolist(), labels[1:].tolist(), strict=True):
        x, y = received.loc[before], received.loc[now]
        if method == "top_k":
            tx, ty = _top_k(x, top_k), _top_k(y, top_k)
            values.append(len(tx & ty) / len(tx | ty))
        else:
            union = x.index.union(y.index)
            values.append(
                _spearman(
                    x.reindex(union, fill_value=0).to_numpy(dtype=np.float64),
                    y.reindex(union, fill_value=0).to_numpy(dtype=np.float64),
                )
            )
    name = f"influence_persistence_{method}"
    series = _series(name, labels[1:] * window, values)
    return SocialMetric(name, series, _nanmean(series.to_numpy()))


def collective_consensus(
    posts: pd.DataFrame, embeddings: ArrayLike | Embedder, *, window: int = 1
) -> SocialMetric:
    """Mean pairwise cosine similarity of the agents' latest posts after each window.

    Each agent is represented by the embedding of its most recent post so far (carried
    forward through windows in which it is silent); with unit vectors ``u_i`` over ``m``
    agents the mean over pairs is ``(|sum u_i|**2 - m) / (m (m - 1))``. 1: everyone says the
    same; about 0: unrelated content. Summary: the value after the last window.
    """
    source = "collective_consensus"
    author, tick, texts = _posts(posts, source)
    emb = _unit_embeddings(embeddings, texts, source)
    wins = _windows(tick, window, source)
    agent_codes, agents = pd.factorize(author)
    agent_codes = np.asarray(agent_codes, dtype=np.int64)
    order = np.lexsort((np.arange(tick.size), tick, wins))
    frame = pd.DataFrame({"w": wins[order], "a": agent_codes[order], "row": order})
    last = frame.drop_duplicates(["w", "a"], keep="last")
    labels = np.unique(wins)
    latest = np.zeros((len(agents), emb.shape[1]), dtype=np.float64)
    seen = np.zeros(len(agents), dtype=bool)
    total = np.zeros(emb.shape[1], dtype=np.float64)
    values = np.empty(labels.size, dtype=np.float64)
    bounds = [*np.searchsorted(last["w"].to_numpy(), labels, side="left").tolist(), len(last)]
    a_all, row_all = last["a"].to_numpy(), last["row"].to_numpy()
    for i in range(labels.size):
        a = a_all[bounds[i] : bounds[i + 1]]
        new = emb[row_all[bounds[i] : bounds[i + 1]]].astype(np.float64)
        total += new.sum(axis=0) - latest[a].sum(axis=0)
        latest[a] = new
        seen[a] = True
        m = int(seen.sum())
        values[i] = (float(total @ total) - m) / (m * (m - 1)) if m >= 2 else float("nan")
    series = _series(source, labels * window, values)
    finite = values[np.isfinite(values)]
    return SocialMetric(source, series, float(finite[-1]) if finite.size else float("nan"))


# --------------------------------------------------------------------------- validation


_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def compare_distributions(
    real: ArrayLike, simulated: ArrayLike, *, quantiles: Sequence[float] = _QUANTILES
) -> dict[str, Any]:
    """Two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``) and both samples' summary.

    Keys: ``ks_statistic``, ``p_value``, ``n_real``, ``n_simulated``, ``real_mean``,
    ``simulated_mean``, ``real_quantiles`` and ``simulated_quantiles`` (dicts q -> value).
    """
    arrays = {}
    for field, values in (("real", real), ("simulated", simulated)):
        a = np.asarray(values, dtype=np.float64).ravel()
        if a.size == 0 or not np.isfinite(a).all():
            raise ConfigError(
                "compare_distributions", field, "a non-empty array of finite numbers", a.size
            )
        arrays[field] = a
    qs = [float(q) for q in quantiles]
    if any(not 0.0 <= q <= 1.0 for q in qs):
        raise ConfigError("compare_distributions", "quantiles", "values in [0, 1]", qs)
    res = scipy.stats.ks_2samp(arrays["real"], arrays["simulated"])
    out: dict[str, Any] = {
        "ks_statistic": float(res.statistic),
        "p_value": float(res.pvalue),
    }
    for field, a in arrays.items():
        out[f"n_{field}"] = int(a.size)
        out[f"{field}_mean"] = float(a.mean())
        out[f"{field}_quantiles"] = dict(zip(qs, np.quantile(a, qs).tolist(), strict=True))
    return out


_REAL_COLUMNS = ("label", "num_users", "max_depth", "mean_time", "median_time", "max_time")


def load_real_cascades(path: str | Path) -> pd.DataFrame:
    """The Twitter15/16 cascade summary shipped by OASIS (``all_topics.csv``), checked.

    One row per cascade with at least ``label`` (bool: a true or a false rumour),
    ``num_users`` (int >= 1), ``max_depth`` (int >= 0) and the timing columns ``mean_time``,
    ``median_time``, ``max_time`` (float); other columns are kept, the unnamed index dropped.
    """
    src = str(path)
    try:
        df = pd.read_csv(path)
    except FileNotFoundError as exc:
        raise ConfigError(src, "", "an existing CSV file such as all_topics.csv") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ConfigError(src, "", "a readable CSV file", str(exc)) from exc
    df = _require_frame(df, _REAL_COLUMNS, src)
    df = df.drop(columns=[c for c in df.columns if str(c).startswith("Unnamed")])
    if df.empty:
        raise ConfigError(src, "", "at least one cascade row", 0)
    label = df["label"].map(lambda v: {"true": True, "false": False}.get(str(v).strip().lower()))
    if label.isna().any():
        row = int(np.flatnonzero(label.isna().to_numpy())[0])
        raise ConfigError(src, "label", "True or False", f"row {row}: {df['label'].iloc[row]!r}")
    df["label"] = label.astype(bool)
    for col, low in (("num_users", 1), ("max_depth", 0)):
        values = _int_column(df, col, src)
        if (values < low).any():
            raise ConfigError(src, col, f"integers >= {low}", values[values < low][:5])
        df[col] = values
    for col in ("mean_time", "median_time", "max_time"):
        try:
            df[col] = pd.to_numeric(df[col]).astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ConfigError(src, col, "numbers", str(exc)) from exc
    return df.reset_index(drop=True)


def compare_with_real(stats: pd.DataFrame, real: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """KS comparisons of simulated cascades (:func:`cascade_stats`) with real ones.

    ``"size"``: ``size`` against ``num_users``; ``"depth"``: ``depth`` against ``max_depth``.
    """
    _require_frame(stats, ("size", "depth"), "simulated cascade stats")
    _require_frame(real, ("num_users", "max_depth"), "real cascades")
    return {
        "size": compare_distributions(real["num_users"], stats["size"]),
        "depth": compare_distributions(real["max_depth"], stats["depth"]),
    }
