"""Agent cognition: memory and minds."""

from __future__ import annotations

from societas.mind.importance import ImportanceRater, ImportanceResult, heuristic_importance
from societas.mind.memory import MemoryRecord, RecentMemory, approx_tokens
from societas.mind.mind import (
    DecisionContext,
    Mind,
    MindEvent,
    derive_seed,
    phase_request,
    schema_hint,
)
from societas.mind.reflection import Insight, ReflectionResult, reflect

__all__ = [
    "DecisionContext",
    "ImportanceRater",
    "ImportanceResult",
    "Insight",
    "MemoryRecord",
    "Mind",
    "MindEvent",
    "RecentMemory",
    "ReflectionResult",
    "approx_tokens",
    "derive_seed",
    "heuristic_importance",
    "phase_request",
    "reflect",
    "schema_hint",
]
