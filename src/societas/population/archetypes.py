"""Archetypes: agents grouped by persona attributes and bucketed situation, one group each.

The key of an agent is the tuple (chosen persona attributes, bucket of each chosen situation
array). Numeric arrays are bucketed by fixed edges (``Buckets(edges=[1, 5])``: (-inf, 1),
[1, 5), [5, inf)) or by quantiles (``Buckets(quantiles=4)``: quartiles of the current values);
integer, bool and categorical arrays are used as they are. Grouping is vectorised: each column
becomes small integer codes, the codes are combined into one int64 per agent (mixed radix), and
``np.unique`` gives the group of every agent. Group ids are in sorted-key order, so they do
not depend on agent order or sharding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from societas.population.state import PopulationState
from societas.typing import ConfigError

__all__ = ["Archetypes", "Buckets", "archetypes", "group_by"]


class Buckets(BaseModel):
    """How a numeric array is cut: fixed ``edges`` (ascending) or ``quantiles`` (k groups)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    edges: list[float] | None = None
    quantiles: int | None = Field(default=None, ge=1, le=1000)

    @model_validator(mode="after")
    def _one(self) -> Buckets:
        if (self.edges is None) == (self.quantiles is None):
            raise ValueError("give exactly one of 'edges' and 'quantiles'")
        if self.edges is not None and any(
            b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)
        ):
            raise ValueError("edges must be strictly ascending")
        return self

    def cut(self, values: NDArray[Any]) -> tuple[NDArray[np.int64], list[float]]:
        """Bucket index per value and the edges used."""
        if self.edges is not None:
            edges = np.asarray(self.edges, dtype=np.float64)
        else:
            k = int(self.quantiles or 1)
            qs = np.quantile(values.astype(np.float64), np.linspace(0.0, 1.0, k + 1)[1:-1])
            edges = np.unique(qs)  # ties (many equal values) merge quantile buckets
        return np.searchsorted(edges, values, side="right").astype(np.int64), edges.tolist()


@dataclass(frozen=True)
class Archetypes:
    """``group[i]`` is agent i's group; ``keys[g]``, ``sizes[g]`` describe group g."""

    group: NDArray[np.int64]
    keys: list[str]
    sizes: NDArray[np.int64]
    columns: tuple[str, ...]

    @property
    def n_groups(self) -> int:
        return len(self.keys)

    def members(self, g: int) -> NDArray[np.int64]:
        return np.flatnonzero(self.group == g)

    def first_member(self) -> NDArray[np.int64]:
        """The lowest agent index of each group (a representative)."""
        first = np.full(self.n_groups, -1, dtype=np.int64)
        order = np.arange(self.group.shape[0] - 1, -1, -1)
        first[self.group[order]] = order
        return first


def _fmt(x: float) -> str:
    return f"{x:g}"


def _bucket_label(name: str, b: int, edges: list[float]) -> str:
    lo = "-inf" if b == 0 else _fmt(edges[b - 1])
    hi = "inf" if b == len(edges) else _fmt(edges[b])
    return f"{name}=[{lo},{hi})"


