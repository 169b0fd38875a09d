"""Social-network metrics: cascades, power laws, polarization, socialization, validation."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import scipy.special

from societas.analysis.social_metrics import (
    attitude_summary,
    bimodality_coefficient,
    cascade_growth,
    cascade_stats,
    collective_consensus,
    compare_distributions,
    compare_with_real,
    fit_power_law,
    individual_inertia,
    influence_persistence,
    lexical_turnover,
    load_real_cascades,
    polarization_index,
    polarization_over_time,
    semantic_stabilization,
)
from societas.typing import ConfigError, Embedder

REAL_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "oasis" / "all_topics.csv"


def table(
    edges: Sequence[tuple[int, int | None]],
    root_of: dict[int, int] | None = None,
    ticks: Sequence[int] | None = None,
) -> pd.DataFrame:
    """A cascade table from (post_id, parent or None); root_post found by walking up."""
    parent = dict(edges)

    def root(p: int) -> int:
        while parent[p] is not None:
            p = parent[p]  # type: ignore[assignment]
        return p

    ids = [p for p, _ in edges]
    return pd.DataFrame(
        {
            "post_id": ids,
            "author": [p % 7 for p in ids],
            "parent_post": pd.array([q for _, q in edges], dtype="Int64"),
            "root_post": [root_of[p] if root_of else root(p) for p in ids],
            "tick": list(ticks) if ticks is not None else list(range(len(ids))),
        }
    )


CHAIN = [(1, None), (2, 1), (3, 2), (4, 3)]
STAR = [(10, None), (11, 10), (12, 10), (13, 10)]


# --------------------------------------------------------------------------- cascades


def test_chain_of_four() -> None:
    row = cascade_stats(table(CHAIN)).iloc[0]
    assert (row["root_post"], row["size"], row["depth"], row["max_breadth"]) == (1, 4, 3, 1)
    assert row["structural_virality"] == pytest.approx((1 + 2 + 3 + 1 + 2 + 1) / 6)


def test_star_of_four() -> None:
    row = cascade_stats(table(STAR)).iloc[0]
    assert (row["size"], row["depth"], row["max_breadth"]) == (4, 1, 3)
    assert row["structural_virality"] == pytest.approx((3 * 1 + 3 * 2) / 6)


def test_many_cascades_at_once_in_any_row_order() -> None:
    df = table([*STAR, *CHAIN, (99, None)]).sample(frac=1.0, random_state=3)
    # a float column with NaN for roots is accepted too
    df["parent_post"] = df["parent_post"].astype("float64")
    stats = cascade_stats(df)
    assert stats["root_post"].tolist() == [1, 10, 99]
    assert stats["size"].tolist() == [4, 4, 1]
    assert stats["depth"].tolist() == [3, 1, 0]
    assert stats["max_breadth"].tolist() == [1, 3, 1]
    v = stats["structural_virality"].tolist()
    assert v[0] == pytest.approx(10 / 6)
    assert v[1] == pytest.approx(1.5)
    assert math.isnan(v[2])  # undefined for a single node


def random_forest(
    n: int, n_roots: int, rng: np.random.Generator, *, deep: bool = False
) -> tuple[pd.DataFrame, dict[int, list[tuple[int, int]]]]:
    """Random recursive forest (or a long chain with twigs when ``deep``): the table, and
    each cascade's edge list by root post id."""
    if deep:
        parent = np.arange(-1, n - 1)
        twigs = np.flatnonzero(rng.random(n) < 0.2)
        twigs = twigs[twigs >= 3]
        parent[twigs] = twigs - 1 - rng.integers(1, 3, twigs.size)  # branch off 2-3 back
        parent[0] = -1
        n_roots = 1
    else:
        parent = (rng.random(n) * np.arange(n)).astype(int)
        parent[:n_roots] = -1
    root = np.arange(n)
    for i in range(n):
        if parent[i] >= 0:
            root[i] = root[parent[i]]
    ids = rng.permutation(n) * 3 + 5
    edges: dict[int, list[tuple[int, int]]] = {int(ids[r]): [] for r in range(n_roots)}
    for i in range(n):
        if parent[i] >= 0:
            edges[int(ids[root[i]])].append((int(ids[i]), int(ids[parent[i]])))
    df = pd.DataFrame(
        {
            "post_id": ids,
            "author": rng.integers(0, 10, n),
            "parent_post": pd.array(
                np.where(parent >= 0, ids[np.maximum(parent, 0)], 0), dtype="Int64"
            ),
            "root_post": ids[root],
            "tick": rng.integers(0, 5, n),
        }
    )
    df.loc[parent < 0, "parent_post"] = pd.NA
    return df.sample(frac=1.0, random_state=1), edges


