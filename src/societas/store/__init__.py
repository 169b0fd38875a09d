"""Run store: one SQLite file per run, migrations, readers, exports."""

from __future__ import annotations

from societas.store.lock import LOCK_NAME, DirectoryLock, DirectoryLocked, lock_directory
from societas.store.migrations import SCHEMA_VERSION
from societas.store.runstore import DB_NAME, RunStore

__all__ = [
    "DB_NAME",
    "LOCK_NAME",
    "SCHEMA_VERSION",
    "DirectoryLock",
    "DirectoryLocked",
    "RunStore",
    "lock_directory",
]
