"""Everything a scenario author needs, in one import: ``from societas.kit import ...``.

See ``docs/writing-a-scenario.md`` for a worked example, and ``societas new scenario NAME`` for
a package to start from.
"""

from __future__ import annotations

from societas.typing import (
    Action,
    ConfigError,
    MessageEvent,
    Observation,
    OutcomeEvent,
    Persona,
    ReflectionEvent,
    WorldState,
)
from societas.typing.scenario import GroupQuery, Percept, Phase, PhaseContext, RunData
from societas.world import Scenario, State, World, merge_personas, numbered_personas

__all__ = [
    "Action",
    "ConfigError",
    "GroupQuery",
    "MessageEvent",
    "Observation",
    "OutcomeEvent",
    "Percept",
    "Persona",
    "Phase",
    "PhaseContext",
    "ReflectionEvent",
    "RunData",
    "Scenario",
    "State",
    "World",
    "WorldState",
    "merge_personas",
    "numbered_personas",
]
