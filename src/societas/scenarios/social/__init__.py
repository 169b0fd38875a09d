"""The social scenario: a microblog with rumour cascades (OASIS, Yang et al. 2024) and
S3-style emotion and attitude states (Gao et al. 2023); see docs/scenarios/social.md."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from societas.kit import ConfigError, Persona, RunData, Scenario, merge_personas
from societas.population.sampling import sample_population
from societas.population.state import PopulationState
from societas.scenarios.social.config import (
    ACTIVITY_LEVELS,
    AGE_GROUPS,
    LEANINGS,
    TOPICS,
    SeedPost,
    SocialConfig,
)
from societas.scenarios.social.graph import FollowGraph, load_oasis_users, scale_free_graph
from societas.scenarios.social.metrics import social_metrics
from societas.scenarios.social.scripted import social_policy
from societas.scenarios.social.world import SocialWorld, user_id
from societas.typing.scenario import ScriptedPolicy

__all__ = ["SeedPost", "SocialConfig", "SocialScenario", "SocialWorld", "build_population"]


def build_population(config: SocialConfig, n: int, seed: int) -> PopulationState:
    """Persona attributes as codes (``labels`` name them), drawn with the population sampler."""

    def cat(labels: Sequence[str], shares: dict[str, float] | list[float]) -> dict[str, object]:
        if isinstance(shares, list):
            values = dict(zip(labels, shares, strict=True))
        else:
            values = {k: float(shares.get(k, 0.0)) for k in labels}
        return {"dist": "categorical", "values": values}

    spec = {
        "size": n,
        "attributes": {
            "age": cat(AGE_GROUPS, config.age_shares),
            "interest": cat(TOPICS, config.topic_probs()),
            "leaning": cat(LEANINGS, config.leaning_shares),
            "activity": cat(ACTIVITY_LEVELS, config.activity_shares),
        },
    }
    return sample_population(spec, seed=seed, source="social", field="personas")


class SocialScenario(Scenario[SocialConfig]):
    name = "social"
    world = SocialWorld

    def build(
        self, config: SocialConfig, rng: np.random.Generator, personas: Sequence[Persona] = ()
    ) -> tuple[SocialWorld, list[Persona]]:
        """The graph, the population and the users with full minds (all in ``agents`` mode,
        ``focal_agents`` in ``archetype`` mode); ``personas`` rewrite those users by id."""
        c = config
        seed = int(rng.integers(0, 2**31 - 1))
        names: list[str] | None = None
        descriptions: list[str] | None = None
        graph: FollowGraph
        if c.graph_file is not None:
            users = load_oasis_users(c.graph_file)
            graph, names, descriptions = users.graph, users.names, users.descriptions
        else:
            graph = scale_free_graph(c.agents, c.mean_degree, c.uniform_attachment, rng)
        n = graph.n
        population = build_population(c, n, seed)
        if c.mode == "agents":
            focal = np.arange(n, dtype=np.int64)
        else:
            k = min(c.focal_agents, n)
            focal = np.sort(rng.choice(n, size=k, replace=False)).astype(np.int64)
        labels = population.labels
        minds = []
        for u in focal.tolist():
            attrs: dict[str, str | int | float | bool] = {
                k: labels[k][int(population[k][u])] for k in ("age", "interest", "leaning")
            }
            attrs["activity"] = labels["activity"][int(population["activity"][u])]
            minds.append(
                Persona(
                    id=user_id(u),
                    name=names[u][:200] if names and names[u].strip() else f"User {u}",
                    traits=(f"{attrs['leaning']} leaning", f"{attrs['activity']} activity"),
                    goals=(f"keep up with {attrs['interest']} news",),
                    backstory=(descriptions[u][:500] if descriptions else "")
                    or f"Age group {attrs['age']}; interested in {attrs['interest']}.",
                    attributes=attrs,
                )
            )
        known = {p.id for p in minds}
        strangers = [p.id for p in personas if p.id not in known]
        if strangers:
            raise ConfigError(
                "personas",
                "id",
                f"a user with a full mind in this run ({', '.join(sorted(known)[:3])}, ...)",
                strangers[0],
            )
        agents = merge_personas(minds, personas)
        world = SocialWorld(
            c, agents, rng, seed=seed, population=population, graph=graph, focal=focal, names=names
        )
        return world, agents

    def scripted_policy(self, config: SocialConfig) -> ScriptedPolicy:
        return social_policy

    def metrics(self, config: SocialConfig, run: RunData) -> dict[str, float]:
        return social_metrics(config, run.events)