@pytest.mark.parametrize("deep", [False, True])
def test_matches_networkx_on_random_forests(deep: bool) -> None:
    nx = pytest.importorskip("networkx")
    rng = np.random.default_rng(7)
    df, edges = random_forest(300, 12, rng, deep=deep)
    stats = cascade_stats(df).set_index("root_post")
    assert sorted(stats.index) == sorted(edges)
    for root, tree_edges in edges.items():
        g = nx.Graph()
        g.add_node(root)
        g.add_edges_from(tree_edges)
        row = stats.loc[root]
        dist = nx.single_source_shortest_path_length(g, root)
        assert row["size"] == g.number_of_nodes()
        assert row["depth"] == max(dist.values())
        assert row["max_breadth"] == max(pd.Series(list(dist.values())).value_counts())
        n = g.number_of_nodes()
        if n > 1:
            expected = nx.wiener_index(g) / (n * (n - 1) / 2)
            assert row["structural_virality"] == pytest.approx(expected, rel=1e-9)
    if deep:
        assert stats["depth"].max() > 64  # exercises the sparse-solve path


def test_long_chain_virality_is_n_plus_one_over_three() -> None:
    n = 5000
    df = table([(0, None), *[(i, i - 1) for i in range(1, n)]], root_of=dict.fromkeys(range(n), 0))
    row = cascade_stats(df).iloc[0]
    assert row["depth"] == n - 1
    assert row["structural_virality"] == pytest.approx((n + 1) / 3, rel=1e-12)


def test_million_node_forest_in_seconds() -> None:
    rng = np.random.default_rng(0)
    n = 1_000_000
    parent = (rng.random(n) * np.arange(n)).astype(np.int64)
    parent[:100] = -1
    anc = np.where(parent < 0, np.arange(n), parent)
    while not np.array_equal(anc[anc], anc):
        anc = anc[anc]
    df = pd.DataFrame(
        {
            "post_id": np.arange(n),
            "author": rng.integers(0, 1000, n),
            "parent_post": pd.array(np.where(parent >= 0, parent, 0), dtype="Int64"),
            "root_post": anc,
            "tick": rng.integers(0, 50, n),
        }
    )
    df.loc[parent < 0, "parent_post"] = pd.NA
    start = time.perf_counter()
    stats = cascade_stats(df)
    elapsed = time.perf_counter() - start
    assert len(stats) == 100
    assert stats["size"].sum() == n
    assert (stats["structural_virality"] > 1).all()
    assert elapsed < 20, elapsed  # ~1 s on the 2-core dev machine


def test_growth_over_ticks() -> None:
    growth = cascade_growth(table(STAR, ticks=[0, 1, 1, 3]))
    assert growth[["tick", "size", "depth", "max_breadth"]].values.tolist() == [
        [0, 1, 0, 1],
        [1, 3, 1, 2],
        [3, 4, 1, 3],
    ]
    chain = cascade_growth(table([*CHAIN, *STAR], ticks=[0, 2, 2, 5, 0, 1, 1, 3]))
    assert chain[chain["root_post"] == 1][["tick", "size", "depth"]].values.tolist() == [
        [0, 1, 0],
        [2, 3, 2],
        [5, 4, 3],
    ]
    final = chain.groupby("root_post").last()
    stats = cascade_stats(table([*CHAIN, *STAR])).set_index("root_post")
    assert (
        (final[["size", "depth", "max_breadth"]] == stats[["size", "depth", "max_breadth"]])
        .all()
        .all()
    )


