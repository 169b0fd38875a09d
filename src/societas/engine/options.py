"""Run options: everything about how a run executes, apart from the scenario's own config."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from societas.engine.protocol import Intervention, Survey

__all__ = ["ModelRoute", "RunOptions"]


class ModelRoute(BaseModel):
    """Agents whose ids match ``agents`` (shell-style patterns) use this model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agents: list[str] = Field(min_length=1, description="agent id patterns, e.g. fisher_1, g*_a1")
    model: str = Field(description="model spec, as for run.model")
    base_url: str | None = Field(default=None, description="server URL for this model")


class RunOptions(BaseModel):
    """The ``run:`` block of a scenario file; ``--model``/``--seed`` and ``--set run.X=...``
    override it."""

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
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(default=160, ge=1, le=32768)
    max_concurrency: int = Field(default=64, ge=1, le=100_000)
    request_timeout_s: float = Field(default=120.0, gt=0)
    max_attempts: int = Field(default=4, ge=1, le=50)
    retry_base_delay_s: float = Field(default=0.5, ge=0)
    breaker_threshold: int = Field(
        default=5, ge=0, description="consecutive failures that pause all requests (0: never)"
    )
    breaker_cooldown_s: float = Field(
        default=1.0, gt=0, description="first pause of an open circuit (doubles, up to 60 s)"
    )
    deadline_s: float = Field(
        default=900.0, gt=0, description="deadline of each phase's batch of decisions"
    )
    repair: bool = Field(default=True, description="one repair round for invalid answers")
    memory_tokens: int = Field(default=400, ge=0, description="token budget for memories")
    memory_top_k: int = Field(default=12, ge=0)
    n_ctx: int = Field(default=4096, ge=256, description="context size of the local model")
    price_per_1k_tokens: float = Field(default=0.0, ge=0, description="for the cost display")
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
