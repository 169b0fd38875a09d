"""The synthetic city: households, boroughs, age bands and occupations, drawn by counter.

Households come first: household ``h`` has size ``1 + categorical(household_sizes)`` and a
borough ``categorical(boroughs)``, both drawn on ``h``; the people are numbered household by
household, so person ``i`` lives in household ``searchsorted(cumsum(sizes), i, "right")`` (the
last household is cut at ``agents``). Each person's age band is drawn on ``i`` from
``age_shares`` and the occupation on ``i`` from the row of ``occupation_by_age`` for that age
band. Every draw is a counter-based function of (seed, stream, index), so the city is the same
whatever the number of shards, and a restored run rebuilds it from the seed instead of storing
it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from societas.population import rng
from societas.scenarios.epidemic.config import EpidemicConfig

__all__ = ["STATIC", "synthesize"]

STATIC = ("age", "borough", "occupation", "household")

_HH_SIZE, _HH_BOROUGH, _AGE, _OCCUPATION = 11, 12, 13, 14


def _normalised(weights: list[float]) -> NDArray[np.float64]:
    w = np.asarray(weights, dtype=np.float64)
    out: NDArray[np.float64] = w / w.sum()
    return out


def synthesize(config: EpidemicConfig, seed: int) -> dict[str, NDArray[Any]]:
    """The static arrays of every person: age band, borough, occupation (codes) and
    household (global id)."""
    n = config.agents
    # At most n households (every household has at least one person).
    households = np.arange(n, dtype=np.int64)
    sizes = rng.categorical(seed, 0, _HH_SIZE, households, _normalised(config.household_sizes))
    sizes += 1
    ends = np.cumsum(sizes)
    n_households = int(np.searchsorted(ends, n, side="left")) + 1
    ends = ends[:n_households]
    del sizes, households
    hh_borough = rng.categorical(
        seed,
        0,
        _HH_BOROUGH,
        np.arange(n_households, dtype=np.int64),
        _normalised(list(config.boroughs.values())),
    ).astype(np.int8)
    people = np.arange(n, dtype=np.int64)
    household = np.searchsorted(ends, people, side="right").astype(np.int32)
    borough = hh_borough[household]
    age = rng.categorical(seed, 0, _AGE, people, _normalised(config.age_shares)).astype(np.int8)
    u = rng.uniform(seed, 0, _OCCUPATION, people)
    occupation = np.zeros(n, dtype=np.int8)
    for band, row in enumerate(config.occupation_by_age):
        cdf = np.cumsum(_normalised(row))
        members = np.flatnonzero(age == band)
        picked = np.searchsorted(cdf, u[members], side="right")
        occupation[members] = np.minimum(picked, len(row) - 1)
    return {"age": age, "borough": borough, "occupation": occupation, "household": household}
