"""A tiny village for the generative-mind tests: a decision phase and a talk phase a tick.

Time runs in simulation seconds from 08:00 of day 0, ``seconds_per_tick`` a tick. ``facts``
tell one agent something at a given tick (a percept); ``alarms`` put an alarm in every
observation of a tick. Not a registered scenario: the tests hand the class to the engine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from societas.mind.generative import MindConfig
from societas.mind.planning import clock
from societas.mind.scripted import with_cognition
from societas.typing import Action, Event, LLMRequest, MessageEvent, Observation, Persona
from societas.typing.scenario import Percept, PhaseSpec, Recorder, ScriptedPolicy

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


ACT = PhaseSpec(name="act", action_model=Act, instruction="Choose what to do.")
TALK = PhaseSpec(name="talk_1", action_model=Speak, instruction="Say something short.")


class Village:
    rules_text = "You live in a small village. Each turn you work, rest, or talk."

    def __init__(self, config: VillageConfig) -> None:
        self.config = config
        self.ids = [f"a{i}" for i in range(config.agents)]
        self.names = dict(zip(self.ids, NAMES, strict=False))
        self.done = 0

    def agent_ids(self) -> Sequence[str]:
        return self.ids

    def num_ticks(self) -> int:
        return self.config.ticks

    def sim_time(self, tick: int) -> float:
        return 8 * 3600.0 + tick * self.config.seconds_per_tick

    def phases(self, tick: int) -> Sequence[PhaseSpec]:
        return (ACT, TALK)

    def observe(self, agent_id: str, tick: int, phase: PhaseSpec) -> Observation | None:
        others = [self.names[a] for a in self.ids if a != agent_id]
        text = f"It is {clock(self.sim_time(tick))} at the village square."
        if others:
            text += " Here with you: " + ", ".join(others) + "."
        alarm = self.config.alarms.get(tick)
        if alarm:
            text += f" {alarm}"
        return Observation(
            agent_id=agent_id,
            tick=tick,
            phase=phase.name,
            text=text,
            fields={"present": others, "topic": "the harvest"},
        )

    def fallback(self, observation: Observation, phase: PhaseSpec) -> Action:
        return Act(choice="rest") if phase.name == "act" else Speak(message="")

    def resolve(
        self,
        tick: int,
        phase: PhaseSpec,
        actions: Mapping[str, Action],
        rng: np.random.Generator,
        recorder: Recorder,
    ) -> Mapping[str, Sequence[Percept]]:
        out: dict[str, list[Percept]] = {a: [] for a in self.ids}
        for agent_id, action in actions.items():
            name = self.names[agent_id]
            if isinstance(action, Speak) and action.message:
                recorder.emit(MessageEvent, actor=agent_id, phase=phase.name, text=action.message)
                for other in self.ids:
                    if other != agent_id:
                        out[other].append(Percept(text=f"{name} said: {action.message}"))
            elif isinstance(action, Act):
                for other in self.ids:
                    if other != agent_id:
                        out[other].append(Percept(text=f"{name} chose to {action.choice}."))
        fact = self.config.facts.get(tick)
        if fact and phase.name == "act":
            out[self.ids[0]].append(Percept(text=fact, kind="news", importance=8.0))
        if phase.name == TALK.name:
            self.done = tick + 1
        return out

    def is_over(self) -> bool:
        return False

    def snapshot(self) -> dict[str, Any]:
        return {"done": self.done}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.done = int(state["done"])


def village_policy(request: LLMRequest, rng: np.random.Generator) -> str:
    phase = str(request.context.get("phase", ""))
    if phase == "act":
        return json.dumps({"choice": ["work", "rest"][int(rng.integers(2))]})
    if phase.startswith("talk"):
        return json.dumps({"message": f"Good day, the harvest looks fine ({request.seed % 7})."})
    return json.dumps({})


class VillageScenario:
    name: ClassVar[str] = "village"
    config_model: ClassVar[type[BaseModel]] = VillageConfig

    def build(self, config: BaseModel, rng: np.random.Generator) -> tuple[Village, list[Persona]]:
        assert isinstance(config, VillageConfig)
        world = Village(config)
        personas = [
            Persona(id=aid, name=world.names[aid], goals=("work hard", "keep the peace"))
            for aid in world.ids
        ]
        return world, personas

    def scripted_policy(self, config: BaseModel) -> ScriptedPolicy:
        return with_cognition(village_policy)

    def metrics(self, config: BaseModel, events: Sequence[Event]) -> dict[str, float]:
        return {"actions": float(sum(1 for e in events if e.kind == "action"))}

    def mind_config(self, config: BaseModel) -> MindConfig | None:
        assert isinstance(config, VillageConfig)
        if not config.generative:
            return None
        return MindConfig.model_validate(
            {"mode": config.mode, "reflection_threshold": config.reflection_threshold}
        )
