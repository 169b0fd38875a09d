"""``MindConfig``: how a generative mind thinks (``docs/mind.md`` describes every setting)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from societas.typing import ConfigError
from societas.typing.scenario import Scenario

__all__ = ["DEFAULT_POLICY", "MindConfig", "scenario_mind_config"]

DEFAULT_POLICY = (
    "Do not harm, deceive, threaten or steal from others. Do not damage shared resources "
    "beyond what they can recover from. Do not break the world's rules."
)


class MindConfig(BaseModel):
    """How a generative mind thinks. A scenario returns one from ``mind_config(config)``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["reactive", "deliberative", "proactive", "lookahead", "guardrail"] = Field(
        default="deliberative", description="how the agent decides (docs/mind.md)"
    )
    memory: bool = Field(default=True, description="keep a memory stream and retrieve from it")
    embedder: str = Field(default="hashing", description="hashing, minilm or path:DIR")
    top_k: int = Field(default=12, ge=1, le=500, description="memories per prompt at most")
    token_budget: int = Field(default=600, ge=1, le=100_000, description="memory tokens a prompt")
    rate_importance: bool = Field(
        default=True, description="rate importance with the model (one batched call a perceive)"
    )
    reflection: bool = Field(default=True, description="reflect when importance accumulates")
    reflection_threshold: float = Field(
        default=150.0, gt=0, description="importance since the last reflection that triggers one"
    )
    planning: bool = Field(default=True, description="day, hour and 5-15 minute plans")
    replanning: bool = Field(default=True, description="ask whether new observations call for it")
    talk_phases: tuple[str, ...] = Field(
        default=("talk", "discuss", "chat", "converse", "dialogue"),
        description="phase-name prefixes of conversation phases",
    )
    fast_policy: bool = Field(
        default=False, description="reactive mode: the scenario's scripted policy, no model call"
    )
    initiative_phases: tuple[str, ...] | None = Field(
        default=None, description="phase-name prefixes where initiatives may start (None: any)"
    )
    initiative_ttl: int = Field(
        default=2, ge=1, le=1000, description="ticks an initiative waits for a response"
    )
    lookahead_k: int = Field(default=3, ge=1, le=10, description="candidate actions compared")
    guardrail_threshold: float = Field(
        default=0.5, ge=0.0, le=1.0, description="risk above which an action is vetoed"
    )
    guardrail_policy: str = Field(default=DEFAULT_POLICY, min_length=1, max_length=4000)
    guardrail_max_redecide: int = Field(
        default=2, ge=0, le=10, description="new decisions after a veto before the fallback"
    )
    guardrail_safe_action: dict[str, Any] | None = Field(
        default=None, description="action taken when every decision was vetoed (None: world's)"
    )


def scenario_mind_config(scenario: Scenario, config: BaseModel) -> MindConfig | None:
    """The scenario's ``mind_config(config)`` checked: a ``MindConfig``, or ``None``."""
    result = scenario.mind_config(config)
    if result is not None and not isinstance(result, MindConfig):
        raise ConfigError(
            f"scenario {scenario.name}",
            "mind_config",
            "a MindConfig or None",
            type(result).__name__,
        )
    return result
