"""Population mode: array state, persona sampling, archetypes, counter-based draws, executors.

A layer beside ``mind`` and ``world``: it imports ``typing`` (and numpy) only. See
docs/population.md.
"""

from __future__ import annotations

from societas.population import rng
from societas.population.archetypes import Archetypes, Buckets, archetypes, group_by
from societas.population.executor import (
    Executor,
    LocalExecutor,
    RayExecutor,
    ShardFn,
    ShardState,
    build_executor,
    shard_bounds,
)
from societas.population.sampling import PopulationSpec, read_rows, sample_population
from societas.population.state import PopulationState, concat, decode_array, encode_array

__all__ = [
    "Archetypes",
    "Buckets",
    "Executor",
    "LocalExecutor",
    "PopulationSpec",
    "PopulationState",
    "RayExecutor",
    "ShardFn",
    "ShardState",
    "archetypes",
    "build_executor",
    "concat",
    "decode_array",
    "encode_array",
    "group_by",
    "read_rows",
    "rng",
    "sample_population",
    "shard_bounds",
]
