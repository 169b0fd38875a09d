"""Run-level figures every scenario gets, and the finished run as final metrics read it."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

from societas.store import RunStore
from societas.typing import ActionEvent, DecisionFallback, Event, GroupDecisionEvent, LLMCall

__all__ = ["RUN_FIGURES", "StoreRun", "run_figures"]

# Names of the figures the platform computes for every run.
RUN_FIGURES = (
    "llm_calls",
    "prompt_tokens",
    "completion_tokens",
    "fallback_rate",
    "invalid_answer_rate",
)


def run_figures(events: Sequence[Event]) -> dict[str, float]:
    """Calls, tokens, and the shares of decisions that fell back and of calls that gave an
    invalid answer. A decision is an agent's action or a group's (non-reused) answer."""
    calls = 0
    invalid = 0
    prompt = 0
    completion = 0
    decisions = 0
    fallbacks = 0
    for event in events:
        if isinstance(event, LLMCall):
            calls += 1
            invalid += int(event.status == "invalid")
            prompt += event.prompt_tokens
            completion += event.completion_tokens
        elif isinstance(event, ActionEvent):
            decisions += 1
        elif isinstance(event, GroupDecisionEvent):
            decisions += int(not event.reused)
        elif isinstance(event, DecisionFallback):
            fallbacks += 1
    return {
        "llm_calls": float(calls),
        "prompt_tokens": float(prompt),
        "completion_tokens": float(completion),
        "fallback_rate": fallbacks / decisions if decisions else 0.0,
        "invalid_answer_rate": invalid / calls if calls else 0.0,
    }


class StoreRun:
    """``RunData`` read from a run's store: its events and its per-tick metric series."""

    def __init__(self, store: RunStore) -> None:
        self._store = store

    @cached_property
    def events(self) -> list[Event]:
        return self._store.events()

    @cached_property
    def _series(self) -> dict[str, dict[int, float]]:
        out: dict[str, dict[int, float]] = {}
        frame = self._store.metrics_df()
        for name, tick, value in frame[frame["tick"] >= 0].itertuples(index=False):
            out.setdefault(str(name), {})[int(tick)] = float(value)
        return out

    def series(self, name: str) -> dict[int, float]:
        """A per-tick metric: value by tick ({} if never recorded)."""
        return dict(self._series.get(name, {}))

    def last(self, name: str) -> float:
        """A per-tick metric's value at the last tick that recorded it."""
        series = self._series.get(name)
        if not series:
            raise KeyError(f"no tick recorded the metric {name!r}")
        return series[max(series)]
