"""The assistant scenario: proactive assistants judged against a simulated user's hidden needs
(after ProactiveBench, Lu et al. 2024); see ``docs/scenarios/assistant.md``."""

from __future__ import annotations

import numpy as np

from societas.kit import Persona, RunData, Scenario
from societas.mind.config import MindConfig
from societas.scenarios.assistant.metrics import assistant_metrics
from societas.scenarios.assistant.scripted import assistant_policy
from societas.scenarios.assistant.world import AssistantConfig, AssistantWorld
from societas.typing.scenario import ScriptedPolicy

__all__ = ["AssistantConfig", "AssistantScenario", "AssistantWorld"]

NAMES = ("Ana", "Ben", "Chloe", "Dev", "Eva", "Finn", "Grace", "Hugo")
WHO = {
    "developer": "a software developer who works from home",
    "nurse": "a hospital nurse on rotating shifts",
    "student": "a university student in the last year",
    "parent": "a parent of two school children",
}


class AssistantScenario(Scenario[AssistantConfig]):
    name = "assistant"
    world = AssistantWorld

    def personas(self, config: AssistantConfig, rng: np.random.Generator) -> list[Persona]:
        out: list[Persona] = []
        for i in range(config.users):
            kind = config.kind_of(i)
            name = NAMES[i % len(NAMES)] + ("" if i < len(NAMES) else f" {i // len(NAMES) + 1}")
            out.append(
                Persona(
                    id=f"assistant_{i + 1}",
                    name=f"{name}'s assistant",
                    backstory=(
                        f"You are the personal assistant of {name}, {WHO[kind]}. You see what "
                        f"{name} does, but {name} does not tell you what they need."
                    ),
                    goals=[
                        f"offer {name} the help they need when they need it",
                        "stay silent when they need nothing",
                    ],
                    attributes={"role": "assistant", "user": f"user_{i + 1}"},
                )
            )
            out.append(
                Persona(
                    id=f"user_{i + 1}",
                    name=name,
                    backstory=f"You are {name}, {WHO[kind]}.",
                    goals=["get through the day", "accept help only when it is useful"],
                    attributes={"role": "user", "kind": kind},
                )
            )
        return out

    def scripted_policy(self, config: AssistantConfig) -> ScriptedPolicy:
        return assistant_policy

    def mind_config(self, config: AssistantConfig) -> MindConfig:
        """The assistants' mind in the chosen mode; the users keep the basic one-call mind.
        No planning, importance rating or reflection: the observation holds the recent day."""
        return MindConfig(
            mode=config.assistant_mode,
            roles=("assistant",),
            rate_importance=False,
            reflection=False,
            planning=False,
            lookahead_k=config.lookahead_k,
        )

    def metrics(self, config: AssistantConfig, run: RunData) -> dict[str, float]:
        return assistant_metrics(config, run.events)
