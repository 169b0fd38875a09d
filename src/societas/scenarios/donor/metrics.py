"""The donor game's metrics, computed from a run's events (never from live objects).

Per generation g (1-based; see docs/scenarios/donor.md):
  gen{g}_mean_resources    mean over the generation's games of the mean final resources of its
                           agents (the paper's "average final resources", Figure 2);
  gen{g}_donation_fraction mean over donor decisions of given / the donor's resources at the
                           time (decisions by donors with nothing are left out; a punishment
                           or an invalid answer gives 0);
  gen{g}_punishments       decisions that punished with a positive amount;
  gen{g}_punishment_spent  units donors spent on punishment.
Overall: final_mean_resources (the last generation's mean resources), mean_donation_fraction
(over all decisions), punishments, punishment_spent, punishment_rate (punishments per
donor decision: the share of encounters with a punishment, as the paper's Figure 5 caption
counts), invalid_action_rate (amounts above what
the donor had), generations_played, fallback_rate, llm_calls, invalid_answer_rate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from societas.scenarios.donor.config import DonorConfig
from societas.typing import ActionEvent, DecisionFallback, Event, LLMCall, OutcomeEvent

__all__ = ["donor_metrics"]


def _outcomes(events: Sequence[Event], phase: str) -> list[dict[str, Any]]:
    return [e.data for e in events if isinstance(e, OutcomeEvent) and e.phase == phase]


def donor_metrics(config: DonorConfig, events: Sequence[Event]) -> dict[str, float]:
    games: dict[int, list[float]] = defaultdict(list)
    for d in _outcomes(events, "game_end"):
        values = [float(v) for v in d["resources"].values()]
        games[int(d["generation"])].append(float(np.mean(values)) if values else 0.0)

    fractions: dict[int, list[float]] = defaultdict(list)
    punish_count: dict[int, int] = defaultdict(int)
    punish_spent: dict[int, float] = defaultdict(float)
    decisions = invalid = 0
    generations_seen: set[int] = set(games)
    for d in _outcomes(events, "donate"):
        g = int(d["generation"])
        generations_seen.add(g)
        decisions += 1
        invalid += int(not d["valid"])
        had = float(d["donor_resources"])
        if had > 0:
            fractions[g].append(float(d["given"]) / had)
        spent = float(d["punish_spent"])
        if spent > 0:
            punish_count[g] += 1
            punish_spent[g] += spent

    metrics: dict[str, float] = {}
    for g in sorted(generations_seen):
        if games.get(g):
            metrics[f"gen{g}_mean_resources"] = float(np.mean(games[g]))
        metrics[f"gen{g}_donation_fraction"] = float(np.mean(fractions[g])) if fractions[g] else 0.0
        metrics[f"gen{g}_punishments"] = float(punish_count[g])
        metrics[f"gen{g}_punishment_spent"] = punish_spent[g]

    all_fractions = [f for g in sorted(fractions) for f in fractions[g]]
    last = max(games) if games else None
    actions = [e for e in events if isinstance(e, ActionEvent)]
    fallbacks = sum(1 for e in events if isinstance(e, DecisionFallback))
    calls = [e for e in events if isinstance(e, LLMCall)]
    metrics.update(
        {
            "final_mean_resources": (
                float(np.mean(games[last])) if last is not None else config.initial_endowment
            ),
            "mean_donation_fraction": float(np.mean(all_fractions)) if all_fractions else 0.0,
            "punishments": float(sum(punish_count.values())),
            "punishment_spent": float(sum(punish_spent.values())),
            "punishment_rate": (
                float(sum(punish_count.values())) / decisions if decisions else 0.0
            ),
            "invalid_action_rate": invalid / decisions if decisions else 0.0,
            "generations_played": float(len(games)),
            "fallback_rate": fallbacks / len(actions) if actions else 0.0,
            "llm_calls": float(len(calls)),
            "invalid_answer_rate": (
                sum(1 for c in calls if c.status == "invalid") / len(calls) if calls else 0.0
            ),
        }
    )
    return metrics
