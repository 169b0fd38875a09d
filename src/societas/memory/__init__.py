"""Memory infrastructure: the memory stream (Park et al. 2023) and embedders."""

from __future__ import annotations

from societas.memory.embedders import (
    CachedEmbedder,
    HashingEmbedder,
    MiniLMEmbedder,
    bundled_minilm_dir,
    create_embedder,
)
from societas.memory.recent import RecentMemory
from societas.memory.record import MemoryRecord, approx_tokens
from societas.memory.stream import MemoryInput, MemoryStream, ReadOnlyMemoryError

__all__ = [
    "CachedEmbedder",
    "HashingEmbedder",
    "MemoryInput",
    "MemoryRecord",
    "MemoryStream",
    "MiniLMEmbedder",
    "ReadOnlyMemoryError",
    "RecentMemory",
    "approx_tokens",
    "bundled_minilm_dir",
    "create_embedder",
]
