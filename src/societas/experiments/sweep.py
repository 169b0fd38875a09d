"""Sweeps: every condition x seed is a normal run directory; the experiment directory indexes
them and holds the summary table and plots.

Interrupted sweeps resume: finished runs are skipped, unfinished ones resumed from their
stores, missing ones started. Results are read from the run stores only.

Runners: ``local`` (in this process, or ``parallel`` worker processes) and ``ray`` (one Ray
task per run, on a local Ray instance with ``parallel`` CPUs or on the cluster at
``address``). Both write the same run directories, so either can resume the other's sweep.

A replay sweep (``replay_from``) reruns every run of a finished sweep with the ``replay``
backend: each new run gets a copy of the old run's response cache, so no model is called and
the new table equals the old one.

A branched experiment (``branches:``) runs in two stages: per seed a parent run of the base
settings stops after tick ``at - 1`` (``runs/parent-seedS``, status ``interrupted`` by
design, not in the tables), then every condition is a branch of it (``societas.experiments.
branch``) resumed to the end; the sweep writes ``paired.csv`` (``societas.experiments.
paired``) beside the summary.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import ValidationError

from societas.engine import (
    Progress,
    RunHandle,
    RunInterrupted,
    RunOptions,
    prepare_resume,
    prepare_run,
)
from societas.engine.options import Budget
from societas.engine.runner import make_directory, probe_interventions, stored_config
from societas.experiments.branch import branch_from
from societas.experiments.spec import Branches, ExperimentSpec, Reference, load_experiment
from societas.experiments.workers import (
    NOT_STARTED,
    run_handle,
    run_in_pool,
    run_sequentially,
    stop_requested,
)
from societas.llm.local import THREADS_ENV
from societas.scenarios import get_scenario, load_spec
from societas.scenarios.loader import parse_override
from societas.store import DB_NAME, RunStore, lock_directory
from societas.typing import ConfigError, Persona, SocietasError

__all__ = [
    "INDEX_NAME",
    "RUNNERS",
    "Job",
    "SweepResult",
    "add_reference",
    "collect",
    "run_sweep",
    "summarise",
    "t_critical_95",
]

INDEX_NAME = "experiment.json"
PARENT = "parent"  # the condition name of a branched experiment's parent runs
CACHE_NAME = "cache.db"
RUNNERS = ("local", "ray")
RAY_HINT = "ray installed (pip install 'societas[ray]')"

# Two-sided 95 % critical values of Student's t for 1..30 degrees of freedom (standard table);
# beyond 30 the normal value 1.96 is used.
_T95 = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
]  # fmt: skip

SUMMARY_COLUMNS = [
    "condition",
    "metric",
    "n",
    "mean",
    "std",
    "ci95_low",
    "ci95_high",
    "reference",
    "reference_source",
]


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
    # Branched experiments: a parent's {"stop_at": T}, or a branch's {"parent": DIR, "at": T,
    # "change": {...} | null}, as JSON (it travels to worker processes and Ray tasks).
    plan: str = ""

    @property
    def is_parent(self) -> bool:
        return self.condition == PARENT and bool(self.plan)


@dataclass
class SweepResult:
    directory: Path
    runs: pd.DataFrame
    summary: pd.DataFrame
    failed: list[tuple[Job, str]]
    skipped: int
    resumed: int
    started: int
    note: str = ""
    paired: pd.DataFrame | None = None


def _unrecorded(directory: Path) -> bool:
    """True when ``run.db`` exists but holds no run: the process was killed before the store's
    first write (an empty file), before the run's row was committed, or before the run's
    first event and snapshot (``run_started``) were."""
    db = directory / DB_NAME
    if not db.is_file():
        return False
    if db.stat().st_size == 0:
        return True
    try:
        # Read-only, but able to roll back what a killed writer left half-done.
        conn = RunStore.connect_readonly(db)
        try:
            tables = conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'runs'")
            if int(tables.fetchone()[0]) == 0:
                return True  # killed before the schema was committed
            if int(conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]) == 0:
                return True
            events = int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
            snapshots = int(conn.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0])
            return events == 0 and snapshots == 0
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False  # a damaged store: opening it reports the problem


def _status(directory: Path) -> str | None:
    """The run's status; None when there is no run (yet) in ``directory``."""
    if not (directory / DB_NAME).exists() or _unrecorded(directory):
        return None
    with RunStore.open(directory, readonly=True) as store:
        return str(store.run_info()["status"])


