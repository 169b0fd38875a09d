"""An SEIR epidemic and a labour market in a synthetic city, as population arrays.

Stages: 0 susceptible, 1 exposed, 2 infectious, 3 recovered. A tick is a week:

1. behaviour: every person draws ``isolate`` and (if employed) ``at_work`` from the
   probabilities of their archetype (the model's answer per group, or the fixed rule);
2. ``days`` daily disease steps. On day d a susceptible person i (age band a, borough b,
   occupation o) is exposed with probability 1 - exp(-lambda_i), where

       homogeneous:  lambda_i = beta * I / N
       structured:   lambda_i = sigma_a * ( beta_hh * I_hh(i)
                         + beta * tau_b * c_a * k_w * (1 - e * iso_i)
                               * (h * P_b + (1 - h) * P)
                         + beta_work * k_w * work_i * I_w(b, o) / N_w(b, o) )

   with I_hh(i) the infectious members of i's household, P_b = sum over infectious j in b of
   c_a(j) (1 - e iso_j) divided by the population of b (P the same over the city), I_w / N_w
   the infectious share among those at work in (b, o), sigma the susceptibility and c the
   contact rate of the age band, tau_b the borough's transmission multiplier, k_w the week's
   contact scale, e the isolation effect and h the share of contacts in one's own borough.
   Then each infectious person recovers with probability 1 / infectious_days, each exposed
   person becomes infectious with probability 1 / latent_days, and (with waning immunity)
   each recovered person becomes susceptible with probability 1 / (7 immunity_weeks). The
   newly exposed are marked last, so a person is infectious for at least one day and for
   infectious_days days on average: R0 = beta * infectious_days under homogeneous mixing.
3. labour: an employed on-site worker (essential, hospitality) absent all week loses the job
   with probability ``absence_layoff``; a sector shock lays off its share of the sector; an
   unemployed member of the labour force finds a job with probability ``hiring`` (times the
   sector's current hiring multiplier).

Every draw is counter-based on the person's global index and the aggregates the shards
exchange are integer counts, so any number of shards (local or Ray) gives the same arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from societas.kit import Action, GroupQuery, Observation, Phase, PhaseContext, State, World
from societas.population import Executor, LocalExecutor, PopulationState, ShardState, rng
from societas.scenarios.epidemic.behaviour import (
    INCOME,
    TRENDS,
    Behaviour,
    Radix,
    group_persona,
    group_question,
    heuristic,
    heuristic_fallback,
)
from societas.scenarios.epidemic.clusters import (
    Transition,
    cluster_map,
    cluster_persona,
    cluster_question,
    rule_transition,
    spans,
    transition_fallback,
    transition_tables,
)
from societas.scenarios.epidemic.config import (
    AGE_BANDS,
    ARCHETYPE_KEYS,
    OCCUPATIONS,
    EpidemicConfig,
    Lockdown,
    Stimulus,
)
from societas.scenarios.epidemic.population import synthesize

__all__ = ["DYNAMIC", "EpidemicState", "EpidemicWorld", "WeekResult", "slug"]

S, E, I, R = 0, 1, 2, 3  # noqa: E741 (the SEIR stages)
DYNAMIC = ("stage", "employed", "ever")
N_AGE, N_OCC = len(AGE_BANDS), len(OCCUPATIONS)

# Draw streams (purposes); the draw's "tick" is week * 8 + day (day 7: weekly draws).
_INIT_STAGE, _INIT_JOB = 21, 22
_ISOLATE, _WORK = 31, 32
_INFECT, _RECOVER, _ONSET, _WANE = 41, 42, 43, 44
_LAYOFF, _SHOCK, _HIRE = 51, 52, 53

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]


def slug(name: str) -> str:
    """A metric-name form of a borough: ``Staten Island`` -> ``staten_island``."""
    return "".join(c if c.isalnum() else "_" for c in name.strip().lower())


# -- per-shard steps (module level: Ray pickles them by reference) ----------------------------


def _tally(shard: ShardState, shared: Mapping[str, Any]) -> dict[str, Any]:
    """Integer counts of the infectious by behaviour code (borough, age band, occupation,
    isolating, at work) and their households, for the next day's force of infection."""
    a = shard.arrays
    inf = np.flatnonzero(a["stage"] == I)
    return {
        "infectious": np.bincount(a["bcode"][inf], minlength=int(shared["n_codes"])),
        "households": a["household"][inf],
    }


