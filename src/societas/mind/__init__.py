"""Agent cognition: memory and minds."""

from __future__ import annotations

from societas.mind.memory import MemoryRecord, RecentMemory, approx_tokens
from societas.mind.mind import Mind, derive_seed, schema_hint

__all__ = ["MemoryRecord", "Mind", "RecentMemory", "approx_tokens", "derive_seed", "schema_hint"]
