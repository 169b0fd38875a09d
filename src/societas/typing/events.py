"""Events: the append-only record of everything that happened in a run.

One class per kind, each with a ``Literal`` tag; ``Event`` is their tagged union. Common fields
live on ``EventBase``. ``v`` is the schema version of the event's payload; bump it (and teach
the store's reader to upgrade old payloads) whenever a kind's fields change.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "EVENT_SCHEMA_VERSION",
    "PROCESS_EVENT_KINDS",
    "ActionEvent",
    "DecisionFallback",
    "Event",
    "EventAdapter",
    "EventBase",
    "InterventionEvent",
    "LLMCall",
    "MessageEvent",
    "MetricEvent",
    "OutcomeEvent",
    "ReflectionEvent",
    "RunCompleted",
    "RunFailed",
    "RunPausedEvent",
    "RunResumed",
    "RunStarted",
    "SurveyAnswerEvent",
    "TickCompleted",
    "WorldState",
]

EVENT_SCHEMA_VERSION = 1


class EventBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int = Field(ge=0, description="position in the run's event stream, from 0, no gaps")
    run_id: str
    tick: int = Field(ge=-1, description="-1 for events before the first tick")
    sim_time: float = 0.0
    wall_time: float = Field(description="unix seconds when recorded; not reproducible")
    actor: str | None = None
    parent: int | None = None
    v: int = EVENT_SCHEMA_VERSION

    def payload(self) -> dict[str, Any]:
        """The kind-specific fields (everything not on ``EventBase``)."""
        common = set(EventBase.model_fields)
        return {k: v for k, v in self.model_dump(mode="json").items() if k not in common}


class RunStarted(EventBase):
    kind: Literal["run_started"] = "run_started"
    scenario: str
    seed: int
    model: str
    config: dict[str, Any]


class RunResumed(EventBase):
    kind: Literal["run_resumed"] = "run_resumed"
    from_tick: int


class RunPausedEvent(EventBase):
    """The run stopped with status ``paused`` (budget reached, model server down); the tick in
    progress was dropped. ``dropped_spend`` is what that tick's calls cost, by model: ``[calls,
    prompt tokens, completion tokens]``; their answers stay in the response cache, so the run
    never pays for them twice, and its spend (``RunStore.spend_by_model``) counts them."""

    kind: Literal["run_paused"] = "run_paused"
    reason: str
    dropped_spend: dict[str, list[int]] = Field(default_factory=dict)


class RunCompleted(EventBase):
    kind: Literal["run_completed"] = "run_completed"
    ticks: int


class RunFailed(EventBase):
    kind: Literal["run_failed"] = "run_failed"
    error_type: str
    message: str


class TickCompleted(EventBase):
    kind: Literal["tick_completed"] = "tick_completed"
    llm_calls: int = 0
    fallbacks: int = 0


class WorldState(EventBase):
    kind: Literal["world_state"] = "world_state"
    phase: str
    state: dict[str, Any]


class ActionEvent(EventBase):
    kind: Literal["action"] = "action"
    phase: str
    action_type: str
    data: dict[str, Any]
    fallback: bool = False


class DecisionFallback(EventBase):
    kind: Literal["decision_fallback"] = "decision_fallback"
    phase: str
    # "vetoed": a guardrail mind held back every action it considered (not a model failure).
    # "budget": the tick's token budget (World.token_budget) had no room left for the call.
    reason: Literal["invalid_output", "backend_error", "deadline", "vetoed", "budget"]
    error: str
    raw_output: str | None = None


class LLMCall(EventBase):
    kind: Literal["llm_call"] = "llm_call"
    purpose: str
    model: str
    request_hash: str
    prompt_tokens: int
    completion_tokens: int
    status: Literal["ok", "invalid", "error"]
    attempts: int = 1
    repair: bool = False
    error: str | None = None
    # Not reproducible across a record and its replay; comparisons drop them.
    latency_ms: float = 0.0
    cache_hit: bool = False
    faults: list[str] = Field(
        default_factory=list, description="failed attempts (retried or final), one line each"
    )
    prompt: dict[str, Any] | None = Field(
        default=None,
        exclude=True,
        description="messages, schema name, sampling and raw answer; the store keeps them in "
        "llm_prompts and blobs, not in the event payload (read them with RunStore.calls)",
    )
    response_format: str | None = Field(
        default=None,
        description="how the server was asked to follow the schema (run.response_format mode, "
        "'grammar' for the local model); None: no schema, not known, or a cached answer",
    )


class MessageEvent(EventBase):
    kind: Literal["message"] = "message"
    phase: str
    text: str
    audience: list[str] | None = None


class ReflectionEvent(EventBase):
    kind: Literal["reflection"] = "reflection"
    phase: str
    text: str
    evidence: list[int] = Field(
        default_factory=list, description="ids of the memory records the insight cites"
    )


class OutcomeEvent(EventBase):
    kind: Literal["outcome"] = "outcome"
    phase: str
    data: dict[str, Any]


class InterventionEvent(EventBase):
    kind: Literal["intervention"] = "intervention"
    settings: dict[str, Any] = Field(default_factory=dict)
    message: str | None = None
    to: list[str] | None = None


class SurveyAnswerEvent(EventBase):
    kind: Literal["survey_answer"] = "survey_answer"
    survey: str
    question: str
    question_type: str
    answer: Any = None
    fallback: bool = False
    error: str | None = None


class MetricEvent(EventBase):
    kind: Literal["metric"] = "metric"
    name: str
    value: float


# -- cognition (generative-agent minds) ---------------------------------------------------


class PlanEvent(EventBase):
    """A plan made or revised: a day plan, an hour's decomposition, or a short action."""

    kind: Literal["plan"] = "plan"
    phase: str
    level: Literal["day", "hour", "step"]
    text: str
    replan: bool = False
    reason: str | None = None