def test_empty_table() -> None:
    empty = table(CHAIN).iloc[0:0]
    assert cascade_stats(empty).empty
    assert cascade_growth(empty).empty


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.drop(columns="tick"), "columns"),
        (lambda d: d.assign(post_id=[1, 2, 2, 4]), "post_id"),
        (lambda d: d.assign(parent_post=pd.array([None, 1, 2, 77], dtype="Int64")), "parent_post"),
        (lambda d: d.assign(parent_post=pd.array([None, 1, 4, 3], dtype="Int64")), "parent_post"),
        (lambda d: d.assign(parent_post=pd.array([None, 2, 2, 3], dtype="Int64")), "parent_post"),
        (lambda d: d.assign(root_post=[1, 1, 1, 2]), "root_post"),
        (lambda d: d.assign(root_post=[5, 1, 1, 1]), "root_post"),
        (lambda d: d.assign(tick=[0.0, 1.5, 2.0, 3.0]), "tick"),
        (lambda d: d.assign(author=[0, None, 1, 2]), "author"),
        (lambda d: d.assign(tick=["a", "b", "c", "d"]), "tick"),
    ],
)
def test_bad_cascade_tables(mutate: object, field: str) -> None:
    df = mutate(table(CHAIN))  # type: ignore[operator]
    with pytest.raises(ConfigError) as info:
        cascade_stats(df, source="run.db cascades")
    assert info.value.field == field
    assert info.value.source == "run.db cascades"


def test_cycle_without_root_is_refused() -> None:
    df = table(CHAIN)
    df["parent_post"] = pd.array([None, 1, 4, 3], dtype="Int64")  # 3 <-> 4
    df["root_post"] = [1, 1, 3, 3]
    with pytest.raises(ConfigError, match="cycle"):
        cascade_stats(df)


def test_not_a_frame() -> None:
    with pytest.raises(ConfigError):
        cascade_stats([1, 2, 3])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- power law


