"""A bounded recency memory: the simplest memory that keeps prompts bounded.

Records (the one ``MemoryRecord`` of the memory stream) are kept in order; retrieval returns
the most recent records that fit a token budget (and at most ``top_k``), oldest first. The
base ``Mind`` uses it; ``GenerativeMind`` retrieves from a ``MemoryStream`` instead (recency x
importance x relevance, Park et al. 2023, section 4.1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from societas.memory.record import MemoryRecord, approx_tokens

__all__ = ["RecentMemory"]


class RecentMemory:
    def __init__(self, *, top_k: int = 12, token_budget: int = 400, max_records: int = 500):
        self.top_k = top_k
        self.token_budget = token_budget
        self.max_records = max_records
        self.records: list[MemoryRecord] = []
        self._next_id = 0

    def remember(
        self, tick: int, text: str, *, kind: str = "observation", importance: float = 5.0
    ) -> None:
        """Keep one record. A recency memory has no access times or evidence: ``created`` and
        ``last_accessed`` are the tick, ``id`` counts up, importance is clamped to 1-10."""
        self.add(
            MemoryRecord(
                id=self._next_id,
                text=text,
                kind=kind,
                tick=tick,
                created=float(tick),
                last_accessed=float(tick),
                importance=min(10.0, max(1.0, importance)),
            )
        )

    def add(self, record: MemoryRecord) -> None:
        self.records.append(record)
        self._next_id = max(self._next_id, record.id + 1)
        if len(self.records) > self.max_records:
            del self.records[: len(self.records) - self.max_records]

    def extend(self, records: Iterable[MemoryRecord]) -> None:
        for record in records:
            self.add(record)

    def retrieve(self) -> list[MemoryRecord]:
        chosen: list[MemoryRecord] = []
        used = 0
        for record in reversed(self.records):
            cost = approx_tokens(record.text)
            if len(chosen) >= self.top_k or used + cost > self.token_budget:
                break
            chosen.append(record)
            used += cost
        chosen.reverse()
        return chosen

    def snapshot(self) -> list[dict[str, Any]]:
        # What a snapshot keeps of a record (the rest follows from it on restore).
        return [
            {"tick": r.tick, "text": r.text, "kind": r.kind, "importance": r.importance}
            for r in self.records
        ]

    def restore(self, state: Iterable[Mapping[str, Any]]) -> None:
        self.records = []
        self._next_id = 0
        for r in state:
            self.remember(
                int(r["tick"]),
                str(r["text"]),
                kind=str(r.get("kind", "observation")),
                importance=float(r.get("importance", 5.0)),
            )
