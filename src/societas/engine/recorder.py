"""Collects one tick's events (and per-tick metrics) in memory; the store writes them in one
transaction. It is also the ``PhaseContext`` a phase's ``resolve`` gets."""

from __future__ import annotations

import time
from typing import Any, TypeVar, cast

import numpy as np

from societas.typing import Event, MetricEvent
from societas.typing.events import EventBase

__all__ = ["TickRecorder"]

E = TypeVar("E", bound=EventBase)


class TickRecorder:
    def __init__(
        self,
        run_id: str,
        next_seq: int,
        tick: int,
        sim_time: float,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.run_id = run_id
        self.next_seq = next_seq
        self.tick = tick
        self.sim_time = sim_time
        self.events: list[Event] = []
        # Per-tick metrics recorded through ``metric``: (name, tick) -> value.
        self.metrics: dict[tuple[str, int], float] = {}
        self._rng = rng

    @property
    def rng(self) -> np.random.Generator:
        if self._rng is None:
            raise RuntimeError("this recorder has no RNG (it records outside a phase)")
        return self._rng

    def metric(self, name: str, value: float) -> None:
        """A named metric of this tick: a ``metric`` event now, a ``metrics`` row at commit."""
        key = (name, self.tick)
        if key in self.metrics:
            raise ValueError(f"metric {name!r} recorded twice in tick {self.tick}")
        self.metrics[key] = float(value)
        self.emit(MetricEvent, name=name, value=float(value))

    def emit(self, event_type: type[E], /, **fields: Any) -> int:
        seq = self.next_seq
        fields.setdefault("tick", self.tick)
        fields.setdefault("sim_time", self.sim_time)
        event = event_type(seq=seq, run_id=self.run_id, wall_time=time.time(), **fields)
        self.events.append(cast(Event, event))
        self.next_seq += 1
        return seq