def _group_sizes(shard: ShardState, shared: Mapping[str, Any]) -> I64:
    codes = _codes(shard, shared)
    sizes: I64 = np.bincount(codes, minlength=int(shared["radix"].size))
    return sizes


def _codes(shard: ShardState, shared: Mapping[str, Any]) -> I64:
    a = shard.arrays
    radix: Radix = shared["radix"]
    income = np.where(a["occupation"] == 0, 2, np.where(a["employed"], 0, 1))
    trend = np.asarray(shared["trend"], dtype=np.int64)[a["borough"]]
    return radix.encode(
        {
            "age": a["age"],
            "borough": a["borough"],
            "occupation": a["occupation"],
            "trend": trend,
            "income": income,
        }
    )


def _behave(shard: ShardState, shared: Mapping[str, Any]) -> dict[str, Any]:
    """Draw this week's isolation and attendance from the group probabilities; set each
    person's behaviour code ((borough * 6 + age) * 4 + occupation) * 4 + 2 isolate + at_work;
    returns the tally and the number of people per code."""
    a = shard.arrays
    seed, t = int(shared["seed"]), int(shared["week"]) * 8 + 7
    idx = shard.global_index()
    codes = _codes(shard, shared)
    p_iso = np.asarray(shared["p_isolate"])[codes]
    p_work = np.asarray(shared["p_work"])[codes]
    del codes
    isolate = rng.uniform(seed, t, _ISOLATE, idx) < p_iso
    open_ = np.asarray(shared["open"], dtype=bool)
    worker = np.flatnonzero(a["employed"] & ~isolate & open_[a["occupation"]])
    at_work = np.zeros(shard.n, dtype=bool)
    at_work[worker] = rng.uniform(seed, t, _WORK, worker + shard.offset) < p_work[worker]
    cell = (a["borough"].astype(np.int32) * N_AGE + a["age"]) * N_OCC + a["occupation"]
    a["bcode"][:] = cell * 4 + isolate * 2 + at_work
    a["isolate"][:] = isolate
    a["at_work"][:] = at_work
    return {
        **_tally(shard, shared),
        "people": np.bincount(a["bcode"], minlength=int(shared["n_codes"])),
    }


def _household_members(hh: NDArray[np.int32], ids: I64) -> tuple[I64, I64]:
    """Rows of this shard (sorted by household) in households ``ids``, and which id each
    row belongs to (index into ``ids``)."""
    starts = np.searchsorted(hh, ids, side="left")
    ends = np.searchsorted(hh, ids, side="right")
    sizes = ends - starts
    owner = np.repeat(np.arange(ids.shape[0], dtype=np.int64), sizes)
    first = np.repeat(starts - np.concatenate(([0], np.cumsum(sizes)[:-1])), sizes)
    rows = first + np.arange(owner.shape[0], dtype=np.int64)
    return rows.astype(np.int64), owner


