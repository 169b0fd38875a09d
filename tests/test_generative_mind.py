"""The generative mind in the engine: memory, planning, reflection, dialogue, hooks, resume."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mind_world import ACT, TALK, Act, VillageConfig, VillageScenario, village_policy
from societas.analysis.compare import first_difference
from societas.engine import (
    RunInterrupted,
    RunOptions,
    Simulation,
    prepare_resume,
    prepare_run,
    run_sync,
)
from societas.llm import Gateway, build_stack
from societas.llm.scripted import ScriptedModel
from societas.mind import DecisionContext, Mind
from societas.mind.generative import GenerativeMind, MindConfig, mind_factory
from societas.mind.scripted import with_cognition
from societas.store import RunStore
from societas.store.check import run_checks
from societas.typing import (
    LLMCall,
    LLMRequest,
    LLMResponse,
    Observation,
    Persona,
    Sampling,
)
from societas.typing.scenario import Percept, PhaseSpec, ScriptedPolicy

DOCS = Path(__file__).resolve().parents[1] / "docs"
PERSONA = Persona(id="a0", name="Ada", goals=("work hard",))


class CountingVillage(VillageScenario):
    """The village whose scripted model counts the requests it answers, by purpose."""

    def __init__(self) -> None:
        self.purposes: Counter[str] = Counter()

    def scripted_policy(self, config: Any) -> ScriptedPolicy:
        inner = with_cognition(village_policy)

        def counting(request: LLMRequest, rng: np.random.Generator) -> str:
            self.purposes[request.purpose] += 1
            return inner(request, rng)

        return counting


def run_village(out: Path, scenario: VillageScenario | None = None, **cfg: Any) -> RunStore:
    handle = prepare_run(
        scenario or VillageScenario(), VillageConfig(**cfg), RunOptions(model="scripted"), out
    )
    run_sync(handle)
    return RunStore.open(out, readonly=True)


def test_every_sub_call_is_an_llm_call_event(tmp_path: Path) -> None:
    scenario = CountingVillage()
    store = run_village(
        tmp_path / "run",
        scenario,
        ticks=4,
        reflection_threshold=40,
        alarms={3: "An alarm rings: fire at the bakery!"},
    )
    events = store.events()
    calls = [e for e in events if isinstance(e, LLMCall)]
    recorded = Counter(c.purpose for c in calls)
    assert recorded == scenario.purposes  # every request the model got, and nothing else
    for purpose in ("plan:day", "plan:hour", "plan:step", "plan:react", "importance"):
        assert recorded[purpose] > 0, purpose
    assert recorded["reflect:questions"] > 0
    assert recorded["act"] == recorded["talk_1"] == 8
    assert all(c.actor in ("a0", "a1") for c in calls)
    per_tick = sum(e.llm_calls for e in events if e.kind == "tick_completed")
    assert per_tick == len(calls) == store.counts()["llm_calls"]
    kinds = Counter(e.kind for e in events)
    assert kinds["plan"] > 0
    assert kinds["reflection"] > 0
    assert all(r.ok for r in run_checks(tmp_path / "run")), run_checks(tmp_path / "run")
    # A decision's cognition events follow its action and point at it.
    by_seq = {e.seq: e for e in events}
    for plan in (e for e in events if e.kind == "plan"):
        assert plan.parent is not None
        action = by_seq[plan.parent]
        assert action.kind == "action"
        assert action.actor == plan.actor
        assert action.seq < plan.seq


def test_plan_events_and_replanning_only_on_a_warranting_observation(tmp_path: Path) -> None:
    store = run_village(tmp_path / "run", ticks=4, alarms={2: "An alarm rings: fire at the mill!"})
    plans = [e for e in store.events(["plan"]) if e.actor == "a0"]
    levels = [(e.tick, e.level, e.replan) for e in plans]
    assert (0, "day", False) in levels
    assert (0, "hour", False) in levels
    assert any(lv == "step" for _, lv, _ in levels)
    replans = [e for e in plans if e.replan]
    assert [e.tick for e in replans] == [2]
    assert replans[0].level == "hour"
    assert "fire" in (replans[0].reason or "")
    # Every new observation was put to the model; only the alarm warranted a reaction.
    reacts = [
        c for c in store.events(["llm_call"]) if c.actor == "a0" and c.purpose == "plan:react"
    ]
    assert len(reacts) == 3  # ticks 1, 2, 3 (tick 0 made the plan)
    quiet = run_village(tmp_path / "quiet", ticks=4)
    assert not [e for e in quiet.events(["plan"]) if e.replan]


def test_a_day_plan_is_made_at_the_first_tick_of_each_day(tmp_path: Path) -> None:
    store = run_village(tmp_path / "run", ticks=3, seconds_per_tick=12 * 3600.0)
    days = [e.tick for e in store.events(["plan"]) if e.actor == "a0" and e.level == "day"]
    # 08:00 day 0, 20:00 day 0, 08:00 day 1.
    assert days == [0, 2]


class Recorder:
    """A gateway that answers with the scripted village and keeps every request."""

    def __init__(self, policy: ScriptedPolicy | None = None) -> None:
        self.requests: list[LLMRequest] = []
        inner = policy or with_cognition(village_policy)

        def recording(request: LLMRequest, rng: np.random.Generator) -> str:
            self.requests.append(request)
            return inner(request, rng)

        self.gateway = Gateway(ScriptedModel(recording))


def ctx(phase: PhaseSpec, tick: int, text: str, **fields: Any) -> DecisionContext:
    obs = Observation(agent_id="a0", tick=tick, phase=phase.name, text=text, fields=fields)
    return DecisionContext(
        observation=obs,
        phase=phase,
        rules_text="Village rules.",
        seed=3,
        tick=tick,
        sim_time=8 * 3600.0 + 600.0 * tick,
    )


def live(mind: Mind, gateway: Gateway, tick: int, percepts: list[Percept]) -> None:
    async def go() -> None:
        await mind.decide(ctx(ACT, tick, f"Tick {tick} at the square.", present=["Ben"]), gateway)
        mind.drain_events()
        await mind.perceive(tick, 8 * 3600.0 + 600.0 * tick, percepts, gateway, phase="act")
        mind.drain_events()

    asyncio.run(go())


def test_plans_and_partner_memories_enter_the_decision_prompt() -> None:
    mind = GenerativeMind(PERSONA, config=MindConfig(), sampling=Sampling())
    rec = Recorder()
    live(mind, rec.gateway, 0, [Percept(text="Ben owes me three apples from the market.")])
    live(mind, rec.gateway, 1, [Percept(text="The sky was grey all day.")])

    async def talk(**fields: Any) -> str:
        rec.requests.clear()
        await mind.decide(ctx(TALK, 2, "You meet at the well.", **fields), rec.gateway)
        final = [r for r in rec.requests if r.purpose == "talk_1"][-1]
        return final.messages[1].content

    with_ben = asyncio.run(talk(present=["Ben"], topic="apples"))
    assert "Your plan for today:" in with_ben
    assert "What you remember about Ben:" in with_ben
    about = with_ben.split("What you remember about Ben:", 1)[1].split("\n\n", 1)[0]
    assert "Ben owes me three apples" in about
    alone = asyncio.run(talk())
    assert "What you remember about" not in alone
    # Outside a conversation phase the partner query is not made either.
    rec.requests.clear()
    asyncio.run(mind.decide(ctx(ACT, 2, "At the well.", present=["Ben"]), rec.gateway))
    assert "What you remember about" not in rec.requests[-1].messages[1].content


def test_memory_holds_percepts_actions_and_plans_rated_by_the_model() -> None:
    mind = GenerativeMind(PERSONA, config=MindConfig(), sampling=Sampling())
    rec = Recorder()
    live(mind, rec.gateway, 0, [Percept(text="Ben was arrested for theft!")])
    kinds = Counter(r.kind for r in mind.stream)
    assert kinds["observation"] == 1
    assert kinds["action"] == 1
    assert kinds["plan"] == 3
    rated = [r for r in rec.requests if r.purpose == "importance"]
    assert len(rated) == 1  # one batched call for the whole perceive
    arrest = next(r for r in mind.stream if "arrested" in r.text)
    plain = next(r for r in mind.stream if r.kind == "action")
    assert arrest.importance > plain.importance  # the model's rating, not the default


def test_snapshot_restore_gives_identical_subsequent_requests() -> None:
    config = MindConfig(mode="proactive", reflection_threshold=30)
    first = GenerativeMind(PERSONA, config=config, sampling=Sampling())
    rec = Recorder()
    for tick in range(3):
        live(first, rec.gateway, tick, [Percept(text=f"Ben said the price is {tick + 2} coins.")])
    state = json.loads(json.dumps(first.snapshot()))
    second = GenerativeMind(PERSONA, config=config, sampling=Sampling())
    second.restore(state)
    assert second.snapshot() == state
    a, b = Recorder(), Recorder()
    for tick in (3, 4):
        live(first, a.gateway, tick, [Percept(text="A storm is coming tonight!")])
        live(second, b.gateway, tick, [Percept(text="A storm is coming tonight!")])
    assert len(a.requests) > 4
    assert [r.model_dump() for r in a.requests] == [r.model_dump() for r in b.requests]
    # A fresh mind (no restore) would ask differently: the snapshot carries the state.
    fresh, c = GenerativeMind(PERSONA, config=config, sampling=Sampling()), Recorder()
    live(fresh, c.gateway, 3, [Percept(text="A storm is coming tonight!")])
    assert [r.model_dump() for r in c.requests] != [
        r.model_dump() for r in a.requests[: len(c.requests)]
    ]


def test_resumed_run_matches_an_uninterrupted_one(tmp_path: Path) -> None:
    cfg: dict[str, Any] = {"ticks": 5, "mode": "proactive", "reflection_threshold": 40}
    whole = run_village(tmp_path / "whole", **cfg)
    out = tmp_path / "cut"
    handle = prepare_run(VillageScenario(), VillageConfig(**cfg), RunOptions(model="scripted"), out)
    sim = handle.simulation
    sim.on_progress = lambda p: sim.request_stop() if p.tick == 2 else None
    with pytest.raises(RunInterrupted):
        run_sync(handle)
    run_sync(prepare_resume(out, VillageScenario()))
    resumed = RunStore.open(out, readonly=True)
    assert first_difference(whole.events(), resumed.events()) is None
    assert Counter(e.kind for e in resumed.events())["initiative"] > 0


class Hang:
    """Answers like the scripted village, but never answers one agent's hour plan."""

    model_id = "hang"

    def __init__(self) -> None:
        self.policy = with_cognition(village_policy)

    async def generate(self, request: LLMRequest) -> LLMResponse:
        if request.actor == "a1" and request.purpose == "plan:hour":
            await asyncio.sleep(3600)
        text = self.policy(request, np.random.default_rng(request.seed))
        return LLMResponse(text=text, model=self.model_id)

    async def aclose(self) -> None:
        return None


