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

from societas.typing.action import Action
from societas.typing.scenario import GroupQuery, Percept, PhaseSpec, Recorder

__all__ = ["ExecutorAware", "GroupQuery", "PopulationWorld"]


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
