"""Run options: everything about how a run executes, apart from the scenario's own config."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from societas.engine.protocol import Intervention, Survey
from societas.engine.settings import (
    PARTS,
    RESPONSE_FORMATS,
    Budget,
    Execution,
    MindSettings,
    ModelPrice,
    ModelRoute,
    ModelSettings,
    ResponseFormat,
    Schedule,
    Spending,
    Storage,
)

__all__ = [
    "PARTS",
    "RESPONSE_FORMATS",
    "Budget",
    "Execution",
    "MindSettings",
    "ModelPrice",
    "ModelRoute",
    "ModelSettings",
    "ResponseFormat",
    "RunOptions",
    "Schedule",
    "Spending",
    "Storage",
]

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_Part = TypeVar("_Part", bound="DataclassInstance")


class RunOptions(BaseModel):
    """The ``run:`` block of a scenario file; ``--model``/``--seed`` and ``--set run.X=...``
    override it. Flat, as files and stores spell it; a layer is handed only its own part
    (``part``, ``engine/settings.py``) and the seed."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(default=0, ge=0, lt=2**31, description="the run's one seed")
    model: str = Field(
        default="local", description="model spec: local, scripted, replay, openai:<m>"
    )
    base_url: str | None = Field(default=None, description="OpenAI-compatible server URL")
    models: list[ModelRoute] = Field(
        default_factory=list,
        description="per-agent models (heterogeneous populations); first match wins",
    )
    human: list[str] = Field(
        default_factory=list,
        description="agent ids a person plays (--human): their decisions wait for the person's "
        "answer in the dashboard or `societas seat`",
    )
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(default=160, ge=1, le=32768)
    max_concurrency: int = Field(default=64, ge=1, le=100_000)
    request_timeout_s: float = Field(default=120.0, gt=0, le=86_400, allow_inf_nan=False)
    response_format: ResponseFormat = Field(
        default="auto",
        description="how an OpenAI-compatible server is asked to follow the action schema "
        "(auto: probe the server once before tick 0)",
    )
    max_outage_s: float = Field(
        default=120.0,
        gt=0,
        le=86_400,
        allow_inf_nan=False,
        description="a model server unreachable this long pauses the run after the tick",
    )
    max_fallback_rate: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="a run whose share of fallback decisions passes this ends failed",
    )
    max_attempts: int = Field(default=4, ge=1, le=50)
    retry_base_delay_s: float = Field(default=0.5, ge=0, le=3600, allow_inf_nan=False)
    breaker_threshold: int = Field(
        default=5, ge=0, description="consecutive failures that pause all requests (0: never)"
    )
    breaker_cooldown_s: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="first pause of an open circuit (doubles, up to 60 s)",
    )
    deadline_s: float = Field(
        default=900.0,
        gt=0,
        le=7 * 86_400,
        allow_inf_nan=False,
        description="deadline of each phase's batch of decisions",
    )
    repair: bool = Field(default=True, description="one repair round for invalid answers")
    memory_tokens: int = Field(
        default=400,
        ge=0,
        description="memory tokens in a base mind's prompt (not mind.token_budget)",
    )
    memory_top_k: int = Field(default=12, ge=0)
    n_ctx: int = Field(default=4096, ge=256, description="context size of the local model")
    price_per_1k_tokens: float = Field(
        default=0.0,
        ge=0,
        allow_inf_nan=False,
        description="price of 1,000 tokens of a model run.prices does not name",
    )
    prices: dict[str, ModelPrice] = Field(
        default_factory=dict,
        description="price per 1M prompt and completion tokens, by model id (e.g. gpt-4o-mini)",
    )
    budget: Budget = Field(
        default_factory=Budget, description="the most the run may spend (calls, tokens, cost)"
    )
    interventions: list[Intervention] = Field(
        default_factory=list, description="world changes and news at given ticks"
    )
    surveys: list[Survey] = Field(
        default_factory=list, description="questionnaires put to agents at given ticks"
    )
    cache: str | None = Field(
        default=None, description="response cache file (default: <out>/cache.db)"
    )
    runner: Literal["local", "ray"] = Field(
        default="local", description="where population arrays live: this process or Ray actors"
    )
    ray_address: str | None = Field(
        default=None, description="Ray cluster to join (auto, ray://host:10001); None: local"
    )
    shards: int | None = Field(
        default=None, ge=1, le=100_000, description="population shards (default: 1 / one per CPU)"
    )
    keep_snapshots: int | None = Field(
        default=None,
        ge=1,
        description="keep only the latest N tick snapshots (default: the scenario's, or all)",
    )

    def part(self, kind: type[_Part]) -> _Part:
        """The settings of one concern (``ModelSettings``, ``Execution``, ...), taken from
        these options by field name."""
        return kind(**{f.name: getattr(self, f.name) for f in fields(kind)})
