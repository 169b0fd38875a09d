"""The teams scenario: exact verifiers, the topologies' call structure, and its metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from societas.engine import RunOptions, prepare_run, run_sync
from societas.engine.simulation import Simulation
from societas.llm.gateway import Gateway
from societas.llm.wrappers import build_stack
from societas.mind import Mind
from societas.scenarios.teams import TeamsConfig, TeamsScenario, task_latency, wilson_interval
from societas.scenarios.teams.scripted import teams_policy
from societas.scenarios.teams.tasks import KINDS, make_task, normalise, solve
from societas.store import RunStore
from societas.typing import LLMRequest, LLMResponse, Sampling
from societas.typing.events import LLMCall


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


def test_a_task_budget_caps_every_task_s_tokens_and_refuses_calls_past_it(
    tmp_path: Path,
) -> None:
    """Budget parity: with token_budget set, no task's calls use more tokens than it, and the
    calls that find no room are not sent; their decisions fall back with reason budget."""
    free, free_store = run(tmp_path, topology="debate", rounds=3)
    per_task = free["tokens_per_task"]
    budget = int(per_task * 0.6)
    capped, store = run(tmp_path, topology="debate", rounds=3, token_budget=budget)
    calls = store.llm_calls_df()
    by_task = (calls["prompt_tokens"] + calls["completion_tokens"]).groupby(calls["tick"]).sum()
    assert len(by_task) == 12
    assert (by_task <= budget).all()
    assert capped["calls_per_task"] < free["calls_per_task"]
    refused = [e for e in store.events(["decision_fallback"]) if e.reason == "budget"]
    assert refused
    assert all("token budget" in e.error for e in refused)
    assert not (calls["status"] == "error").any()  # refused calls are not calls
    # The members that could not speak kept their answers: the team still answers every task.
    outcomes = [e for e in store.events(["outcome"]) if e.phase == "team"]
    assert all(e.data["answer"] for e in outcomes)
    # The same run without a budget is untouched by the hook.
    assert free_store.llm_calls_df()["status"].eq("ok").all()
    free_store.close()
    store.close()


class SlowThinker:
    """The scripted member behind a model whose deliberate (slow) calls take ``slow_s`` and
    whose fast calls answer at once."""

    model_id = "slow-thinker"

    def __init__(self, slow_s: float) -> None:
        self.slow_s = slow_s

    async def generate(self, request: LLMRequest) -> LLMResponse:
        if request.context.get("role") == "slow":
            await asyncio.sleep(self.slow_s)
        text = teams_policy(request, np.random.default_rng(request.seed))
        return LLMResponse(text=text, model=self.model_id, prompt_tokens=10, completion_tokens=5)

    async def aclose(self) -> None:
        return None


def _teams_sim(tmp_path: Path, backend: SlowThinker, **cfg: object) -> Simulation:
    scenario = TeamsScenario()
    config = TeamsConfig.model_validate(cfg)
    rng = np.random.default_rng(0)
    world, personas = scenario.build(config, rng)
    store = RunStore.create(
        tmp_path / "run",
        run_id="test",
        scenario="teams",
        seed=0,
        model="slow-thinker",
        config={"scenario": config.model_dump(), "run": RunOptions().model_dump()},
        num_ticks=world.num_ticks(),
        version="test",
    )
    gateway = Gateway(
        build_stack(backend, cache=None, max_concurrency=8, timeout_s=None, max_attempts=1)
    )
    return Simulation(
        scenario=scenario,
        config=config,
        world=world,
        minds={p.id: Mind(p, sampling=Sampling()) for p in personas},
        gateway=gateway,
        store=store,
        seed=0,
        rng=rng,
        deadline_s=60.0,
    )


def test_dual_minds_under_a_deadline_keep_the_fast_answer(tmp_path: Path) -> None:
    """Time pressure: the slow mind misses deadline_ms, so its decision falls back (reason
    deadline) to the fast mind's answer, and the task's latency is the fast call plus the
    deadline."""
    sim = _teams_sim(
        tmp_path,
        SlowThinker(slow_s=5.0),
        topology="independent",
        tasks=2,
        mind="dual",
        deadline_ms=200,
    )
    metrics = asyncio.run(sim.run())
    events = sim.store.events()
    late = [e for e in events if e.kind == "decision_fallback"]
    assert len(late) == 2 * 3
    assert {e.reason for e in late} == {"deadline"}
    assert all(e.phase == "solve" for e in late)
    outcomes = [e for e in events if e.kind == "outcome" and e.phase == "team"]
    for outcome in outcomes:
        rounds = outcome.data["rounds"]
        assert rounds["solve"] == rounds["react"]  # the fast answers stand
        assert all(rounds["react"].values())
    cancelled = [e for e in events if e.kind == "llm_call" and e.status == "error"]
    assert len(cancelled) == 6
    assert all(e.latency_ms == pytest.approx(200.0) for e in cancelled)
    assert metrics["deadline_miss_rate"] == pytest.approx(0.5)  # 6 of 12 decisions
    # Per task: the fast phase (instant) then the slow phase cut at the deadline.
    assert "latency_ms_per_task" not in metrics  # wall time: not an event-stream metric
    calls = [e for e in events if isinstance(e, LLMCall)]
    assert 200.0 <= task_latency(calls) / 2 < 1000.0
    sim.store.close()


def test_slow_minds_within_their_deadline_answer_themselves(tmp_path: Path) -> None:
    sim = _teams_sim(
        tmp_path,
        SlowThinker(slow_s=0.01),
        topology="independent",
        tasks=2,
        mind="dual",
        deadline_ms=5000,
    )
    metrics = asyncio.run(sim.run())
    assert metrics["deadline_miss_rate"] == 0.0
    calls = sim.store.events(["llm_call"])
    assert sorted({e.purpose for e in calls}) == ["react", "solve"]
    assert all(e.status == "ok" for e in calls)
    sim.store.close()
