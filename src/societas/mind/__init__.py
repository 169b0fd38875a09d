"""Agent cognition: memory and minds."""

from __future__ import annotations

from societas.mind.importance import ImportanceRater, ImportanceResult, heuristic_importance
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
    "Mind",
    "MindEvent",
    "ReflectionResult",
    "derive_seed",
    "heuristic_importance",
    "phase_request",
    "reflect",
    "schema_hint",
]