class InitiativeEvent(EventBase):
    """An agent acted without being addressed (proactive mode); ``accepted`` once known."""

    kind: Literal["initiative"] = "initiative"
    phase: str
    initiative: str = Field(description="speak, invite, help, ...")
    target: str | None = None
    text: str = ""
    accepted: bool | None = None


class PredictionEvent(EventBase):
    """Lookahead: the outcome a world-model prompt imagined for one candidate action."""

    kind: Literal["prediction"] = "prediction"
    phase: str
    candidate: dict[str, Any]
    predicted: str
    score: float
    chosen: bool = False


class VetoEvent(EventBase):
    """Guardrail: an action predicted to be too risky was vetoed before it executed."""

    kind: Literal["veto"] = "veto"
    phase: str
    action: dict[str, Any]
    risk_short: float
    risk_long: float
    threshold: float
    reason: str = ""


# -- population mode ------------------------------------------------------------------------


class GroupDecisionEvent(EventBase):
    """One archetype's answer for a phase: a distribution (or samples) over actions."""

    kind: Literal["group_decision"] = "group_decision"
    phase: str
    key: str
    size: int
    data: dict[str, Any]
    fallback: bool = False
    reused: bool = Field(
        default=False, description="answer reused from an identical earlier group query"
    )


class PopulationStepEvent(EventBase):
    """A phase's individual actions in population mode, as columns (one list per field)."""

    kind: Literal["population_step"] = "population_step"
    phase: str
    counts: dict[str, int] = Field(default_factory=dict)
    columns: dict[str, list[Any]] = Field(default_factory=dict)


Event = Annotated[
    RunStarted
    | RunResumed
    | RunPausedEvent
    | RunCompleted
    | RunFailed
    | TickCompleted
    | WorldState
    | ActionEvent
    | DecisionFallback
    | LLMCall
    | MessageEvent
    | ReflectionEvent
    | OutcomeEvent
    | InterventionEvent
    | SurveyAnswerEvent
    | MetricEvent
    | PlanEvent
    | InitiativeEvent
    | PredictionEvent
    | VetoEvent
    | GroupDecisionEvent
    | PopulationStepEvent,
    Field(discriminator="kind"),
]

EventAdapter: TypeAdapter[Event] = TypeAdapter(Event)

# Kinds describing the process rather than the simulation; absent from reproducibility checks.
PROCESS_EVENT_KINDS = frozenset({"run_started", "run_resumed", "run_paused", "run_failed"})
# Fields that differ between runs that are otherwise identical.
NONREPRODUCIBLE_FIELDS = frozenset(
    {"wall_time", "latency_ms", "cache_hit", "attempts", "faults", "response_format"}
)
