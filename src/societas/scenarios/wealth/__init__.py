"""The wealth scenario: the Boltzmann wealth model in population mode (no model calls)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from pydantic import BaseModel

from societas.scenarios.wealth.config import WealthConfig
from societas.scenarios.wealth.metrics import wealth_metrics
from societas.scenarios.wealth.world import WealthWorld, gini, gini_from_counts
from societas.typing import Event, LLMRequest, Persona
from societas.typing.scenario import ScriptedPolicy

__all__ = ["WealthConfig", "WealthScenario", "WealthWorld", "gini", "gini_from_counts"]


def _config(config: BaseModel) -> WealthConfig:
    if not isinstance(config, WealthConfig):
        raise TypeError(f"wealth expects a WealthConfig, got {type(config).__name__}")
    return config


def _no_calls(request: LLMRequest, rng: np.random.Generator) -> str:
    """The wealth world asks no model; a request reaching this policy is a bug."""
    raise RuntimeError(f"the wealth scenario makes no model calls (got {request.purpose!r})")


class WealthScenario:
    name: ClassVar[str] = "wealth"
    config_model: ClassVar[type[BaseModel]] = WealthConfig

    def build(
        self, config: BaseModel, rng: np.random.Generator
    ) -> tuple[WealthWorld, list[Persona]]:
        # The world's counter-based draws are keyed by one number taken from the run's RNG,
        # so the run seed decides them (and the run's RNG stays the one source of chance).
        seed = int(rng.integers(0, 2**62))
        return WealthWorld(_config(config), seed), []

    def scripted_policy(self, config: BaseModel) -> ScriptedPolicy:
        return _no_calls

    def metrics(self, config: BaseModel, events: Sequence[Event]) -> dict[str, float]:
        return wealth_metrics(_config(config), events)
