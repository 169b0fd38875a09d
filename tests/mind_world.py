"""A tiny village for the generative-mind tests: a decision phase and a talk phase a tick.

Time runs in simulation seconds from 08:00 of day 0, ``seconds_per_tick`` a tick. ``facts``
tell one agent something at a given tick (a percept); ``alarms`` put an alarm in every
observation of a tick. Not a registered scenario: the tests hand the class to the engine.
Written on the scenario kit, as an outside plugin would be.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import partial
from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from societas.kit import (
    Action,
    MessageEvent,
    Observation,
    Percept,
    Persona,
    Phase,
    PhaseContext,
    RunData,
    Scenario,
    State,
    World,
)
from societas.mind.generative import MindConfig
from societas.mind.planning import clock
from societas.mind.scripted import with_cognition
from societas.typing import LLMRequest
from societas.typing.scenario import ScriptedPolicy

NAMES = ("Ada", "Ben", "Cai", "Dee")


class Act(Action):
    action_type: ClassVar[str] = "act"
    choice: Literal["work", "rest", "steal"]
    note: str = Field(default="", max_length=200)


class Speak(Action):
    action_type: ClassVar[str] = "speak"
    message: str = Field(max_length=300)


class VillageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agents: int = Field(default=2, ge=1, le=4)
    ticks: int = Field(default=4, ge=1)
    seconds_per_tick: float = 600.0
    mode: str = "deliberative"
    reflection_threshold: float = 150.0
    generative: bool = True
    facts: dict[int, str] = Field(default_factory=dict)
    alarms: dict[int, str] = Field(default_factory=dict)


ACT = Phase(name="act", action_model=Act, instruction="Choose what to do.")
TALK = Phase(name="talk_1", action_model=Speak, instruction="Say something short.")


class Square(State):
    done: int = 0  # ticks completed


class Village(World[VillageConfig, Square]):
    rules_text = "You live in a small village. Each turn you work, rest, or talk."

    def setup(self, rng: np.random.Generator) -> None:
        act, talk = Act(choice="rest"), Speak(message="")
        observe, resolve = partial(self.observe, ACT.name), self.acted
        self.act = ACT.model_copy(update={"observe": observe, "resolve": resolve, "fallback": act})
        observe, resolve = partial(self.observe, TALK.name), self.talked
        self.talk = TALK.model_copy(
            update={"observe": observe, "resolve": resolve, "fallback": talk}
        )

    def num_ticks(self) -> int:
        return self.config.ticks

    def sim_time(self, tick: int) -> float:
        return 8 * 3600.0 + tick * self.config.seconds_per_tick

    def phases(self, tick: int) -> Sequence[Phase]:
        return (self.act, self.talk)

    def observe(self, phase: str, agent_id: str, tick: int) -> Observation:
        others = [self.name_of(a) for a in self.members if a != agent_id]
        text = f"It is {clock(self.sim_time(tick))} at the village square."
        if others:
            text += " Here with you: " + ", ".join(others) + "."
        alarm = self.config.alarms.get(tick)
        if alarm:
            text += f" {alarm}"
        return Observation(
            agent_id=agent_id,
            tick=tick,
            phase=phase,
            text=text,
            fields={"present": others, "topic": "the harvest"},
        )

    def hear(self, actions: Mapping[str, Action], ctx: PhaseContext) -> dict[str, list[Percept]]:
        out: dict[str, list[Percept]] = {a: [] for a in self.members}
        for agent_id, action in actions.items():
            name = self.name_of(agent_id)
            if isinstance(action, Speak) and action.message:
                ctx.emit(MessageEvent, actor=agent_id, phase=TALK.name, text=action.message)
                for other in self.members:
                    if other != agent_id:
                        out[other].append(Percept(text=f"{name} said: {action.message}"))
            elif isinstance(action, Act):
                for other in self.members:
                    if other != agent_id:
                        out[other].append(Percept(text=f"{name} chose to {action.choice}."))
        return out

    def acted(self, actions: Mapping[str, Action], ctx: PhaseContext) -> dict[str, list[Percept]]:
        out = self.hear(actions, ctx)
        fact = self.config.facts.get(ctx.tick)
        if fact:
            out[self.members[0]].append(Percept(text=fact, kind="news", importance=8.0))
        return out

    def talked(self, actions: Mapping[str, Action], ctx: PhaseContext) -> dict[str, list[Percept]]:
        out = self.hear(actions, ctx)
        self.state.done = ctx.tick + 1
        return out


def village_policy(request: LLMRequest, rng: np.random.Generator) -> str:
    phase = str(request.context.get("phase", ""))
    if phase == "act":
        return json.dumps({"choice": ["work", "rest"][int(rng.integers(2))]})
    if phase.startswith("talk"):
        return json.dumps({"message": f"Good day, the harvest looks fine ({request.seed % 7})."})
    return json.dumps({})


class VillageScenario(Scenario[VillageConfig]):
    name = "village"
    world = Village

    def personas(self, config: VillageConfig, rng: np.random.Generator) -> list[Persona]:
        return [
            Persona(id=f"a{i}", name=NAMES[i], goals=("work hard", "keep the peace"))
            for i in range(config.agents)
        ]

    def scripted_policy(self, config: VillageConfig) -> ScriptedPolicy:
        return with_cognition(village_policy)

    def metrics(self, config: VillageConfig, run: RunData) -> dict[str, float]:
        return {"actions": float(sum(1 for e in run.events if e.kind == "action"))}

    def mind_config(self, config: VillageConfig) -> MindConfig | None:
        if not config.generative:
            return None
        return MindConfig.model_validate(
            {"mode": config.mode, "reflection_threshold": config.reflection_threshold}
        )
