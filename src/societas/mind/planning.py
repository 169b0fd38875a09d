"""Planning after Generative Agents (Park et al. 2023, section 4.3).

An agent drafts its day in broad strokes at the first decision of a simulated day
(``plan:day``), decomposes it into the current hour's chunk when that hour starts
(``plan:hour``) and then into 5-15 minute actions as time comes (``plan:step``). When an
observation is new, the model is asked whether it warrants a reaction (``plan:react``); a
reaction re-plans the rest of the hour with the reason in the prompt. Simulation time is in
seconds (as in the memory stream); day ``d`` starts at ``d * 86400``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from societas.mind.calls import CallLog, DayPlan, HourPlan, ReactChoice, StepPlan, make_request
from societas.mind.calls import sub_seed as _sub_seed
from societas.typing import LLMRequest, Sampling

__all__ = [
    "DAY_MARKER",
    "HOUR_MARKER",
    "NOW_MARKER",
    "OBSERVATION_MARKER",
    "REVISE_MARKER",
    "PlanState",
    "Planner",
    "clock",
    "day_of",
]

SECONDS_PER_DAY = 86_400.0
SECONDS_PER_HOUR = 3_600.0

# Markers that begin lines of the planning prompts (scripted answers read them).
DAY_MARKER = "Your plan for today:"
HOUR_MARKER = "Your plan for this hour:"
NOW_MARKER = "It is now"
OBSERVATION_MARKER = "What you observe:"
REVISE_MARKER = "Reason to revise the plan:"


def day_of(sim_time: float) -> int:
    return int(sim_time // SECONDS_PER_DAY)


def hour_of(sim_time: float) -> int:
    """Hours since the simulation's time 0 (not the hour of the day)."""
    return int(sim_time // SECONDS_PER_HOUR)


def clock(sim_time: float) -> str:
    """``HH:MM`` of the simulated day."""
    seconds = int(sim_time % SECONDS_PER_DAY)
    return f"{seconds // 3600:02d}:{(seconds % 3600) // 60:02d}"


class PlanState(BaseModel):
    """The plans an agent holds; part of its snapshot."""

    model_config = ConfigDict(extra="forbid")

    day: int | None = None
    day_plan: list[str] = Field(default_factory=list)
    hour: int | None = None
    hour_plan: str = ""
    step: str = ""
    step_until: float | None = None
    last_observation: str | None = None

    def describe(self) -> str:
        """The plan as it enters a decision prompt (empty if there is none)."""
        lines: list[str] = []
        if self.day_plan:
            lines.append(DAY_MARKER)
            lines.extend(f"- {item}" for item in self.day_plan)
        if self.hour_plan:
            lines.append(f"{HOUR_MARKER} {self.hour_plan}")
        if self.step:
            lines.append(f"What you are doing right now: {self.step}")
        return "\n".join(lines)


# (level, text, replan, reason)
PlanSink = Callable[[str, str, bool, str | None], None]


@dataclass
class Planner:
    """Makes and revises one agent's plans through a ``CallLog``."""

    system: str
    actor: str
    sampling: Sampling
    seed: int
    tick: int

    async def update(
        self,
        state: PlanState,
        *,
        sim_time: float,
        observation: str,
        memories: str,
        log: CallLog,
        emit: PlanSink,
        react: bool = True,
    ) -> None:
        """Bring the plans up to ``sim_time``: day plan, re-plan check, hour chunk, step."""
        day = day_of(sim_time)
        had_plan = state.day == day and bool(state.day_plan)
        if not had_plan:
            await self._plan_day(state, day, sim_time, memories, log, emit)
        elif react and observation != state.last_observation and state.hour_plan:
            choice = await log.ask(self._react_request(state, sim_time, observation), ReactChoice)
            if choice is not None and choice.react:
                reason = choice.reason or "an observation called for it"
                await self._plan_hour(state, sim_time, log, emit, replan_reason=reason)
        state.last_observation = observation
        if state.hour != hour_of(sim_time):
            await self._plan_hour(state, sim_time, log, emit, replan_reason=None)
        if state.step_until is None or sim_time >= state.step_until:
            await self._plan_step(state, sim_time, log, emit)

    async def _plan_day(
        self,
        state: PlanState,
        day: int,
        sim_time: float,
        memories: str,
        log: CallLog,
        emit: PlanSink,
    ) -> None:
        parts = []
        if memories:
            parts.append(memories)
        if state.day_plan:
            parts.append("Your plan for yesterday:\n" + "\n".join(f"- {i}" for i in state.day_plan))
        parts.append(
            f"Today is day {day + 1}; it is {clock(sim_time)}. Write your plan for today in "
            "broad strokes: five to eight items, each starting with a time of day, for example "
            '"08:00 wake up and have breakfast".'
        )
        parts.append('Answer with only a JSON object: {"items": [text, ...]}')
        request = make_request(
            self.system,
            "\n\n".join(parts),
            purpose="plan:day",
            actor=self.actor,
            seed=_sub_seed(self.seed, self.tick, "plan:day", self.actor),
            sampling=self.sampling,
            json_schema=DayPlan.json_schema(),
            context={"tick": self.tick, "day": day},
        )
        answer = await log.ask(request, DayPlan)
        items = [i.strip() for i in answer.items if i.strip()] if answer is not None else []
        state.day = day
        state.day_plan = items or [f"{clock(sim_time)} go about the day"]
        state.hour = None
        state.hour_plan = ""
        state.step = ""
        state.step_until = None
        emit("day", "; ".join(state.day_plan), False, None)

    async def _plan_hour(
        self,
        state: PlanState,
        sim_time: float,
        log: CallLog,
        emit: PlanSink,
        *,
        replan_reason: str | None,
    ) -> None:
        start = hour_of(sim_time) * SECONDS_PER_HOUR
        lines = [DAY_MARKER, *(f"- {item}" for item in state.day_plan)]
        if replan_reason is not None:
            lines.append(f"{HOUR_MARKER} {state.hour_plan}")
            lines.append(f"{REVISE_MARKER} {replan_reason}")
        lines.append(
            f"{NOW_MARKER} {clock(sim_time)}. In one or two sentences, what will you do from "
            f"{clock(sim_time)} to {clock(start + SECONDS_PER_HOUR)}?"
        )
        lines.append('Answer with only a JSON object: {"plan": text}')
        purpose = "plan:hour"
        request = make_request(
            self.system,
            "\n".join(lines),
            purpose=purpose,
            actor=self.actor,
            seed=_sub_seed(
                self.seed, self.tick, purpose, self.actor, int(replan_reason is not None)
            ),
            sampling=self.sampling,
            json_schema=HourPlan.json_schema(),
            context={"tick": self.tick, "replan": replan_reason is not None},
        )
        answer = await log.ask(request, HourPlan)
        text = answer.plan.strip() if answer is not None else ""
        state.hour = hour_of(sim_time)
        state.hour_plan = text or (state.day_plan[0] if state.day_plan else "go about the day")
        state.step = ""
        state.step_until = None
        emit("hour", state.hour_plan, replan_reason is not None, replan_reason)

    async def _plan_step(
        self, state: PlanState, sim_time: float, log: CallLog, emit: PlanSink
    ) -> None:
        user = (
            f"{HOUR_MARKER} {state.hour_plan}\n"
            f"{NOW_MARKER} {clock(sim_time)}. What do you do in the next 5 to 15 minutes?\n"
            'Answer with only a JSON object: {"action": text, "minutes": integer from 5 to 15}'
        )
        request = make_request(
            self.system,
            user,
            purpose="plan:step",
            actor=self.actor,
            seed=_sub_seed(self.seed, self.tick, "plan:step", self.actor),
            sampling=self.sampling,
            json_schema=StepPlan.json_schema(),
            context={"tick": self.tick},
        )
        answer = await log.ask(request, StepPlan)
        if answer is None:
            state.step, minutes = state.hour_plan, 15
        else:
            state.step, minutes = answer.action.strip() or state.hour_plan, answer.minutes
        state.step_until = sim_time + 60.0 * minutes
        emit("step", f"{clock(sim_time)} ({minutes} min) {state.step}", False, None)

    def _react_request(self, state: PlanState, sim_time: float, observation: str) -> LLMRequest:
        user = (
            f"{HOUR_MARKER} {state.hour_plan}\n"
            f"What you are doing right now: {state.step or state.hour_plan}\n"
            f"{NOW_MARKER} {clock(sim_time)}.\n"
            f"{OBSERVATION_MARKER} {observation}\n"
            "Does this observation call for a reaction that changes your plan? "
            'Answer with only a JSON object: {"react": true or false, "reason": text}'
        )
        return make_request(
            self.system,
            user,
            purpose="plan:react",
            actor=self.actor,
            seed=_sub_seed(self.seed, self.tick, "plan:react", self.actor),
            sampling=self.sampling,
            json_schema=ReactChoice.json_schema(),
            context={"tick": self.tick},
        )
