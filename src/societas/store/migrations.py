"""Append-only list of schema migrations. ``PRAGMA user_version`` = migrations applied.

Never edit a migration that has shipped; add a new one at the end.
"""

from __future__ import annotations

import sqlite3

from societas.typing.errors import StoreError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate"]

MIGRATIONS: list[str] = [
    # 1: initial schema
    """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        scenario TEXT NOT NULL,
        seed INTEGER NOT NULL,
        model TEXT NOT NULL,
        config TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
        num_ticks INTEGER NOT NULL,
        ticks_completed INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        societas_version TEXT NOT NULL,
        error TEXT
    );
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        tick INTEGER NOT NULL,
        sim_time REAL NOT NULL,
        wall_time REAL NOT NULL,
        actor TEXT,
        kind TEXT NOT NULL,
        parent INTEGER,
        v INTEGER NOT NULL,
        payload TEXT NOT NULL
    );
    CREATE INDEX events_tick ON events (tick);
    CREATE INDEX events_kind ON events (kind, tick);
    CREATE TABLE llm_calls (
        seq INTEGER PRIMARY KEY REFERENCES events (seq),
        run_id TEXT NOT NULL,
        tick INTEGER NOT NULL,
        actor TEXT,
        purpose TEXT NOT NULL,
        model TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        repair INTEGER NOT NULL,
        error TEXT,
        latency_ms REAL NOT NULL,
        cache_hit INTEGER NOT NULL,
        faults TEXT NOT NULL DEFAULT '[]'
    );
    CREATE TABLE metrics (
        run_id TEXT NOT NULL,
        name TEXT NOT NULL,
        tick INTEGER NOT NULL DEFAULT -1,
        value REAL,
        PRIMARY KEY (run_id, name, tick)
    );
    CREATE TABLE snapshots (
        tick INTEGER PRIMARY KEY,
        next_seq INTEGER NOT NULL,
        state TEXT NOT NULL
    );
    """,
    # 2: status 'paused' (the model server was unreachable longer than run.max_outage_s; the
    # run resumes from its last tick). SQLite cannot change a CHECK constraint: copy the table.
    """
    CREATE TABLE runs_v2 (
        run_id TEXT PRIMARY KEY,
        scenario TEXT NOT NULL,
        seed INTEGER NOT NULL,
        model TEXT NOT NULL,
        config TEXT NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('running', 'completed', 'failed', 'interrupted', 'paused')),
        num_ticks INTEGER NOT NULL,
        ticks_completed INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        societas_version TEXT NOT NULL,
        error TEXT
    );
    INSERT INTO runs_v2 SELECT run_id, scenario, seed, model, config, status, num_ticks,
        ticks_completed, created, updated, societas_version, error FROM runs;
    DROP TABLE runs;
    ALTER TABLE runs_v2 RENAME TO runs
    """,
    # 3: every prompt and answer. Texts are stored once (content-addressed, zlib-compressed
    # UTF-8 in blobs); llm_prompts holds, per llm_call event, its messages as [role, hash]
    # pairs, the schema's name, the sampling and the hash of the raw answer.
    """
    CREATE TABLE blobs (
        hash TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        data BLOB NOT NULL
    );
    CREATE TABLE llm_prompts (
        seq INTEGER PRIMARY KEY REFERENCES events (seq),
        messages TEXT NOT NULL,
        schema_name TEXT,
        sampling TEXT,
        answer TEXT
    )
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, path: object = "run store") -> int:
    """Apply pending migrations, each in its own transaction. Returns the new version."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: store schema version {version} is newer than this societas reads "
            f"({SCHEMA_VERSION}); upgrade societas to read it"
        )
    for index in range(version, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[index].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {index + 1:d}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION
