"""Population mode in the engine: one model call per archetype, memo, fallback, focal agents."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

from societas.engine import RunOptions, Simulation
from societas.kit import (
    Action,
    ConfigError,
    GroupQuery,
    Observation,
    Percept,
    Persona,
    Phase,
    PhaseContext,
    Scenario,
    State,
    World,
)
from societas.llm import Gateway, ScriptedModel, build_stack
from societas.mind import Mind
from societas.population import PopulationState, archetypes, rng
from societas.store import RunStore
from societas.typing import LLMRequest, PopulationStepEvent, Sampling

CROWD = 1000


class Vote(Action):
    action_type = "vote"
    choice: Literal["a", "b"]


VOTE = Phase(name="vote", action_model=Vote, instruction="Vote for a or b.", mode="groups")
TALK = Phase(name="talk", action_model=Vote, instruction="Say a or b.")


class Town(World[RunOptions, State]):
    """Two focal agents with minds, a crowd of 1,000 in three archetypes (by party)."""

    rules_text = "A town votes every day."

    def __init__(self, *, stable: bool, bad_group: str | None = None) -> None:
        focal = [Persona(id=a, name=a) for a in ("f1", "f2")]
        super().__init__(RunOptions(), focal, np.random.default_rng(0))
        self.stable = stable
        self.bad_group = bad_group
        party = (np.arange(CROWD) % 3).astype(np.int8)
        self.crowd = PopulationState(
            {"party": party, "vote_a": np.zeros(CROWD, dtype=bool)},
            labels={"party": ["red", "green", "blue"]},
        )
        self.tallies: list[int] = []
        a = Vote(choice="a")
        rules = {"groups": self.groups, "resolve": self.resolve_groups, "fallback": a}
        self.vote = VOTE.model_copy(update=rules)
        rules = {"observe": self.observe, "resolve": self.resolve, "fallback": a}
        self.talk = TALK.model_copy(update=rules)

    def num_ticks(self) -> int:
        return 3

    def phases(self, tick: int) -> Sequence[Phase]:
        return [self.vote, self.talk]

    def observe(self, agent_id: str, tick: int) -> Observation:
        return Observation(agent_id=agent_id, tick=tick, phase=TALK.name, text="Speak.")

    def groups(self, tick: int) -> Sequence[GroupQuery]:
        arch = archetypes(self.crowd, ["party"])
        news = "Nothing changed." if self.stable else f"Day {tick}: {sum(self.tallies)} votes."
        queries = []
        for key, size in zip(arch.keys, arch.sizes.tolist(), strict=True):
            text = f"You are {size} voters. {news}"
            if key == self.bad_group:
                text += " BAD"
            queries.append(
                GroupQuery(
                    key=key,
                    size=size,
                    persona_text=f"Voters of {key}.",
                    observation=Observation(agent_id=key, tick=tick, phase=VOTE.name, text=text),
                )
            )
        return queries

    def resolve_groups(
        self, answers: Mapping[str, Action], ctx: PhaseContext
    ) -> dict[str, list[Percept]]:
        tick = ctx.tick
        arch = archetypes(self.crowd, ["party"])
        says_a = np.array([isinstance(answers[k], Vote) and answers[k].choice == "a"
                           for k in arch.keys])  # fmt: skip
        # each member follows its group's answer with probability 0.9
        follow = rng.bernoulli(0, tick, 0, np.arange(CROWD), 0.9)
        vote_a = np.where(follow, says_a[arch.group], ~says_a[arch.group])
        self.crowd["vote_a"] = vote_a
        self.tallies.append(int(vote_a.sum()))
        ctx.emit(PopulationStepEvent, phase=VOTE.name, counts={"a": int(vote_a.sum())})
        return {aid: [Percept(text=f"The crowd gave a {int(vote_a.sum())} votes.")]
                for aid in self.members}  # fmt: skip

    def resolve(self, actions: Mapping[str, Action], ctx: PhaseContext) -> None:
        return None

    def snapshot(self) -> dict[str, Any]:
        return {"crowd": self.crowd.snapshot(), "tallies": self.tallies}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.crowd.restore(state["crowd"])
        self.tallies = list(state["tallies"])


def policy(request: LLMRequest, gen: np.random.Generator) -> str:
    if any("BAD" in m.content for m in request.messages):
        return "I refuse to answer in JSON."
    if "group" in request.context:
        return json.dumps({"choice": "b" if "green" in request.context["group"] else "a"})
    return json.dumps({"choice": "a"})


class TownScenario(Scenario[RunOptions]):  # any pydantic model does for the config
    name = "town-test"


def build(tmp_path: Path, world: Any) -> tuple[Simulation, ScriptedModel]:
    backend = ScriptedModel(policy)
    store = RunStore.create(
        tmp_path / "run",
        run_id="g",
        scenario="town-test",
        seed=0,
        model="scripted",
        config={},
        num_ticks=3,
        version="test",
    )
    gateway = Gateway(
        build_stack(backend, cache=None, max_concurrency=64, timeout_s=None, max_attempts=1)
    )
    minds = {aid: Mind(Persona(id=aid, name=aid), sampling=Sampling()) for aid in ("f1", "f2")}
    sim = Simulation(
        scenario=TownScenario(),
        config=RunOptions(),
        world=world,
        minds=minds,
        gateway=gateway,
        store=store,
        seed=0,
        rng=np.random.default_rng(0),
        deadline_s=30.0,
    )
    return sim, backend


def _kinds(sim: Simulation, kind: str, tick: int | None = None) -> list[Any]:
    return [e for e in sim.store.events() if e.kind == kind and (tick is None or e.tick == tick)]


def test_one_call_per_group_not_per_agent_and_focal_agents_decide_in_the_same_tick(
    tmp_path: Path,
) -> None:
    sim, backend = build(tmp_path, Town(stable=False))
    asyncio.run(sim.step(0))
    group_calls = [e for e in _kinds(sim, "llm_call", 0) if e.actor.startswith("group:")]
    assert len(group_calls) == 3  # three archetypes, not 1,000 agents
    decisions = _kinds(sim, "group_decision", 0)
    assert [(d.key, d.size, d.data, d.reused) for d in decisions] == [
        ("party=red", 334, {"choice": "a"}, False),
        ("party=green", 333, {"choice": "b"}, False),
        ("party=blue", 333, {"choice": "a"}, False),
    ]
    # the focal agents' own phase ran in the same tick, one call each
    actions = _kinds(sim, "action", 0)
    assert sorted(a.actor for a in actions) == ["f1", "f2"]
    assert backend.calls == 5
    # members' actions were drawn from the answers: about 0.9 * 667 + 0.1 * 333 vote a
    (step,) = _kinds(sim, "population_step", 0)
    assert abs(step.counts["a"] - (0.9 * 667 + 0.1 * 333)) < 40
    # the focal minds remember what the crowd did
    assert "The crowd gave a" in sim.minds["f1"].memory.retrieve()[-1].text


def test_a_stable_world_reuses_group_answers_without_new_calls(tmp_path: Path) -> None:
    sim, backend = build(tmp_path, Town(stable=True))
    asyncio.run(sim.run())
    per_tick = [
        len([e for e in _kinds(sim, "llm_call", t) if e.actor.startswith("group:")])
        for t in range(3)
    ]
    assert per_tick == [3, 0, 0]
    reused = [(d.tick, d.reused) for d in _kinds(sim, "group_decision")]
    assert reused == [(0, False)] * 3 + [(1, True)] * 3 + [(2, True)] * 3
    assert backend.calls == 3 + 2 * 3  # groups once, focal agents every tick
    assert [tc.llm_calls for tc in _kinds(sim, "tick_completed")] == [5, 2, 2]


def test_group_requests_do_not_depend_on_the_tick(tmp_path: Path) -> None:
    town = Town(stable=True)
    sim, _ = build(tmp_path, town)
    q0 = town.groups(0)[0]
    q2 = town.groups(2)[0]
    r0, r2 = sim._group_request(q0, VOTE), sim._group_request(q2, VOTE)
    assert r0.cache_key("m") == r2.cache_key("m")
    assert r0.messages[0].content.endswith("Voters of party=red.")
    assert "Vote for a or b." in r0.messages[1].content
    assert '"choice"' in r0.messages[1].content
    changed = Town(stable=False).groups(1)[0]
    assert sim._group_request(changed, VOTE).seed != r0.seed


def test_changing_observations_call_again_every_tick(tmp_path: Path) -> None:
    sim, _ = build(tmp_path, Town(stable=False))
    asyncio.run(sim.run())
    assert len([e for e in _kinds(sim, "llm_call") if e.actor.startswith("group:")]) == 9
    assert not any(d.reused for d in _kinds(sim, "group_decision"))


def test_an_invalid_group_answer_falls_back_and_is_not_reused(tmp_path: Path) -> None:
    sim, _ = build(tmp_path, Town(stable=True, bad_group="party=green"))
    asyncio.run(sim.run())
    fallbacks = _kinds(sim, "decision_fallback")
    assert [(f.tick, f.actor, f.reason) for f in fallbacks] == [
        (t, "group:party=green", "invalid_output") for t in range(3)
    ]
    green = [d for d in _kinds(sim, "group_decision") if d.key == "party=green"]
    assert all(d.fallback and not d.reused and d.data == {"choice": "a"} for d in green)
    # the failed group is asked again each tick (call + repair); the others are reused
    bad_calls = [e for e in _kinds(sim, "llm_call") if e.actor == "group:party=green"]
    assert len(bad_calls) == 6
    assert {e.status for e in bad_calls} == {"invalid"}
    assert [tc.fallbacks for tc in _kinds(sim, "tick_completed")] == [1, 1, 1]


def test_a_groups_phase_needs_a_world_with_groups(tmp_path: Path) -> None:
    town = Town(stable=True)
    town.vote = town.vote.model_copy(update={"groups": None})
    sim, _ = build(tmp_path, town)
    with pytest.raises(ConfigError, match="a groups\\(tick\\) rule"):
        asyncio.run(sim.step(0))
