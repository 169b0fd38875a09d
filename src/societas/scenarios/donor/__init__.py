"""The donor scenario: the Donor Game with cultural evolution (Vallinder and Hughes 2024)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from pydantic import BaseModel

from societas.scenarios.donor.config import DonorConfig
from societas.scenarios.donor.metrics import donor_metrics
from societas.scenarios.donor.scripted import donor_policy
from societas.scenarios.donor.world import DonorWorld
from societas.typing import Event, Persona
from societas.typing.scenario import ScriptedPolicy

__all__ = ["DonorConfig", "DonorScenario"]


def _config(config: BaseModel) -> DonorConfig:
    if not isinstance(config, DonorConfig):
        raise TypeError(f"donor expects a DonorConfig, got {type(config).__name__}")
    return config


class DonorScenario:
    name: ClassVar[str] = "donor"
    config_model: ClassVar[type[BaseModel]] = DonorConfig

    def build(
        self, config: BaseModel, rng: np.random.Generator
    ) -> tuple[DonorWorld, list[Persona]]:
        """Personas for every agent of every generation, so the engine has a mind for each
        from the start; an agent not alive in the current generation observes nothing."""
        c = _config(config)
        personas: list[Persona] = []
        for g in range(1, c.generations + 1):
            count = c.agents if g == 1 else c.newcomers
            personas += [
                Persona(
                    id=c.agent_id(g, k + 1),
                    name=c.agent_name(g, k + 1),
                    goals=("have as many units as possible after the final round",),
                    attributes={"role": "player", "generation": g},
                )
                for k in range(count)
            ]
        names = {p.id: p.name for p in personas}
        return DonorWorld(c, names, rng), personas

    def scripted_policy(self, config: BaseModel) -> ScriptedPolicy:
        return donor_policy

    def metrics(self, config: BaseModel, events: Sequence[Event]) -> dict[str, float]:
        return donor_metrics(_config(config), events)
