"""The parts of a run's settings, one per concern, so each layer receives only its own.

``RunOptions`` (``engine/options.py``) stays the one flat ``run:`` block of a scenario file,
and what the store keeps; ``RunOptions.part(Part)`` cuts one of these out of it:

- ``ModelSettings``: which model answers whom (``run.model``, routes, seats) and how it is
  asked (sampling, response format, repair, the local model's context);
- ``MindSettings``: what a base mind puts in a prompt from its memory;
- ``Execution``: how calls are sent and decisions wait (concurrency, timeouts, retries, the
  circuit breaker, outages, deadlines, fallbacks) and where population arrays live (runner,
  shards);
- ``Schedule``: interventions and surveys at given ticks;
- ``Storage``: the response cache file and snapshot retention;
- ``Spending``: prices and the run's budget.

The run's seed is none of them: it is handed down on its own. The value types of the parts
(``ModelRoute``, ``Budget``, ``ModelPrice``) are defined here; ``RunOptions`` validates them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from societas.engine.protocol import Intervention, Survey
from societas.llm.openai import ResponseFormatMode
from societas.typing import Sampling

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
    "Schedule",
    "Spending",
    "Storage",
]

ResponseFormat = Literal[
    "auto",
    "json_schema",
    "json_object_schema",
    "guided_json",
    "ollama_format",
    "json_object",
    "none",
]
RESPONSE_FORMATS: tuple[str, ...] = get_args(ResponseFormat)
assert set(RESPONSE_FORMATS) == {"auto", *get_args(ResponseFormatMode)}


class ModelRoute(BaseModel):
    """Agents whose ids match ``agents`` (shell-style patterns) use this model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agents: list[str] = Field(min_length=1, description="agent id patterns, e.g. fisher_1, g*_a1")
    model: str = Field(description="model spec, as for run.model")
    base_url: str | None = Field(default=None, description="server URL for this model")


class Budget(BaseModel):
    """``run.budget``: the most a run may spend on model calls; the first limit reached pauses
    it (resumable with a higher budget). Calls served from the response cache are free."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    calls: int | None = Field(default=None, ge=0, description="calls answered by a model")
    tokens: int | None = Field(default=None, ge=0, description="prompt + completion tokens")
    cost: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description="money, priced by run.prices"
    )


class ModelPrice(BaseModel):
    """The price of a million tokens of one model (any currency, the same for all models)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: float = Field(ge=0, allow_inf_nan=False, description="per 1M prompt tokens")
    completion: float = Field(ge=0, allow_inf_nan=False, description="per 1M completion tokens")


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    """Model routes and sampling: who is answered by which model, and how it is asked."""

    model: str
    base_url: str | None
    models: Sequence[ModelRoute]
    human: Sequence[str]
    temperature: float
    top_p: float
    max_tokens: int
    response_format: ResponseFormat
    repair: bool
    n_ctx: int

    @property
    def sampling(self) -> Sampling:
        return Sampling(temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens)

    def routes(self) -> list[ModelRoute]:
        """The per-agent routes, first match wins: seats a person plays come first (a
        person's seat wins over every other route), then ``run.models``."""
        seats = [ModelRoute(agents=list(self.human), model="human")] if self.human else []
        return [*seats, *self.models]


@dataclass(frozen=True, kw_only=True)
class MindSettings:
    """What a base mind (no ``MindConfig``) puts in a prompt from its recency memory."""

    memory_tokens: int
    memory_top_k: int


@dataclass(frozen=True, kw_only=True)
class Execution:
    """How calls are sent and decisions wait, and where population arrays live."""

    max_concurrency: int
    request_timeout_s: float
    max_attempts: int
    retry_base_delay_s: float
    breaker_threshold: int
    breaker_cooldown_s: float
    max_outage_s: float
    deadline_s: float
    max_fallback_rate: float
    runner: Literal["local", "ray"]
    ray_address: str | None
    shards: int | None


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """What happens to the world and its agents at given ticks."""

    interventions: Sequence[Intervention]
    surveys: Sequence[Survey]


@dataclass(frozen=True, kw_only=True)
class Storage:
    """Where answers are cached and how many tick snapshots the store keeps."""

    cache: str | None
    keep_snapshots: int | None


@dataclass(frozen=True, kw_only=True)
class Spending:
    """What model calls cost and the most the run may spend."""

    price_per_1k_tokens: float
    prices: Mapping[str, ModelPrice]
    budget: Budget


PARTS: tuple[type, ...] = (ModelSettings, MindSettings, Execution, Schedule, Storage, Spending)
