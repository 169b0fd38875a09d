"""The epidemic scenario: an SEIR epidemic and a labour market of a synthetic New York City,
with isolation and work decided by LLM archetypes (one call per group a week), by behaviour
clusters (one call per cluster a week, answered as a transition distribution) or a fixed rule.

See docs/scenarios/epidemic.md.
"""

from __future__ import annotations

import json

import numpy as np

from societas.kit import Persona, RunData, Scenario
from societas.scenarios.epidemic.behaviour import Behaviour, heuristic_action
from societas.scenarios.epidemic.clusters import Transition, rule_action
from societas.scenarios.epidemic.config import AGE_BANDS, OCCUPATIONS, EpidemicConfig
from societas.scenarios.epidemic.world import EpidemicState, EpidemicWorld, slug
from societas.typing import LLMRequest
from societas.typing.scenario import ScriptedPolicy

__all__ = [
    "AGE_BANDS",
    "OCCUPATIONS",
    "Behaviour",
    "EpidemicConfig",
    "EpidemicScenario",
    "EpidemicState",
    "EpidemicWorld",
    "Transition",
    "final_size",
    "scripted_behaviour",
]


def final_size(r0: float) -> float:
    """The SIR final-size equation's root z = 1 - exp(-R0 z) in (0, 1] (0 for R0 <= 1),
    by fixed-point iteration (a contraction near the root for R0 > 1)."""
    if r0 <= 1.0:
        return 0.0
    z = 1.0
    for _ in range(10_000):
        nxt = 1.0 - float(np.exp(-r0 * z))
        if abs(nxt - z) < 1e-15:
            break
        z = nxt
    return z


def scripted_behaviour(request: LLMRequest, rng: np.random.Generator) -> str:
    """The fixed rule as a model would answer it (``--model scripted``): the group's
    attributes come in the request's context (a cluster's: its representative archetype's);
    a cluster's question (schema with ``home``) is answered as a transition distribution."""
    schema = request.json_schema or {}
    if "home" in schema.get("properties", {}):
        return json.dumps(rule_action(dict(request.context)).model_dump(exclude={"action_type"}))
    return json.dumps(heuristic_action(dict(request.context)).model_dump(exclude={"action_type"}))


class EpidemicScenario(Scenario[EpidemicConfig]):
    name = "epidemic"
    world = EpidemicWorld

    def personas(self, config: EpidemicConfig, rng: np.random.Generator) -> list[Persona]:
        return []  # no focal agents: the people live in arrays

    def scripted_policy(self, config: EpidemicConfig) -> ScriptedPolicy:
        return scripted_behaviour

    def metrics(self, config: EpidemicConfig, run: RunData) -> dict[str, float]:
        new = run.series("new_infections")
        if not new:
            return {"weeks": 0.0}
        prevalence = run.series("prevalence")
        peak_week = max(prevalence, key=lambda t: prevalence[t])
        unemployment = run.series("unemployment_rate")
        groups = run.series("groups")
        out = {
            "weeks": float(len(new)),
            "attack_rate": run.last("attack_rate"),
            "total_infections": float(sum(new.values())),
            "peak_prevalence": prevalence[peak_week],
            "peak_week": float(peak_week),
            "final_unemployment": run.last("unemployment_rate"),
            "peak_unemployment": max(unemployment.values()),
            "mean_isolating": float(np.mean(list(run.series("isolating").values()))),
            "groups_per_week": float(np.mean(list(groups.values()))),
        }
        for borough in config.borough_names:
            out[f"final_unemployment_{slug(borough)}"] = run.last(f"unemployment_{slug(borough)}")
        return out
