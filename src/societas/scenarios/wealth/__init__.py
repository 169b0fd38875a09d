"""The wealth scenario: the Boltzmann wealth model in population mode (no model calls)."""

from __future__ import annotations

import numpy as np

from societas.kit import Persona, RunData, Scenario
from societas.scenarios.wealth.config import WealthConfig
from societas.scenarios.wealth.metrics import wealth_metrics
from societas.scenarios.wealth.world import WealthWorld, gini, gini_from_counts
from societas.typing import LLMRequest
from societas.typing.scenario import ScriptedPolicy

__all__ = ["WealthConfig", "WealthScenario", "WealthWorld", "gini", "gini_from_counts"]


class WealthScenario(Scenario[WealthConfig]):
    name = "wealth"
    world = WealthWorld

    def personas(self, config: WealthConfig, rng: np.random.Generator) -> list[Persona]:
        return []  # no focal agents: the population lives in arrays

    def scripted_policy(self, config: WealthConfig) -> ScriptedPolicy:
        return _no_calls

    def metrics(self, config: WealthConfig, run: RunData) -> dict[str, float]:
        return wealth_metrics(config, run.events)


def _no_calls(request: LLMRequest, rng: np.random.Generator) -> str:
    """The wealth world asks no model; a request reaching this policy is a bug."""
    raise RuntimeError(f"the wealth scenario makes no model calls (got {request.purpose!r})")
