"""Where a population's arrays live and where per-agent work runs: in process, or in Ray actors.

An executor holds the rows of a population split into contiguous shards. ``map(fn, shared)``
runs ``fn(shard, shared)`` on every shard (in parallel under Ray), where ``fn`` is a
module-level function that changes the shard's arrays in place and returns a partial result;
the results come back in shard order. Code written this way gives the same arrays whatever the
number of shards, provided ``fn`` draws its random numbers from ``societas.population.rng``
with the shard's global indices (``shard.offset + arange(shard.n)``) and combines partial
results in an order-independent way (sums, bincounts, concatenation in shard order).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from societas.typing import ConfigError

__all__ = [
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "ShardFn",
    "ShardState",
    "build_executor",
    "shard_bounds",
]

Array = NDArray[Any]


@dataclass
class ShardState:
    """One shard: rows ``offset .. offset + n - 1`` of the population."""

    arrays: dict[str, Array]
    offset: int
    n: int
    extra: dict[str, Any] = field(default_factory=dict)

    def global_index(self) -> NDArray[np.int64]:
        """The global agent indices of this shard's rows (for counter-based draws)."""
        return np.arange(self.offset, self.offset + self.n, dtype=np.int64)


ShardFn = Callable[[ShardState, Any], Any]


def shard_bounds(n: int, n_shards: int) -> list[tuple[int, int]]:
    """Contiguous, near-equal row ranges; the first ``n % n_shards`` shards get one more row."""
    base, extra = divmod(n, n_shards)
    bounds: list[tuple[int, int]] = []
    lo = 0
    for i in range(n_shards):
        hi = lo + base + (1 if i < extra else 0)
        bounds.append((lo, hi))
        lo = hi
    return bounds


def _split(arrays: Mapping[str, Array], n_shards: int) -> tuple[int, list[tuple[int, int]]]:
    lengths = {k: int(np.asarray(v).shape[0]) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"scatter: arrays of different lengths {lengths}")
    n = next(iter(lengths.values()), 0)
    return n, shard_bounds(n, n_shards)


@runtime_checkable
class Executor(Protocol):
    n_shards: int

    def scatter(self, arrays: dict[str, Array], extra: dict[str, Any] | None = None) -> None: ...

    def map(self, fn: ShardFn, shared: Any = None) -> list[Any]: ...

    def gather(self) -> dict[str, Array]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Shards in this process, run one after the other (``n_shards`` > 1 only for tests of
    shard independence, or to bound the memory of one step's temporaries)."""

    def __init__(self, n_shards: int = 1) -> None:
        if n_shards < 1:
            raise ConfigError("run.shards", "shards", "at least 1 shard", n_shards)
        self.n_shards = n_shards
        self._shards: list[ShardState] = []

    def scatter(self, arrays: dict[str, Array], extra: dict[str, Any] | None = None) -> None:
        _, bounds = _split(arrays, self.n_shards)
        self._shards = [
            ShardState(
                arrays={k: np.array(v[lo:hi], copy=True) for k, v in arrays.items()},
                offset=lo,
                n=hi - lo,
                extra=dict(extra or {}),
            )
            for lo, hi in bounds
        ]

    def map(self, fn: ShardFn, shared: Any = None) -> list[Any]:
        return [fn(shard, shared) for shard in self._shards]

    def gather(self) -> dict[str, Array]:
        if not self._shards:
            return {}
        names = list(self._shards[0].arrays)
        return {k: np.concatenate([s.arrays[k] for s in self._shards]) for k in names}

    def close(self) -> None:
        self._shards = []


class _ShardActor:
    """The body of a Ray actor holding one shard (wrapped by ``ray.remote`` lazily)."""

    def __init__(self) -> None:
        self.shard = ShardState(arrays={}, offset=0, n=0)

    def set(self, arrays: dict[str, Array], offset: int, extra: dict[str, Any]) -> int:
        # Arrays from Ray's object store are read-only views: copy so fn can write in place.
        self.shard = ShardState(
            arrays={k: np.array(v, copy=True) for k, v in arrays.items()},
            offset=offset,
            n=next((int(v.shape[0]) for v in arrays.values()), 0),
            extra=extra,
        )
        return self.shard.n

    def run(self, fn: ShardFn, shared: Any) -> Any:
        return fn(self.shard, shared)

    def get(self) -> dict[str, Array]:
        return self.shard.arrays


def _import_ray() -> Any:
    try:
        import ray  # optional dependency, imported only when asked for
    except ImportError as exc:
        raise ConfigError(
            "run.runner",
            "runner",
            "ray installed for the ray runner (pip install 'societas[ray]')",
            "ray",
        ) from exc
    return ray


class RayExecutor:
    """Each shard lives in a Ray actor; ``map`` runs on all shards at once.

    ``address=None`` starts a local Ray instance with ``num_cpus`` CPUs (default: one per
    shard); ``address="auto"`` or ``"ray://host:10001"`` joins a running cluster. A Ray
    instance already initialised in this process is used as it is and left running.
    """

    def __init__(
        self, n_shards: int, address: str | None = None, *, num_cpus: int | None = None
    ) -> None:
        if n_shards < 1:
            raise ConfigError("run.shards", "shards", "at least 1 shard", n_shards)
        ray = _import_ray()
        self._ray = ray
        self.n_shards = n_shards
        self._owns_ray = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
            }
            if address is None:
                kwargs["num_cpus"] = num_cpus or max(n_shards, 1)
            else:
                kwargs["address"] = address
            ray.init(**kwargs)
            self._owns_ray = True
        actor_cls = ray.remote(num_cpus=1)(_ShardActor)
        self._actors = [
            actor_cls.options(scheduling_strategy="SPREAD").remote() for _ in range(n_shards)
        ]
        self._closed = False

    def scatter(self, arrays: dict[str, Array], extra: dict[str, Any] | None = None) -> None:
        _, bounds = _split(arrays, self.n_shards)
        refs = [
            actor.set.remote({k: v[lo:hi] for k, v in arrays.items()}, lo, dict(extra or {}))
            for actor, (lo, hi) in zip(self._actors, bounds, strict=True)
        ]
        self._ray.get(refs)

    def map(self, fn: ShardFn, shared: Any = None) -> list[Any]:
        shared_ref = self._ray.put(shared)
        fn_ref = self._ray.put(fn)
        return list(self._ray.get([a.run.remote(fn_ref, shared_ref) for a in self._actors]))

    def gather(self) -> dict[str, Array]:
        parts: list[dict[str, Array]] = self._ray.get([a.get.remote() for a in self._actors])
        if not parts:
            return {}
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors = []
        if self._owns_ray:
            self._ray.shutdown()


def build_executor(
    runner: str, *, shards: int | None = None, address: str | None = None
) -> Executor:
    """The executor a run's options ask for: ``local`` (1 shard unless ``shards``) or ``ray``
    (one shard per CPU of the machine unless ``shards``)."""
    if runner == "local":
        return LocalExecutor(shards or 1)
    if runner == "ray":
        return RayExecutor(shards or max(1, os.cpu_count() or 1), address)
    raise ConfigError("run.runner", "runner", "'local' or 'ray'", runner)