def _day(shard: ShardState, shared: Mapping[str, Any]) -> tuple[I64, dict[str, Any]]:
    """One disease day; returns new exposures per borough and the tally after the day.

    The force of infection without household contacts depends only on the behaviour code,
    so its probability is a table lookup; the few susceptible people who share a household
    with an infectious one get the household term added and are drawn again with the same
    counter (so the same uniform number decides)."""
    a = shard.arrays
    seed, t = int(shared["seed"]), int(shared["week"]) * 8 + int(shared["day"])
    stage, off, bcode = a["stage"], shard.offset, a["bcode"]
    sus = np.flatnonzero(stage == S)
    p_code = np.asarray(shared["p_code"])
    exposed = sus[rng.uniform(seed, t, _INFECT, sus + off) < p_code[bcode[sus]]]
    ids = np.asarray(shared["hh_ids"], dtype=np.int64)
    if ids.shape[0] and shard.n:
        hh = a["household"]
        keep = (ids >= int(hh[0])) & (ids <= int(hh[-1]))
        rows, owner = _household_members(hh, ids[keep])
        count = np.asarray(shared["hh_counts"], dtype=np.float64)[keep][owner]
        at_risk = stage[rows] == S
        rows, count = rows[at_risk], count[at_risk]
        lam = (
            np.asarray(shared["lam_code"])[bcode[rows]]
            + np.asarray(shared["hh_code"])[bcode[rows]] * count
        )
        hit = rows[rng.uniform(seed, t, _INFECT, rows + off) < -np.expm1(-lam)]
        exposed = np.union1d(exposed, hit)
    inf = np.flatnonzero(stage == I)
    stage[inf[rng.uniform(seed, t, _RECOVER, inf + off) < float(shared["p_recover"])]] = R
    lat = np.flatnonzero(stage == E)
    stage[lat[rng.uniform(seed, t, _ONSET, lat + off) < float(shared["p_onset"])]] = I
    if float(shared["p_wane"]) > 0.0:
        rec = np.flatnonzero(stage == R)
        stage[rec[rng.uniform(seed, t, _WANE, rec + off) < float(shared["p_wane"])]] = S
    stage[exposed] = E
    a["ever"][exposed] = True
    new: I64 = np.bincount(a["borough"][exposed], minlength=int(shared["n_boroughs"]))
    return new, _tally(shard, shared)


def _labour(shard: ShardState, shared: Mapping[str, Any]) -> dict[str, I64]:
    """The week's job losses and hires; returns the week's counts."""
    a = shard.arrays
    seed, t = int(shared["seed"]), int(shared["week"]) * 8 + 7
    occ, employed = a["occupation"], a["employed"]
    force = occ != 0
    onsite = (occ == 1) | (occ == 3)
    # Draws only where they can matter; each person's number is the same whatever the subset.
    absent = np.flatnonzero(employed & onsite & ~a["at_work"])
    lose = absent[
        rng.uniform(seed, t, _LAYOFF, absent + shard.offset) < float(shared["absence_layoff"])
    ]
    layoff = np.asarray(shared["layoff"])
    if layoff.any():
        held = np.flatnonzero(employed)
        shock = held[rng.uniform(seed, t, _SHOCK, held + shard.offset) < layoff[occ[held]]]
    else:
        shock = np.zeros(0, dtype=np.int64)
    seeking = np.flatnonzero(force & ~employed)
    hire = seeking[
        rng.uniform(seed, t, _HIRE, seeking + shard.offset)
        < np.asarray(shared["hire"])[occ[seeking]]
    ]
    employed[lose] = False
    employed[shock] = False
    employed[hire] = True
    n_b = int(shared["n_boroughs"])
    bor = a["borough"]
    return {
        "labour_force": np.bincount(bor[force], minlength=n_b),
        "unemployed": np.bincount(bor[force & ~employed], minlength=n_b),
        "stages": np.bincount(a["stage"], minlength=4),
        "infectious": np.bincount(bor[a["stage"] == I], minlength=n_b),
        "ever": np.asarray([int(a["ever"].sum())]),
        "isolating": np.asarray([int(a["isolate"].sum())]),
        "at_work": np.asarray([int(a["at_work"].sum())]),
        "employed": np.asarray([int(employed.sum())]),
        "people": np.bincount(bor, minlength=n_b),
    }


