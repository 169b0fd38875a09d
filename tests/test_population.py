"""Population building blocks: counter-based draws, array state, sampling, archetypes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from societas.population import (
    LocalExecutor,
    PopulationState,
    ShardState,
    archetypes,
    concat,
    group_by,
    rng,
    sample_population,
    shard_bounds,
)
from societas.population.archetypes import Buckets
from societas.typing import ConfigError

# -- rng -------------------------------------------------------------------------------------


def test_uniform_passes_a_ks_test_and_lies_in_unit_interval() -> None:
    u = rng.uniform(7, 3, 0, np.arange(200_000))
    assert u.min() >= 0.0
    assert u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 0.01
    # Neighbouring indices are not correlated (lag-1 serial correlation).
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01


def test_different_seed_tick_or_stream_gives_independent_draws() -> None:
    idx = np.arange(50_000)
    base = rng.uniform(1, 0, 0, idx)
    for other in (rng.uniform(2, 0, 0, idx), rng.uniform(1, 1, 0, idx), rng.uniform(1, 0, 1, idx)):
        assert not np.array_equal(base, other)
        assert abs(np.corrcoef(base, other)[0, 1]) < 0.02
        assert stats.ks_2samp(base, other).pvalue > 0.001


def test_categorical_matches_probabilities_chi_square() -> None:
    probs = np.array([0.1, 0.2, 0.3, 0.4])
    draws = rng.categorical(5, 2, 9, np.arange(100_000), probs)
    observed = np.bincount(draws, minlength=4)
    chi = stats.chisquare(observed, probs * draws.size)
    assert chi.pvalue > 0.01
    # per-row probabilities: row i certain of category i % 3
    rows = np.eye(3)[np.arange(30) % 3]
    assert np.array_equal(rng.categorical(5, 2, 9, np.arange(30), rows), np.arange(30) % 3)


def test_integers_bernoulli_and_normal() -> None:
    idx = np.arange(120_000)
    ints = rng.integers(3, 0, 0, idx, 10, 16)
    assert ints.min() == 10
    assert ints.max() == 15
    assert stats.chisquare(np.bincount(ints - 10)).pvalue > 0.01
    per_row_high = rng.integers(3, 0, 1, np.arange(1000), 0, np.arange(1, 1001))
    assert np.all(per_row_high < np.arange(1, 1001))
    assert np.all(per_row_high >= 0)
    b = rng.bernoulli(3, 0, 2, idx, 0.3)
    assert abs(b.mean() - 0.3) < 0.01
    z = rng.normal(3, 0, 3, idx)
    assert stats.kstest(z, "norm").pvalue > 0.01


def test_bad_rng_arguments_raise() -> None:
    with pytest.raises(ValueError, match="high must exceed"):
        rng.integers(0, 0, 0, np.arange(3), 5, 5)
    with pytest.raises(ValueError, match="non-negative"):
        rng.categorical(0, 0, 0, np.arange(3), [0.5, -0.1])
    with pytest.raises(ValueError, match="positive sum"):
        rng.categorical(0, 0, 0, np.arange(3), [0.0, 0.0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rng.bernoulli(0, 0, 0, np.arange(3), 1.5)
    with pytest.raises(TypeError, match="integers"):
        rng.uniform(0, 0, 0, np.array([0.5]))


def _draw_shard(shard: ShardState, shared: dict[str, int]) -> np.ndarray:
    u = rng.uniform(shared["seed"], shared["tick"], 0, shard.global_index())
    shard.arrays["x"] += u
    return u


def test_draws_do_not_depend_on_sharding_or_order() -> None:
    n = 10_001
    whole = rng.uniform(11, 4, 0, np.arange(n))
    reversed_order = rng.uniform(11, 4, 0, np.arange(n)[::-1])[::-1]
    assert np.array_equal(whole, reversed_order)
    for shards in (1, 3, 7):
        ex = LocalExecutor(shards)
        ex.scatter({"x": np.zeros(n)})
        parts = ex.map(_draw_shard, {"seed": 11, "tick": 4})
        assert len(parts) == shards
        assert np.array_equal(np.concatenate(parts), whole)
        assert np.array_equal(ex.gather()["x"], whole)
        ex.close()


def test_shard_bounds_are_contiguous_and_cover_all_rows() -> None:
    assert shard_bounds(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert shard_bounds(2, 3) == [(0, 1), (1, 2), (2, 2)]


# -- state -----------------------------------------------------------------------------------


def test_state_slice_concat_and_compact_snapshot_roundtrip() -> None:
    n = 1_000_000
    state = PopulationState(
        {
            "wealth": np.random.default_rng(0).geometric(0.5, n).astype(np.int64) - 1,
            "score": np.linspace(0.0, 1.0, n),
            "active": np.arange(n) % 2 == 0,
            "party": (np.arange(n) % 3).astype(np.int8),
        },
        labels={"party": ["left", "centre", "right"]},
    )
    assert len(state) == n
    assert state.names == ["wealth", "score", "active", "party"]
    parts = [state.slice(0, 10), state.slice(10, 500_000), state.slice(500_000, n)]
    assert concat(parts).equals(state)
    assert state.values("party")[:4].tolist() == ["left", "centre", "right", "left"]

    snap = state.snapshot()
    text = json.dumps(snap)
    # int64 wealth narrowed to one byte per agent before compression: far below 8 MB
    assert len(json.dumps(snap["arrays"]["wealth"])) < 1_000_000
    back = PopulationState.from_snapshot(json.loads(text))
    assert back.equals(state)
    assert back["wealth"].dtype == np.int64
    plain = PopulationState.from_snapshot(json.loads(json.dumps(state.snapshot(compress=False))))
    assert plain.equals(state)
    other = PopulationState({"wealth": np.zeros(3, dtype=np.int64)})
    other.restore(snap)
    assert other.equals(state)


def test_state_refuses_bad_arrays() -> None:
    state = PopulationState({"a": np.zeros(3)})
    with pytest.raises(ValueError, match="2 rows, expected 3"):
        state["b"] = np.zeros(2)
    with pytest.raises(TypeError, match="object"):
        state["c"] = np.array([object(), object(), object()])
    with pytest.raises(ValueError, match="differ"):
        concat([state, PopulationState({"b": np.zeros(3)})])


# -- sampling --------------------------------------------------------------------------------

JOINT = {
    "columns": ["gender", "party"],
    "rows": [
        {"gender": "f", "party": "left", "weight": 30},
        {"gender": "f", "party": "right", "weight": 20},
        {"gender": "m", "party": "left", "weight": 15},
        {"gender": "m", "party": "right", "weight": 35},
    ],
}


def test_sampling_distributions_and_joint_table_marginals() -> None:
    spec = {
        "size": 60_000,
        "attributes": {
            "age": {"dist": "normal", "mean": 40, "sd": 12, "min": 18, "max": 90, "integer": True},
            "income": {"dist": "lognormal", "mu": 10.0, "sigma": 0.5},
            "score": {"dist": "uniform", "low": -1, "high": 1},
            "region": {"dist": "categorical", "values": {"north": 1, "south": 3}},
        },
        "joint": [JOINT],
    }
    pop = sample_population(spec, seed=3)
    assert pop.n == 60_000
    age = pop["age"]
    assert age.dtype == np.int64
    assert age.min() >= 18
    assert age.max() <= 90
    assert abs(age.mean() - 40) < 0.5
    assert abs(np.log(pop["income"]).mean() - 10.0) < 0.02
    assert stats.kstest((pop["score"] + 1) / 2, "uniform").pvalue > 0.01
    assert abs((pop.values("region") == "south").mean() - 0.75) < 0.01
    gender, party = pop.values("gender"), pop.values("party")
    assert abs((gender == "f").mean() - 0.50) < 0.01
    assert abs((party == "left").mean() - 0.45) < 0.01
    # the correlation of the table survives: P(right | m) = 35/50
    assert abs((party[gender == "m"] == "right").mean() - 0.70) < 0.015
    # same seed, same population; another seed, another one
    assert sample_population(spec, seed=3).equals(pop)
    assert not sample_population(spec, seed=4).equals(pop)


def test_sampling_from_a_joint_csv_and_data_files(tmp_path: Path) -> None:
    (tmp_path / "joint.csv").write_text("edu,urban,weight\nhigh,yes,1\nlow,no,3\n")
    pop = sample_population(
        {"size": 40_000, "joint": [{"columns": ["edu", "urban"], "csv": "joint.csv"}]},
        seed=1,
        base_dir=tmp_path,
    )
    assert abs((pop.values("edu") == "low").mean() - 0.75) < 0.01
    assert np.array_equal(pop.values("edu") == "low", pop.values("urban") == "no")

    (tmp_path / "people.csv").write_text("name,age,score\nana,31,0.5\nbo,45,1.5\ncy,27,2\n")
    rows = sample_population({"data": {"path": str(tmp_path / "people.csv")}}, seed=0)
    assert rows.n == 3
    assert rows["age"].tolist() == [31, 45, 27]
    assert rows["score"].dtype == np.float64
    assert rows.values("name").tolist() == ["ana", "bo", "cy"]

    people = [{"name": "ana", "vip": True}, {"name": "bo", "vip": False}]
    (tmp_path / "people.json").write_text(json.dumps(people))
    big = sample_population(
        {"size": 10_000, "data": {"path": "people.json", "resample": True}},
        seed=2,
        base_dir=tmp_path,
    )
    assert big.n == 10_000
    assert big["vip"].dtype == bool
    assert abs(big["vip"].mean() - 0.5) < 0.03
    assert np.array_equal(big["vip"], big.values("name") == "ana")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"attributes": {"a": {"dist": "uniform", "low": 0, "high": 1}}}, "size"),
        ({"size": 0}, "size"),
        ({"size": 5, "attributes": {"a": {"dist": "gamma"}}}, "attributes.a"),
        ({"size": 5, "attributes": {"a": {"dist": "normal", "mean": 0, "sd": -1}}}, "sd"),
        ({"size": 5, "attributes": {"a": {"dist": "uniform", "low": 2, "high": 1}}}, "a"),
        ({"size": 5, "attributes": {"a": {"dist": "categorical", "values": {"x": 0}}}}, "a"),
        ({"size": 5, "joint": [{"columns": ["a"]}]}, "joint.0"),
        (
            {"size": 5, "joint": [{"columns": ["a"], "rows": [{"a": "x", "weight": "lots"}]}]},
            "joint.0.rows.0.weight",
        ),
        ({"size": 5, "joint": [{"columns": ["a"], "rows": [{"b": 1, "weight": 1}]}]}, "rows.0"),
        (
            {
                "size": 5,
                "joint": [{"columns": ["a"], "rows": [{"a": "x", "weight": 1}]}],
                "attributes": {"a": {"dist": "uniform", "low": 0, "high": 1}},
            },
            "attributes.a",
        ),
        ({"size": 5, "colour": 1}, "colour"),
    ],
)
def test_bad_specs_raise_config_error_naming_the_field(spec: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        sample_population(spec, seed=0, source="scenario.yaml", field="population")
    assert info.value.source == "scenario.yaml"
    assert field in info.value.field
    assert info.value.field.startswith("population")


def test_bad_data_files_raise_config_error(tmp_path: Path) -> None:
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(ConfigError, match=r"data\.resample"):
        sample_population({"size": 5, "data": {"path": "rows.csv"}}, seed=0, base_dir=tmp_path)
    with pytest.raises(ConfigError, match="readable"):
        sample_population({"data": {"path": "missing.csv"}}, seed=0, base_dir=tmp_path)
    (tmp_path / "ragged.csv").write_text("a,b\n1\n")
    with pytest.raises(ConfigError, match="as many cells"):
        sample_population({"data": {"path": "ragged.csv"}}, seed=0, base_dir=tmp_path)
    (tmp_path / "bad.json").write_text('{"x": 1}')
    with pytest.raises(ConfigError, match="list of objects"):
        sample_population({"data": {"path": "bad.json"}}, seed=0, base_dir=tmp_path)


# -- archetypes ------------------------------------------------------------------------------


def test_archetypes_group_by_attributes_and_bucketed_situation() -> None:
    pop = PopulationState(
        {"party": np.array([0, 1, 0, 1, 0, 1], dtype=np.int8), "age": np.arange(6) * 10.0},
        labels={"party": ["left", "right"]},
    )
    wealth = np.array([0, 0, 5, 5, 9, 1])
    arch = archetypes(
        pop, ["party"], situation={"wealth": wealth}, buckets={"wealth": {"edges": [1, 5]}}
    )
    assert arch.keys == [
        "party=left|wealth=[-inf,1)",
        "party=left|wealth=[5,inf)",
        "party=right|wealth=[-inf,1)",
        "party=right|wealth=[1,5)",
        "party=right|wealth=[5,inf)",
    ]
    assert arch.group.tolist() == [0, 2, 1, 4, 1, 3]
    assert arch.sizes.tolist() == [1, 2, 1, 1, 1]
    assert arch.sizes.sum() == pop.n
    assert arch.first_member().tolist() == [0, 2, 1, 5, 3]
    assert arch.members(1).tolist() == [2, 4]

    quart = archetypes(pop, [], situation={"age": pop["age"]}, buckets={"age": {"quantiles": 2}})
    assert quart.sizes.tolist() == [3, 3]
    everyone = archetypes(pop, [])
    assert everyone.keys == ["all"]
    assert everyone.sizes.tolist() == [6]


def test_archetypes_on_a_million_agents_are_vectorised() -> None:
    n = 1_000_000
    pop = sample_population(
        {
            "size": n,
            "attributes": {
                "region": {"dist": "categorical", "values": {"a": 1, "b": 1, "c": 2}},
                "income": {"dist": "lognormal", "mu": 0, "sigma": 1},
            },
        },
        seed=0,
    )
    arch = archetypes(pop, ["region", "income"], buckets={"income": Buckets(quantiles=4)})
    assert arch.n_groups == 12
    assert abs(int(arch.sizes.min()) - n / 16) < 2000  # region a: n/4, split in quartiles
    # sorting does not depend on agent order: permuting agents permutes groups only
    perm = np.random.default_rng(1).permutation(n)
    again = group_by(
        {"region": pop["region"][perm], "income": pop["income"][perm]},
        labels=pop.labels,
        buckets={"income": Buckets(quantiles=4)},
    )
    assert again.keys == arch.keys
    assert np.array_equal(again.group, arch.group[perm])


def test_bad_archetype_specs_raise_config_error() -> None:
    pop = PopulationState({"x": np.linspace(0, 1, 10), "k": np.arange(10)})
    with pytest.raises(ConfigError, match="bucket edges or quantiles"):
        archetypes(pop, ["x"])
    with pytest.raises(ConfigError, match="attributes of the population"):
        archetypes(pop, ["nope"])
    with pytest.raises(ConfigError, match=r"buckets\.x"):
        archetypes(pop, ["x"], buckets={"x": {"edges": [2, 1]}})
    with pytest.raises(ConfigError, match=r"situation\.s"):
        archetypes(pop, ["k"], situation={"s": np.zeros(3)})


def test_ray_runner_without_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from societas.population import RayExecutor, build_executor

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'societas\[ray\]'"):
        RayExecutor(2)
    with pytest.raises(ConfigError, match="'local' or 'ray'"):
        build_executor("dask")
    with pytest.raises(ConfigError, match="at least 1 shard"):
        LocalExecutor(0)
