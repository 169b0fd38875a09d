"""Compare runs' event streams for reproducibility (same seed, same cache -> same events)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from societas.typing import Event
from societas.typing.events import NONREPRODUCIBLE_FIELDS, PROCESS_EVENT_KINDS

__all__ = ["comparable", "first_difference"]

# Besides wall-clock fields, a run's id and event numbering differ between a run and its
# resumed or replayed twin (a resume adds a process event); references to seq go with them.
_DROP = NONREPRODUCIBLE_FIELDS | {"run_id", "seq", "parent"}


def comparable(events: Iterable[Event]) -> list[dict[str, Any]]:
    """Simulation events as dicts without the fields that legitimately differ."""
    return [
        {k: v for k, v in e.model_dump(mode="json").items() if k not in _DROP}
        for e in events
        if e.kind not in PROCESS_EVENT_KINDS
    ]


def first_difference(
    a: Sequence[Event], b: Sequence[Event]
) -> tuple[int, dict[str, Any] | None, dict[str, Any] | None] | None:
    """``None`` if the streams match, else the index and the two differing events."""
    ca, cb = comparable(a), comparable(b)
    for i in range(max(len(ca), len(cb))):
        x = ca[i] if i < len(ca) else None
        y = cb[i] if i < len(cb) else None
        if x != y:
            return i, x, y
    return None