def test_the_phase_deadline_cuts_a_multi_call_decision(tmp_path: Path) -> None:
    scenario = VillageScenario()
    config = VillageConfig(ticks=1)
    rng = np.random.default_rng(0)
    world, personas = scenario.build(config, rng)
    store = RunStore.create(
        tmp_path / "run",
        run_id="t",
        scenario="village",
        seed=0,
        model="hang",
        config={"scenario": config.model_dump(), "run": RunOptions().model_dump()},
        num_ticks=1,
        version="test",
    )
    make = mind_factory(
        sampling=Sampling(),
        mind_config=MindConfig(),
        memory_top_k=12,
        memory_tokens=400,
    )
    gateway = Gateway(
        build_stack(Hang(), cache=None, max_concurrency=8, timeout_s=None, max_attempts=1)
    )
    sim = Simulation(
        scenario=scenario,
        config=config,
        world=world,
        minds={p.id: make(p) for p in personas},
        gateway=gateway,
        store=store,
        seed=0,
        rng=rng,
        deadline_s=0.5,
    )
    asyncio.run(sim.step(0))
    events = [e for e in store.events() if e.actor == "a1" and e.tick == 0]
    act_events = [e for e in events if e.kind == "action" and e.phase == "act"]
    assert act_events
    assert act_events[0].fallback
    calls = [(e.purpose, e.status) for e in events if isinstance(e, LLMCall)]
    assert ("plan:day", "ok") in calls  # finished before the deadline: kept
    assert ("plan:hour", "error") in calls  # in flight at the deadline: recorded as cancelled
    fallbacks = [e for e in events if e.kind == "decision_fallback"]
    assert fallbacks
    assert fallbacks[0].reason == "deadline"
    assert any(e.kind == "action" and not e.fallback for e in store.events() if e.actor == "a0")


