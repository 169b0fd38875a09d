"""Collects one tick's events in memory; the store writes them in one transaction."""

from __future__ import annotations

import time
from typing import Any, TypeVar, cast

from societas.typing import Event
from societas.typing.events import EventBase

__all__ = ["TickRecorder"]

E = TypeVar("E", bound=EventBase)


class TickRecorder:
    def __init__(self, run_id: str, next_seq: int, tick: int, sim_time: float) -> None:
        self.run_id = run_id
        self.next_seq = next_seq
        self.tick = tick
        self.sim_time = sim_time
        self.events: list[Event] = []

    def emit(self, event_type: type[E], /, **fields: Any) -> int:
        seq = self.next_seq
        fields.setdefault("tick", self.tick)
        fields.setdefault("sim_time", self.sim_time)
        event = event_type(seq=seq, run_id=self.run_id, wall_time=time.time(), **fields)
        self.events.append(cast(Event, event))
        self.next_seq += 1
        return seq
