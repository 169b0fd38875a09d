"""Contracts and value types shared by every layer. Imports nothing concrete of ours."""

from __future__ import annotations

from societas.typing.action import Action
from societas.typing.embedder import Embedder
from societas.typing.errors import (
    BackendError,
    ConfigError,
    ModelOutputError,
    ReplayMissError,
    SocietasError,
    StoreError,
)
from societas.typing.events import (
    EVENT_SCHEMA_VERSION,
    ActionEvent,
    DecisionFallback,
    Event,
    EventAdapter,
    EventBase,
    InterventionEvent,
    LLMCall,
    MessageEvent,
    MetricEvent,
    OutcomeEvent,
    ReflectionEvent,
    RunCompleted,
    RunFailed,
    RunResumed,
    RunStarted,
    SurveyAnswerEvent,
    TickCompleted,
    WorldState,
)
from societas.typing.llm import ChatMessage, LanguageModel, LLMRequest, LLMResponse, Sampling
from societas.typing.observation import Observation
from societas.typing.persona import Persona
from societas.typing.scenario import PhaseSpec, Scenario, World

__all__ = [
    "EVENT_SCHEMA_VERSION",
    "Action",
    "ActionEvent",
    "BackendError",
    "ChatMessage",
    "ConfigError",
    "DecisionFallback",
    "Embedder",
    "Event",
    "EventAdapter",
    "EventBase",
    "InterventionEvent",
    "LLMCall",
    "LLMRequest",
    "LLMResponse",
    "LanguageModel",
    "MessageEvent",
    "MetricEvent",
    "ModelOutputError",
    "Observation",
    "OutcomeEvent",
    "Persona",
    "PhaseSpec",
    "ReflectionEvent",
    "ReplayMissError",
    "RunCompleted",
    "RunFailed",
    "RunResumed",
    "RunStarted",
    "Sampling",
    "Scenario",
    "SocietasError",
    "StoreError",
    "SurveyAnswerEvent",
    "TickCompleted",
    "World",
    "WorldState",
]
