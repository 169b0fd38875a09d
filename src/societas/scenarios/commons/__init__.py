"""The commons scenario: GovSim's fishery (Piatti et al. 2024)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from pydantic import BaseModel

from societas.scenarios.commons.config import CommonsConfig
from societas.scenarios.commons.metrics import commons_metrics
from societas.scenarios.commons.scripted import commons_policy
from societas.scenarios.commons.world import Lake
from societas.typing import Event, Persona
from societas.typing.scenario import ScriptedPolicy

__all__ = ["CommonsConfig", "CommonsScenario"]


def _config(config: BaseModel) -> CommonsConfig:
    if not isinstance(config, CommonsConfig):
        raise TypeError(f"commons expects a CommonsConfig, got {type(config).__name__}")
    return config


class CommonsScenario:
    name: ClassVar[str] = "commons"
    config_model: ClassVar[type[BaseModel]] = CommonsConfig

    def build(self, config: BaseModel, rng: np.random.Generator) -> tuple[Lake, list[Persona]]:
        c = _config(config)
        names = c.fisher_names()
        ids = [f"fisher_{i + 1}" for i in range(c.agents)]
        personas = [
            Persona(
                id=aid,
                name=name,
                goals=("earn a living from fishing for the whole season",),
                attributes={"role": "fisher"},
            )
            for aid, name in zip(ids, names, strict=True)
        ]
        return Lake(c, ids, names), personas

    def scripted_policy(self, config: BaseModel) -> ScriptedPolicy:
        return commons_policy

    def metrics(self, config: BaseModel, events: Sequence[Event]) -> dict[str, float]:
        return commons_metrics(_config(config), events)
