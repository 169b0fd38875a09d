"""The teams scenario: exact verifiers, the topologies' call structure, and its metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from societas.engine import RunOptions, prepare_run, run_sync
from societas.scenarios.teams import TeamsConfig, TeamsScenario, wilson_interval
from societas.scenarios.teams.tasks import KINDS, make_task, normalise, solve
from societas.store import RunStore


@pytest.mark.parametrize("kind", KINDS)
def test_tasks_are_a_function_of_the_seed_and_their_answers_check(kind: str) -> None:
    for difficulty in (1, 4):
        task = make_task(3, 7, difficulty, kind)  # type: ignore[arg-type]
        assert task == make_task(3, 7, difficulty, kind)  # type: ignore[arg-type]
        assert task != make_task(4, 7, difficulty, kind)  # type: ignore[arg-type]
        assert normalise(task, f"I think it is {task.answer}.") == task.answer
        assert normalise(task, "no idea") == ""


def test_verifiers_by_hand() -> None:
    arithmetic = make_task(0, 0, 2, "arithmetic")
    value = arithmetic.numbers[0]
    for op, n in zip(arithmetic.ops, arithmetic.numbers[1:], strict=True):
        value = eval(f"{value} {op} {n}")
    assert solve(arithmetic) == str(value)
    sorting = make_task(0, 0, 3, "sorting")
    assert len(sorting.numbers) == 6
    assert solve(sorting) == ", ".join(map(str, sorted(sorting.numbers)))
    assert normalise(sorting, "[" + solve(sorting) + "]") == solve(sorting)
    ordering = make_task(0, 1, 3, "ordering")
    assert len(ordering.people) == 5
    assert solve(ordering) in ordering.people
    assert ordering.ask in ordering.text


def test_wilson_interval_stays_in_the_unit_interval() -> None:
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == 1.0
    low, high = wilson_interval(7, 10)
    assert low == pytest.approx(0.3968, abs=1e-3)
    assert high == pytest.approx(0.8922, abs=1e-3)


def run(tmp_path: Path, **settings: object) -> tuple[dict[str, float], RunStore]:
    config = TeamsConfig.model_validate({"tasks": 12, **settings})
    out = tmp_path / "_".join(f"{k}-{v}" for k, v in settings.items())
    metrics = run_sync(prepare_run(TeamsScenario(), config, RunOptions(model="scripted"), out))
    return metrics, RunStore.open(out, readonly=True)


@pytest.mark.parametrize(
    ("topology", "calls_per_task"),
    [
        ("single", 1),
        ("independent", 3),
        ("centralized", 3),  # two workers, then the orchestrator
        ("decentralized", 9),  # three solve, two exchange rounds of three
        ("hybrid", 5),  # two workers solve and exchange, the orchestrator aggregates
        ("debate", 9),
        ("selforg", 6),
    ],
)
def test_each_topology_makes_the_calls_its_structure_implies(
    tmp_path: Path, topology: str, calls_per_task: int
) -> None:
    metrics, store = run(tmp_path, topology=topology)
    assert metrics["calls_per_task"] == calls_per_task
    outcomes = [e for e in store.events(["outcome"]) if e.phase == "team"]
    assert len(outcomes) == 12
    correct = [float(e.data["correct"]) for e in outcomes]
    assert metrics["accuracy"] == pytest.approx(float(np.mean(correct)))
    assert metrics["accuracy_ci_low"] <= metrics["accuracy"] <= metrics["accuracy_ci_high"]
    if topology == "single":
        assert metrics["redundancy"] == 1.0
        assert metrics["error_amplification"] == pytest.approx(1.0)
    store.close()


def test_majority_of_skilled_members_beats_one_member(tmp_path: Path) -> None:
    single, _ = run(tmp_path, topology="single", tasks=60, difficulty=3)
    team, _ = run(tmp_path, topology="independent", tasks=60, difficulty=3)
    assert team["accuracy"] > single["accuracy"]
    assert team["error_amplification"] < 1.0


def test_selforg_credits_and_votes_are_recorded(tmp_path: Path) -> None:
    _, store = run(tmp_path, topology="selforg", agents=4)
    outcome = next(e for e in store.events(["outcome"]) if e.phase == "team")
    assert set(outcome.data["credit"]) == {"agent_1", "agent_2", "agent_3", "agent_4"}
    assert sum(outcome.data["votes"].values()) == 4  # everyone named one teammate
    store.close()


def test_team_size_rules_are_validated() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        TeamsConfig(topology="hybrid", agents=2)
    assert TeamsConfig(topology="single", agents=5).team_size == 1
