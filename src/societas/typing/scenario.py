"""World and Scenario contracts.

A tick is a list of phases. In each phase the engine asks the world what every agent observes,
lets every agent that observes something decide at once (through the Gateway), and hands all
the decisions to ``World.resolve``. The world records what happened through the ``Recorder``
and tells each agent what it learned (``Percept``) so its memory can keep it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict

from societas.typing.action import Action
from societas.typing.events import Event, EventBase
from societas.typing.llm import LLMRequest
from societas.typing.observation import Observation
from societas.typing.persona import Persona

__all__ = [
    "Percept",
    "PhaseSpec",
    "Recorder",
    "Scenario",
    "ScriptedPolicy",
    "World",
]

E = TypeVar("E", bound=EventBase)

# A scripted policy answers a request with the text a model would have produced.
# It gets a generator seeded from the request's seed, so it is deterministic and independent of
# the order in which concurrent requests are served.
ScriptedPolicy = Callable[[LLMRequest, np.random.Generator], str]


class PhaseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str
    action_model: type[Action]
    instruction: str = ""
    # "agents": every agent that observes something decides (one call each).
    # "groups": population mode; the world returns archetype queries (``World.groups``), one
    # call per group, and draws each member's action from the group's answer.
    mode: Literal["agents", "groups"] = "agents"


class Percept(BaseModel):
    """Something an agent learned in a phase, to be kept in its memory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    kind: str = "observation"
    importance: float = 5.0


class Recorder(Protocol):
    """The engine's event sink for the open tick. Returns the new event's ``seq``."""

    def emit(self, event_type: type[E], /, **fields: Any) -> int: ...


@runtime_checkable
class World(Protocol):
    """Scenario state and rules. Must be deterministic given the RNG it is handed."""

    rules_text: str

    def agent_ids(self) -> Sequence[str]: ...

    def num_ticks(self) -> int: ...

    def sim_time(self, tick: int) -> float: ...

    def phases(self, tick: int) -> Sequence[PhaseSpec]: ...

    def observe(self, agent_id: str, tick: int, phase: PhaseSpec) -> Observation | None: ...

    def fallback(self, observation: Observation, phase: PhaseSpec) -> Action: ...

    def resolve(
        self,
        tick: int,
        phase: PhaseSpec,
        actions: Mapping[str, Action],
        rng: np.random.Generator,
        recorder: Recorder,
    ) -> Mapping[str, Sequence[Percept]]: ...

    def is_over(self) -> bool: ...

    def snapshot(self) -> dict[str, Any]: ...

    def restore(self, state: Mapping[str, Any]) -> None: ...


@runtime_checkable
class Scenario(Protocol):
    """A registered scenario: config model, world builder, scripted policy, metrics."""

    name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]

    def build(self, config: BaseModel, rng: np.random.Generator) -> tuple[World, list[Persona]]: ...

    def scripted_policy(self, config: BaseModel) -> ScriptedPolicy: ...

    def metrics(self, config: BaseModel, events: Sequence[Event]) -> dict[str, float]: ...
