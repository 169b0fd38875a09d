"""The commons scenario: GovSim's fishery, pasture and pollution (Piatti et al. 2024)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from pydantic import BaseModel

from societas.scenarios.commons.config import CommonsConfig, Disposition, Newcomer
from societas.scenarios.commons.framing import framing_for
from societas.scenarios.commons.metrics import commons_metrics
from societas.scenarios.commons.scripted import commons_policy
from societas.scenarios.commons.world import Lake
from societas.typing import Event, Persona
from societas.typing.scenario import ScriptedPolicy

__all__ = ["CommonsConfig", "CommonsScenario", "Newcomer"]


def _config(config: BaseModel) -> CommonsConfig:
    if not isinstance(config, CommonsConfig):
        raise TypeError(f"commons expects a CommonsConfig, got {type(config).__name__}")
    return config


class CommonsScenario:
    name: ClassVar[str] = "commons"
    config_model: ClassVar[type[BaseModel]] = CommonsConfig

    def build(self, config: BaseModel, rng: np.random.Generator) -> tuple[Lake, list[Persona]]:
        c = _config(config)
        words = framing_for(c.resource, c.capacity)
        names = c.fisher_names()
        ids = [f"{words.id_prefix}_{i + 1}" for i in range(c.agents)]
        newcomer = c.newcomer
        local_story = words.local_backstory if newcomer and newcomer.local_backstory else ""
        personas = [
            Persona(
                id=aid,
                name=name,
                goals=(words.goal,),
                backstory=local_story,
                attributes={"role": words.role},
            )
            for aid, name in zip(ids, names, strict=True)
        ]
        joins: dict[str, int] = {}
        dispositions: dict[str, Disposition] = {}
        if newcomer is not None:
            nid = f"{words.id_prefix}_{c.agents + 1}"
            personas.append(
                Persona(
                    id=nid,
                    name=c.newcomer_name(),
                    traits=newcomer.traits,
                    goals=(words.goal,),
                    backstory=newcomer.backstory or words.newcomer_backstory,
                    attributes={
                        "role": words.role,
                        "newcomer": True,
                        "join_month": newcomer.join_month,
                    },
                )
            )
            joins[nid] = newcomer.join_month - 1
            dispositions[nid] = newcomer.disposition
        lake = Lake(
            c,
            [p.id for p in personas],
            [p.name for p in personas],
            joins=joins,
            dispositions=dispositions,
        )
        return lake, personas

    def scripted_policy(self, config: BaseModel) -> ScriptedPolicy:
        return commons_policy

    def metrics(self, config: BaseModel, events: Sequence[Event]) -> dict[str, float]:
        return commons_metrics(_config(config), events)
