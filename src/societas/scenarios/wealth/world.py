"""The Boltzmann wealth model as population arrays (Dragulescu & Yakovenko 2000; Mesa's
``BoltzmannWealth`` example, non-spatial version).

State: one int64 array ``wealth`` (every agent starts with ``initial_wealth``).

One step (tick ``t``) with ``R = activation_rounds``:

  slot_i   = integers(seed, t, SLOT, i, 0, R)            (R = 1: every agent is in round 0)
  for r in 0 .. R-1:
      G_r  = { i : slot_i == r and wealth_i > 0 }         (wealth as left by round r-1)
      for i in G_r:  j_i = integers(seed, t, TARGET + r, i, 0, N-1);  j_i += (j_i >= i)
      wealth_i -= 1 for i in G_r                          (simultaneously)
      wealth_j += #{ i in G_r : j_i == j } for every j    (np.bincount, i.e. np.add.at)

So within a round all gives happen at once: a giver's unit leaves before anything arrives,
nobody goes negative (a giver has at least one unit and gives exactly one), many givers may
pick the same receiver and all their units arrive (no conflict to resolve), and a unit received
in round r can be given on in a later round of the same step but not in the same round.
Wealth is conserved exactly. With R = 1 this is the synchronous update; as R grows it
approaches Mesa's random sequential activation (``shuffle_do``), where a unit received earlier
in the step can be passed on at once (see docs/scenarios/wealth.md for the Gini of each).

Every draw is counter-based (``population.rng``) on the agent's global index, so the result is
the same for any number of shards, in process or in Ray actors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from societas.kit import Action, Phase, PhaseContext, State, World, WorldState
from societas.population import Executor, LocalExecutor, PopulationState, ShardState, rng
from societas.scenarios.wealth.config import WealthConfig

__all__ = ["Idle", "WealthState", "WealthWorld", "gini", "gini_from_counts"]

STREAM_SLOT = 1
STREAM_TARGET = 1000  # + round


class Idle(Action):
    """The exchange phase has no model decisions; the type exists for the phase contract."""

    action_type = "idle"


def gini(wealth: NDArray[Any]) -> float:
    """Mesa's ``compute_gini``: 1 + 1/n - 2 * sum_i x_(i) (n - i) / (n * sum x), x sorted."""
    x = np.sort(np.asarray(wealth, dtype=np.float64))
    n = int(x.shape[0])
    total = float(x.sum())
    if n == 0 or total == 0.0:
        return 0.0
    b = float((x * (n - np.arange(n))).sum()) / (n * total)
    return 1.0 + 1.0 / n - 2.0 * b


def gini_from_counts(counts: NDArray[np.int64]) -> float:
    """The same Gini from a histogram of integer wealth (``counts[k]`` agents hold k units):
    O(N + max wealth) instead of a sort. Positions a..a+c-1 of value k add
    k * sum (n - i) = k * (c * n - c * (2a + c - 1) / 2)."""
    c = np.asarray(counts, dtype=np.float64)
    n = float(c.sum())
    k = np.arange(c.shape[0], dtype=np.float64)
    total = float((k * c).sum())
    if n == 0.0 or total == 0.0:
        return 0.0
    start = np.concatenate(([0.0], np.cumsum(c)[:-1]))
    b = float((k * (c * n - c * (2.0 * start + c - 1.0) / 2.0)).sum()) / (n * total)
    return 1.0 + 1.0 / n - 2.0 * b


# -- per-shard steps (module level: Ray pickles them by reference) ---------------------------


def _give(shard: ShardState, shared: Mapping[str, Any]) -> NDArray[np.int64]:
    """Apply the units received in the previous round, then this round's gives; returns the
    receivers (global indices) of this round's units."""
    wealth = shard.arrays["wealth"]
    received = shared.get("received")
    if received is not None:
        wealth += received[shard.offset : shard.offset + shard.n]
    seed, tick, n_total = int(shared["seed"]), int(shared["tick"]), int(shared["n"])
    rounds, r = int(shared["rounds"]), int(shared["round"])
    if rounds == 1:
        mask = wealth > 0
    else:
        if r == 0:
            slot = rng.integers(seed, tick, STREAM_SLOT, shard.global_index(), 0, rounds)
            shard.extra["slot"] = slot.astype(np.int16)
        mask = (shard.extra["slot"] == r) & (wealth > 0)
    givers = np.flatnonzero(mask) + shard.offset
    targets = rng.integers(seed, tick, STREAM_TARGET + r, givers, 0, n_total - 1)
    targets += targets >= givers  # skip the giver itself: a uniform other agent
    np.subtract(wealth, mask, out=wealth, casting="unsafe")
    return targets


