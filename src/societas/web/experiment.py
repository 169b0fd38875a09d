"""The experiment view's data: a ``societas sweep`` folder's index, summary table and runs.

Reads ``experiment.json`` (conditions and the run directories behind each), ``summary.csv``
(per condition and metric: n, mean, std, 95 % CI, reference) and each run store's final
metrics (read-only), so a cell of the table leads to the runs and values behind it. A
branched experiment (``branches:``) adds ``paired.csv``: per treatment, metric and agent the
paired difference from the control (mean over seeds, 95 % CI), and the parent runs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from societas.experiments.sweep import t_critical_95
from societas.store import DB_NAME
from societas.typing import ConfigError
from societas.web.reader import series
from societas.web.stores import EXPERIMENT_INDEX, read_only

__all__ = ["experiment_view"]

# Per-tick series of at most this many runs are read (each run's store once).
MAX_SERIES_RUNS = 200
# Rows of paired.csv sent to the page (run-level rows first; the file has them all).
MAX_PAIRED_ROWS = 5000


def _bands(per_run: list[tuple[str, list[dict[str, Any]]]]) -> dict[str, dict[str, list[Any]]]:
    """Per series name and condition: ``[tick, mean, ci95_low, ci95_high, n]`` over the runs
    (seeds) of the condition, with Student's t interval as in the sweep's summary table."""
    values: dict[str, dict[str, dict[int, list[float]]]] = {}
    for condition, run_series in per_run:
        for s in run_series:
            by_tick = values.setdefault(s["name"], {}).setdefault(condition, {})
            for tick, value in s["points"]:
                by_tick.setdefault(int(tick), []).append(float(value))
    out: dict[str, dict[str, list[Any]]] = {}
    for name, conditions in values.items():
        out[name] = {}
        for condition, by_tick in conditions.items():
            rows: list[list[Any]] = []
            for tick in sorted(by_tick):
                xs = by_tick[tick]
                n = len(xs)
                mean = sum(xs) / n
                if n > 1:
                    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
                    half = t_critical_95(n - 1) * sd / math.sqrt(n)
                    rows.append([tick, mean, mean - half, mean + half, n])
                else:
                    rows.append([tick, mean, None, None, n])
            out[name][condition] = rows
    return out


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(path: Path) -> list[dict[str, Any]]:
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    if "agent" in table:
        table["agent"] = ["" if pd.isna(v) else str(v) for v in table["agent"]]
        table = table.sort_values("agent", kind="stable", key=lambda c: c != "")
    rows = table.head(MAX_PAIRED_ROWS).to_dict("records")
    return [{str(k): _clean(v) for k, v in row.items()} for row in rows]


def _rel(path: Path, root: Path) -> str | None:
    path = path.resolve()
    return path.relative_to(root).as_posix() if root in path.parents else None


def experiment_view(directory: Path, root: Path) -> dict[str, Any]:
    """Conditions x metrics with their CIs, and per condition the runs with final metrics."""
    path = directory / EXPERIMENT_INDEX
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(str(path), "", "a readable experiment index (JSON)", str(exc)) from exc
    if not isinstance(index, dict) or not isinstance(index.get("runs"), list):
        raise ConfigError(str(path), "runs", "the index written by 'societas sweep'")
    summary: list[dict[str, Any]] = []
    summary_path = directory / "summary.csv"
    if summary_path.is_file():
        table = pd.read_csv(summary_path)
        summary = [{str(k): _clean(v) for k, v in row.items()} for row in table.to_dict("records")]
    runs: list[dict[str, Any]] = []
    per_run: list[tuple[str, list[dict[str, Any]]]] = []
    for entry in index["runs"]:
        run_dir = (directory / str(entry.get("dir", ""))).resolve()
        rel = run_dir.relative_to(root).as_posix() if root in run_dir.parents else None
        record: dict[str, Any] = {
            "condition": str(entry.get("condition", "")),
            "seed": entry.get("seed"),
            "run": rel,
            "status": "missing",
            "metrics": {},
        }
        db = run_dir / DB_NAME
        if db.is_file():
            with read_only(db) as conn:
                status, completed = conn.execute(
                    "SELECT status, ticks_completed FROM runs LIMIT 1"
                ).fetchone()
                record["status"] = status
                record["ticks_completed"] = completed
                record["metrics"] = {
                    str(n): _clean(float(v))
                    for n, v in conn.execute(
                        "SELECT name, value FROM metrics WHERE tick = -1 AND value IS NOT NULL"
                    )
                }
                if len(per_run) < MAX_SERIES_RUNS:
                    found = series(conn, varying_only=False, limit=1000)
                    per_run.append((record["condition"], found))
        runs.append(record)
    conditions = [
        {"id": str(c.get("id", "")), "overrides": c.get("overrides", {})}
        for c in index.get("conditions", [])
        if isinstance(c, dict)
    ]
    paired_path = directory / "paired.csv"
    paired = _records(paired_path) if paired_path.is_file() else []
    parents = [
        {"seed": p.get("seed"), "run": _rel(directory / str(p.get("dir", "")), root)}
        for p in index.get("parents") or []
        if isinstance(p, dict)
    ]
    return {
        "branches": index.get("branches"),
        "parents": parents,
        "paired": paired,
        "name": index.get("name"),
        "scenario": index.get("scenario"),
        "conditions": conditions,
        "summary": summary,
        "runs": runs,
        "series": _bands(per_run),
        "series_runs": len(per_run),
        "spec": index.get("spec"),
    }
