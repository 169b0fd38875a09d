"""Calibrate the borough transmission multipliers to observed weekly cases, then forecast.

Data (``load_cases``): five neighbourhoods, one per borough. The run starts at data week
``start`` and lasts ``train + test`` weeks; the weekly contact scale follows the neighbourhoods'
mean workplace mobility relative to the first week. For a trial with multipliers ``tau`` the
simulated weekly new infections of borough b, ``x_b``, are compared with the neighbourhood's
reported cases ``y_n`` after a reporting scale fitted on the training weeks only (least squares,
``s = sum x y / sum x x``: it absorbs the neighbourhood's share of the borough and the share of
infections reported). The training loss of a borough is the RMSE of ``s x - y`` over the
training weeks; the forecast error is the same RMSE (and the mean absolute error) over the
held-out weeks with the training ``s``. The loss follows AgentTorch's calibration, which
minimises the mean squared error between simulated and observed series
(``agent_torch/models/macro_economics/trainer_calibnn.py`` lines 215 and 404-407,
``torch.nn.MSELoss``); we report its root, in reported cases per week.

Search (gradient-free, deterministic, so a rerun asks for the same trials):

1. a common grid: every borough gets the same multiplier g for each g in ``grid``;
2. per borough, the best g_b by its own training loss; then ``refine`` trials where every
   borough b gets g_b * f for each factor f;
3. per borough, the best multiplier seen by its own loss; one final run with those.

Each trial is a recorded run under ``out/trials/<name>``: a completed trial is read back from
its store, an interrupted one is resumed, so ``calibrate`` picks up where it was stopped.
Unemployment: the simulated weekly borough rates are averaged per calendar month and compared
with the NYS DOL monthly rates (``load_unemployment``), RMSE and MAE in percentage points over
the held-out months.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from societas.engine import RunOptions, prepare_resume, prepare_run, run_sync
from societas.scenarios.epidemic.config import EpidemicConfig
from societas.scenarios.epidemic.data import CaseSeries, load_cases, load_unemployment
from societas.scenarios.epidemic.world import slug
from societas.store import RunStore

__all__ = ["CalibrationResult", "CalibrationSpec", "Trial", "calibrate"]

F64 = NDArray[np.float64]


class CalibrationSpec(BaseModel):
    """What to fit and how: the windows (in data weeks), the simulated city, the behaviour and
    model of the agents, the search."""

    model_config = ConfigDict(extra="forbid")

    start: int = Field(default=8, ge=0, description="first data week (8: 2020-10-03)")
    train: int = Field(default=12, ge=2, le=100)
    test: int = Field(default=8, ge=1, le=100)
    agents: int = Field(default=200_000, ge=1_000, le=20_000_000)
    behaviour: str = Field(default="heuristic", pattern="^(off|heuristic|archetypes|clusters)$")
    model: str = "scripted"
    seed: int = 1
    archetype_keys: list[str] | None = None
    clusters: int | None = Field(default=None, description="behaviour clusters (clusters)")
    grid: list[float] = Field(default=[1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0])
    refine: list[float] = Field(default=[0.85, 0.93, 1.07, 1.15])
    settings: dict[str, Any] = Field(
        default_factory=dict, description="other EpidemicConfig settings"
    )


class Trial(BaseModel):
    name: str
    transmission: dict[str, float]
    weekly: dict[str, list[float]]  # simulated new infections by borough
    unemployment: dict[str, list[float]]  # simulated weekly unemployment rate by borough
    llm_calls: float


class CalibrationResult(BaseModel):
    spec: CalibrationSpec
    trials: list[Trial]
    transmission: dict[str, float]  # by borough
    borough_of: dict[str, str]  # neighbourhood -> borough
    scale: dict[str, float]  # by neighbourhood
    train_rmse: dict[str, float]  # by neighbourhood, reported cases per week
    test_rmse: dict[str, float]
    test_mae: dict[str, float]  # by neighbourhood, reported cases per week
    unemployment_test_rmse: dict[str, float]  # by borough, percentage points
    unemployment_test_mae: dict[str, float]  # by borough, percentage points
    llm_calls: float  # model calls of the final run (all trials: sum over ``trials``)
    observed: dict[str, list[float]]
    forecast: dict[str, list[float]]
    dates: list[str]


def _week_dates(series: CaseSeries, spec: CalibrationSpec) -> list[str]:
    return series.dates[spec.start : spec.start + spec.train + spec.test]


def base_config(spec: CalibrationSpec, cases: dict[str, CaseSeries], data: Path) -> EpidemicConfig:
    """The simulated city of every trial (before the multipliers)."""
    weeks = spec.train + spec.test
    work = np.mean([s.workplaces[spec.start : spec.start + weeks] for s in cases.values()], axis=0)
    scale = (1.0 + work / 100.0) / (1.0 + work[0] / 100.0)
    first = dt.date.fromisoformat(next(iter(cases.values())).dates[spec.start].replace("/", "-"))
    prev = (first.year, first.month - 1) if first.month > 1 else (first.year - 1, 12)
    unemployment = load_unemployment(data)
    settings: dict[str, Any] = {
        "agents": spec.agents,
        "weeks": weeks,
        "behaviour": spec.behaviour,
        "contact_scale": [round(float(x), 4) for x in scale],
        "initial_unemployment_by": {
            b: round(series[prev] / 100.0, 4) for b, series in unemployment.items()
        },
        "initial_recovered": 0.2,
        "initial_infected": 0.0013,
        **spec.settings,
    }
    if spec.archetype_keys is not None:
        settings["archetype_keys"] = spec.archetype_keys
    if spec.clusters is not None:
        settings["clusters"] = spec.clusters
    return EpidemicConfig.model_validate(settings)


def _trial_name(config: EpidemicConfig, spec: CalibrationSpec) -> str:
    key = json.dumps(
        [config.model_dump(mode="json"), spec.model, spec.seed], sort_keys=True
    ).encode()
    return hashlib.sha256(key).hexdigest()[:12]


def run_trial(
    config: EpidemicConfig,
    spec: CalibrationSpec,
    out: Path,
    *,
    log: Callable[[str], None] = lambda _: None,
) -> Trial:
    """One recorded run (read back if completed, resumed if interrupted)."""
    from societas.scenarios.epidemic import EpidemicScenario

    name = _trial_name(config, spec)
    where = out / "trials" / name
    status = None
    if (where / "run.db").exists():
        with RunStore.open(where, readonly=True) as store:
            status = store.run_info()["status"]
    if status != "completed":
        if status is None:
            handle = prepare_run(
                EpidemicScenario(), config, RunOptions(model=spec.model, seed=spec.seed), where
            )
        else:
            handle = prepare_resume(where, EpidemicScenario())
        log(f"trial {name}: running {dict(config.transmission)}")
        run_sync(handle)
    else:
        log(f"trial {name}: recorded")
    with RunStore.open(where, readonly=True) as store:
        df = store.metrics_df()
        final = store.final_metrics()

    def series(metric: str) -> list[float]:
        rows = df[(df["name"] == metric) & (df["tick"] >= 0)].sort_values("tick")
        return [float(v) for v in rows["value"]]

    boroughs = config.borough_names
    return Trial(
        name=name,
        transmission={b: config.transmission.get(b, 1.0) for b in boroughs},
        weekly={b: series(f"new_infections_{slug(b)}") for b in boroughs},
        unemployment={b: series(f"unemployment_{slug(b)}") for b in boroughs},
        llm_calls=final.get("llm_calls", 0.0),
    )


def _fit(sim: F64, obs: F64) -> float:
    den = float(np.dot(sim, sim))
    return float(np.dot(sim, obs)) / den if den > 0 else 0.0


def _rmse(a: F64, b: F64) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def _mae(a: F64, b: F64) -> float:
    return float(np.mean(np.abs(a - b)))


def _loss(trial: Trial, borough: str, obs: F64, train: int) -> tuple[float, float]:
    sim = np.asarray(trial.weekly[borough][:train])
    s = _fit(sim, obs[:train])
    return _rmse(s * sim, obs[:train]), s


def calibrate(
    spec: CalibrationSpec,
    data: Path,
    out: Path,
    *,
    log: Callable[[str], None] = lambda _: None,
) -> CalibrationResult:
    """Fit the multipliers, forecast the held-out weeks, write ``out/calibration.json``."""
    cases = load_cases(data / "county_data.csv")
    base = base_config(spec, cases, data)
    boroughs = base.borough_names
    by_borough = {s.borough: s for s in cases.values()}
    missing = [b for b in boroughs if b not in by_borough]
    if missing:
        raise ValueError(f"no neighbourhood in the data for boroughs {missing}")
    weeks = spec.train + spec.test
    obs = {b: by_borough[b].cases[spec.start : spec.start + weeks] for b in boroughs}
    trials: list[Trial] = []

    def trial(tau: dict[str, float]) -> Trial:
        config = base.model_copy(update={"transmission": {b: round(tau[b], 4) for b in boroughs}})
        t = run_trial(EpidemicConfig.model_validate(config.model_dump()), spec, out, log=log)
        trials.append(t)
        return t

    def best(b: str, among: Sequence[Trial]) -> Trial:
        return min(among, key=lambda t: _loss(t, b, obs[b], spec.train)[0])

    for g in spec.grid:
        trial(dict.fromkeys(boroughs, g))
    centre = {b: best(b, trials).transmission[b] for b in boroughs}
    for f in spec.refine:
        trial({b: centre[b] * f for b in boroughs})
    chosen = {b: best(b, trials).transmission[b] for b in boroughs}
    final = trial(chosen)
    scale, train_rmse, test_rmse, test_mae, forecast = {}, {}, {}, {}, {}
    for b in boroughs:
        hood = by_borough[b].neighbourhood
        loss, s = _loss(final, b, obs[b], spec.train)
        sim = s * np.asarray(final.weekly[b])
        scale[hood], train_rmse[hood] = s, loss
        test_rmse[hood] = _rmse(sim[spec.train :], obs[b][spec.train :])
        test_mae[hood] = _mae(sim[spec.train :], obs[b][spec.train :])
        forecast[hood] = [round(float(x), 2) for x in sim]
    dates = _week_dates(next(iter(cases.values())), spec)
    unemployment = _unemployment_errors(final, dates, spec, data)
    result = CalibrationResult(
        spec=spec,
        trials=trials,
        transmission=chosen,
        borough_of={by_borough[b].neighbourhood: b for b in boroughs},
        scale=scale,
        train_rmse=train_rmse,
        test_rmse=test_rmse,
        test_mae=test_mae,
        unemployment_test_rmse={b: e[0] for b, e in unemployment.items()},
        unemployment_test_mae={b: e[1] for b, e in unemployment.items()},
        llm_calls=final.llm_calls,
        observed={by_borough[b].neighbourhood: [float(x) for x in obs[b]] for b in boroughs},
        forecast=forecast,
        dates=dates,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "calibration.json").write_text(result.model_dump_json(indent=1))
    return result


def _unemployment_errors(
    trial: Trial, dates: list[str], spec: CalibrationSpec, data: Path
) -> dict[str, tuple[float, float]]:
    """RMSE and MAE (percentage points) of the monthly mean of the simulated weekly rate
    against the observed monthly rate, over the months of the held-out weeks."""
    observed = load_unemployment(data)
    months = [
        (d.year, d.month) for d in (dt.date.fromisoformat(x.replace("/", "-")) for x in dates)
    ]
    test_months = sorted(set(months[spec.train :]))
    out = {}
    for b, weekly in trial.unemployment.items():
        errs = []
        for ym in test_months:
            sim = [100.0 * w for w, m in zip(weekly, months, strict=False) if m == ym]
            if sim and ym in observed[b]:
                errs.append(float(np.mean(sim)) - observed[b][ym])
        e = np.asarray(errs)
        out[b] = (
            (float(np.sqrt(np.mean(e**2))), float(np.mean(np.abs(e))))
            if errs
            else (float("nan"), float("nan"))
        )
    return out
