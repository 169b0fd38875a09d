"""The teams scenario: organisations of agents on tasks whose answers code checks exactly."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from scipy.stats import binomtest

from societas.kit import Persona, RunData, Scenario, numbered_personas
from societas.scenarios.teams.scripted import teams_policy
from societas.scenarios.teams.world import TeamsConfig, TeamsWorld
from societas.typing import ActionEvent, DecisionFallback, LLMCall, OutcomeEvent
from societas.typing.scenario import ScriptedPolicy, StepLabel

__all__ = ["TeamsConfig", "TeamsScenario", "TeamsWorld", "task_latency", "wilson_interval"]


def wilson_interval(successes: int, n: int) -> tuple[float, float]:
    """Wilson's 95 % score interval for a proportion (Wilson 1927; scipy's), inside [0, 1]."""
    if n == 0:
        return 0.0, 1.0
    ci = binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def task_latency(calls: Sequence[LLMCall]) -> float:
    """Milliseconds the team waited for its model calls, summed over tasks: the members of a
    phase decide at once, so a phase takes its slowest member (whose first call and repair
    run one after the other); the phases of a task run one after another. A call cancelled
    at a deadline counts the deadline."""
    member: dict[tuple[int, str, str], float] = defaultdict(float)
    for call in calls:
        phase = call.purpose.removesuffix(":repair")
        member[(call.tick, phase, call.actor or "")] += call.latency_ms
    phases: dict[tuple[int, str], float] = defaultdict(float)
    for (tick, phase, _), ms in member.items():
        phases[(tick, phase)] = max(phases[(tick, phase)], ms)
    return sum(phases.values())


class TeamsScenario(Scenario[TeamsConfig]):
    name = "teams"
    world = TeamsWorld

    def personas(self, config: TeamsConfig, rng: np.random.Generator) -> list[Persona]:
        return numbered_personas("agent", config.team_size)

    def scripted_policy(self, config: TeamsConfig) -> ScriptedPolicy:
        return teams_policy

    def metrics(self, config: TeamsConfig, run: RunData) -> dict[str, float]:
        correct = run.series("correct")
        n = len(correct)
        right = round(sum(correct.values()))
        low, high = wilson_interval(right, n)
        accuracy = right / n if n else 0.0
        individual = sum(run.series("individual_accuracy").values()) / n if n else 0.0
        calls = [e for e in run.events if isinstance(e, LLMCall)]
        tokens = sum(e.prompt_tokens + e.completion_tokens for e in calls)
        fallbacks = [e for e in run.events if isinstance(e, DecisionFallback)]
        decisions = sum(isinstance(e, ActionEvent) for e in run.events)
        out = {
            "accuracy": accuracy,
            "accuracy_ci_low": low,
            "accuracy_ci_high": high,
            "individual_accuracy": individual,
            "redundancy": sum(run.series("agreement").values()) / n if n else 0.0,
            "calls_per_task": len(calls) / n if n else 0.0,
            "tokens_per_task": tokens / n if n else 0.0,
            # No wall-time figure here: final metrics are events, and events must replay
            # exactly. Latency per task: ``task_latency`` over the store's llm_call events.
            "deadline_miss_rate": (
                sum(e.reason == "deadline" for e in fallbacks) / decisions if decisions else 0.0
            ),
            "budget_refusal_rate": (
                sum(e.reason == "budget" for e in fallbacks) / decisions if decisions else 0.0
            ),
            "tasks": float(n),
        }
        if individual < 1.0:
            # The team's error rate relative to its members' own (first-round) error rate.
            out["error_amplification"] = (1.0 - accuracy) / (1.0 - individual)
        return out

    def step_labels(self, config: TeamsConfig, run: RunData) -> dict[int, StepLabel]:
        """Each member's answer in each phase against the verifier: the right answer is
        ``correct``, a wrong one or a fallback ``erroneous``. Naming whom one trusts (``score``)
        is ``correct`` when that teammate's first answer was right, ``erroneous`` when it was
        wrong, ``neutral`` when no teammate was named."""
        outcomes = {
            e.tick: e.data for e in run.events if isinstance(e, OutcomeEvent) and e.phase == "team"
        }
        labels: dict[int, StepLabel] = {}
        for event in run.events:
            if not isinstance(event, ActionEvent) or event.actor is None:
                continue
            outcome = outcomes.get(event.tick)
            if outcome is None:  # a task the run did not finish
                continue
            expected = outcome["expected"]
            if event.fallback:  # no usable answer: the member kept its earlier one, if any
                labels[event.seq] = "erroneous"
                continue
            if event.phase == "score":  # a Trust decision
                trusted = outcome.get("trusted", {}).get(event.actor)
                if trusted is None:
                    labels[event.seq] = "neutral"
                else:
                    right = outcome["first_answers"].get(trusted) == expected
                    labels[event.seq] = "correct" if right else "erroneous"
                continue
            answer = outcome.get("rounds", {}).get(event.phase, {}).get(event.actor)
            labels[event.seq] = "correct" if answer == expected else "erroneous"
        return labels
