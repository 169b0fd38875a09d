"""``MindConfig``: how a generative mind thinks (``docs/mind.md`` describes every setting)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from societas.typing import ConfigError, Persona
from societas.typing.scenario import Scenario

__all__ = ["DEFAULT_POLICY", "RETRIEVAL_WEIGHTS", "MindConfig", "scenario_mind_config"]

DEFAULT_POLICY = (
    "Do not harm, deceive, threaten or steal from others. Do not damage shared resources "
    "beyond what they can recover from. Do not break the world's rules."
)


# Retrieval weights (recency, importance, relevance) of the memory stream's score.
# paper: Park et al. 2023, section 4.1 ("all alphas are set to 1").
# smallville_code: the released code (joonspk-research/generative_agents, commit 51072d4,
# reverie/backend_server/persona/cognitive_modules/retrieve.py, new_retrieve, line 244:
# gw = [0.5, 3, 2] for recency, relevance, importance, lines 246-249; the personas'
# recency_w, relevance_w and importance_w are 1 in the 25-agent set-up's bootstrap
# scratch.json, lines 24-26).
RETRIEVAL_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "paper": (1.0, 1.0, 1.0),
    "smallville_code": (0.5, 2.0, 3.0),
}


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
    retrieval_weights: Literal["paper", "smallville_code"] = Field(
        default="paper",
        description=(
            "recency/importance/relevance weights: paper 1/1/1 (Park et al. 2023, section 4.1); "
            "smallville_code 0.5/2/3 (the released code's gw = [0.5, 3, 2] for recency, "
            "relevance, importance)"
        ),
    )
    reflection_threshold: float = Field(
        default=150.0,
        gt=0,
        description=(
            "importance since the last reflection that triggers one: 150 in the paper "
            "(section 4.2) and the code's scratch.py; 250 in the released 25-agent set-up "
            "(base_the_ville_n25 bootstrap scratch.json, importance_trigger_max, line 28)"
        ),
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
    roles: tuple[str, ...] | None = Field(
        default=None,
        description="only agents whose persona attribute 'role' is one of these get this mind; "
        "the others the basic Mind (None: every agent)",
    )

    def applies_to(self, persona: Persona) -> bool:
        return self.roles is None or persona.attributes.get("role") in self.roles


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
