"""Metrics of the wealth scenario, from the run's ``world_state`` events (never live objects).

gini             Gini coefficient of wealth after the last step (Mesa's compute_gini);
gini_mean_tail   mean Gini over the last half of the steps (the stationary level);
zero_share       share of agents with no wealth after the last step;
max_wealth       the largest holding after the last step;
gives_per_step   mean number of units given per step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from societas.scenarios.wealth.config import WealthConfig
from societas.typing import Event, LLMCall, WorldState

__all__ = ["wealth_metrics"]


def wealth_metrics(config: WealthConfig, events: Sequence[Event]) -> dict[str, float]:
    states = [e for e in events if isinstance(e, WorldState) and e.phase == "exchange"]
    states.sort(key=lambda e: e.tick)
    if not states:
        return {"steps": 0.0, "gini": 0.0, "llm_calls": 0.0}
    ginis = np.asarray([float(e.state["gini"]) for e in states])
    last = states[-1].state
    tail = ginis[len(ginis) // 2 :]
    return {
        "steps": float(len(states)),
        "gini": float(ginis[-1]),
        "gini_mean_tail": float(tail.mean()),
        "zero_share": float(last["zero_share"]),
        "max_wealth": float(last["max_wealth"]),
        "gives_per_step": float(np.mean([float(e.state["givers"]) for e in states])),
        "llm_calls": float(sum(1 for e in events if isinstance(e, LLMCall))),
    }