def _merge(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Shard results summed (households concatenated), in shard order."""
    out: dict[str, Any] = {}
    for key in parts[0]:
        if key == "households":
            out[key] = np.concatenate([p[key] for p in parts])
        else:
            out[key] = np.sum([p[key] for p in parts], axis=0)
    return out


# -- the world --------------------------------------------------------------------------------


class EpidemicState(State):
    """The draw key, the weekly new infections per borough so far (the case trend the groups
    see) and the infections before the run; the people live in the executor's arrays."""

    seed: int = 0
    weekly_new: list[list[int]] = Field(default_factory=list)


class WeekResult:
    """What one week did (the figures ``resolve`` records as metrics)."""

    def __init__(self, new: I64, labour: Mapping[str, Any], groups: int) -> None:
        self.new = new
        self.labour = labour
        self.groups = groups


class EpidemicWorld(World[EpidemicConfig, EpidemicState]):
    """Population-only world: one phase a week (a groups phase with archetype behaviour)."""

    uses_executor = True
    keep_snapshots = 2

    def setup(self, rng_: np.random.Generator) -> None:
        self.state.seed = int(rng_.integers(0, 2**62))
        self._executor: Executor | None = None
        self._prepare()

    def _prepare(self) -> None:
        c = self.config
        self.borough_names = c.borough_names
        self._radix = Radix(c.archetype_keys, len(self.borough_names))
        self._full = Radix(ARCHETYPE_KEYS, len(self.borough_names))
        self._asked: list[int] = []
        self._n_codes = len(self.borough_names) * N_AGE * N_OCC * 4
        self._people: I64 | None = None
        # Behaviour clusters: the cluster of every archetype code (clusters.py).
        self._cluster_of = np.zeros(0, dtype=np.int64)
        self._jobless = np.zeros(0, dtype=bool)
        if c.behaviour == "clusters":
            self._jobless = _jobless(self._radix)
            self._cluster_of = cluster_map(self._profiles(), c.clusters)
        self.rules_text = (
            "A contagious respiratory disease is spreading in New York City. Each week people "
            "decide whether to isolate at home and whether to go to their workplace; isolating "
            "and staying away from work lower the risk of infection, and on-site workers who "
            "stay away risk losing their job."
        )

    def reconfigured(self) -> None:
        self._prepare()

    @classmethod
    def with_seed(cls, config: EpidemicConfig, seed: int) -> EpidemicWorld:
        """A world whose draws are keyed by ``seed`` (for stepping it by hand)."""
        world = cls(config, [], np.random.default_rng(0))
        world.state.seed = seed
        return world

    # -- executor ------------------------------------------------------------------------

    def _initial_arrays(self) -> dict[str, NDArray[Any]]:
        c, seed = self.config, self.state.seed
        arrays = synthesize(c, seed)
        idx = np.arange(c.agents, dtype=np.int64)
        u = rng.uniform(seed, 0, _INIT_STAGE, idx)
        stage = np.where(
            u < c.initial_infected, I, np.where(u < c.initial_infected + c.initial_recovered, R, S)
        ).astype(np.int8)
        force = arrays["occupation"] != 0
        rate = np.asarray(
            [c.initial_unemployment_by.get(b, c.initial_unemployment) for b in c.borough_names]
        )[arrays["borough"]]
        employed = force & (rng.uniform(seed, 0, _INIT_JOB, idx) >= rate)
        arrays.update(stage=stage, employed=employed, ever=stage == I)
        return arrays

    def _weekly(self, n: int) -> dict[str, NDArray[Any]]:
        return {
            "isolate": np.zeros(n, dtype=bool),
            "at_work": np.zeros(n, dtype=bool),
            "bcode": np.zeros(n, dtype=np.int32),
        }

    def use_executor(self, executor: Executor) -> None:
        """Move the population into ``executor`` (the runner calls this before running)."""
        arrays = self._gather() if self._executor is not None else self._initial_arrays()
        if self._executor is not None and self._executor is not executor:
            self._executor.close()
        self._executor = executor
        self._scatter(arrays)

    def _scatter(self, arrays: dict[str, NDArray[Any]]) -> None:
        assert self._executor is not None
        n = self.config.agents
        self._people = np.bincount(arrays["borough"], minlength=len(self.borough_names))
        self._executor.scatter({**arrays, **self._weekly(n)})

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            self.use_executor(LocalExecutor(1))
        assert self._executor is not None
        return self._executor

    def _gather(self) -> dict[str, NDArray[Any]]:
        assert self._executor is not None
        return self._executor.gather()

    def arrays(self) -> dict[str, NDArray[Any]]:
        """Every person's arrays (gathered from the shards)."""
        return self.executor.gather()

    # -- phases --------------------------------------------------------------------------

    def num_ticks(self) -> int:
        return self.config.weeks

    def phases(self, tick: int) -> Sequence[Phase]:
        if self.config.behaviour == "clusters":
            return [
                Phase(
                    name="behaviour",
                    action_model=Transition,
                    mode="groups",
                    groups=self.cluster_groups,
                    resolve=self.resolve_clusters,
                    fallback=transition_fallback,
                )
            ]
        if self.config.behaviour == "archetypes":
            return [
                Phase(
                    name="behaviour",
                    action_model=Behaviour,
                    mode="groups",
                    groups=self.groups,
                    resolve=self.resolve_groups,
                    fallback=heuristic_fallback,
                )
            ]
        return [
            Phase(
                name="week",
                action_model=Behaviour,
                observe=_nobody,
                resolve=self.resolve_rule,
                fallback=heuristic_fallback,
            )
        ]

    def _trend(self) -> I64:
        """Per borough: 0 falling, 1 flat, 2 rising (this week's cases against the mean of the
        last four weeks, as AgentTorch's prompt compares them)."""
        hist = np.asarray(self.state.weekly_new, dtype=np.float64)
        if hist.shape[0] < 2:
            return np.ones(len(self.borough_names), dtype=np.int64)
        last, avg = hist[-1], hist[-4:].mean(axis=0)
        change = np.where(avg > 0, last / np.maximum(avg, 1e-12) - 1.0, 0.0)
        th = self.config.trend_threshold
        out: I64 = np.where(change > th, 2, np.where(change < -th, 0, 1)).astype(np.int64)
        return out

    def _shared(self, week: int, radix: Radix) -> dict[str, Any]:
        return {
            "seed": self.state.seed,
            "week": week,
            "n_boroughs": len(self.borough_names),
            "radix": radix,
            "trend": self._trend(),
        }

    def groups(self, tick: int) -> Sequence[GroupQuery]:
        """One query per non-empty archetype of this week."""
        shared = self._shared(tick, self._radix)
        sizes = np.sum(self.executor.map(_group_sizes, shared), axis=0)
        codes = np.flatnonzero(sizes)
        self._asked = [int(c) for c in codes]
        cols = self._radix.decode(codes.astype(np.int64))
        trend = shared["trend"]
        last = (
            np.asarray(self.state.weekly_new[-1], dtype=np.float64)
            if self.state.weekly_new
            else np.zeros(len(self.borough_names))
        )
        people = self._people_by_borough()
        queries = []
        for g, code in enumerate(self._asked):
            attrs = self._attrs(cols, g)
            place, per_100k, tr = self._situation(cols, g, attrs, trend, last, people)
            fields = {**attrs, "trend": tr}
            queries.append(
                GroupQuery(
                    key="|".join(f"{k}={v}" for k, v in attrs.items()) or "everyone",
                    size=int(sizes[code]),
                    persona_text=group_persona(attrs, int(sizes[code])),
                    observation=Observation(
                        agent_id=f"group:{code}",
                        tick=tick,
                        phase="behaviour",
                        text=group_question(tick, place, per_100k, tr),
                        fields=fields,
                    ),
                )
            )
        return queries

    def _situation(
        self,
        cols: Mapping[str, I64],
        g: int,
        attrs: Mapping[str, str],
        trend: I64,
        last: F64,
        people: I64,
    ) -> tuple[str, float, str]:
        """Where the group of row ``g`` lives, its new cases per 100,000 last week and the
        trend it is told (its borough's, or the city's when it is not keyed by borough)."""
        b = int(cols["borough"][g])
        if b >= 0:
            place, per_100k = attrs["borough"], 1e5 * last[b] / max(people[b], 1)
            tr = TRENDS[int(trend[b])]
        else:
            place = "the city"
            per_100k = 1e5 * float(last.sum()) / max(int(people.sum()), 1)
            tr = TRENDS[int(np.round(np.average(trend, weights=np.maximum(people, 1))))]
        if int(cols["trend"][g]) >= 0:
            tr = attrs["trend"]
        return place, per_100k, tr

    def cluster_groups(self, tick: int) -> Sequence[GroupQuery]:
        """One query per non-empty behaviour cluster of this week: who is in it, and what its
        representative archetype (the most numerous with a job) sees."""
        shared = self._shared(tick, self._radix)
        sizes = np.sum(self.executor.map(_group_sizes, shared), axis=0)
        codes = np.flatnonzero(sizes).astype(np.int64)
        of = self._cluster_of[codes]
        members = np.bincount(of, weights=sizes[codes])
        self._asked = [int(c) for c in np.flatnonzero(members)]
        last = (
            np.asarray(self.state.weekly_new[-1], dtype=np.float64)
            if self.state.weekly_new
            else np.zeros(len(self.borough_names))
        )
        people = self._people_by_borough()
        labels = self._labels()
        queries = []
        for cl in self._asked:
            inside = codes[of == cl]
            cols = self._radix.decode(inside)
            # The most numerous archetype with a job (the answer is about those), or the most
            # numerous one when nobody in the cluster has a job; the first on ties.
            weight = np.where(self._jobless[inside], 0, sizes[inside])
            top = int(np.argmax(weight if weight.any() else sizes[inside]))
            attrs = self._attrs(cols, top)
            place, per_100k, tr = self._situation(cols, top, attrs, shared["trend"], last, people)
            size = int(sizes[inside].sum())
            queries.append(
                GroupQuery(
                    key=f"cluster={cl}",
                    size=size,
                    persona_text=cluster_persona(
                        spans(cols, sizes[inside], labels, self._radix.keys), size
                    ),
                    observation=Observation(
                        agent_id=f"cluster:{cl}",
                        tick=tick,
                        phase="behaviour",
                        text=cluster_question(tick, place, per_100k, tr),
                        fields={**attrs, "trend": tr, "archetypes": int(inside.shape[0])},
                    ),
                )
            )
        return queries

    def resolve_clusters(self, answers: Mapping[str, Action], ctx: PhaseContext) -> None:
        """Every archetype takes its cluster's transition distribution (the fixed rule where a
        cluster was not asked); every member draws from it; then the week runs."""
        dist = rule_transition(*self._rule(self._radix))
        table = np.full((int(self._cluster_of.max()) + 1, 3), np.nan)
        for cl in self._asked:
            answer = answers.get(f"cluster={cl}")
            if isinstance(answer, Transition):
                table[cl] = answer.normalised()
        mine = table[self._cluster_of]
        answered = ~np.isnan(mine[:, 0])
        dist[answered] = mine[answered]
        p_iso, p_work = transition_tables(dist)
        self._record(ctx, self.week(ctx.tick, self._radix, p_iso, p_work, len(self._asked)))

    def _profiles(self) -> F64:
        """Each archetype's behaviour profile: the fixed rule's (isolate, work, home); an
        archetype known to have no job (outside the labour force, or unemployed) never works,
        so its profile is (isolate, 0, 1 - isolate)."""
        profile = rule_transition(*self._rule(self._radix))
        profile[self._jobless, 2] += profile[self._jobless, 1]
        profile[self._jobless, 1] = 0.0
        return profile

    def _labels(self) -> dict[str, Sequence[str]]:
        return {
            "age": AGE_BANDS,
            "borough": tuple(self.borough_names),
            "occupation": OCCUPATIONS,
            "trend": TRENDS,
            "income": INCOME,
        }

    def _attrs(self, cols: Mapping[str, I64], g: int) -> dict[str, str]:
        labels = {
            "age": AGE_BANDS,
            "borough": tuple(self.borough_names),
            "occupation": OCCUPATIONS,
            "trend": TRENDS,
            "income": INCOME,
        }
        return {k: labels[k][int(cols[k][g])] for k in self._radix.keys}

    def _people_by_borough(self) -> I64:
        if self._people is None:
            self._scatter(self._gather())
        assert self._people is not None
        return self._people

    def resolve_groups(self, answers: Mapping[str, Action], ctx: PhaseContext) -> None:
        """Every member draws from its group's answer; then the week runs."""
        p_iso, p_work = self._rule(self._radix)
        cols = self._radix.decode(np.asarray(self._asked, dtype=np.int64))
        for g, code in enumerate(self._asked):
            key = "|".join(f"{k}={v}" for k, v in self._attrs(cols, g).items()) or "everyone"
            answer = answers.get(key)
            if isinstance(answer, Behaviour):
                p_iso[code], p_work[code] = answer.isolate, answer.work
        self._record(ctx, self.week(ctx.tick, self._radix, p_iso, p_work, len(self._asked)))

    def resolve_rule(self, actions: Mapping[str, Action], ctx: PhaseContext) -> None:
        """The fixed rule (or no behaviour at all); then the week runs."""
        p_iso, p_work = self._rule(self._full)
        if self.config.behaviour == "off":
            p_iso[:], p_work[:] = 0.0, 1.0
        self._record(ctx, self.week(ctx.tick, self._full, p_iso, p_work, 0))

    def _rule(self, radix: Radix) -> tuple[F64, F64]:
        cols = radix.decode(np.arange(radix.size, dtype=np.int64))
        return heuristic(cols["age"], cols["occupation"], cols["trend"], cols["income"])

    # -- the week ------------------------------------------------------------------------

    def week(self, week: int, radix: Radix, p_iso: F64, p_work: F64, groups: int) -> WeekResult:
        """Behaviour draws, ``days`` disease steps and the labour update of one week."""
        c, ex = self.config, self.executor
        shared = self._shared(week, radix)
        lockdown = _active(c.lockdown, week)
        stimulus = _active(c.stimulus, week)
        open_ = np.asarray([o != "none" for o in OCCUPATIONS])
        if lockdown is not None:
            open_ &= np.asarray([o not in lockdown.close for o in OCCUPATIONS])
        shared.update(p_isolate=p_iso, p_work=p_work, open=open_)
        shared["n_codes"] = self._n_codes
        tally = _merge(ex.map(_behave, shared))
        people = self._people_by_borough().astype(np.float64)
        n_b = len(self.borough_names)
        tau = np.asarray([c.transmission.get(b, 1.0) for b in self.borough_names])
        scale = c.contact_scale[week] if week < len(c.contact_scale) else 1.0
        if lockdown is not None:
            scale *= lockdown.contacts
        # The code's columns: borough, age band, occupation, isolating, at work.
        code = np.arange(self._n_codes)
        at_work, isolate = code % 2, (code // 2) % 2
        occ, age, bor = (
            (code // 4) % N_OCC,
            (code // (4 * N_OCC)) % N_AGE,
            code // (4 * N_OCC * N_AGE),
        )
        sigma = np.asarray(c.susceptibility, dtype=np.float64)[age]
        contacts = np.asarray(c.contacts, dtype=np.float64)[age]
        reach = contacts * (1.0 - c.isolation_effect * isolate)  # community contacts kept
        work_all = np.bincount(
            bor * N_OCC + occ, weights=tally["people"] * at_work, minlength=n_b * N_OCC
        )
        day_shared: dict[str, Any] = {
            "seed": self.state.seed,
            "week": week,
            "n_boroughs": n_b,
            "n_codes": self._n_codes,
            "p_recover": 1.0 / c.infectious_days,
            "p_onset": 1.0 / c.latent_days,
            "p_wane": 1.0 / (7.0 * c.immunity_weeks) if c.immunity_weeks > 0 else 0.0,
        }
        homogeneous = c.mixing == "homogeneous"
        new = np.zeros(n_b, dtype=np.int64)
        for day in range(c.days):
            inf = tally["infectious"].astype(np.float64)
            if homogeneous:
                lam = np.full(self._n_codes, c.beta * float(inf.sum()) / float(c.agents))
                hh_code = np.zeros(self._n_codes)
                ids, counts = np.zeros(0, np.int64), np.zeros(0, np.int64)
            else:
                eff = np.bincount(bor, weights=inf * reach, minlength=n_b)
                mix = c.home_borough * eff / np.maximum(people, 1.0) + (
                    1.0 - c.home_borough
                ) * eff.sum() / max(float(people.sum()), 1.0)
                work_inf = np.bincount(
                    bor * N_OCC + occ, weights=inf * at_work, minlength=n_b * N_OCC
                )
                work_share = np.divide(
                    work_inf, work_all, out=np.zeros_like(work_all), where=work_all > 0
                )
                lam = sigma * (
                    c.beta * tau[bor] * scale * mix[bor] * reach
                    + c.beta_work * scale * work_share[bor * N_OCC + occ] * at_work
                )
                hh_code = sigma * c.beta_household
                ids, counts = np.unique(tally["households"], return_counts=True)
            day_shared.update(
                day=day,
                p_code=-np.expm1(-lam),
                lam_code=lam,
                hh_code=hh_code,
                hh_ids=ids,
                hh_counts=counts,
            )
            parts = ex.map(_day, day_shared)
            new += np.sum([p[0] for p in parts], axis=0)
            tally = _merge([p[1] for p in parts])
        layoff = np.zeros(N_OCC)
        hire = np.full(N_OCC, c.hiring)
        for shock in sorted(c.shocks, key=lambda s: s.week):
            o = OCCUPATIONS.index(shock.occupation)
            if shock.week == week:
                layoff[o] = max(layoff[o], shock.layoff)
            if shock.week <= week:
                hire[o] = min(1.0, c.hiring * shock.hiring)
        absence_layoff = c.absence_layoff
        if stimulus is not None:
            absence_layoff *= stimulus.layoff
            hire = np.minimum(1.0, hire * stimulus.hiring)
        labour = _merge(
            ex.map(
                _labour,
                {
                    "seed": self.state.seed,
                    "week": week,
                    "n_boroughs": n_b,
                    "absence_layoff": absence_layoff,
                    "layoff": layoff,
                    "hire": hire,
                },
            )
        )
        self.state.weekly_new.append([int(x) for x in new])
        return WeekResult(new, labour, groups)

    def _record(self, ctx: PhaseContext, res: WeekResult) -> None:
        n = float(self.config.agents)
        lab = res.labour
        stages = lab["stages"]
        ctx.metric("new_infections", float(res.new.sum()))
        ctx.metric("new_infections_per_100k", 1e5 * float(res.new.sum()) / n)
        ctx.metric("prevalence", float(stages[I]) / n)
        ctx.metric("exposed", float(stages[E]) / n)
        ctx.metric("susceptible", float(stages[S]) / n)
        ctx.metric("attack_rate", float(lab["ever"][0]) / n)
        ctx.metric("isolating", float(lab["isolating"][0]) / n)
        force = float(lab["labour_force"].sum())
        ctx.metric("at_work", float(lab["at_work"][0]) / max(float(lab["employed"][0]), 1.0))
        ctx.metric("unemployment_rate", float(lab["unemployed"].sum()) / max(force, 1.0))
        ctx.metric("groups", float(res.groups))
        for b, name in enumerate(self.borough_names):
            s = slug(name)
            ctx.metric(f"new_infections_{s}", float(res.new[b]))
            rate = float(lab["unemployed"][b]) / max(float(lab["labour_force"][b]), 1.0)
            ctx.metric(f"unemployment_{s}", rate)

    # -- snapshots: the state plus the changing arrays (the city is rebuilt from the seed) -

    def snapshot(self) -> dict[str, Any]:
        arrays = self.executor.gather()
        dynamic = {k: arrays[k].astype(np.int8) for k in DYNAMIC}
        population = PopulationState(dynamic).snapshot(compress=False)
        return {**super().snapshot(), "population": population}

    def restore(self, state: Mapping[str, Any]) -> None:
        super().restore(state)
        population = PopulationState.from_snapshot(state["population"])
        arrays = synthesize(self.config, self.state.seed)
        arrays["stage"] = np.asarray(population.arrays["stage"], dtype=np.int8)
        arrays["employed"] = np.asarray(population.arrays["employed"]).astype(bool)
        arrays["ever"] = np.asarray(population.arrays["ever"]).astype(bool)
        if self._executor is None:
            self._executor = LocalExecutor(1)
        self._scatter(arrays)


_Spell = TypeVar("_Spell", Lockdown, Stimulus)


def _active(spell: _Spell | None, week: int) -> _Spell | None:
    """The intervention if it is in force in ``week``."""
    if spell is not None and spell.week <= week < spell.week + spell.weeks:
        return spell
    return None


def _jobless(radix: Radix) -> NDArray[np.bool_]:
    """Archetype codes whose members have no job by their key: occupation "none", or income
    unemployed or outside the labour force (a key not chosen counts as unknown)."""
    cols = radix.decode(np.arange(radix.size, dtype=np.int64))
    out: NDArray[np.bool_] = (cols["occupation"] == 0) | (cols["income"] >= 1)
    return out


def _nobody(agent_id: str, tick: int) -> None:
    """The week asks no agent: the population lives in arrays (and groups, when asked)."""
