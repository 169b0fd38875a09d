"""The commons scenario: GovSim's fishery, pasture and pollution (Piatti et al. 2024)."""

from __future__ import annotations

import numpy as np

from societas.kit import Persona, RunData, Scenario
from societas.scenarios.commons.config import CommonsConfig, Newcomer
from societas.scenarios.commons.framing import framing_for
from societas.scenarios.commons.metrics import commons_metrics
from societas.scenarios.commons.scripted import commons_policy
from societas.scenarios.commons.world import Lake
from societas.typing.scenario import ScriptedPolicy

__all__ = ["CommonsConfig", "CommonsScenario", "Newcomer"]


class CommonsScenario(Scenario[CommonsConfig]):
    name = "commons"
    world = Lake

    def personas(self, config: CommonsConfig, rng: np.random.Generator) -> list[Persona]:
        words = framing_for(config.resource, config.capacity)
        newcomer = config.newcomer
        local_story = words.local_backstory if newcomer and newcomer.local_backstory else ""
        # govsim: GovSim's personas have no goals but the newcomer experiment's sentences
        # (``conf/experiment/persona/baseline_fisherman.yaml`` line 2: goals ""), kept here as
        # the backstory; the system prompt appends them (``Lake.rules_for``).
        goals = () if config.protocol == "govsim" else (words.goal,)
        personas = [
            Persona(
                id=f"{words.id_prefix}_{i + 1}",
                name=name,
                goals=goals,
                backstory=local_story,
                attributes={"role": words.role},
            )
            for i, name in enumerate(config.fisher_names())
        ]
        if newcomer is not None:
            personas.append(
                Persona(
                    id=f"{words.id_prefix}_{config.agents + 1}",
                    name=config.newcomer_name(),
                    traits=newcomer.traits,
                    goals=goals,
                    backstory=newcomer.backstory or words.newcomer_backstory,
                    attributes={
                        "role": words.role,
                        "newcomer": True,
                        "join_month": newcomer.join_month,
                    },
                )
            )
        return personas

    def scripted_policy(self, config: CommonsConfig) -> ScriptedPolicy:
        return commons_policy

    def metrics(self, config: CommonsConfig, run: RunData) -> dict[str, float]:
        return commons_metrics(config, run.events)
