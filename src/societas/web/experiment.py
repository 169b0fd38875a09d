"""The experiment view's data: a ``societas sweep`` folder's index, summary table and runs.

Reads ``experiment.json`` (conditions and the run directories behind each), ``summary.csv``
(per condition and metric: n, mean, std, 95 % CI, reference) and each run store's final
metrics (read-only), so a cell of the table leads to the runs and values behind it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from societas.store import DB_NAME
from societas.typing import ConfigError
from societas.web.stores import EXPERIMENT_INDEX, read_only

__all__ = ["experiment_view"]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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
        runs.append(record)
    conditions = [
        {"id": str(c.get("id", "")), "overrides": c.get("overrides", {})}
        for c in index.get("conditions", [])
        if isinstance(c, dict)
    ]
    return {
        "name": index.get("name"),
        "scenario": index.get("scenario"),
        "conditions": conditions,
        "summary": summary,
        "runs": runs,
        "spec": index.get("spec"),
    }
