"""Population mode contracts: one query per archetype (group) instead of one per agent.

A world that has phases in ``"groups"`` mode implements ``PopulationWorld`` on top of
``World``: the engine asks it for the phase's ``GroupQuery`` list, makes one model call per
group (all in flight at once), and hands one answer per group key to ``resolve_groups``, which
draws each member's individual action from its group's answer and updates the world's arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from societas.typing.action import Action
from societas.typing.observation import Observation
from societas.typing.scenario import Percept, PhaseSpec, Recorder

__all__ = ["ExecutorAware", "GroupQuery", "PopulationWorld"]


class GroupQuery(BaseModel):
    """One archetype's question for a phase: who the group is and what it sees."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(min_length=1, description="archetype key, unique within the phase")
    size: int = Field(ge=0, description="number of agents in the group")
    persona_text: str = Field(description="the group's representative description")
    observation: Observation


@runtime_checkable
class PopulationWorld(Protocol):
    """The optional methods of a world with ``"groups"`` phases."""

    def groups(self, tick: int, phase: PhaseSpec) -> Sequence[GroupQuery]: ...

    def resolve_groups(
        self,
        tick: int,
        phase: PhaseSpec,
        answers: Mapping[str, Action],
        rng: np.random.Generator,
        recorder: Recorder,
    ) -> Mapping[str, Sequence[Percept]]: ...


@runtime_checkable
class ExecutorAware(Protocol):
    """A world that keeps its population arrays in an executor the runner hands it."""

    def use_executor(self, executor: Any) -> None: ...
