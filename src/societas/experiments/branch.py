"""Paired counterfactuals: a new run that shares a finished or running run's past.

``branch_run(parent, at=T, sets=..., message=..., out=D)`` makes D a run whose ticks before T
are the parent's, copied from its store (no model is called for them), and which continues
from the parent's snapshot after tick T - 1 with the change applied at the start of tick T
as an ordinary intervention (``set`` world settings, a ``message`` to the agents). The
response cache is copied too, so requests the change does not touch are answered as before.
The branch gets its own run id; its events before T equal the parent's (``first_difference``
over them is ``None``). ``societas branch`` then resumes it like any interrupted run.

``branch_from`` is the same with the change given as an intervention (or none: a control
that continues the parent unchanged); experiment files' ``branches:`` use it. The branch's
store is built beside its final name and renamed into place, so a killed copy never leaves a
store that looks like a branch without its change.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from societas.scenarios.loader import parse_override
from societas.store import DB_NAME, RunStore
from societas.typing import ConfigError

__all__ = ["CACHE_NAME", "branch_from", "branch_run", "parse_sets"]

CACHE_NAME = "cache.db"


def parse_sets(sets: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` items (dotted keys nest) as the mapping an intervention's ``set`` takes."""
    out: dict[str, Any] = {}
    for item in sets:
        keys, value = parse_override(item)
        node = out
        for part in keys[:-1]:
            node = node.setdefault(part, {})
        node[keys[-1]] = value
    return out


def _copy_db(src: Path, dst: Path) -> None:
    """A consistent copy of a SQLite file (its write-ahead log included)."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def branch_run(
    parent: Path,
    *,
    at: int,
    out: Path,
    sets: Sequence[str] = (),
    message: str | None = None,
) -> Path:
    """Create the branch's run directory ``out`` (see the module docstring); returns it."""
    settings = parse_sets(sets)
    if not settings and message is None:
        raise ConfigError("branch", "--set/--message", "a change: --set KEY=VALUE or --message")
    change: dict[str, Any] = {}
    if settings:
        change["set"] = settings
    if message is not None:
        change["message"] = message
    return branch_from(parent, at=at, out=out, change=change)


def branch_from(parent: Path, *, at: int, out: Path, change: Mapping[str, Any] | None) -> Path:
    """A branch of ``parent`` at tick ``at`` in ``out`` whose change is ``change`` (the fields
    of an intervention without its tick: set, message, to, add, remove), or none."""
    if not (parent / DB_NAME).is_file():
        raise ConfigError(str(parent), "RUN", "a run directory (with run.db)", str(parent))
    if (out / DB_NAME).exists():
        raise ConfigError("--out", "out", "a directory without a run", str(out))
    with RunStore.open(parent, readonly=True) as store:
        info = store.run_info()
    done = int(info["ticks_completed"])
    if not 1 <= at <= done:
        raise ConfigError(
            "--at", "at", f"a tick from 1 to {done} (the parent's completed ticks)", at
        )
    out.mkdir(parents=True, exist_ok=True)
    db = out / f"{DB_NAME}.partial"
    db.unlink(missing_ok=True)
    _copy_db(parent / DB_NAME, db)
    if (parent / CACHE_NAME).is_file():
        _copy_db(parent / CACHE_NAME, out / CACHE_NAME)
    conn = sqlite3.connect(db)
    try:
        # One file to rename into place (the store turns write-ahead logging on again).
        conn.execute("PRAGMA journal_mode=DELETE")
        row = conn.execute("SELECT next_seq FROM snapshots WHERE tick = ?", (at - 1,)).fetchone()
        if row is None:
            raise ConfigError(str(parent), "snapshots", f"a snapshot after tick {at - 1}", None)
        next_seq = int(row[0])
        config = json.loads(conn.execute("SELECT config FROM runs").fetchone()[0])
        run = config.setdefault("run", {})
        kept = [i for i in run.get("interventions", []) if int(i.get("tick", -1)) < at]
        run["interventions"] = kept + ([{"tick": at, **change}] if change else [])
        run_id = uuid.uuid4().hex[:12]
        with conn:
            conn.execute("DELETE FROM llm_calls WHERE seq >= ?", (next_seq,))
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "llm_prompts" in tables:  # prompts of the dropped calls (texts stay in blobs)
                conn.execute("DELETE FROM llm_prompts WHERE seq >= ?", (next_seq,))
            conn.execute("DELETE FROM events WHERE seq >= ?", (next_seq,))
            conn.execute("DELETE FROM snapshots WHERE tick >= ?", (at,))
            conn.execute("DELETE FROM metrics WHERE tick >= ? OR tick = -1", (at,))
            for table in ("events", "llm_calls", "metrics"):
                conn.execute(f"UPDATE {table} SET run_id = ?", (run_id,))  # noqa: S608
            conn.execute(
                "UPDATE runs SET run_id = ?, status = 'interrupted', ticks_completed = ?, "
                "error = NULL, config = ?",
                (run_id, at, json.dumps(config)),
            )
    except BaseException:
        conn.close()
        db.unlink(missing_ok=True)
        raise
    conn.close()
    os.replace(db, out / DB_NAME)
    return out