def _settle(shard: ShardState, shared: Mapping[str, Any]) -> NDArray[np.int64]:
    """Apply the last round's units; returns the shard's wealth histogram."""
    wealth = shard.arrays["wealth"]
    received = shared["received"]
    wealth += received[shard.offset : shard.offset + shard.n]
    shard.extra.pop("slot", None)
    return np.bincount(wealth) if shard.n else np.zeros(1, dtype=np.int64)


def _sum_histograms(parts: Sequence[NDArray[np.int64]]) -> NDArray[np.int64]:
    size = max(p.shape[0] for p in parts)
    total = np.zeros(size, dtype=np.int64)
    for p in parts:
        total[: p.shape[0]] += p
    return total


class WealthState(State):
    """The run's draw key (from the run's RNG) and the steps done; the wealth itself lives in
    the executor's arrays and is snapshotted beside this state."""

    seed: int = 0
    ticks_done: int = 0


class WealthWorld(World[WealthConfig, WealthState]):
    """Population-only world: no focal agents, no model calls, one ``exchange`` phase."""

    uses_executor = True
    keep_snapshots = 2  # a snapshot holds every agent's wealth: keep only the latest two

    def setup(self, rng_: np.random.Generator) -> None:
        # The counter-based draws are keyed by one number taken from the run's RNG, so the run
        # seed decides them (and the run's RNG stays the one source of chance).
        self.state.seed = int(rng_.integers(0, 2**62))
        self._executor: Executor | None = None
        self._exchange = Phase(
            name="exchange",
            action_model=Idle,
            observe=_nobody,
            resolve=self.exchange,
            fallback=Idle(),
        )

    @classmethod
    def with_seed(cls, config: WealthConfig, seed: int) -> WealthWorld:
        """A world whose draws are keyed by ``seed`` (for stepping it by hand)."""
        world = cls(config, [], np.random.default_rng(0))
        world.state.seed = seed
        return world

    # -- executor ------------------------------------------------------------------------

    def use_executor(self, executor: Executor) -> None:
        """Move the population into ``executor`` (the runner calls this before running)."""
        if self._executor is not None:
            arrays = self._gather()
        else:
            n, w = self.config.agents, self.config.initial_wealth
            arrays = {"wealth": np.full(n, w, dtype=np.int64)}
        if self._executor is not None and self._executor is not executor:
            self._executor.close()
        self._executor = executor
        executor.scatter(arrays)

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            self.use_executor(LocalExecutor(1))
        assert self._executor is not None
        return self._executor

    def _gather(self) -> dict[str, NDArray[Any]]:
        assert self._executor is not None
        return self._executor.gather()

    def wealth(self) -> NDArray[np.int64]:
        """Every agent's wealth (gathered from the shards)."""
        return self.executor.gather()["wealth"]

    # -- rules ---------------------------------------------------------------------------

    def num_ticks(self) -> int:
        return self.config.steps

    def phases(self, tick: int) -> Sequence[Phase]:
        return [self._exchange]

    def exchange(self, actions: Mapping[str, Action], ctx: PhaseContext) -> None:
        counts, givers = self.step(ctx.tick)
        ctx.emit(
            WorldState,
            phase="exchange",
            state={
                "gini": gini_from_counts(counts),
                "givers": givers,
                "zero_share": float(counts[0]) / self.config.agents,
                "max_wealth": int(counts.shape[0] - 1),
                "histogram": [int(c) for c in counts],
            },
        )

    def step(self, tick: int) -> tuple[NDArray[np.int64], int]:
        """One exchange step; returns the wealth histogram after it and the number of gives."""
        ex = self.executor
        n = self.config.agents
        shared: dict[str, Any] = {
            "seed": self.state.seed,
            "tick": tick,
            "n": n,
            "rounds": self.config.activation_rounds,
            "received": None,
        }
        givers = 0
        for r in range(self.config.activation_rounds):
            shared["round"] = r
            targets = ex.map(_give, shared)
            givers += sum(int(t.shape[0]) for t in targets)
            shared["received"] = np.bincount(np.concatenate(targets), minlength=n)
        counts = _sum_histograms(ex.map(_settle, shared))
        self.state.ticks_done = tick + 1
        return counts, givers

    # -- snapshots: the kit's state plus the population arrays ---------------------------

    def snapshot(self) -> dict[str, Any]:
        # Narrowed to one byte per agent for small holdings; zlib would cost more time per
        # tick than the bytes it saves are worth (2 snapshots are kept).
        population = PopulationState(self.executor.gather()).snapshot(compress=False)
        return {**super().snapshot(), "population": population}

    def restore(self, state: Mapping[str, Any]) -> None:
        super().restore(state)
        population = PopulationState.from_snapshot(state["population"])
        self.executor.scatter(dict(population.arrays))


def _nobody(agent_id: str, tick: int) -> None:
    """The exchange phase asks no agent: the population lives in arrays."""
