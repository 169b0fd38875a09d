"""The donor scenario: the Donor Game with cultural evolution (Vallinder and Hughes 2024)."""

from __future__ import annotations

import numpy as np

from societas.kit import Persona, RunData, Scenario
from societas.scenarios.donor.config import DonorConfig
from societas.scenarios.donor.metrics import donor_metrics
from societas.scenarios.donor.scripted import donor_policy
from societas.scenarios.donor.world import DonorWorld
from societas.typing.scenario import ScriptedPolicy

__all__ = ["DonorConfig", "DonorScenario"]


class DonorScenario(Scenario[DonorConfig]):
    name = "donor"
    world = DonorWorld

    def personas(self, config: DonorConfig, rng: np.random.Generator) -> list[Persona]:
        """Personas for every agent of every generation, so the engine has a mind for each
        from the start; an agent not alive in the current generation observes nothing."""
        personas: list[Persona] = []
        for g in range(1, config.generations + 1):
            count = config.agents if g == 1 else config.newcomers
            personas += [
                Persona(
                    id=config.agent_id(g, k + 1),
                    name=config.agent_name(g, k + 1),
                    goals=("have as many units as possible after the final round",),
                    attributes={"role": "player", "generation": g},
                )
                for k in range(count)
            ]
        return personas

    def scripted_policy(self, config: DonorConfig) -> ScriptedPolicy:
        return donor_policy

    def metrics(self, config: DonorConfig, run: RunData) -> dict[str, float]:
        return donor_metrics(config, run.events)
