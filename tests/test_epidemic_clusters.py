"""Cluster inference in the epidemic scenario: one call per behaviour cluster, a checked
transition distribution, the same arrays as the archetypes when no profile is merged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from societas.cli.main import app
from societas.engine import RunOptions, prepare_resume, prepare_run, run_sync
from societas.engine.simulation import Progress, RunInterrupted
from societas.scenarios.epidemic import EpidemicConfig, EpidemicScenario, EpidemicWorld
from societas.scenarios.epidemic.behaviour import heuristic_action
from societas.scenarios.epidemic.clusters import (
    Transition,
    cluster_map,
    rule_transition,
    transition_fallback,
    transition_tables,
)
from societas.store import RunStore
from societas.typing import Observation

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "agenttorch"
needs_data = pytest.mark.skipif(
    not (DATA / "county_data.csv").exists(), reason="shared/data/agenttorch not beside the repo"
)


def _run(tmp_path: Path, name: str, config: EpidemicConfig) -> tuple[dict[str, float], Path]:
    out = tmp_path / name
    handle = prepare_run(EpidemicScenario(), config, RunOptions(model="scripted", seed=4), out)
    return run_sync(handle), out


def _calls_per_tick(out: Path) -> dict[int, int]:
    calls: dict[int, int] = {}
    with RunStore.open(out, readonly=True) as store:
        for e in store.events():
            if e.kind == "llm_call":
                calls[e.tick] = calls.get(e.tick, 0) + 1
    return calls


def _config(agents: int, **settings: object) -> EpidemicConfig:
    return EpidemicConfig.model_validate(
        {"agents": agents, "weeks": 3, "initial_infected": 0.01, **settings}
    )


def test_calls_per_tick_grow_with_clusters_not_archetypes(tmp_path: Path) -> None:
    arch, out_arch = _run(tmp_path, "arch", _config(3_000, behaviour="archetypes"))
    runs = {
        (agents, k): _run(
            tmp_path, f"c{agents}-{k}", _config(agents, behaviour="clusters", clusters=k)
        )
        for agents, k in [(3_000, 4), (3_000, 12), (30_000, 12)]
    }
    per_tick = {key: _calls_per_tick(out) for key, (_, out) in runs.items()}
    # Every archetype of the five keys is asked: a hundred or more calls a week.
    assert min(_calls_per_tick(out_arch).values()) > 100
    for (_, k), calls in per_tick.items():
        assert len(calls) == 3
        assert max(calls.values()) <= k
    # More clusters, more calls; ten times the people, the same calls.
    assert sum(per_tick[(3_000, 12)].values()) > sum(per_tick[(3_000, 4)].values())
    assert per_tick[(30_000, 12)] == per_tick[(3_000, 12)]
    assert runs[(3_000, 12)][0]["groups_per_week"] <= 12 < arch["groups_per_week"]
    assert runs[(3_000, 12)][0]["llm_calls"] == sum(per_tick[(3_000, 12)].values())


def test_clusters_that_merge_no_profile_reproduce_the_archetypes(tmp_path: Path) -> None:
    """With as many clusters as distinct behaviour profiles, each cluster holds archetypes the
    rule treats alike (for those without a job: alike in isolating), so scripted answers give
    every person the same draws as archetypes."""
    world = EpidemicWorld.with_seed(_config(1_000, behaviour="clusters", clusters=1080), 1)
    distinct = int(world._cluster_of.max()) + 1
    assert 10 < distinct < 1080
    arch, _ = _run(tmp_path, "arch", _config(20_000, behaviour="archetypes", weeks=4))
    clus, _ = _run(
        tmp_path, "clus", _config(20_000, behaviour="clusters", clusters=distinct, weeks=4)
    )
    coarse, _ = _run(tmp_path, "coarse", _config(20_000, behaviour="clusters", clusters=3, weeks=4))
    epidemic = ("attack_rate", "total_infections", "peak_prevalence", "peak_week")
    labour = ("final_unemployment", "peak_unemployment", "mean_isolating")
    same = {k: v for k, v in arch.items() if k in epidemic + labour or "unemployment_" in k}
    assert len(same) == 12
    assert {k: clus[k] for k in same} == same
    assert clus["llm_calls"] < arch["llm_calls"]
    # Three clusters merge unlike archetypes: the epidemic or the jobs come out otherwise.
    assert {k: coarse[k] for k in same} != same


def test_the_cluster_map_is_a_function_of_the_configuration() -> None:
    config = _config(1_000, behaviour="clusters", clusters=8)
    a = EpidemicWorld.with_seed(config, 1)._cluster_of
    b = EpidemicWorld.with_seed(config, 99)._cluster_of
    assert a.tolist() == b.tolist()
    assert int(a.max()) + 1 == 8
    assert a[0] == 0
    assert np.all(np.diff(np.unique(a, return_index=True)[1]) > 0)
    # Archetypes with the same profile always share a cluster.
    world = EpidemicWorld.with_seed(config, 1)
    profiles = np.round(world._profiles(), 9)
    # Without a job nobody works: those archetypes' profiles have no work share.
    assert world._jobless.any()
    assert np.all(profiles[world._jobless, 1] == 0.0)
    rule = rule_transition(*world._rule(world._radix))
    assert np.allclose(profiles[~world._jobless], rule[~world._jobless])
    _, inverse = np.unique(profiles, axis=0, return_inverse=True)
    for point in np.unique(inverse):
        assert len(set(a[inverse.reshape(-1) == point].tolist())) == 1
    # Fewer distinct profiles than clusters: one cluster per profile.
    two = cluster_map(np.asarray([[0.1, 0.6, 0.3], [0.1, 0.6, 0.3], [0.5, 0.2, 0.3]]), 5)
    assert two.tolist() == [0, 0, 1]


def test_transition_answers_are_checked_and_normalised() -> None:
    ok = Transition.model_validate_json('{"isolate": 0.2, "work": 0.5, "home": 0.32}')
    assert sum(ok.normalised()) == pytest.approx(1.0)
    # Shares that do not add up are normalised (elicited shares often do not); only an answer
    # with no share at all is refused, so every other schema-valid answer is usable.
    loose = Transition.model_validate_json('{"isolate": 0.5, "work": 0.5, "home": 0.5}')
    assert loose.normalised() == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    with pytest.raises(ValidationError, match="all 0"):
        Transition.model_validate_json('{"isolate": 0, "work": 0, "home": 0}')
    with pytest.raises(ValidationError):
        Transition.model_validate_json('{"isolate": -0.1, "work": 0.6, "home": 0.5}')
    # The fixed rule round-trips through a transition distribution.
    iso, work = np.asarray([0.05, 0.4, 1.0]), np.asarray([0.95, 0.3, 0.8])
    back_iso, back_work = transition_tables(rule_transition(iso, work))
    assert back_iso.tolist() == iso.tolist()
    assert back_work[:2] == pytest.approx(work[:2])
    assert back_work[2] == 0.0  # everyone isolates: nobody is left to go to work
    # The fallback is the fixed rule of the cluster's most numerous archetype.
    fields = {"age": "65+", "occupation": "essential", "trend": "rising", "income": "employed"}
    obs = Observation(agent_id="cluster:0", tick=0, phase="behaviour", text="", fields=fields)
    fallback, rule = transition_fallback(obs), heuristic_action(fields)
    assert fallback.isolate == rule.isolate
    assert fallback.work / (fallback.work + fallback.home) == pytest.approx(rule.work, abs=1e-3)


def test_a_bad_cluster_setting_exits_2_naming_the_field(tmp_path: Path) -> None:
    runner = CliRunner()
    for value in ("0", "many"):
        res = runner.invoke(
            app,
            [
                "run",
                "epidemic",
                "--model",
                "scripted",
                "--out",
                str(tmp_path / value),
                "--set",
                "behaviour=clusters",
                "--set",
                f"clusters={value}",
            ],
        )
        assert res.exit_code == 2, res.output
        assert "field 'clusters'" in res.output
    res = runner.invoke(
        app,
        ["run", "epidemic", "--model", "scripted", "--out", str(tmp_path / "b"), "--set",
         "behaviour=cluster"],
    )  # fmt: skip
    assert res.exit_code == 2
    assert "field 'behaviour'" in res.output
    res = runner.invoke(
        app,
        ["calibrate", "epidemic", "--data", str(tmp_path), "--out", str(tmp_path / "c"),
         "--clusters", "8"],
    )  # fmt: skip
    assert res.exit_code == 2
    assert "--clusters" in res.output


@needs_data
def test_calibrate_with_clusters_asks_at_most_one_call_per_cluster(tmp_path: Path) -> None:
    out = tmp_path / "cal"
    args = ["calibrate", "epidemic", "--data", str(DATA), "--out", str(out), "--agents", "4000"]
    args += ["--train", "4", "--test", "2", "--grid", "2.5", "--refine", ""]
    res = CliRunner().invoke(app, [*args, "--behaviour", "clusters", "--clusters", "3"])
    assert res.exit_code == 0, res.output
    saved = json.loads((out / "calibration.json").read_text())
    assert saved["spec"]["clusters"] == 3
    assert 0 < saved["llm_calls"] <= 3 * 6
    assert len(saved["trials"]) == 2


def test_an_interrupted_cluster_run_resumes_to_the_same_end(tmp_path: Path) -> None:
    config = _config(5_000, behaviour="clusters", clusters=6, weeks=5, beta=0.3)
    full, _ = _run(tmp_path, "full", config)
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
    assert run_sync(resumed) == full
    sharded = prepare_run(
        EpidemicScenario(), config, RunOptions(model="scripted", seed=4, shards=3), tmp_path / "s"
    )
    assert run_sync(sharded) == full
