"""The epidemic scenario: the synthetic city, shard independence, the SIR final size, group
calls per tick, labour, and engine runs that resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from societas.engine import RunOptions, prepare_resume, prepare_run, run_sync
from societas.engine.simulation import Progress, RunInterrupted
from societas.population import LocalExecutor
from societas.scenarios.epidemic import (
    EpidemicConfig,
    EpidemicScenario,
    EpidemicWorld,
    final_size,
)
from societas.scenarios.epidemic.config import Lockdown, SectorShock, Stimulus
from societas.scenarios.epidemic.population import synthesize
from societas.store import RunStore


def _world(config: EpidemicConfig, shards: int = 1, seed: int = 3) -> EpidemicWorld:
    world = EpidemicWorld.with_seed(config, seed)
    world.use_executor(LocalExecutor(shards))
    return world


def _run_weeks(world: EpidemicWorld, weeks: int) -> list[Any]:
    out = []
    for t in range(weeks):
        p_iso, p_work = world._rule(world._full)
        if world.config.behaviour == "off":
            p_iso[:], p_work[:] = 0.0, 1.0
        out.append(world.week(t, world._full, p_iso, p_work, 0))
    return out


def test_the_city_follows_the_configured_distributions() -> None:
    config = EpidemicConfig(agents=200_000)
    city = synthesize(config, 11)
    n = config.agents
    shares = np.bincount(city["age"], minlength=6) / n
    expected = np.asarray(config.age_shares) / sum(config.age_shares)
    assert np.abs(shares - expected).max() < 0.005
    pop = np.asarray(list(config.boroughs.values()))
    by_borough = np.bincount(city["borough"], minlength=5) / n
    assert np.abs(by_borough - pop / pop.sum()).max() < 0.01
    # Households are contiguous runs of people, all in one borough, of the drawn sizes.
    hh = city["household"]
    assert np.all(np.diff(hh) >= 0)
    assert hh[0] == 0
    sizes = np.bincount(hh)
    assert sizes.max() <= len(config.household_sizes)
    assert np.all(city["borough"][1:][np.diff(hh) == 0] == city["borough"][:-1][np.diff(hh) == 0])
    mean_size = float(np.dot(np.arange(1, 7), config.household_sizes) / sum(config.household_sizes))
    assert sizes[:-1].mean() == pytest.approx(mean_size, rel=0.02)
    # Children and the old are mostly out of the labour force; 30-39 mostly in it.
    assert np.mean(city["occupation"][city["age"] == 0] == 0) > 0.85
    assert np.mean(city["occupation"][city["age"] == 2] == 0) < 0.25


def test_any_number_of_shards_gives_the_same_people() -> None:
    config = EpidemicConfig(
        agents=20_000,
        initial_infected=0.01,
        beta=0.3,
        shocks=[SectorShock(week=1, occupation="hospitality", layoff=0.3, hiring=0.5)],
    )
    one, three = _world(config, 1), _world(config, 3)
    a = _run_weeks(one, 3)
    b = _run_weeks(three, 3)
    for x, y in zip(a, b, strict=True):
        assert x.new.tolist() == y.new.tolist()
        assert x.labour["unemployed"].tolist() == y.labour["unemployed"].tolist()
    arrays_one, arrays_three = one.arrays(), three.arrays()
    for name in ("stage", "employed", "ever", "isolate", "at_work"):
        assert np.array_equal(arrays_one[name], arrays_three[name])
    assert sum(int(r.new.sum()) for r in a) > 0


def test_the_final_size_equation_itself() -> None:
    assert final_size(1.5) == pytest.approx(0.583, abs=5e-4)
    assert final_size(2.0) == pytest.approx(0.797, abs=5e-4)
    assert final_size(3.0) == pytest.approx(0.9405, abs=5e-5)  # the issue rounds it to 0.941
    assert final_size(0.9) == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("r0", [1.5, 2.0, 3.0])
def test_homogeneous_attack_rate_matches_the_sir_final_size(r0: float) -> None:
    # R0 = beta * infectious_days; latent and infectious periods only change the timing.
    config = EpidemicConfig(
        agents=1_000_000,
        weeks=120,
        mixing="homogeneous",
        behaviour="off",
        beta=r0 / 3.0,
        infectious_days=3.0,
        latent_days=1.0,
        initial_infected=1e-4,
    )
    world = _world(config, seed=7)
    for t in range(config.weeks):
        res = _run_weeks_from(world, t)
        stages = res.labour["stages"]
        if stages[1] + stages[2] == 0:
            break
    else:
        pytest.fail("the epidemic did not end")
    attack = float(res.labour["ever"][0]) / config.agents
    assert attack == pytest.approx(final_size(r0), abs=0.01)


def _run_weeks_from(world: EpidemicWorld, t: int) -> Any:
    p_iso, p_work = world._rule(world._full)
    p_iso[:], p_work[:] = 0.0, 1.0
    return world.week(t, world._full, p_iso, p_work, 0)


def test_isolation_and_absence_change_the_epidemic_and_the_jobs() -> None:
    base = {"agents": 30_000, "initial_infected": 0.005, "beta": 0.25}
    off = _run_weeks(_world(EpidemicConfig(**base, behaviour="off")), 6)
    rule = _run_weeks(_world(EpidemicConfig(**base, behaviour="heuristic")), 6)
    assert sum(int(r.new.sum()) for r in rule) < sum(int(r.new.sum()) for r in off)
    # Nobody absent: unemployment only falls (hiring); with absences it rises above that.
    assert off[-1].labour["unemployed"].sum() < off[0].labour["unemployed"].sum()
    shock = EpidemicConfig(
        **base,
        behaviour="off",
        shocks=[SectorShock(week=2, occupation="hospitality", layoff=0.5, hiring=0.2)],
    )
    hit = _run_weeks(_world(shock), 6)
    rate = [float(r.labour["unemployed"].sum() / r.labour["labour_force"].sum()) for r in hit]
    assert rate[2] > rate[1] + 0.04  # half of hospitality (~15% of the labour force) laid off
    assert rate[5] < rate[2]  # hiring resumes, slower


def _engine_run(
    tmp_path: Path, name: str, config: EpidemicConfig, **sets: object
) -> tuple[dict[str, float], Path]:
    out = tmp_path / name
    handle = prepare_run(
        EpidemicScenario(), config, RunOptions(model="scripted", seed=4, **sets), out
    )
    return run_sync(handle), out


def _calls_per_tick(out: Path) -> dict[int, int]:
    with RunStore.open(out, readonly=True) as store:
        calls: dict[int, int] = {}
        for e in store.events():
            if e.kind == "llm_call":
                calls[e.tick] = calls.get(e.tick, 0) + 1
    return calls


def test_calls_per_tick_grow_with_groups_not_agents(tmp_path: Path) -> None:
    def config(agents: int, keys: list[str]) -> EpidemicConfig:
        return EpidemicConfig(
            agents=agents,
            weeks=3,
            behaviour="archetypes",
            archetype_keys=keys,
            initial_infected=0.01,
        )

    small, out_small = _engine_run(tmp_path, "small", config(3_000, ["age", "occupation"]))
    big, out_big = _engine_run(tmp_path, "big", config(30_000, ["age", "occupation"]))
    fine, out_fine = _engine_run(tmp_path, "fine", config(3_000, ["age", "occupation", "borough"]))
    calls_small, calls_big = _calls_per_tick(out_small), _calls_per_tick(out_big)
    # 6 age bands x 4 occupations, all present in both cities: the same calls, 10x the people.
    assert small["groups_per_week"] == big["groups_per_week"] == 24
    assert max(calls_small.values()) <= 24
    assert max(calls_big.values()) <= 24
    assert sum(calls_big.values()) == sum(calls_small.values()) == small["llm_calls"]
    # Finer keys: more groups, more calls.
    assert fine["groups_per_week"] > 24 * 4
    assert sum(_calls_per_tick(out_fine).values()) > sum(calls_small.values())
    assert 0.0 < small["mean_isolating"] < 0.5


def test_an_interrupted_run_resumes_to_the_same_end(tmp_path: Path) -> None:
    config = EpidemicConfig(
        agents=5_000,
        weeks=5,
        behaviour="archetypes",
        archetype_keys=["age", "trend"],
        initial_infected=0.01,
        beta=0.3,
    )
    metrics, _out = _engine_run(tmp_path, "full", config)
    assert metrics["weeks"] == 5
    assert metrics["attack_rate"] > 0.01
    cut = tmp_path / "cut"
    handle = prepare_run(EpidemicScenario(), config, RunOptions(model="scripted", seed=4), cut)

    def stop_after_two(p: Progress) -> None:
        if p.tick == 2:
            handle.simulation.request_stop()

    handle.simulation.on_progress = stop_after_two
    with pytest.raises(RunInterrupted):
        run_sync(handle)
    resumed = prepare_resume(cut, EpidemicScenario())
    assert resumed.start_tick == 2
    assert run_sync(resumed) == metrics
    sharded, _ = _engine_run(tmp_path, "sharded", config, shards=3)
    assert sharded == metrics


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(ValueError, match="transmission"):
        EpidemicConfig(transmission={"Atlantis": 2.0})
    with pytest.raises(ValueError, match="occupation_by_age"):
        EpidemicConfig(occupation_by_age=[[1.0, 0.0]] * 6)


def test_a_lockdown_closes_its_sectors_and_slows_the_epidemic_for_its_weeks() -> None:
    base = {"agents": 30_000, "initial_infected": 0.005, "beta": 0.25, "behaviour": "off"}
    free = _world(EpidemicConfig(**base))
    closed = _world(EpidemicConfig(**base, lockdown=Lockdown(week=2, weeks=3, contacts=0.3)))
    a, b = _run_weeks(free, 7), _run_weeks(closed, 7)
    # The same people and draws until the lockdown starts.
    assert [r.new.tolist() for r in a[:2]] == [r.new.tolist() for r in b[:2]]
    assert sum(int(r.new.sum()) for r in b[2:5]) < 0.7 * sum(int(r.new.sum()) for r in a[2:5])
    # Hospitality workers stay home in the lockdown weeks, and absence costs jobs.
    assert b[3].labour["at_work"][0] < 0.95 * a[3].labour["at_work"][0]
    assert b[4].labour["unemployed"].sum() > a[4].labour["unemployed"].sum()
    # After it ends (week 5 on), hospitality workers with a job go back to work.
    city = closed.arrays()
    assert (city["at_work"] & (city["occupation"] == 3)).any()
    during = _world(EpidemicConfig(**base, lockdown=Lockdown(week=0, weeks=2, contacts=0.3)))
    _run_weeks(during, 1)
    city = during.arrays()
    assert not (city["at_work"] & (city["occupation"] == 3)).any()
    assert (city["at_work"] & (city["occupation"] == 1)).any()  # essential work goes on


def test_wage_support_keeps_absent_workers_on_the_payroll() -> None:
    base = {
        "agents": 30_000,
        "behaviour": "off",
        "initial_infected": 0.0,
        "absence_layoff": 0.5,
        "lockdown": Lockdown(week=0, weeks=4, contacts=1.0),
    }
    without = _run_weeks(_world(EpidemicConfig(**base)), 4)
    support = EpidemicConfig(**base, stimulus=Stimulus(week=0, weeks=4, layoff=0.0, hiring=1.0))
    with_ = _run_weeks(_world(support), 4)
    lost = [float(r.labour["unemployed"].sum()) for r in without]
    kept = [float(r.labour["unemployed"].sum()) for r in with_]
    assert lost[-1] > kept[-1] + 0.05 * float(without[-1].labour["labour_force"].sum())
    assert kept[-1] <= kept[0]  # no absence layoffs at all: unemployment only falls
