"""A phase context for unit tests of a world's rules: it keeps what the rules emit.

```python
ctx = RecordingContext(tick=3)
percepts = world.phases(3)[0].resolve_actions(actions, ctx)
assert ctx.kinds() == ["OutcomeEvent"]
assert ctx.metrics == {"mean_contribution": 12.5}
```
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["RecordingContext"]


class RecordingContext:
    """A ``PhaseContext`` without a store: events as ``(class name, fields)``, metrics by
    name. ``at(tick, rng)`` moves it to another tick (and RNG; returns it, for one-liners)."""

    def __init__(self, tick: int = 0, rng: np.random.Generator | None = None) -> None:
        self.tick = tick
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.metrics: dict[str, float] = {}

    def emit(self, event_type: type, /, **fields: Any) -> int:
        self.events.append((event_type.__name__, fields))
        return len(self.events) - 1

    def metric(self, name: str, value: float) -> None:
        self.metrics[name] = float(value)

    def at(self, tick: int, rng: np.random.Generator | None = None) -> RecordingContext:
        self.tick = tick
        if rng is not None:
            self.rng = rng
        return self

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]