def sample_power_law(
    alpha: float, xmin: int, n: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Exact inverse-CDF draws from p(x) = x**-alpha / zeta(alpha, xmin), x >= xmin."""
    top = 200_000
    xs = np.arange(xmin, xmin + top, dtype=np.float64)
    ccdf = scipy.special.zeta(alpha, xs) / scipy.special.zeta(alpha, xmin)  # P(X >= x)
    u = rng.random(n)
    # x = the largest table value with P(X >= x) >= u
    k = np.searchsorted(-ccdf, -u, side="right") - 1
    out = xs[np.maximum(k, 0)]
    beyond = u < ccdf[-1] * (1 - 1e-12)  # rare: continuous approximation past the table
    out[beyond] = np.floor((xs[-1] + 0.5) * (u[beyond] / ccdf[-1]) ** (-1 / (alpha - 1)) + 0.5)
    return out.astype(np.int64)


def test_sampler_matches_the_pmf() -> None:
    x = sample_power_law(2.5, 1, 200_000, np.random.default_rng(1))
    p1 = 1 / scipy.special.zeta(2.5, 1)
    assert (x == 1).mean() == pytest.approx(p1, abs=0.005)
    assert (x == 2).mean() == pytest.approx(p1 * 2**-2.5, abs=0.005)


def test_recovers_alpha_with_known_xmin() -> None:
    x = sample_power_law(2.5, 1, 20_000, np.random.default_rng(2))
    fit = fit_power_law(x, xmin=1)
    assert fit.method == "discrete_mle"
    assert fit.alpha == pytest.approx(2.5, abs=0.05)
    assert fit.n_tail == fit.n == 20_000
    assert fit.sigma == pytest.approx((fit.alpha - 1) / math.sqrt(20_000))
    assert fit.ks_d < 0.02
    # the MLE really maximises the likelihood: a grid agrees
    grid = np.linspace(2.3, 2.7, 4001)
    ll = [-len(x) * math.log(scipy.special.zeta(a, 1)) - a * np.log(x).sum() for a in grid]
    assert fit.alpha == pytest.approx(grid[int(np.argmax(ll))], abs=2e-4)


def test_finds_xmin_below_which_data_is_not_a_power_law() -> None:
    rng = np.random.default_rng(3)
    tail = sample_power_law(2.5, 10, 5000, rng)
    body = rng.integers(1, 10, 5000)  # uniform on 1..9: not a power law
    fit = fit_power_law(np.concatenate([body, tail]))
    assert 8 <= fit.xmin <= 13
    assert fit.alpha == pytest.approx(2.5, abs=0.15)
    approx = fit_power_law(tail, xmin=10, method="approx")
    assert approx.method == "approx"
    assert approx.alpha == pytest.approx(2.5, abs=0.1)


def test_ks_distance_tells_power_law_from_exponential() -> None:
    rng = np.random.default_rng(4)
    pl = fit_power_law(sample_power_law(2.2, 1, 5000, rng), xmin=1)
    geo = fit_power_law(rng.geometric(0.3, 5000), xmin=1)
    assert pl.ks_d < 0.03 < geo.ks_d


@pytest.mark.parametrize(
    ("data", "kwargs"),
    [
        ([], {}),
        ([0, 1, 2], {"xmin": 1}),
        ([1.5, 2, 3], {"xmin": 1}),
        ([1, 2, float("nan")], {"xmin": 1}),
        ([1, 2, 3], {}),  # fewer than min_tail values
        ([1, 2, 3], {"xmin": 0}),
        ([1, 2, 3], {"xmin": 3}),  # a single value in the tail
        ([1, 2, 3], {"xmin": 1, "method": "bogus"}),
        ([1, 2, 3], {"min_tail": 1}),
    ],
)
def test_power_law_bad_inputs(data: list[float], kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        fit_power_law(data, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- polarization


def test_polarization_extremes() -> None:
    assert polarization_index(np.full(10, 0.3)) == 0.0
    assert polarization_index(np.zeros(10)) == 0.0
    assert polarization_index([1.0] * 5 + [-1.0] * 5) == pytest.approx(1.0)
    assert polarization_index([0.5, 0.2, 0.9]) == 0.0  # a single camp


def test_polarization_by_hand() -> None:
    # dA = (3 - 1) / 4, d = |1 - (-1)| / 2
    assert polarization_index([1, 1, 1, -1]) == pytest.approx(0.5)
    # dA = 0, d = |0.5 - (-0.5)| / 2
    assert polarization_index([0.5, -0.5]) == pytest.approx(0.5)
    # a neutral agent counts in N but in neither camp: dA = 0, d = 1
    assert polarization_index([1, 0, -1]) == pytest.approx(1.0)


def test_bimodality_coefficient() -> None:
    rng = np.random.default_rng(5)
    camps = np.concatenate([rng.normal(-0.8, 0.05, 500), rng.normal(0.8, 0.05, 500)])
    assert bimodality_coefficient(camps) > 5 / 9
    assert bimodality_coefficient(rng.normal(0, 0.2, 1000)) < 5 / 9
    assert bimodality_coefficient(rng.uniform(-1, 1, 200_000)) == pytest.approx(5 / 9, abs=0.01)
    assert math.isnan(bimodality_coefficient([0.1, 0.1, 0.1, 0.1]))
    assert math.isnan(bimodality_coefficient([0.1, 0.2]))


def test_attitude_summary_and_series() -> None:
    s = attitude_summary([1.0, -1.0, 1.0, -1.0])
    assert s["polarization"] == pytest.approx(1.0)
    assert s["variance"] == pytest.approx(1.0)
    assert s["mean"] == pytest.approx(0.0)
    over = polarization_over_time(np.array([[0.1] * 4, [1, -1, 1, -1]]))
    assert over["polarization"].tolist() == pytest.approx([0.0, 1.0])
    assert over.index.name == "tick"


@pytest.mark.parametrize("bad", [[], [1.2, 0.0], [float("nan")], [[0.1]]])
def test_attitudes_out_of_range(bad: list[object]) -> None:
    with pytest.raises(ConfigError):
        polarization_index(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        polarization_over_time([1.0, 0.0])


# --------------------------------------------------------------------------- socialization


def unit(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.asarray(v / np.linalg.norm(v, axis=-1, keepdims=True), dtype=np.float64)


def converging_society(
    n_agents: int = 20, ticks: int = 10, dim: int = 16, seed: int = 0
) -> tuple[pd.DataFrame, npt.NDArray[np.float64]]:
    """Agents start on their own directions and move toward a common one, ever more slowly."""
    rng = np.random.default_rng(seed)
    own = unit(rng.normal(size=(n_agents, dim)))
    common = unit(rng.normal(size=dim))
    rows, emb = [], []
    for t in range(ticks):
        lam = 1 - 0.5**t
        for a in range(n_agents):
            rows.append({"author": a, "tick": t, "text": f"post {a} {t}"})
            emb.append((1 - lam) * own[a] + lam * common)
    return pd.DataFrame(rows), np.array(emb)


def test_semantic_stabilization_rises_as_content_converges() -> None:
    posts, emb = converging_society()
    m = semantic_stabilization(posts, emb)
    values = m.series.to_numpy()
    assert m.series.index.tolist() == list(range(1, 10))
    assert values[-1] > values[0]
    assert values[-1] > 0.999
    assert m.summary == pytest.approx(values.mean())


def test_collective_consensus_rises_as_content_converges() -> None:
    posts, emb = converging_society()
    m = collective_consensus(posts, emb)
    values = m.series.to_numpy()
    assert np.all(np.diff(values) > 0)
    assert values[0] < 0.3
    assert m.summary == pytest.approx(values[-1])
    assert m.summary > 0.99


def test_consensus_carries_silent_agents_forward() -> None:
    posts = pd.DataFrame({"author": [0, 1, 0], "tick": [0, 0, 1], "text": ["a", "b", "c"]})
    emb = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    m = collective_consensus(posts, emb)
    # tick 0: both on the same line; tick 1: agent 0 moved, agent 1 silent but still counted
    assert m.series.tolist() == pytest.approx([1.0, 0.0])


def test_individual_inertia_separates_stubborn_from_followers() -> None:
    rng = np.random.default_rng(1)
    n_agents, ticks, dim = 15, 8, 16
    own = unit(rng.normal(size=(n_agents, dim)))
    stubborn_rows, stubborn_emb = [], []
    follower_rows, follower_emb = [], []
    prev = own.copy()
    for t in range(ticks):
        for a in range(n_agents):
            stubborn_rows.append({"author": a, "tick": t, "text": "x"})
            stubborn_emb.append(own[a] + 0.05 * rng.normal(size=dim))
        # followers post the others' mean of the last tick, plus noise: no own line
        mean_prev = prev.sum(axis=0)
        now = np.array(
            [unit(mean_prev - prev[a]) + 0.3 * rng.normal(size=dim) for a in range(n_agents)]
        )
        for a in range(n_agents):
            follower_rows.append({"author": a, "tick": t, "text": "x"})
            follower_emb.append(now[a])
        prev = unit(now)
    stubborn = individual_inertia(pd.DataFrame(stubborn_rows), np.array(stubborn_emb))
    followers = individual_inertia(pd.DataFrame(follower_rows), np.array(follower_emb))
    assert stubborn.summary > 0.5
    assert followers.summary < 0.1
    assert stubborn.series.index.tolist() == list(range(1, ticks))


def test_individual_inertia_by_hand() -> None:
    # agent 0 posts e0 then e0 again; agent 1 posted e1 alongside the first post
    posts = pd.DataFrame({"author": [0, 1, 0], "tick": [0, 0, 1], "text": ["a", "b", "c"]})
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    m = individual_inertia(posts, emb)
    assert m.summary == pytest.approx(1.0 - 0.0)
    assert m.series.to_dict() == {1: pytest.approx(1.0)}


def test_lexical_turnover_fixed_vocabulary_is_zero() -> None:
    texts = ["the cat sat", "on the mat", "the cat"]
    posts = pd.DataFrame(
        {
            "author": [i % 3 for i in range(15)],
            "tick": [i // 3 for i in range(15)],
            "text": texts * 5,
        }
    )
    for n in (1, 2):
        assert lexical_turnover(posts, n=n).series.tolist() == [0.0] * 4
        assert lexical_turnover(posts, n=n, kind="novelty").summary == 0.0


def test_lexical_turnover_by_hand() -> None:
    posts = pd.DataFrame({"author": [0, 1, 0], "tick": [0, 1, 2], "text": ["A b!", "b, c", "d e"]})
    jac = lexical_turnover(posts)
    assert jac.series.to_dict() == {1: pytest.approx(2 / 3), 2: pytest.approx(1.0)}
    nov = lexical_turnover(posts, kind="novelty")
    assert nov.series.to_dict() == {1: pytest.approx(0.5), 2: pytest.approx(1.0)}
    bigrams = lexical_turnover(
        pd.DataFrame({"author": [0, 0], "tick": [0, 1], "text": ["a b c", "b c d"]}), n=2
    )
    assert bigrams.series.tolist() == pytest.approx([1 - 1 / 3])
    windows = lexical_turnover(posts, window=2)  # ticks 0-1 vs 2
    assert windows.series.to_dict() == {2: pytest.approx(1.0)}


def interactions(counts_per_window: list[dict[int, int]]) -> pd.DataFrame:
    """A cascade table in which agent a's root post in window t gets counts[a] reposts."""
    rows: list[tuple[int, int, int | None, int, int]] = []
    pid = 0
    for t, counts in enumerate(counts_per_window):
        for a, k in counts.items():
            root = pid
            rows.append((root, a, None, root, t))
            pid += 1
            for _ in range(k):
                rows.append((pid, 100 + pid % 5, root, root, t))
                pid += 1
    return pd.DataFrame(
        rows, columns=["post_id", "author", "parent_post", "root_post", "tick"]
    ).astype({"parent_post": "Int64"})


def test_influence_persistence() -> None:
    same = [{0: 5, 1: 4, 2: 3, 3: 2, 4: 1}] * 3
    assert influence_persistence(interactions(same)).series.tolist() == pytest.approx([1, 1])
    assert influence_persistence(interactions(same), method="top_k", top_k=2).summary == 1.0
    flip = [{0: 5, 1: 4, 2: 3, 3: 2, 4: 1}, {0: 1, 1: 2, 2: 3, 3: 4, 4: 5}]
    assert influence_persistence(interactions(flip)).summary == pytest.approx(-1.0)
    assert influence_persistence(interactions(flip), method="top_k", top_k=2).summary == 0.0
    # new hubs each window: agents absent before count as 0
    moved = [{0: 3, 1: 2}, {2: 3, 3: 2}]
    assert influence_persistence(interactions(moved)).summary < 0


def test_influence_ignores_self_replies() -> None:
    df = interactions([{0: 2, 1: 1}, {0: 2, 1: 1}])
    self_replies = pd.DataFrame(
        {
            "post_id": [1000, 1001, 1002],
            "author": [1, 1, 1],
            "parent_post": pd.array([df["post_id"][3]] * 3, dtype="Int64"),
            "root_post": [df["root_post"][3]] * 3,
            "tick": [1, 1, 1],
        }
    )
    both = pd.concat([df, self_replies], ignore_index=True)
    assert influence_persistence(both).summary == pytest.approx(1.0)


class BagOfWords:
    """A tiny Embedder: counts of a fixed vocabulary, L2-normalised."""

    name = "bag-of-words"
    dim = 4
    vocab = ("cats", "dogs", "rain", "sun")

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls.append(list(texts))
        out = np.array(
            [[t.split().count(w) + 0.01 for w in self.vocab] for t in texts], dtype=np.float32
        )
        return np.asarray(out / np.linalg.norm(out, axis=1, keepdims=True), dtype=np.float32)


def test_metrics_accept_an_embedder() -> None:
    emb = BagOfWords()
    assert isinstance(emb, Embedder)
    posts = pd.DataFrame(
        {
            "author": [0, 1, 0, 1],
            "tick": [0, 0, 1, 1],
            "text": ["cats cats", "rain", "cats", "cats"],
        }
    )
    m = collective_consensus(posts, emb)
    assert emb.calls == [posts["text"].tolist()]
    assert m.series.iloc[0] < 0.1
    assert m.summary > 0.99
    assert semantic_stabilization(posts, emb).summary < 1


@pytest.mark.parametrize(
    ("posts", "emb", "kwargs"),
    [
        (pd.DataFrame({"author": [0], "tick": [0]}), np.ones((1, 2)), {}),
        (pd.DataFrame({"author": [0], "tick": [0], "text": [3]}), np.ones((1, 2)), {}),
        (pd.DataFrame({"author": [0], "tick": [0], "text": ["a"]}), np.ones((2, 2)), {}),
        (pd.DataFrame({"author": [0], "tick": [0], "text": ["a"]}), np.zeros((1, 2)), {}),
        (pd.DataFrame({"author": [0], "tick": [0], "text": ["a"]}), np.full((1, 2), np.nan), {}),
        (pd.DataFrame({"author": [0], "tick": [0], "text": ["a"]}), np.ones(2), {}),
        (pd.DataFrame({"author": [0], "tick": [0], "text": ["a"]}), np.ones((1, 2)), {"window": 0}),
        (pd.DataFrame({"author": [0], "tick": [0.5], "text": ["a"]}), np.ones((1, 2)), {}),
    ],
)
def test_socialization_bad_inputs(
    posts: pd.DataFrame, emb: npt.NDArray[np.float64], kwargs: dict[str, int]
) -> None:
    for metric in (semantic_stabilization, individual_inertia, collective_consensus):
        with pytest.raises(ConfigError):
            metric(posts, emb, **kwargs)


def test_lexical_and_influence_bad_inputs() -> None:
    posts = pd.DataFrame({"author": [0], "tick": [0], "text": ["a"]})
    with pytest.raises(ConfigError):
        lexical_turnover(posts, n=0)
    with pytest.raises(ConfigError):
        lexical_turnover(posts, kind="bogus")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        influence_persistence(interactions([{0: 1}]), method="bogus")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        influence_persistence(interactions([{0: 1}]), top_k=0)


def test_too_little_data_gives_nan_not_an_error() -> None:
    one = pd.DataFrame({"author": [0], "tick": [0], "text": ["a"]})
    emb = np.ones((1, 2))
    assert math.isnan(semantic_stabilization(one, emb).summary)
    assert math.isnan(individual_inertia(one, emb).summary)
    assert math.isnan(collective_consensus(one, emb).summary)
    assert math.isnan(lexical_turnover(one).summary)
    assert math.isnan(influence_persistence(interactions([{0: 1}])).summary)


def test_empty_tables_give_empty_series() -> None:
    posts = pd.DataFrame(
        {
            "author": pd.Series([], dtype="int64"),
            "tick": pd.Series([], dtype="int64"),
            "text": pd.Series([], dtype=object),
        }
    )
    emb = np.zeros((0, 3))
    for metric in (semantic_stabilization, individual_inertia, collective_consensus):
        m = metric(posts, emb)
        assert m.series.empty
        assert math.isnan(m.summary)
    assert lexical_turnover(posts).series.empty
    assert influence_persistence(table(CHAIN).iloc[0:0]).series.empty


# --------------------------------------------------------------------------- validation


def test_compare_distributions() -> None:
    rng = np.random.default_rng(6)
    a = rng.normal(0, 1, 500)
    same = compare_distributions(a, a)
    assert same["ks_statistic"] == 0.0
    assert same["p_value"] == pytest.approx(1.0)
    assert same["real_quantiles"][0.5] == pytest.approx(float(np.median(a)))
    shifted = compare_distributions(a, a + 1.0)
    assert shifted["p_value"] < 1e-6
    assert shifted["simulated_mean"] - shifted["real_mean"] == pytest.approx(1.0)
    assert shifted["n_real"] == shifted["n_simulated"] == 500
    for bad in ([], [1.0, float("nan")]):
        with pytest.raises(ConfigError):
            compare_distributions(bad, a)
    with pytest.raises(ConfigError):
        compare_distributions(a, a, quantiles=[1.5])


SMALL_CSV = """,label,id,source,num_users,max_depth,mean_time,median_time,max_time,topic_name
0,True,1,twitter15,120,3,1.5,1.0,2.0,True_A_0
1,False,2,twitter16,300,5,0.5,0.4,0.9,False_B_1
"""


def test_load_real_cascades_small_file(tmp_path: Path) -> None:
    path = tmp_path / "topics.csv"
    path.write_text(SMALL_CSV)
    df = load_real_cascades(path)
    assert df["label"].tolist() == [True, False]
    assert df["num_users"].tolist() == [120, 300]
    assert df["max_depth"].dtype == np.int64
    assert "Unnamed: 0" not in df.columns


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (SMALL_CSV.replace("num_users", "users"), "columns"),
        (SMALL_CSV.replace("True,1", "Maybe,1"), "label"),
        (SMALL_CSV.replace(",120,", ",-4,"), "num_users"),
        (SMALL_CSV.replace(",120,", ",12.5,"), "num_users"),
        (SMALL_CSV.replace(",1.5,", ",soon,"), "mean_time"),
        (SMALL_CSV.splitlines()[0] + "\n", ""),
        ("", ""),
    ],
)
def test_load_real_cascades_bad_files(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_real_cascades(path)
    assert info.value.field == field
    assert str(path) in str(info.value)


def test_load_real_cascades_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="existing CSV"):
        load_real_cascades(tmp_path / "nope.csv")


@pytest.mark.skipif(
    not REAL_CSV.exists(), reason="shared/data/oasis/all_topics.csv not beside the repo"
)
def test_the_real_twitter_cascades() -> None:
    real = load_real_cascades(REAL_CSV)
    assert len(real) == 198
    assert int(real["label"].sum()) == 100
    assert (real["num_users"].min(), real["num_users"].max()) == (108, 829)
    assert (real["max_depth"].min(), real["max_depth"].max()) == (2, 9)
    sim = cascade_stats(random_forest(3000, 20, np.random.default_rng(8))[0])
    result = compare_with_real(sim, real)
    assert set(result) == {"size", "depth"}
    assert 0.0 <= result["size"]["ks_statistic"] <= 1.0
    assert result["depth"]["n_real"] == 198
    assert result["size"]["n_simulated"] == 20


def test_compare_with_real_needs_the_columns() -> None:
    with pytest.raises(ConfigError):
        compare_with_real(pd.DataFrame({"size": [1]}), pd.DataFrame({"num_users": [1]}))
