"""Interventions that add or remove agents: validated before the run, change who acts from
their tick, survive a resume."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from societas.analysis.compare import first_difference
from societas.engine import prepare_resume, prepare_run, run_sync
from societas.engine.protocol import Intervention
from societas.engine.simulation import RunInterrupted
from societas.scenarios import get_scenario, load_spec
from societas.store import RunStore
from societas.typing import ConfigError

ADA = {"id": "fisher_9", "name": "Ada", "attributes": {"disposition": "greedy"}}


def interventions(*items: dict[str, Any]) -> str:
    return "run.interventions=" + json.dumps(list(items))


def start(tmp_path: Path, *sets: str, name: str = "run", seed: int = 0) -> Any:
    spec = load_spec(
        "commons",
        ["protocol=societas", "months=5", "discussion_rounds=1", *sets],
        model="scripted",
        seed=seed,
    )
    return prepare_run(spec.scenario, spec.config, spec.options, tmp_path / name)


def actors_by_tick(run_dir: Path) -> dict[int, set[str]]:
    """Who acted (harvest actions) in each tick."""
    with RunStore.open(run_dir, readonly=True) as store:
        acted: dict[int, set[str]] = {}
        for e in store.events(["action"]):
            if e.phase == "harvest" and e.actor is not None:
                acted.setdefault(e.tick, set()).add(e.actor)
    return acted


def test_intervention_model_accepts_add_and_remove_only() -> None:
    Intervention.model_validate({"tick": 1, "add": [ADA]})
    Intervention.model_validate({"tick": 1, "remove": ["fisher_1"]})
    with pytest.raises(ValidationError):
        Intervention.model_validate({"tick": 1})
    with pytest.raises(ValidationError):
        Intervention.model_validate({"tick": 1, "add": [ADA, ADA]})
    with pytest.raises(ValidationError):
        Intervention.model_validate({"tick": 1, "add": [ADA], "remove": ["fisher_9"]})
    with pytest.raises(ValidationError):
        Intervention.model_validate({"tick": 1, "add": [{"id": "x y", "name": "bad id"}]})


def test_add_and_remove_change_who_acts(tmp_path: Path) -> None:
    handle = start(
        tmp_path,
        interventions(
            {"tick": 2, "add": [ADA], "message": "Ada arrives."},
            {"tick": 3, "remove": ["fisher_2", "fisher_5"]},
        ),
    )
    sim = handle.simulation
    run_sync(handle)
    base = {f"fisher_{i}" for i in range(1, 6)}
    acted = actors_by_tick(tmp_path / "run")
    assert acted[0] == acted[1] == base
    assert acted[2] == base | {"fisher_9"}
    assert acted[3] == acted[4] == base - {"fisher_2", "fisher_5"} | {"fisher_9"}
    # the added agent's Mind is built like the others' and heard the news of its tick
    new, old = sim.minds["fisher_9"], sim.minds["fisher_1"]
    assert type(new) is type(old)
    assert new.sampling == old.sampling
    assert new.memory.top_k == old.memory.top_k
    assert new.memory.token_budget == old.memory.token_budget
    assert any("News: Ada arrives." in m.text for m in new.memory.records)
    with RunStore.open(tmp_path / "run", readonly=True) as store:
        months = [e.data for e in store.events(["outcome"])]
        population = [e for e in store.events(["world_state"]) if e.phase == "population"]
        metrics = store.final_metrics()
    # f(t) and the greedy newcomer's ask follow the population of each month
    assert [len(d["wanted"]) for d in months] == [5, 5, 6, 4, 4]
    for d in months:
        assert d["threshold"] == int(d["stock_before"] / 2) // len(d["wanted"])
    assert months[2]["wanted"]["fisher_9"] == max(1, 2 * months[2]["threshold"])
    assert [(e.tick, e.state["added"], e.state["removed"]) for e in population] == [
        (2, ["fisher_9"], []),
        (3, [], ["fisher_2", "fisher_5"]),
    ]
    assert population[0].state["added_personas"][0]["name"] == "Ada"
    # over-usage counts only the agents present each month: 5 + 5 + 6 + 4 + 4 checks
    over = sum(int(w > d["threshold"]) for d in months for w in d["wanted"].values())
    assert metrics["over_usage"] == pytest.approx(over / 24)
    assert metrics["total_catch"] == sum(sum(d["caught"].values()) for d in months)
    assert metrics["mean_gain"] == pytest.approx(metrics["total_catch"] / 6)


def test_removed_agents_are_not_asked_or_told(tmp_path: Path) -> None:
    handle = start(
        tmp_path,
        interventions({"tick": 1, "remove": ["fisher_3"], "message": "One boat fewer."}),
    )
    sim = handle.simulation
    run_sync(handle)
    with RunStore.open(tmp_path / "run", readonly=True) as store:
        calls = [e for e in store.events(["llm_call"]) if e.actor == "fisher_3"]
    assert calls
    assert max(e.tick for e in calls) == 0
    assert not any("One boat fewer" in m.text for m in sim.minds["fisher_3"].memory.records)
    assert any("One boat fewer" in m.text for m in sim.minds["fisher_1"].memory.records)


def test_resume_after_an_add_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    sets = (interventions({"tick": 2, "add": [ADA]}, {"tick": 3, "remove": ["fisher_1"]}),)
    run_sync(start(tmp_path, *sets, name="whole", seed=4))
    handle = start(tmp_path, *sets, name="cut", seed=4)
    for tick in range(3):  # the add happens in tick 2; stop after it
        asyncio.run(handle.simulation.step(tick))
    handle.close()
    resumed = prepare_resume(tmp_path / "cut", get_scenario("commons"))
    assert resumed.start_tick == 3
    assert "fisher_9" in resumed.simulation.minds
    assert resumed.simulation.minds["fisher_9"].memory.records  # restored, not empty
    run_sync(resumed)
    with (
        RunStore.open(tmp_path / "whole", readonly=True) as a,
        RunStore.open(tmp_path / "cut", readonly=True) as b,
    ):
        assert first_difference(a.events(), b.events()) is None
        assert any(e.actor == "fisher_9" for e in b.events(["action"]) if e.tick >= 3)


def test_stop_and_resume_after_an_add(tmp_path: Path) -> None:
    sets = (interventions({"tick": 2, "add": [ADA]}),)
    run_sync(start(tmp_path, *sets, name="whole", seed=5))
    handle = start(tmp_path, *sets, name="cut", seed=5)
    handle.simulation.on_progress = lambda p: (
        handle.simulation.request_stop() if p.tick == 3 else None
    )
    with pytest.raises(RunInterrupted, match="stopped after 3"):
        run_sync(handle)
    run_sync(prepare_resume(tmp_path / "cut", get_scenario("commons")))
    with (
        RunStore.open(tmp_path / "whole", readonly=True) as a,
        RunStore.open(tmp_path / "cut", readonly=True) as b,
    ):
        assert first_difference(a.events(), b.events()) is None


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"tick": 1, "add": [{"id": "fisher_2", "name": "Twin"}]}, "add.id"),
        ({"tick": 1, "remove": ["fisher_42"]}, "remove"),
        ({"tick": 1, "remove": [f"fisher_{i}" for i in range(1, 6)]}, "remove"),
        (
            {"tick": 1, "add": [{"id": "f9", "name": "X", "attributes": {"disposition": "evil"}}]},
            "add.attributes.disposition",
        ),
    ],
)
def test_bad_population_changes_stop_the_run_before_it_starts(
    tmp_path: Path, item: dict[str, Any], field: str
) -> None:
    with pytest.raises(ConfigError) as info:
        start(tmp_path, interventions(item))
    assert info.value.field == field
    assert not (tmp_path / "run" / "run.db").exists()


def test_an_id_added_twice_across_ticks_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        start(tmp_path, interventions({"tick": 1, "add": [ADA]}, {"tick": 2, "add": [ADA]}))
    assert info.value.field == "add.id"


def test_a_world_without_the_hooks_is_refused(tmp_path: Path) -> None:
    for item, field in (
        ({"tick": 1, "add": [ADA]}, "add"),
        ({"tick": 1, "remove": ["a"]}, "remove"),
    ):
        spec = load_spec("donor", ["generations=2", interventions(item)], model="scripted")
        with pytest.raises(ConfigError) as info:
            prepare_run(spec.scenario, spec.config, spec.options, tmp_path / field)
        assert info.value.field == field
        assert not (tmp_path / field / "run.db").exists()


def test_news_addressed_to_a_removed_agent_is_not_heard(tmp_path: Path) -> None:
    handle = start(
        tmp_path,
        interventions(
            {"tick": 1, "remove": ["fisher_3"]},
            {"tick": 2, "message": "Come back.", "to": ["fisher_3", "fisher_1"]},
        ),
    )
    sim = handle.simulation
    run_sync(handle)
    assert not any("Come back" in m.text for m in sim.minds["fisher_3"].memory.records)
    assert any("Come back" in m.text for m in sim.minds["fisher_1"].memory.records)
