"""Modes of deciding: reactive, proactive, lookahead, guardrail (a scripted model answers)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from mind_world import ACT, TALK, Act, Speak, village_policy
from societas.llm.gateway import Decision, Gateway
from societas.llm.scripted import ScriptedModel
from societas.mind import DecisionContext
from societas.mind.generative import GenerativeMind, MindConfig
from societas.mind.scripted import with_cognition
from societas.typing import (
    InitiativeEvent,
    LLMRequest,
    Observation,
    Persona,
    PredictionEvent,
    Sampling,
    VetoEvent,
)
from societas.typing.scenario import Percept, PhaseSpec

# A test's own answers; ``None`` leaves the request to the scripted cognition and village.
Policy = Callable[[LLMRequest, np.random.Generator], str | None]
PERSONA = Persona(id="a0", name="Ada", goals=("keep the village prosperous",))


def user_text(request: LLMRequest) -> str:
    return next(m.content for m in request.messages if m.role == "user")


def line_after(text: str, marker: str) -> str:
    return next(
        line[len(marker) :].strip() for line in text.splitlines() if line.startswith(marker)
    )


def default(request: LLMRequest, rng: np.random.Generator) -> str | None:
    return None


def make_gateway(policy: Policy = default) -> tuple[Gateway, list[LLMRequest]]:
    """A gateway over the scripted model that records every request it gets."""
    seen: list[LLMRequest] = []
    fallback = with_cognition(village_policy)

    def recording(request: LLMRequest, rng: np.random.Generator) -> str:
        seen.append(request)
        answer = policy(request, rng)
        return fallback(request, rng) if answer is None else answer

    return Gateway(ScriptedModel(recording)), seen


def make_mind(**config: Any) -> GenerativeMind:
    settings: dict[str, Any] = {"planning": False, "rate_importance": False}
    settings.update(config)
    return GenerativeMind(PERSONA, config=MindConfig.model_validate(settings), sampling=Sampling())


def context(
    phase: PhaseSpec = ACT, tick: int = 0, text: str = "It is 08:00.", **fields: Any
) -> DecisionContext:
    obs = Observation(agent_id="a0", tick=tick, phase=phase.name, text=text, fields=fields)
    return DecisionContext(
        observation=obs,
        phase=phase,
        rules_text="Village rules.",
        seed=7,
        tick=tick,
        sim_time=8 * 3600.0 + 600.0 * tick,
    )


def decide(mind: GenerativeMind, gateway: Gateway, ctx: DecisionContext) -> Decision:
    return asyncio.run(mind.decide(ctx, gateway))


# -- reactive -------------------------------------------------------------------------------


def test_reactive_is_one_short_call_without_memory() -> None:
    mind = make_mind(mode="reactive", planning=True)
    mind.remember(0, [Percept(text="The mill burned down last winter.")])
    gateway, seen = make_gateway()
    decision = decide(mind, gateway, context())
    assert isinstance(decision.action, Act)
    assert [r.purpose for r in seen] == ["act"]
    assert len(decision.calls) == 1
    assert "mill" not in user_text(seen[0])
    # The deliberative mode, by contrast, retrieves the memory and plans.
    deliberative = make_mind(mode="deliberative", planning=True)
    deliberative.remember(0, [Percept(text="The mill burned down last winter.")])
    gateway, seen = make_gateway()
    decide(deliberative, gateway, context())
    assert [r.purpose for r in seen] == ["plan:day", "plan:hour", "plan:step", "act"]
    assert "mill" in user_text(seen[-1])


def test_reactive_fast_policy_makes_no_model_call() -> None:
    config = MindConfig(mode="reactive", fast_policy=True, planning=False)
    mind = GenerativeMind(PERSONA, config=config, sampling=Sampling(), fast_policy=village_policy)
    gateway, seen = make_gateway()
    decision = decide(mind, gateway, context())
    assert isinstance(decision.action, Act)
    assert seen == []
    assert decision.calls == []


# -- lookahead ------------------------------------------------------------------------------


def lookahead_policy(good: str) -> Policy:
    """The world model says ``good`` makes the village prosper; the scorer rewards that."""

    def policy(request: LLMRequest, rng: np.random.Generator) -> str | None:
        text = user_text(request)
        if request.purpose.startswith("lookahead:predict"):
            choice = json.loads(line_after(text, "Imagine you take this action:"))["choice"]
            outcome = "the village prospers" if choice == good else "the village suffers"
            return json.dumps({"outcome": f"{outcome} ({choice})"})
        if request.purpose.startswith("lookahead:score"):
            outcome = line_after(text, "Predicted outcome:")
            return json.dumps({"score": 9 if "prospers" in outcome else 2, "reason": outcome})
        return None

    return policy


@pytest.mark.parametrize("good", ["rest", "work", "steal"])
def test_lookahead_takes_the_candidate_whose_predicted_outcome_scores_best(good: str) -> None:
    mind = make_mind(mode="lookahead", lookahead_k=3)
    gateway, seen = make_gateway(lookahead_policy(good))
    decision = decide(mind, gateway, context())
    assert isinstance(decision.action, Act)
    assert decision.action.choice == good
    purposes = [r.purpose for r in seen]
    assert purposes.count("lookahead:predict") == 3
    assert purposes.count("lookahead:score") == 3
    assert "act" not in purposes  # the choice is the best candidate, not a separate call
    assert [c.purpose for c in decision.calls] == purposes
    events = mind.drain_events()
    predictions = [fields for kind, fields in events if kind is PredictionEvent]
    assert sorted(p["candidate"]["choice"] for p in predictions) == ["rest", "steal", "work"]
    chosen = [p for p in predictions if p["chosen"]]
    assert len(chosen) == 1
    assert chosen[0]["candidate"]["choice"] == good
    assert chosen[0]["score"] == 9
    assert "prospers" in chosen[0]["predicted"]
    assert all(p["score"] == 2 for p in predictions if not p["chosen"])


def test_lookahead_asks_for_candidates_when_the_schema_has_free_text() -> None:
    def policy(request: LLMRequest, rng: np.random.Generator) -> str | None:
        if request.purpose == "lookahead:propose":
            msgs = [{"message": "hello"}, {"message": "the harvest is in"}, {"bad": 1}]
            return json.dumps({"candidates": msgs})
        if request.purpose == "lookahead:score":
            harvest = "harvest" in line_after(user_text(request), "Action considered:")
            return json.dumps({"score": 8 if harvest else 3})
        return None

    mind = make_mind(mode="lookahead", lookahead_k=3)
    gateway, seen = make_gateway(policy)
    decision = decide(mind, gateway, context(TALK, present=["Ben"]))
    assert isinstance(decision.action, Speak)
    assert decision.action.message == "the harvest is in"
    purposes = [r.purpose for r in seen]
    assert purposes[0] == "lookahead:propose"
    assert purposes.count("lookahead:predict") == 2  # the invalid candidate is dropped


# -- guardrail ------------------------------------------------------------------------------


def guardrail_policy(first: str, risky: dict[str, float]) -> Policy:
    def policy(request: LLMRequest, rng: np.random.Generator) -> str | None:
        text = user_text(request)
        if request.purpose == "act":
            return json.dumps({"choice": "work" if "vetoed" in text else first})
        if request.purpose == "guardrail:risk":
            choice = json.loads(line_after(text, "Proposed action:"))["choice"]
            risk = risky.get(choice, 0.1)
            return json.dumps({"risk_short": risk, "risk_long": risk / 2, "reason": "theft"})
        return None

    return policy


def test_guardrail_vetoes_a_risky_action_and_decides_again() -> None:
    mind = make_mind(mode="guardrail", guardrail_threshold=0.5)
    gateway, seen = make_gateway(guardrail_policy("steal", {"steal": 0.9}))
    decision = decide(mind, gateway, context())
    assert isinstance(decision.action, Act)
    assert decision.action.choice == "work"
    assert [r.purpose for r in seen] == ["act", "guardrail:risk", "act", "guardrail:risk"]
    assert "steal" in user_text(seen[2])
    assert "theft" in user_text(seen[2])
    vetoes = [fields for kind, fields in mind.drain_events() if kind is VetoEvent]
    assert len(vetoes) == 1
    assert vetoes[0]["action"]["choice"] == "steal"
    assert vetoes[0]["risk_short"] == 0.9
    assert vetoes[0]["threshold"] == 0.5


def test_guardrail_lets_a_safe_action_through() -> None:
    mind = make_mind(mode="guardrail", guardrail_threshold=0.5)
    gateway, seen = make_gateway(guardrail_policy("steal", {"steal": 0.5}))  # not above
    decision = decide(mind, gateway, context())
    assert isinstance(decision.action, Act)
    assert decision.action.choice == "steal"
    assert [r.purpose for r in seen] == ["act", "guardrail:risk"]
    assert not [k for k, _ in mind.drain_events() if k is VetoEvent]


def test_guardrail_falls_back_after_the_last_veto() -> None:
    always = guardrail_policy("steal", {"steal": 0.9, "work": 0.9})
    mind = make_mind(mode="guardrail", guardrail_max_redecide=2)
    gateway, seen = make_gateway(always)
    decision = decide(mind, gateway, context())
    assert decision.action is None
    assert decision.failure == "vetoed"  # a choice of the guardrail, not a model failure
    assert "guardrail" in (decision.error or "")
    assert [r.purpose for r in seen].count("guardrail:risk") == 3
    assert len([k for k, _ in mind.drain_events() if k is VetoEvent]) == 3
    safe = make_mind(
        mode="guardrail", guardrail_max_redecide=0, guardrail_safe_action={"choice": "rest"}
    )
    decision = decide(safe, make_gateway(always)[0], context())
    assert isinstance(decision.action, Act)
    assert decision.action.choice == "rest"


# -- proactive ------------------------------------------------------------------------------


def proactive_policy(request: LLMRequest, rng: np.random.Generator) -> str | None:
    if request.purpose == "proactive:initiate":
        return json.dumps(
            {"initiate": True, "kind": "invite", "target": "Ben", "text": "come to the fair"}
        )
    return None


def test_proactive_initiative_is_recorded_acted_on_and_resolved() -> None:
    mind = make_mind(mode="proactive")
    gateway, seen = make_gateway(proactive_policy)
    decide(mind, gateway, context(present=["Ben"]))
    assert [r.purpose for r in seen] == ["proactive:initiate", "act"]
    assert "invite Ben: come to the fair" in user_text(seen[1])
    events = mind.drain_events()
    assert events == [
        (
            InitiativeEvent,
            {
                "phase": "act",
                "initiative": "invite",
                "target": "Ben",
                "text": "come to the fair",
                "accepted": None,
            },
        )
    ]
    mind.recorded([41])
    # Once a tick: a second phase of the same tick asks nothing.
    decide(mind, gateway, context(TALK, present=["Ben"]))
    assert [r.purpose for r in seen][2:] == ["talk_1"]
    percepts = [Percept(text="Ben accepted your invitation.", kind="initiative_accepted")]
    asyncio.run(mind.perceive(0, 8 * 3600.0, percepts, gateway, phase="talk_1"))
    resolved = [f for k, f in mind.drain_events() if k is InitiativeEvent]
    assert len(resolved) == 1
    assert resolved[0]["accepted"] is True
    assert resolved[0]["parent"] == 41
    assert not mind.resolve_initiative("Ben", False)  # nothing pending any more


def test_proactive_stays_quiet_when_addressed_or_alone() -> None:
    mind = make_mind(mode="proactive")
    gateway, seen = make_gateway(proactive_policy)
    decide(mind, gateway, context(present=["Ben"], addressed_by="Ben"))
    assert [r.purpose for r in seen] == ["act"]
    assert mind.drain_events() == []
    # The scripted default takes no initiative with nobody around.
    alone = make_mind(mode="proactive")
    gateway, seen = make_gateway()
    decide(alone, gateway, context(tick=1))
    assert [r.purpose for r in seen] == ["proactive:initiate", "act"]
    assert alone.drain_events() == []


def test_resolve_initiative_declined_and_expiry() -> None:
    mind = make_mind(mode="proactive", initiative_ttl=1)
    gateway, _ = make_gateway(proactive_policy)
    decide(mind, gateway, context(present=["Ben"]))
    mind.drain_events()
    mind.recorded([5])
    assert mind.resolve_initiative("ben", False)
    (kind, fields), *_ = mind.drain_events()
    assert kind is InitiativeEvent
    assert fields["accepted"] is False
    assert fields["parent"] == 5
    decide(mind, gateway, context(tick=1, present=["Ben"]))
    mind.drain_events()
    asyncio.run(mind.perceive(2, 9 * 3600.0, [], gateway))  # the wait is over
    assert not mind.resolve_initiative("Ben", True)


def test_mind_config_rejects_unknown_and_bad_settings() -> None:
    with pytest.raises(ValidationError):
        MindConfig.model_validate({"mode": "telepathic"})
    with pytest.raises(ValidationError):
        MindConfig.model_validate({"lookahed_k": 3})
    with pytest.raises(ValidationError):
        MindConfig.model_validate({"guardrail_threshold": 1.5})