def group_by(
    columns: Mapping[str, NDArray[Any]],
    *,
    labels: Mapping[str, Sequence[str]] | None = None,
    buckets: Mapping[str, Buckets] | None = None,
    source: str = "archetypes",
    n: int | None = None,
) -> Archetypes:
    """Group rows by the given columns (equal lengths). ``labels`` names categorical codes;
    ``buckets`` cuts numeric columns (a float column needs one); ``n`` is the number of rows
    when there are no columns (everyone in one group)."""
    labels = labels or {}
    buckets = buckets or {}
    names = list(columns)
    for name in buckets:
        if name not in columns:
            raise ConfigError(source, f"buckets.{name}", "a column being grouped by", name)
    lengths = {int(np.asarray(v).shape[0]) for v in columns.values()}
    if len(lengths) > 1:
        raise ConfigError(source, "columns", "arrays of equal length", sorted(lengths))
    n = lengths.pop() if lengths else (n or 0)
    codes: list[NDArray[np.int64]] = []
    describe: list[list[str]] = []
    for name in names:
        values = np.asarray(columns[name])
        if values.ndim != 1:
            raise ConfigError(source, name, "a one-dimensional array", values.shape)
        if name in buckets:
            if values.dtype.kind not in "iufb":
                raise ConfigError(source, f"buckets.{name}", "a numeric column", values.dtype.str)
            code, edges = buckets[name].cut(values)
            present = np.unique(code)
            remap = np.zeros(len(edges) + 1, dtype=np.int64)
            remap[present] = np.arange(present.shape[0])
            codes.append(remap[code])
            describe.append([_bucket_label(name, int(b), edges) for b in present])
        elif values.dtype.kind == "f":
            raise ConfigError(
                source, f"buckets.{name}", "bucket edges or quantiles for a float column", None
            )
        else:
            uniq, inverse = np.unique(values, return_inverse=True)
            codes.append(inverse.astype(np.int64).reshape(-1))
            if name in labels:
                names_of = list(labels[name])
                describe.append([f"{name}={names_of[int(u)]}" for u in uniq])
            else:
                describe.append([f"{name}={u}" for u in uniq.tolist()])
    if not names:
        return Archetypes(
            group=np.zeros(n, dtype=np.int64),
            keys=["all"] if n else [],
            sizes=np.asarray([n] if n else [], dtype=np.int64),
            columns=(),
        )
    radix = [len(d) for d in describe]
    if float(np.prod(np.asarray(radix, dtype=np.float64))) < 2.0**62:
        combined = np.zeros(n, dtype=np.int64)
        for code, r in zip(codes, radix, strict=True):
            combined = combined * r + code
        uniq_comb, group, sizes = np.unique(combined, return_inverse=True, return_counts=True)
        per_column = []
        rest = uniq_comb.copy()
        for r in reversed(radix):
            per_column.append(rest % r)
            rest //= r
        parts = np.stack(list(reversed(per_column)), axis=1)
    else:  # too many combinations for one int64: unique rows instead (slower, same result)
        stacked = np.stack(codes, axis=1)
        parts, group, sizes = np.unique(stacked, axis=0, return_inverse=True, return_counts=True)
    keys = ["|".join(describe[c][int(v)] for c, v in enumerate(row)) for row in parts]
    return Archetypes(
        group=group.astype(np.int64).reshape(-1),
        keys=keys,
        sizes=sizes.astype(np.int64),
        columns=tuple(names),
    )


def archetypes(
    state: PopulationState,
    attributes: Sequence[str] = (),
    *,
    situation: Mapping[str, NDArray[Any]] | None = None,
    buckets: Mapping[str, Buckets | Mapping[str, Any]] | None = None,
    source: str = "archetypes",
) -> Archetypes:
    """Group a population by persona ``attributes`` (names of its arrays) and ``situation``
    arrays (e.g. this tick's wealth or exposure), bucketing numeric ones per ``buckets``."""
    columns: dict[str, NDArray[Any]] = {}
    for name in attributes:
        if name not in state:
            raise ConfigError(
                source, "attributes", f"attributes of the population {state.names}", name
            )
        columns[name] = state[name]
    for name, values in (situation or {}).items():
        if name in columns:
            raise ConfigError(source, f"situation.{name}", "a name not also an attribute", name)
        if np.asarray(values).shape[0] != state.n:
            raise ConfigError(source, f"situation.{name}", f"{state.n} values", len(values))
        columns[name] = np.asarray(values)
    parsed: dict[str, Buckets] = {}
    for name, spec in (buckets or {}).items():
        try:
            parsed[name] = spec if isinstance(spec, Buckets) else Buckets.model_validate(spec)
        except ValueError as exc:
            raise ConfigError(
                source, f"buckets.{name}", "edges: [...] or quantiles: k", spec
            ) from exc
    return group_by(
        columns,
        labels={k: v for k, v in state.labels.items() if k in columns},
        buckets=parsed,
        source=source,
        n=state.n,
    )
