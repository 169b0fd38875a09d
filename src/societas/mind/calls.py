"""Sub-calls of a mind: typed answers for planning, modes and interviews, and the call log.

Every model call a mind makes goes through ``CallLog``, which hands the finished calls to a
sink in a fixed order (the engine turns each into an ``llm_call`` event) and keeps
``Decision.request`` pointing at the call in flight, so a decision cancelled at the phase
deadline is recorded with the purpose of the call it was waiting for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import Field

from societas.llm.gateway import CallRecord, Decision, Gateway
from societas.mind.mind import derive_seed
from societas.typing import Action, ChatMessage, LLMRequest, Sampling

__all__ = [
    "CallLog",
    "CallMeta",
    "Candidates",
    "DayPlan",
    "HourPlan",
    "InitiativeChoice",
    "Prediction",
    "ReactChoice",
    "RiskAssessment",
    "Score",
    "StepPlan",
    "make_request",
    "sub_seed",
]

A = TypeVar("A", bound=Action)


class DayPlan(Action):
    """Park et al. 2023: the day in broad strokes, five to eight items."""

    action_type = "plan_day"
    items: list[str] = Field(min_length=1, max_length=10)


class HourPlan(Action):
    action_type = "plan_hour"
    plan: str = Field(max_length=400)


class StepPlan(Action):
    """The next 5-15 minute action (Park et al. 2023, section 4.3)."""

    action_type = "plan_step"
    action: str = Field(max_length=200)
    minutes: int = Field(ge=5, le=15)


class ReactChoice(Action):
    action_type = "plan_react"
    react: bool
    reason: str = Field(default="", max_length=300)


class InitiativeChoice(Action):
    action_type = "initiative"
    initiate: bool
    kind: Literal["speak", "invite", "help", "none"] = "none"
    target: str | None = None
    text: str = Field(default="", max_length=300)


class Candidates(Action):
    action_type = "candidates"
    candidates: list[dict[str, Any]] = Field(min_length=1, max_length=10)


class Prediction(Action):
    action_type = "prediction"
    outcome: str = Field(max_length=600)


class Score(Action):
    action_type = "score"
    score: float = Field(ge=0.0, le=10.0)
    reason: str = Field(default="", max_length=300)


class RiskAssessment(Action):
    """SafePred: short- and long-term risk of an action against a policy, each 0-1."""

    action_type = "risk"
    risk_short: float = Field(ge=0.0, le=1.0)
    risk_long: float = Field(ge=0.0, le=1.0)
    reason: str = Field(default="", max_length=300)


@dataclass(frozen=True)
class CallMeta:
    """Who asks and under which decision: the agent, the decision's seed and tick."""

    actor: str
    seed: int
    tick: int
    sampling: Sampling


def sub_seed(seed: int, tick: int, purpose: str, actor: str, index: int = 0) -> int:
    """The seed of a sub-call: a stable hash of the decision's seed and the call's purpose."""
    return derive_seed(seed, tick, f"{purpose}#{index}", actor)


def make_request(
    system: str,
    user: str,
    *,
    purpose: str,
    actor: str,
    seed: int,
    sampling: Sampling,
    json_schema: dict[str, Any] | None,
    context: dict[str, Any],
) -> LLMRequest:
    return LLMRequest(
        messages=(
            ChatMessage(role="system", content=system),
            ChatMessage(role="user", content=user),
        ),
        json_schema=json_schema,
        sampling=sampling,
        seed=seed,
        purpose=purpose,
        actor=actor,
        context=context,
    )


@dataclass
class CallLog:
    """Runs a mind's calls and hands their records to ``sink`` in a deterministic order."""

    gateway: Gateway
    sink: Callable[[CallRecord], None]
    track: Decision | None = None

    async def ask(self, request: LLMRequest, model: type[A]) -> A | None:
        """A typed answer (validated, one repair round), or ``None`` if there is none."""
        local = Decision(action=None, request=request)
        if self.track is not None:
            self.track.request = request
        try:
            await self.gateway.decide(request, model, into=local)
        finally:
            for call in local.calls:
                self.sink(call)
        return local.action if isinstance(local.action, model) else None

    async def decide(self, request: LLMRequest, model: type[Action]) -> Decision:
        """Like ``ask`` but returns the whole decision (failure and raw output included)."""
        local = Decision(action=None, request=request)
        if self.track is not None:
            self.track.request = request
        try:
            await self.gateway.decide(request, model, into=local)
        finally:
            for call in local.calls:
                self.sink(call)
        return local

    async def ask_all(self, requests: Sequence[LLMRequest], model: type[A]) -> list[A | None]:
        """Several calls at once; their records reach the sink in request order."""
        buffers: list[list[CallRecord]] = [[] for _ in requests]
        logs = [CallLog(self.gateway, buf.append) for buf in buffers]
        if self.track is not None and requests:
            self.track.request = requests[0]
        try:
            results = await asyncio.gather(
                *(log.ask(req, model) for log, req in zip(logs, requests, strict=True))
            )
        finally:
            for buf in buffers:
                for call in buf:
                    self.sink(call)
        return list(results)

    async def complete(self, request: LLMRequest) -> str | None:
        """A free-text answer, or ``None`` if the backend failed."""
        if self.track is not None:
            self.track.request = request
        text, record = await self.gateway.complete(request)
        self.sink(record)
        return text
