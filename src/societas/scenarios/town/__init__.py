"""The town scenario: a small Smallville after Park et al. 2023, "Generative Agents"."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from societas.kit import Persona, RunData, Scenario
from societas.mind.generative import MindConfig
from societas.scenarios.town.config import AgentSpec, PartyConfig, TownConfig
from societas.scenarios.town.metrics import town_metrics
from societas.scenarios.town.scripted import town_policy
from societas.scenarios.town.world import Town
from societas.typing import Event
from societas.typing.scenario import ScriptedPolicy

__all__ = ["TownConfig", "TownScenario", "persona_of"]


def persona_of(spec: AgentSpec, party: PartyConfig, acquaintances: Sequence[str]) -> Persona:
    """A resident's persona; the host's carries the party intention (its goal)."""
    backstory = f"You are {spec.occupation}. You live at {spec.home}."
    if spec.bio:
        backstory += f" {spec.bio}"
    backstory += f" Your usual day: {spec.routine_text()}."
    if acquaintances:
        backstory += " You know " + "; ".join(acquaintances) + "."
    goals: tuple[str, ...] = ()
    if spec.id == party.host:
        goals = (f"throw {party.sentence()}, and invite everyone you meet",)
    return Persona(
        id=spec.id,
        name=spec.name,
        age=spec.age,
        traits=tuple(spec.traits),
        goals=goals,
        backstory=backstory,
        attributes={"occupation": spec.occupation, "home": spec.home},
    )


class TownScenario(Scenario[TownConfig]):
    name = "town"
    world = Town

    def personas(self, config: TownConfig, rng: np.random.Generator) -> list[Persona]:
        names = {a.id: a.name for a in config.agents}
        personas = []
        for spec in config.agents:
            known = [
                f"{names[r.b if r.a == spec.id else r.a]} ({r.relation})"
                for r in config.relationships
                if spec.id in (r.a, r.b)
            ]
            personas.append(persona_of(spec, config.party, known))
        return personas

    def scripted_policy(self, config: TownConfig) -> ScriptedPolicy:
        return town_policy(config)

    def metrics(self, config: TownConfig, run: RunData) -> dict[str, float]:
        return town_metrics(config, run.events)

    def mind_config(self, config: TownConfig) -> MindConfig | None:
        """The residents' cognition (``config.mind``); None: the basic mind."""
        return config.mind

    def report_plots(self, events: Sequence[Event], out: Path) -> list[tuple[str, str]]:
        """Town-specific figures for the run report (matplotlib is imported only here)."""
        from societas.scenarios.town.plots import report_plots

        return report_plots(events, out)
