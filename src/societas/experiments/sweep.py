"""Sweeps: every condition x seed is a normal run directory; the experiment directory indexes
them and holds the summary table and plots.

Interrupted sweeps resume: finished runs are skipped, unfinished ones resumed from their
stores, missing ones started. Results are read from the run stores only.
"""

from __future__ import annotations

import json
import math
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from societas.engine import prepare_resume, prepare_run, run_sync
from societas.experiments.spec import ExperimentSpec, load_experiment
from societas.scenarios import get_scenario, load_spec
from societas.store import DB_NAME, RunStore
from societas.typing import ConfigError, SocietasError

__all__ = ["Job", "SweepResult", "run_sweep", "summarise", "t_critical_95"]

# Two-sided 95 % critical values of Student's t for 1..30 degrees of freedom (standard table);
# beyond 30 the normal value 1.96 is used.
_T95 = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
]  # fmt: skip


def t_critical_95(dof: int) -> float:
    if dof < 1:
        return math.nan
    return _T95[dof - 1] if dof <= len(_T95) else 1.96


@dataclass(frozen=True)
class Job:
    condition: str
    seed: int
    sets: tuple[str, ...]
    directory: Path


@dataclass
class SweepResult:
    directory: Path
    runs: pd.DataFrame
    summary: pd.DataFrame
    failed: list[tuple[Job, str]]
    skipped: int
    resumed: int
    started: int


def _status(directory: Path) -> str | None:
    if not (directory / DB_NAME).exists():
        return None
    with RunStore.open(directory, readonly=True) as store:
        return str(store.run_info()["status"])


def _execute(base_file: str, sets: tuple[str, ...], seed: int, directory: str) -> str:
    """Run or resume one job (in a worker process or in-process). Returns what it did."""
    out = Path(directory)
    status = _status(out)
    if status == "completed":
        return "skipped"
    if status is None:
        spec = load_spec(base_file, list(sets), seed=seed)
        run_sync(prepare_run(spec.scenario, spec.config, spec.options, out))
        return "started"
    with RunStore.open(out, readonly=True) as store:
        name = str(store.run_info()["scenario"])
    run_sync(prepare_resume(out, get_scenario(name)))
    return "resumed"


def _plan(spec: ExperimentSpec, directory: Path) -> tuple[Path, list[Job]]:
    directory.mkdir(parents=True, exist_ok=True)
    base_file = directory / "base.yaml"
    base = {"scenario": spec.scenario, **spec.base}
    base_file.write_text(yaml.safe_dump(base, sort_keys=True), encoding="utf-8")
    jobs = []
    for condition in spec.conditions():
        sets = tuple(condition.sets())
        load_spec(str(base_file), list(sets), seed=spec.seeds[0])  # fail early on bad cells
        for seed in spec.seeds:
            run_dir = directory / "runs" / f"{condition.id}-seed{seed}"
            jobs.append(Job(condition.id, seed, sets, run_dir))
    index = {
        "name": spec.name,
        "scenario": spec.scenario,
        "spec": spec.model_dump(mode="json"),
        "conditions": [c.model_dump(mode="json") for c in spec.conditions()],
        "runs": [
            {
                "condition": j.condition,
                "seed": j.seed,
                "dir": str(j.directory.relative_to(directory)),
            }
            for j in jobs
        ],
    }
    (directory / "experiment.json").write_text(json.dumps(index, indent=2), encoding="utf-8")
    return base_file, jobs


def run_sweep(
    spec_path: Path,
    *,
    out: Path | None = None,
    parallel: int = 1,
    runner: str = "local",
    on_done: Callable[[Job, str], None] | None = None,
) -> SweepResult:
    if runner != "local":
        raise ConfigError("--runner", "runner", "local (the ray runner is not built yet)", runner)
    if parallel < 1:
        raise ConfigError("--parallel", "parallel", "a number of processes >= 1", parallel)
    spec = load_experiment(spec_path)
    directory = out or Path("experiments") / spec.name
    base_file, jobs = _plan(spec, directory)
    outcomes: dict[Job, str] = {}
    failed: list[tuple[Job, str]] = []

    def record(job: Job, what: str) -> None:
        outcomes[job] = what
        if on_done is not None:
            on_done(job, what)

    if parallel == 1:
        for job in jobs:
            try:
                record(job, _execute(str(base_file), job.sets, job.seed, str(job.directory)))
            except SocietasError as exc:
                failed.append((job, str(exc)))
                record(job, "failed")
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=parallel, mp_context=ctx) as pool:
            futures: dict[Future[str], Job] = {
                pool.submit(_execute, str(base_file), j.sets, j.seed, str(j.directory)): j
                for j in jobs
            }
            for future, job in futures.items():
                try:
                    record(job, future.result())
                except SocietasError as exc:
                    failed.append((job, str(exc)))
                    record(job, "failed")
    runs = collect(directory, jobs)
    summary = summarise(runs)
    write_outputs(directory, runs, summary)
    counts = {
        w: sum(1 for v in outcomes.values() if v == w) for w in ("skipped", "resumed", "started")
    }
    return SweepResult(directory, runs, summary, failed, **counts)


def collect(directory: Path, jobs: list[Job]) -> pd.DataFrame:
    """One row per completed run and metric, read from the stores."""
    rows: list[dict[str, Any]] = []
    for job in jobs:
        if _status(job.directory) != "completed":
            continue
        with RunStore.open(job.directory, readonly=True) as store:
            for name, value in store.final_metrics().items():
                rows.append(
                    {"condition": job.condition, "seed": job.seed, "metric": name, "value": value}
                )
    return pd.DataFrame(rows, columns=["condition", "seed", "metric", "value"])


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and a 95 % t confidence interval per condition and metric."""
    cols = ["condition", "metric", "n", "mean", "std", "ci95_low", "ci95_high"]
    if runs.empty:
        return pd.DataFrame(columns=cols)
    out = []
    for (condition, metric), group in runs.groupby(["condition", "metric"], sort=True):
        values = group["value"].astype(float)
        n = len(values)
        mean = float(values.mean())
        std = float(values.std(ddof=1)) if n > 1 else math.nan
        half = t_critical_95(n - 1) * std / math.sqrt(n) if n > 1 else math.nan
        out.append([condition, metric, n, mean, std, mean - half, mean + half])
    return pd.DataFrame(out, columns=cols)


def write_outputs(directory: Path, runs: pd.DataFrame, summary: pd.DataFrame) -> None:
    runs.to_csv(directory / "runs.csv", index=False)
    summary.to_csv(directory / "summary.csv", index=False)
    summary.to_parquet(directory / "summary.parquet", index=False)
    _plots(directory / "plots", summary)


def _plots(directory: Path, summary: pd.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.png"):
        old.unlink()
    for metric, group in summary.groupby("metric", sort=True):
        fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(group) + 2), 3.5))
        err = (group["ci95_high"] - group["mean"]).fillna(0.0)
        ax.bar(group["condition"], group["mean"], yerr=err, capsize=4, color="#4c78a8")
        ax.set_title(f"{metric} (mean, 95 % CI over seeds)")
        ax.tick_params(axis="x", rotation=20)
        fig.tight_layout()
        fig.savefig(directory / f"{metric}.png", dpi=100)
        plt.close(fig)
