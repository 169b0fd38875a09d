"""A bounded recency memory: the simplest memory stream that keeps prompts bounded.

Records are kept in order; retrieval returns the most recent records that fit a token budget
(and at most ``top_k``), oldest first. Generative-agents retrieval (recency x importance x
relevance) replaces this behind the same methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from societas.memory.record import approx_tokens

__all__ = ["MemoryRecord", "RecentMemory", "approx_tokens"]


class MemoryRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tick: int
    text: str
    kind: str = "observation"
    importance: float = 5.0


class RecentMemory:
    def __init__(self, *, top_k: int = 12, token_budget: int = 400, max_records: int = 500):
        self.top_k = top_k
        self.token_budget = token_budget
        self.max_records = max_records
        self.records: list[MemoryRecord] = []

    def add(self, record: MemoryRecord) -> None:
        self.records.append(record)
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
        return [r.model_dump() for r in self.records]

    def restore(self, state: Iterable[Mapping[str, Any]]) -> None:
        self.records = [MemoryRecord.model_validate(r) for r in state]