def test_base_minds_are_kept_when_the_scenario_has_no_mind_config(tmp_path: Path) -> None:
    store = run_village(tmp_path / "run", ticks=2, generative=False)
    kinds = Counter(e.kind for e in store.events())
    assert kinds["plan"] == 0
    assert kinds["reflection"] == 0
    purposes = {e.purpose for e in store.events(["llm_call"])}
    assert purposes == {"act", "talk_1"}
    make = mind_factory(sampling=Sampling(), mind_config=None, memory_top_k=3, memory_tokens=50)
    assert type(make(PERSONA)) is Mind


def test_news_told_outside_a_phase_is_remembered() -> None:
    mind = GenerativeMind(PERSONA, config=MindConfig(), sampling=Sampling())
    mind.remember(0, [Percept(text="News: the bridge is closed.", kind="news", importance=8.0)])
    (record,) = list(mind.stream)
    assert record.kind == "news"
    assert record.importance == 8.0


def test_every_mind_setting_is_documented() -> None:
    text = (DOCS / "mind.md").read_text()
    missing = [name for name in MindConfig.model_fields if f"`{name}`" not in text]
    assert missing == []
    assert Act.model_json_schema()  # the village's action is a plain Action


def test_retrieval_weights_follow_the_paper_or_the_smallville_code() -> None:
    """paper: 1/1/1 (Park et al. 2023, 4.1); smallville_code: gw = [0.5, 3, 2] for recency,
    relevance, importance (generative_agents retrieve.py, new_retrieve, line 244)."""
    paper = GenerativeMind(PERSONA, config=MindConfig(), sampling=Sampling())
    code = GenerativeMind(
        PERSONA, config=MindConfig(retrieval_weights="smallville_code"), sampling=Sampling()
    )
    assert paper.stream.weights == (1.0, 1.0, 1.0)
    assert code.stream.weights == (0.5, 2.0, 3.0)  # (recency, importance, relevance)
    hour = 3600.0
    # Same text (equal relevance): recent but dull, older, old but important.
    for mind in (paper, code):
        for age, importance in ((0, 2.0), (100, 1.0), (200, 9.0)):
            mind.stream.add(
                "the harbour at dawn",
                kind="observation",
                tick=0,
                sim_time=(200 - age) * hour,
                importance=importance,
            )
    now = 200 * hour
    (best_paper,) = paper.stream.retrieve("the harbour at dawn", sim_time=now, top_k=1)
    (best_code,) = code.stream.retrieve("the harbour at dawn", sim_time=now, top_k=1)
    assert best_paper.importance == 2.0  # recency counts as much as importance
    assert best_code.importance == 9.0  # importance outweighs recency 4 to 1