def _execute(
    base_file: str, sets: tuple[str, ...], seed: int, directory: str, plan: str = ""
) -> str:
    """Run or resume one job (in a worker process or in-process). Returns what it did.

    Holds the run directory's write lock from before it looks at the store until the run
    stops, so two sweeps (or a sweep and a ``resume``) never write one run at once."""
    if stop_requested():  # a queued job reached a worker after the sweep was stopped
        return NOT_STARTED
    out = Path(directory)
    make_directory(out)
    with lock_directory(out, "sweep worker"):
        return _execute_locked(base_file, sets, seed, out, json.loads(plan) if plan else {})


def _clear_unrecorded(out: Path) -> None:
    if _unrecorded(out):  # nothing was recorded: start the run afresh
        for suffix in ("", "-wal", "-shm"):
            (out / f"{DB_NAME}{suffix}").unlink(missing_ok=True)


def _ticks_completed(directory: Path) -> int:
    with RunStore.open(directory, readonly=True) as store:
        return int(store.run_info()["ticks_completed"])


def _execute_locked(
    base_file: str, sets: tuple[str, ...], seed: int, out: Path, plan: dict[str, Any]
) -> str:
    if "parent" in plan:
        return _execute_branch(out, plan, _budget(base_file, sets, seed))
    stop_at = plan.get("stop_at")
    status = _status(out)
    if status == "completed":
        return "skipped"
    if stop_at is not None and status is not None and _ticks_completed(out) >= stop_at:
        return "skipped"  # a parent that reached its branch point
    if status is None:
        _clear_unrecorded(out)
        spec = load_spec(base_file, list(sets), seed=seed)
        _run_until(
            prepare_run(spec.scenario, spec.config, spec.options, out, personas=spec.personas),
            stop_at,
        )
        return "started"
    with RunStore.open(out, readonly=True) as store:
        name = str(store.run_info()["scenario"])
    budget = _budget(base_file, sets, seed)
    _run_until(prepare_resume(out, get_scenario(name), budget=budget), stop_at)
    return "resumed"


def _run_until(handle: RunHandle, stop_at: int | None) -> None:
    """Run ``handle`` to its end, or (a parent) until ``stop_at`` ticks are completed; a stop
    of the sweep itself (SIGTERM, Ctrl-C) still raises ``RunInterrupted``."""
    if stop_at is None:
        run_handle(handle)
        return
    simulation = handle.simulation

    def stop_at_branch_point(progress: Progress) -> None:
        if progress.tick >= stop_at:
            simulation.request_stop()

    simulation.on_progress = stop_at_branch_point
    try:
        run_handle(handle)
    except RunInterrupted as exc:
        if stop_requested() or exc.ticks_completed < stop_at:
            raise


def _budget(base_file: str, sets: tuple[str, ...], seed: int) -> Budget:
    """The experiment file's ``run.budget`` as it is now: a run it paused goes on under it."""
    return load_spec(base_file, list(sets), seed=seed).options.budget


def _execute_branch(out: Path, plan: dict[str, Any], budget: Budget) -> str:
    """A branched condition's run: the branch of its seed's parent, made and run to the end,
    or resumed (under the experiment's ``run.budget``)."""
    status = _status(out)
    if status == "completed":
        return "skipped"
    if status is None:
        _clear_unrecorded(out)
        parent, at = Path(plan["parent"]), int(plan["at"])
        if _status(parent) is None:
            raise ConfigError(str(parent), "runs", "a parent run (it did not start)", None)
        done = _ticks_completed(parent)
        if done < at:
            raise ConfigError(
                str(parent),
                "branches.at",
                f"a parent that reaches tick {at} (it ended after {done} ticks: the world was "
                "over before the branch point, so this seed has no branches)",
                done,
            )
        branch_from(parent, at=at, out=out, change=plan.get("change"))
        what = "started"
    else:
        what = "resumed"
    with RunStore.open(out, readonly=True) as store:
        name = str(store.run_info()["scenario"])
    run_handle(prepare_resume(out, get_scenario(name), budget=budget))
    return what


