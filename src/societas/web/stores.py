"""Where the dashboard's runs and experiments are, and read-only connections to their stores.

The dashboard serves one folder: a run directory (it holds ``run.db``), an experiment directory
made by ``societas sweep`` (it holds ``experiment.json``), or any folder with runs and
experiments below it. Runs and experiments are named by their path relative to that folder;
a request may only name one that discovery found, so no request reads outside the folder.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from societas.store import DB_NAME, RunStore
from societas.store.migrations import SCHEMA_VERSION
from societas.typing import ConfigError, StoreError

__all__ = ["EXPERIMENT_INDEX", "Catalog", "read_only"]

EXPERIMENT_INDEX = "experiment.json"
# Folders never searched for runs: environments, caches, version control.
_SKIP = {".venv", "venv", "node_modules", "__pycache__", ".git", ".mypy_cache", ".ruff_cache"}
_MAX_DEPTH = 6


@contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection that cannot write ``path`` (closed on exit); a clear error if unreadable."""
    try:
        conn = RunStore.connect_readonly(path)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: not a readable run store ({exc})") from exc
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{path}: store schema version {version} is newer than this societas reads "
                f"({SCHEMA_VERSION}); upgrade societas to read it"
            )
        yield conn
    finally:
        conn.close()


@dataclass(frozen=True)
class Catalog:
    """The runs and experiments under ``root`` (found again on every ``scan``)."""

    root: Path

    @classmethod
    def at(cls, target: str | Path) -> Catalog:
        root = Path(target).resolve()
        if not root.is_dir():
            if root.name == DB_NAME and root.is_file():
                return cls(root.parent)
            raise ConfigError(
                "RUN_DIR",
                "target",
                "a run directory, a folder of runs or an experiment directory",
                str(target),
            )
        return cls(root)

    def scan(self) -> tuple[list[str], list[str]]:
        """Relative ids of every run and every experiment under the root, sorted."""
        runs: list[str] = []
        experiments: list[str] = []
        base_depth = len(self.root.parts)
        for current, dirs, files in os.walk(self.root):
            here = Path(current)
            if DB_NAME in files:
                runs.append(self._rel(here))
                dirs[:] = []  # a run directory holds no further runs
                continue
            if EXPERIMENT_INDEX in files:
                experiments.append(self._rel(here))
            if len(here.parts) - base_depth >= _MAX_DEPTH:
                dirs[:] = []
            dirs[:] = sorted(d for d in dirs if d not in _SKIP and not d.startswith("."))
        return sorted(runs), sorted(experiments)

    def _rel(self, path: Path) -> str:
        rel = path.relative_to(self.root).as_posix()
        return "" if rel == "." else rel

    def run_db(self, run_id: str) -> Path:
        """The store of a run that discovery finds; ``KeyError`` for any other name."""
        path = self._inside(run_id) / DB_NAME
        if not path.is_file():
            raise KeyError(run_id)
        return path

    def experiment_dir(self, exp_id: str) -> Path:
        path = self._inside(exp_id)
        if not (path / EXPERIMENT_INDEX).is_file():
            raise KeyError(exp_id)
        return path

    def _inside(self, rel: str) -> Path:
        if "\x00" in rel or rel.startswith(("/", "\\")):
            raise KeyError(rel)
        path = (self.root / rel).resolve()
        if path != self.root and self.root not in path.parents:
            raise KeyError(rel)
        return path


def is_live(db: Path, status: str, window_s: float = 30.0) -> bool:
    """A run is live while its status says running and its store changed recently."""
    if status != "running":
        return False
    newest = 0.0
    for candidate in (db, db.with_name(db.name + "-wal")):
        try:
            newest = max(newest, candidate.stat().st_mtime)
        except OSError:
            continue
    return time.time() - newest < window_s