def _execute_reporting(
    base_file: str, sets: tuple[str, ...], seed: int, directory: str, plan: str = ""
) -> tuple[str, str | None]:
    """``_execute`` for a Ray task: a typed failure comes back as its message, so the driver
    reports it like the local runner does (a Ray error would wrap it in a traceback)."""
    try:
        return _execute(base_file, sets, seed, directory, plan), None
    except SocietasError as exc:
        return "failed", str(exc)


# -- planning ---------------------------------------------------------------------------


def _cli_sets(spec: ExperimentSpec, model: str | None, sets: Sequence[str]) -> list[str]:
    """``--set`` items (and ``--model``) applied to every run; a grid key cannot be one."""
    out = list(sets)
    if model is not None:
        out.append(f"run.model={model}")
    for item in out:
        keys, _ = parse_override(item)
        key = ".".join(keys)
        for grid_key in spec.grid:
            if key == grid_key or key.startswith(grid_key + ".") or grid_key.startswith(key + "."):
                source = "--model" if item == f"run.model={model}" else f"--set {item}"
                raise ConfigError(
                    source,
                    key,
                    f"a setting the grid does not vary (the grid varies '{grid_key}')",
                    item,
                )
    return out


def _index_runs(directory: Path) -> dict[tuple[str, int], Path]:
    """(condition, seed) -> run directory, from an experiment directory's index."""
    path = directory / INDEX_NAME
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
        return {(str(r["condition"]), int(r["seed"])): directory / r["dir"] for r in index["runs"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            "--replay-from",
            "replay_from",
            f"an experiment directory made by 'societas sweep' (readable {INDEX_NAME})",
            str(directory),
        ) from exc


def _source_cache(run_dir: Path) -> Path:
    """The response cache a recorded run used: its ``run.cache`` setting, else its cache.db."""
    with RunStore.open(run_dir, readonly=True) as store:
        info = store.run_info()
    status = str(info["status"])
    if status != "completed":
        raise ConfigError(
            "--replay-from",
            "replay_from",
            f"a finished sweep ({run_dir} is {status}; finish it first by running the same "
            "'societas sweep' command on it again)",
            str(run_dir),
        )
    configured = info["config"].get("run", {}).get("cache")
    cache = Path(configured) if configured else run_dir / CACHE_NAME
    if not cache.is_file():
        raise ConfigError(
            "--replay-from",
            "replay_from",
            f"the response cache of {run_dir} ({cache} is missing)",
            str(cache),
        )
    return cache


def _copy_cache(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite cache (its WAL included), through SQLite's backup API."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _check_existing(job: Job, base_file: Path) -> None:
    """An existing run must have been made from the same settings, or the table would mix
    runs of different experiments (e.g. another --model, or a replay into the old directory)."""
    if _status(job.directory) is None:
        return
    if job.plan and not job.is_parent:
        _check_branch(job)
        return
    spec = load_spec(str(base_file), list(job.sets), seed=job.seed)
    planned = json.loads(json.dumps(stored_config(spec.config, spec.options, spec.personas)))
    with RunStore.open(job.directory, readonly=True) as store:
        stored = store.run_info()["config"]
    try:  # through the models, so settings added since (with their defaults) compare equal
        config = spec.scenario.config_model.model_validate(stored["scenario"])
        # The budget is not a setting of the results: a higher one resumes a paused run.
        options = RunOptions.model_validate(stored["run"]).model_copy(
            update={"budget": spec.options.budget}
        )
        personas = [Persona.model_validate(p) for p in stored.get("personas", [])]
    except (ValidationError, KeyError, TypeError):
        return  # not comparable: resuming it reports the problem
    if json.loads(json.dumps(stored_config(config, options, personas))) != planned:
        raise ConfigError(
            "--out",
            "out",
            f"a directory whose runs match this experiment ({job.directory} was made with other "
            "settings; use another --out)",
            str(job.directory),
        )


def _check_branch(job: Job) -> None:
    """An existing branch must carry this experiment's change at this branch point."""
    plan = json.loads(job.plan)
    at, change = int(plan["at"]), plan.get("change")
    with RunStore.open(job.directory, readonly=True) as store:
        stored = store.run_info()["config"]
    interventions = stored.get("run", {}).get("interventions", [])
    found = [i for i in interventions if int(i.get("tick", -1)) == at]
    planned = [{"tick": at, **change}] if change else []
    if json.loads(json.dumps(found)) != json.loads(json.dumps(planned)):
        raise ConfigError(
            "--out",
            "out",
            f"a directory whose runs match this experiment ({job.directory} is a branch with "
            "another change or branch point; use another --out)",
            str(job.directory),
        )


def _branch_jobs(
    spec: ExperimentSpec,
    branches: Branches,
    directory: Path,
    base_file: Path,
    cli_sets: list[str],
) -> list[Job]:
    """Per seed a parent job, then per seed and condition a branch job. Each change is tried
    on a probe world first, so a bad one stops the sweep before anything runs."""
    sets = tuple(cli_sets)
    base = load_spec(str(base_file), list(sets), seed=spec.seeds[0])
    for name, change in branches.conditions.items():
        intervention = change.intervention(branches.at)
        if intervention is None:
            continue
        try:
            options = base.options.model_validate(
                {
                    **base.options.model_dump(mode="json"),
                    "interventions": [
                        *base.options.model_dump(mode="json")["interventions"],
                        intervention,
                    ],
                }
            )
            probe_interventions(base.scenario, base.config, options, base.personas)
        except (ConfigError, ValidationError) as exc:
            base_file.unlink(missing_ok=True)
            raise ConfigError(
                "branches", f"conditions.{name}", "a change this scenario accepts", str(exc)
            ) from exc
    parents = {
        seed: Job(
            PARENT,
            seed,
            sets,
            directory / "runs" / f"{PARENT}-seed{seed}",
            json.dumps({"stop_at": branches.at}),
        )
        for seed in spec.seeds
    }
    jobs = list(parents.values())
    for name, change in branches.conditions.items():
        for seed in spec.seeds:
            plan = {
                "parent": str(parents[seed].directory.resolve()),
                "at": branches.at,
                "change": None
                if change.is_empty()
                else change.model_dump(mode="json", exclude_defaults=True),
            }
            jobs.append(
                Job(name, seed, sets, directory / "runs" / f"{name}-seed{seed}", json.dumps(plan))
            )
    return jobs


def _plan(
    spec: ExperimentSpec,
    directory: Path,
    cli_sets: list[str],
    replay_from: Path | None,
    runner: str,
) -> tuple[Path, list[Job]]:
    directory.mkdir(parents=True, exist_ok=True)
    base_file = directory / "base.yaml"
    base = {"scenario": spec.scenario, **spec.base}
    base_file.write_text(yaml.safe_dump(base, sort_keys=True), encoding="utf-8")
    old_runs = _index_runs(replay_from) if replay_from is not None else {}
    jobs = []
    caches: dict[Job, Path] = {}
    if spec.branches is not None:
        jobs = _branch_jobs(spec, spec.branches, directory, base_file, cli_sets)
        for job in jobs:
            _check_existing(job, base_file)
    for condition in spec.conditions() if spec.branches is None else []:
        sets = (*cli_sets, *condition.sets())
        if replay_from is not None:
            sets = (*sets, "run.model=replay")  # last: replaces a grid's run.model too
        try:  # fail early on bad cells
            load_spec(str(base_file), list(sets), seed=spec.seeds[0])
        except ConfigError:
            # Leave no copy of a refused base behind (it may hold what a setting must not,
            # such as an API key).
            base_file.unlink(missing_ok=True)
            raise
        for seed in spec.seeds:
            job = Job(condition.id, seed, sets, directory / "runs" / f"{condition.id}-seed{seed}")
            if replay_from is not None:
                old = old_runs.get((condition.id, seed))
                if old is None:
                    raise ConfigError(
                        "--replay-from",
                        "replay_from",
                        f"an experiment with condition '{condition.id}' seed {seed} (the same "
                        "experiment file as the recorded sweep)",
                        str(replay_from),
                    )
                caches[job] = _source_cache(old)
            _check_existing(job, base_file)
            jobs.append(job)
    for job, cache in caches.items():
        if _status(job.directory) is None:  # a started replay run keeps its copy
            _copy_cache(cache, job.directory / CACHE_NAME)
    index = {
        "name": spec.name,
        "scenario": spec.scenario,
        "spec": spec.model_dump(mode="json"),
        "conditions": [c.model_dump(mode="json") for c in spec.conditions()],
        "overrides": cli_sets,
        "replay_from": str(replay_from) if replay_from is not None else None,
        "runner": runner,
        "runs": [
            {
                "condition": j.condition,
                "seed": j.seed,
                "dir": str(j.directory.relative_to(directory)),
            }
            for j in jobs
            if not j.is_parent
        ],
    }
    if spec.branches is not None:
        index["branches"] = spec.branches.model_dump(mode="json")
        index["parents"] = [
            {"seed": j.seed, "dir": str(j.directory.relative_to(directory))}
            for j in jobs
            if j.is_parent
        ]
    (directory / INDEX_NAME).write_text(json.dumps(index, indent=2), encoding="utf-8")
    return base_file, jobs


# -- runners ----------------------------------------------------------------------------

Record = Callable[[Job, str, str | None], None]


def _run_local(jobs: list[Job], base_file: Path, parallel: int, record: Record) -> None:
    """In this process (``parallel`` 1) or in a tree of worker processes (see ``workers``)."""

    def execute(job: Job) -> str:
        return _execute(str(base_file), job.sets, job.seed, str(job.directory), job.plan)

    if parallel == 1:
        run_sequentially(jobs, execute, record)
        return

    def submit(pool: ProcessPoolExecutor, job: Job) -> Future[str]:
        return pool.submit(
            _execute, str(base_file), job.sets, job.seed, str(job.directory), job.plan
        )

    # Workers share the cores: each local model gets its part (see llm.local.local_threads).
    threads = os.environ.get(THREADS_ENV) or str(max(1, (os.cpu_count() or 1) // parallel))
    run_in_pool(
        jobs,
        submit,
        parallel=parallel,
        threads=threads,
        context=multiprocessing.get_context("spawn"),
        record=record,
    )


def _run_ray(
    jobs: list[Job], base_file: Path, parallel: int, address: str | None, record: Record
) -> None:
    """One Ray task per run. Ray is started once per sweep (or an initialised one reused)."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("--runner", "runner", RAY_HINT, "ray") from exc
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=parallel, include_dashboard=False, log_to_driver=False)
        started = True
    try:
        # Any: ray's stubs type remote functions of at most four arguments.
        task: Any = ray.remote(num_cpus=1, max_retries=0)(_execute_reporting)
        # Absolute paths: a worker on another machine (or another cwd) sees the same files
        # only through a shared filesystem mounted at the same place.
        pending = {
            task.remote(
                str(base_file.resolve()), j.sets, j.seed, str(j.directory.resolve()), j.plan
            ): j
            for j in jobs
        }
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                job = pending.pop(ref)
                what, message = ray.get(ref)
                record(job, what, message)
    finally:
        if started:
            ray.shutdown()


def run_sweep(
    spec_path: Path,
    *,
    out: Path | None = None,
    parallel: int = 1,
    runner: str = "local",
    address: str | None = None,
    model: str | None = None,
    sets: Sequence[str] = (),
    replay_from: Path | None = None,
    on_done: Callable[[Job, str], None] | None = None,
) -> SweepResult:
    """Run (or resume) every condition x seed of an experiment file and summarise them.

    ``model`` and ``sets`` apply to every run (``--model``, ``--set``); ``replay_from`` names
    a finished experiment directory whose runs are replayed from their response caches.
    """
    if runner not in RUNNERS:
        raise ConfigError("--runner", "runner", " or ".join(RUNNERS), runner)
    if parallel < 1:
        raise ConfigError("--parallel", "parallel", "a number of processes >= 1", parallel)
    if address is not None and runner != "ray":
        raise ConfigError("--address", "address", "--runner ray (an address is a Ray cluster)")
    spec = load_experiment(spec_path)
    directory = out or Path("experiments") / spec.name
    if replay_from is not None:
        if replay_from.resolve() == directory.resolve():
            raise ConfigError(
                "--out", "out", "a new directory for the replay (not the recorded one)", str(out)
            )
        if model is not None:
            raise ConfigError("--model", "model", "no --model with --replay-from (it is replay)")
        if spec.branches is not None:
            raise ConfigError(
                "--replay-from",
                "replay_from",
                "an experiment without branches (replaying branched experiments is not "
                "supported yet: rerun it with the same --model, the caches answer the parent's "
                "ticks)",
                str(replay_from),
            )
    if runner == "ray":  # fail before any planning when ray is missing
        try:
            import ray  # noqa: F401
        except ImportError as exc:
            raise ConfigError("--runner", "runner", RAY_HINT, "ray") from exc
    make_directory(directory)
    with lock_directory(directory, "sweep"):
        return _sweep_locked(
            spec,
            directory,
            _cli_sets(spec, model, sets),
            replay_from,
            runner,
            parallel,
            address,
            on_done,
        )


def _sweep_locked(
    spec: ExperimentSpec,
    directory: Path,
    cli_sets: list[str],
    replay_from: Path | None,
    runner: str,
    parallel: int,
    address: str | None,
    on_done: Callable[[Job, str], None] | None,
) -> SweepResult:
    base_file, jobs = _plan(spec, directory, cli_sets, replay_from, runner)
    outcomes: dict[Job, str] = {}
    failed: list[tuple[Job, str]] = []

    def record(job: Job, what: str, message: str | None) -> None:
        outcomes[job] = what
        if message is not None:
            failed.append((job, message))
        if on_done is not None:
            on_done(job, what)

    # Parents first (a branched experiment), then the conditions' runs.
    stages = [[j for j in jobs if j.is_parent], [j for j in jobs if not j.is_parent]]
    for stage in stages:
        if not stage:
            continue
        if runner == "ray":
            _run_ray(stage, base_file, parallel, address, record)
        else:
            _run_local(stage, base_file, parallel, record)
    runs = collect(directory, stages[1])
    series = collect_series(stages[1])
    summary = add_reference(summarise(runs), spec.reference)
    paired = None
    if spec.branches is not None:
        paired = _paired(runs, stages[1], spec.branches)
    write_outputs(directory, runs, summary, series, paired)
    counts = {
        w: sum(1 for v in outcomes.values() if v == w) for w in ("skipped", "resumed", "started")
    }
    note = spec.reference.note if spec.reference is not None else ""
    return SweepResult(directory, runs, summary, failed, **counts, note=note, paired=paired)


def _paired(runs: pd.DataFrame, jobs: list[Job], branches: Branches) -> pd.DataFrame:
    from societas.experiments.paired import agent_figures, paired_differences

    agents = {
        (job.condition, job.seed): agent_figures(job.directory, branches.at)
        for job in jobs
        if _status(job.directory) == "completed"
    }
    return paired_differences(runs, branches.control, agents)


# -- tables -----------------------------------------------------------------------------


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


SERIES_COLUMNS = ["condition", "seed", "metric", "tick", "value"]


def collect_series(jobs: list[Job]) -> pd.DataFrame:
    """The per-tick metrics of every completed run: one row per run, metric and tick."""
    frames = []
    for job in jobs:
        if _status(job.directory) != "completed":
            continue
        with RunStore.open(job.directory, readonly=True) as store:
            frame = store.metrics_df()
        frame = frame[frame["tick"] >= 0].rename(columns={"name": "metric"})
        if not frame.empty:
            frames.append(frame.assign(condition=job.condition, seed=job.seed))
    if not frames:
        return pd.DataFrame(columns=SERIES_COLUMNS)
    return pd.concat(frames, ignore_index=True)[SERIES_COLUMNS]


def summarise_series(series: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95 % t CI over seeds per condition, metric and tick."""
    rows = []
    for (condition, metric, tick), group in series.groupby(
        ["condition", "metric", "tick"], sort=True
    ):
        values = group["value"].astype(float)
        n = len(values)
        mean = float(values.mean())
        std = float(values.std(ddof=1)) if n > 1 else math.nan
        half = t_critical_95(n - 1) * std / math.sqrt(n) if n > 1 else math.nan
        rows.append([condition, metric, tick, n, mean, mean - half, mean + half])
    cols = ["condition", "metric", "tick", "n", "mean", "ci95_low", "ci95_high"]
    return pd.DataFrame(rows, columns=cols)


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


def add_reference(summary: pd.DataFrame, reference: Reference | None) -> pd.DataFrame:
    """The summary with ``reference`` and ``reference_source`` columns (NaN and "" where there
    is none). A referenced pair with no runs gets a row with n = 0, so a misspelt metric
    shows instead of vanishing."""
    table = summary.copy()
    table["reference"] = math.nan
    table["reference_source"] = ""
    table["n"] = table["n"].astype("int64")
    if reference is None:
        return table[SUMMARY_COLUMNS]
    for condition, metrics in reference.values.items():
        for metric, ref in metrics.items():
            hit = (table["condition"] == condition) & (table["metric"] == metric)
            if hit.any():
                table.loc[hit, "reference"] = ref.value
                table.loc[hit, "reference_source"] = ref.source
            else:
                row: dict[str, Any] = dict.fromkeys(SUMMARY_COLUMNS, math.nan)
                row.update(
                    condition=condition,
                    metric=metric,
                    n=0,
                    reference=ref.value,
                    reference_source=ref.source,
                )
                table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
    table["n"] = table["n"].astype("int64")
    table = table.sort_values(["condition", "metric"], kind="stable", ignore_index=True)
    return table[SUMMARY_COLUMNS]


def write_outputs(
    directory: Path,
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    series: pd.DataFrame | None = None,
    paired: pd.DataFrame | None = None,
) -> None:
    if paired is not None:
        paired.to_csv(directory / "paired.csv", index=False)
    runs.to_csv(directory / "runs.csv", index=False)
    summary.to_csv(directory / "summary.csv", index=False)
    summary.to_parquet(directory / "summary.parquet", index=False)
    _plots(directory / "plots", summary)
    if series is not None and not series.empty:
        series.to_csv(directory / "series.csv", index=False)
        _series_plots(directory / "plots", summarise_series(series))


def _series_plots(directory: Path, table: pd.DataFrame) -> None:
    """One plot per per-tick metric: each condition's mean over seeds as a line, with its
    95 % CI as a band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for metric, group in table.groupby("metric", sort=True):
        fig, ax = plt.subplots(figsize=(7, 3.8))
        for condition, rows in group.groupby("condition", sort=True):
            ticks = rows["tick"].to_numpy()
            line = ax.plot(ticks, rows["mean"].to_numpy(), lw=1.6, label=str(condition))[0]
            low, high = rows["ci95_low"].to_numpy(), rows["ci95_high"].to_numpy()
            ax.fill_between(ticks, low, high, color=line.get_color(), alpha=0.2, lw=0)
        ax.set_xlabel("tick")
        ax.set_title(f"{metric} per tick (mean, 95 % CI over seeds)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(directory / f"series_{metric}.png", dpi=100)
        plt.close(fig)


def _plots(directory: Path, summary: pd.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.png"):
        old.unlink()
    for metric, group in summary[summary["n"] > 0].groupby("metric", sort=True):
        fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(group) + 2), 3.5))
        err = (group["ci95_high"] - group["mean"]).fillna(0.0)
        x = list(range(len(group)))
        ax.bar(x, group["mean"], yerr=err, capsize=4, color="#4c78a8", label="mean, 95 % CI")
        refs = group["reference"].to_numpy(dtype=float)
        if not all(math.isnan(v) for v in refs):
            ax.scatter(x, refs, marker="D", color="#e45756", zorder=3, label="reference")
            ax.legend(fontsize="small")
        ax.set_xticks(x, list(group["condition"]))
        ax.set_title(f"{metric} (mean, 95 % CI over seeds)")
        ax.tick_params(axis="x", rotation=20)
        fig.tight_layout()
        fig.savefig(directory / f"{metric}.png", dpi=100)
        plt.close(fig)
