"""The run store: one SQLite file per run (``<dir>/run.db``, WAL).

Writes happen once per tick, in one transaction that holds the tick's events, their
``llm_calls`` rows, the run's progress and a snapshot for resuming: a crash loses at most the
open tick. Readers return typed events or pandas DataFrames.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from societas.store.atomic import atomic_file
from societas.store.migrations import SCHEMA_VERSION, migrate
from societas.typing import Event, EventAdapter, LLMCall, StoreError

__all__ = ["DB_NAME", "RunInfo", "RunStore"]

DB_NAME = "run.db"

RunInfo = dict[str, Any]

_EVENT_COLUMNS = ("seq", "run_id", "tick", "sim_time", "wall_time", "actor", "kind", "parent", "v")


class RunStore:
    """Open with ``RunStore.create(dir, ...)`` for a new run or ``RunStore.open(dir)``."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        # None: keep every tick's snapshot; N: keep the latest N (population runs, whose
        # snapshots hold arrays of a million agents, keep one or two).
        self.keep_snapshots: int | None = None

    # -- opening -------------------------------------------------------------------------

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @staticmethod
    def connect_readonly(path: Path) -> sqlite3.Connection:
        """A connection that reads ``path`` and cannot write to it."""
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA user_version").fetchone()
        except sqlite3.OperationalError as exc:
            # A killed writer leaves a write-ahead log that a read-only connection cannot
            # recover (SQLITE_READONLY_RECOVERY). Recovery changes no data: let a read-write
            # connection do it, and keep that connection from writing anything else.
            conn.close()
            if "readonly" not in str(exc):
                raise
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only=ON")
        return conn

    @classmethod
    def open(cls, directory: str | Path, *, readonly: bool = False) -> RunStore:
        """Open an existing run directory; a clear ``StoreError`` if it is not a run store."""
        directory = Path(directory)
        path = directory / DB_NAME if directory.is_dir() or not directory.suffix else directory
        if not path.is_file():
            raise StoreError(f"{path}: no run store here (expected a run directory with {DB_NAME})")
        if path.stat().st_size == 0:
            raise StoreError(
                f"{path}: empty file, the run stopped before its first write; nothing was "
                "recorded, so delete the directory and start the run again"
            )
        conn: sqlite3.Connection | None = None
        try:
            conn = cls.connect_readonly(path) if readonly else cls._connect(path)
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if not readonly:
                migrate(conn, path)
            elif version > SCHEMA_VERSION:
                raise StoreError(
                    f"{path}: store schema version {version} is newer than this societas reads "
                    f"({SCHEMA_VERSION}); upgrade societas to read it"
                )
            elif version < SCHEMA_VERSION:
                raise StoreError(
                    f"{path}: store schema version {version}, this societas reads "
                    f"{SCHEMA_VERSION}; open it once read-write (e.g. societas resume) to migrate"
                )
            conn.execute("SELECT run_id FROM runs LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            raise StoreError(f"{path}: not a readable run store ({exc})") from exc
        except StoreError:
            if conn is not None:
                conn.close()
            raise
        return cls(path, conn)

    @classmethod
    def create(
        cls,
        directory: str | Path,
        *,
        run_id: str,
        scenario: str,
        seed: int,
        model: str,
        config: Mapping[str, Any],
        num_ticks: int,
        version: str,
    ) -> RunStore:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / DB_NAME
        if path.exists():
            raise StoreError(
                f"{path}: a run already exists here; use 'societas resume {directory}' "
                "or choose another --out"
            )
        # The store is built whole under another name and linked in as run.db: a reader that
        # polls for run.db (the dashboard, a test, `societas status`) never opens a store
        # half-made (empty, or at schema version 0 before its migrations are committed).
        partial = directory / f".{DB_NAME}.partial"
        for leftover in (partial, *(Path(f"{partial}{suffix}") for suffix in ("-wal", "-shm"))):
            leftover.unlink(missing_ok=True)  # a create killed before its link
        try:
            conn = cls._connect(partial)
            try:
                migrate(conn)
                now = time.time()
                row = (run_id, scenario, seed, model, json.dumps(config), num_ticks, now, now)
                conn.execute(
                    "INSERT INTO runs (run_id, scenario, seed, model, config, status, "
                    "num_ticks, created, updated, societas_version) "
                    "VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                    (*row, version),
                )
            finally:
                conn.close()  # the last connection checkpoints the WAL into the file, removes it
            os.link(partial, path)  # fails rather than replace a store made meanwhile
        except FileExistsError:
            raise StoreError(
                f"{path}: a run already exists here; use 'societas resume {directory}' "
                "or choose another --out"
            ) from None
        finally:
            partial.unlink(missing_ok=True)
        return cls(path, cls._connect(path))

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def commit_tick(
        self,
        events: Sequence[Event],
        *,
        ticks_completed: int | None = None,
        snapshot: tuple[int, int, Mapping[str, Any]] | None = None,
        status: str | None = None,
        metrics: Mapping[tuple[str, int], float] | None = None,
        error: str | None = None,
    ) -> None:
        """Write a tick's events (and progress, snapshot, metrics) in one transaction.

        ``snapshot`` is ``(tick, next_seq, state)``.
        """
        try:
            self._commit(events, ticks_completed, snapshot, status, metrics, error)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: could not record the tick ({exc})") from exc

    def _commit(
        self,
        events: Sequence[Event],
        ticks_completed: int | None,
        snapshot: tuple[int, int, Mapping[str, Any]] | None,
        status: str | None,
        metrics: Mapping[tuple[str, int], float] | None,
        error: str | None,
    ) -> None:
        with self._transaction() as conn:
            _insert_events(conn, events)
            run_id = self.run_id()
            if snapshot is not None:
                tick, next_seq, state = snapshot
                conn.execute(
                    "INSERT OR REPLACE INTO snapshots (tick, next_seq, state) VALUES (?, ?, ?)",
                    (tick, next_seq, json.dumps(state)),
                )
                if self.keep_snapshots is not None:
                    conn.execute(
                        "DELETE FROM snapshots WHERE tick NOT IN "
                        "(SELECT tick FROM snapshots ORDER BY tick DESC LIMIT ?)",
                        (max(1, self.keep_snapshots),),
                    )
            if metrics:
                conn.executemany(
                    "INSERT OR REPLACE INTO metrics (run_id, name, tick, value) "
                    "VALUES (?, ?, ?, ?)",
                    [(run_id, name, tick, value) for (name, tick), value in metrics.items()],
                )
            sets = ["updated = ?"]
            params: list[Any] = [time.time()]
            if ticks_completed is not None:
                sets.append("ticks_completed = ?")
                params.append(ticks_completed)
            if status is not None:
                sets.append("status = ?")
                params.append(status)
            if error is not None:
                sets.append("error = ?")
                params.append(error)
            conn.execute(f"UPDATE runs SET {', '.join(sets)}", params)  # noqa: S608 - fixed names

    def set_config(self, config: Mapping[str, Any]) -> None:
        """Replace the run's stored settings (a resume given a new ``run.budget``)."""
        with self._transaction() as conn:
            conn.execute("UPDATE runs SET config = ?", (json.dumps(dict(config)),))

    def set_status(self, status: str, error: str | None = None) -> None:
        self.commit_tick([], status=status, error=error)

    # -- reading -------------------------------------------------------------------------

    def run_info(self) -> RunInfo:
        cur = self._conn.execute("SELECT * FROM runs LIMIT 1")
        row = cur.fetchone()
        if row is None:
            raise StoreError(f"{self.path}: the runs table is empty")
        info = dict(zip([d[0] for d in cur.description], row, strict=True))
        info["config"] = json.loads(info["config"])
        return info

    def run_id(self) -> str:
        return str(self.run_info()["run_id"])

    def latest_snapshot(self) -> tuple[int, int, dict[str, Any]] | None:
        row = self._conn.execute(
            "SELECT tick, next_seq, state FROM snapshots ORDER BY tick DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return int(row[0]), int(row[1]), json.loads(row[2])

    def snapshot_at(self, tick: int) -> tuple[int, int, dict[str, Any]] | None:
        """The snapshot taken after ``tick`` (``-1``: before the first tick), or ``None``."""
        row = self._conn.execute(
            "SELECT tick, next_seq, state FROM snapshots WHERE tick = ?", (tick,)
        ).fetchone()
        if row is None:
            return None
        return int(row[0]), int(row[1]), json.loads(row[2])

    def next_seq(self) -> int:
        row = self._conn.execute("SELECT MAX(seq) FROM events").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def kinds_from(self, seq: int) -> set[str]:
        """The kinds of the events numbered ``seq`` and later (no payload parsing)."""
        rows = self._conn.execute("SELECT DISTINCT kind FROM events WHERE seq >= ?", (seq,))
        return {str(r[0]) for r in rows}

    def iter_events(self, kinds: Iterable[str] | None = None) -> Iterator[Event]:
        cols = ", ".join(_EVENT_COLUMNS)
        if kinds is None:
            cur = self._conn.execute(f"SELECT {cols}, payload FROM events ORDER BY seq")  # noqa: S608
        else:
            kinds = list(kinds)
            marks = ", ".join("?" for _ in kinds)
            cur = self._conn.execute(
                f"SELECT {cols}, payload FROM events WHERE kind IN ({marks}) ORDER BY seq",  # noqa: S608
                kinds,
            )
        for row in cur:
            yield _row_to_event(row)

    def events(self, kinds: Iterable[str] | None = None) -> list[Event]:
        return list(self.iter_events(kinds))

    def events_df(self, kinds: Iterable[str] | None = None) -> pd.DataFrame:
        """One row per event: the common columns plus ``payload`` (a dict)."""
        rows = []
        for event in self.iter_events(kinds):
            common = {c: getattr(event, c) for c in _EVENT_COLUMNS}
            common["payload"] = event.payload()
            rows.append(common)
        return pd.DataFrame(rows, columns=[*_EVENT_COLUMNS, "payload"])

    def llm_calls_df(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM llm_calls ORDER BY seq", self._conn)

    def metrics_df(self) -> pd.DataFrame:
        return pd.read_sql_query(
            "SELECT name, tick, value FROM metrics ORDER BY name, tick", self._conn
        )

    def final_metrics(self) -> dict[str, float]:
        rows = self._conn.execute(
            "SELECT name, value FROM metrics WHERE tick = -1 ORDER BY name"
        ).fetchall()
        return {str(name): float(value) for name, value in rows if value is not None}

    def counts(self) -> dict[str, int]:
        events = self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        calls, prompt, completion = self._conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0) "
            "FROM llm_calls"
        ).fetchone()
        return {
            "events": int(events),
            "llm_calls": int(calls),
            "prompt_tokens": int(prompt),
            "completion_tokens": int(completion),
        }

    def spend_by_model(self) -> list[tuple[str, int, int, int]]:
        """(model, calls, prompt tokens, completion tokens) of the calls a model answered
        (status ok or invalid, not served from the response cache), plus those of ticks
        dropped at a pause (``run_paused`` events): what the run paid for."""
        rows = self._conn.execute(
            "SELECT model, COUNT(*), COALESCE(SUM(prompt_tokens), 0), "
            "COALESCE(SUM(completion_tokens), 0) FROM llm_calls "
            "WHERE cache_hit = 0 AND status != 'error' GROUP BY model ORDER BY model"
        ).fetchall()
        spend = {str(m): [int(c), int(p), int(q)] for m, c, p, q in rows}
        # The calls of ticks dropped at a pause: paid, never recorded as llm_call events.
        for (payload,) in self._conn.execute(
            "SELECT payload FROM events WHERE kind = 'run_paused' ORDER BY seq"
        ):
            for model, row in json.loads(payload).get("dropped_spend", {}).items():
                total = spend.setdefault(str(model), [0, 0, 0])
                for i, value in enumerate(row[:3]):
                    total[i] += int(value)
        return [(m, spend[m][0], spend[m][1], spend[m][2]) for m in sorted(spend)]

    # -- export --------------------------------------------------------------------------

    def export_jsonl(self, out: str | Path) -> int:
        n = 0
        with atomic_file(out) as fh:
            for event in self.iter_events():
                fh.write(event.model_dump_json() + "\n")
                n += 1
        return n

    def calls(self) -> Iterator[dict[str, Any]]:
        """Every model call with its prompt and answer, in order: the ``llm_calls`` row plus
        ``messages`` ([{role, content}]), ``schema_name``, ``sampling``, ``answer`` and the
        ``response_format`` (calls recorded before prompts were stored have no messages)."""
        tables = {
            r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        has_prompts = "llm_prompts" in tables
        join = (
            "LEFT JOIN llm_prompts p ON p.seq = c.seq"
            if has_prompts
            else "LEFT JOIN (SELECT NULL AS seq, NULL AS messages, NULL AS schema_name, "
            "NULL AS sampling, NULL AS answer) p ON 0"
        )
        cur = self._conn.execute(
            "SELECT c.*, e.payload, p.messages, p.schema_name, p.sampling, p.answer "  # noqa: S608
            f"FROM llm_calls c JOIN events e ON e.seq = c.seq {join} ORDER BY c.seq"
        )
        names = [d[0] for d in cur.description]
        blobs: dict[str, str] = {}
        for row in cur:
            data = dict(zip(names, row, strict=True))
            payload = json.loads(data.pop("payload"))
            messages = json.loads(data.pop("messages") or "null")
            sampling = data.pop("sampling")
            answer = data.pop("answer")
            data["faults"] = json.loads(data["faults"])
            data["repair"] = bool(data["repair"])
            data["cache_hit"] = bool(data["cache_hit"])
            data["response_format"] = payload.get("response_format")
            data["messages"] = (
                [{"role": role, "content": self._blob(h, blobs)} for role, h in messages]
                if messages is not None
                else None
            )
            data["sampling"] = json.loads(sampling) if sampling else None
            data["answer"] = self._blob(answer, blobs) if answer else None
            yield data

    def _blob(self, key: str, memo: dict[str, str]) -> str:
        text = memo.get(key)
        if text is None:
            row = self._conn.execute("SELECT data FROM blobs WHERE hash = ?", (key,)).fetchone()
            if row is None:
                raise StoreError(f"{self.path}: blob {key} is missing; run 'societas check'")
            text = zlib.decompress(row[0]).decode("utf-8")
            if len(memo) < 10_000:
                memo[key] = text
        return text

    def export_calls(self, out: str | Path) -> int:
        """One JSON line per model call: its messages and its answer (``calls``)."""
        n = 0
        with Path(out).open("w", encoding="utf-8") as fh:
            for call in self.calls():
                fh.write(json.dumps(call, ensure_ascii=False) + "\n")
                n += 1
        return n

    def export_parquet(self, out: str | Path) -> int:
        df = self.events_df()
        df["payload"] = df["payload"].map(lambda p: json.dumps(p, sort_keys=True))
        with atomic_file(out, binary=True) as fh:
            df.to_parquet(fh, index=False)
        return len(df)


def _insert_events(conn: sqlite3.Connection, events: Sequence[Event]) -> None:
    if not events:
        return
    conn.executemany(
        "INSERT INTO events (seq, run_id, tick, sim_time, wall_time, actor, kind, parent, v, "
        "payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                e.seq,
                e.run_id,
                e.tick,
                e.sim_time,
                e.wall_time,
                e.actor,
                e.kind,
                e.parent,
                e.v,
                json.dumps(e.payload()),
            )
            for e in events
        ],
    )
    calls = [e for e in events if isinstance(e, LLMCall)]
    if calls:
        conn.executemany(
            "INSERT INTO llm_calls (seq, run_id, tick, actor, purpose, model, request_hash, "
            "prompt_tokens, completion_tokens, status, attempts, repair, error, latency_ms, "
            "cache_hit, faults) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    c.seq,
                    c.run_id,
                    c.tick,
                    c.actor,
                    c.purpose,
                    c.model,
                    c.request_hash,
                    c.prompt_tokens,
                    c.completion_tokens,
                    c.status,
                    c.attempts,
                    int(c.repair),
                    c.error,
                    c.latency_ms,
                    int(c.cache_hit),
                    json.dumps(c.faults),
                )
                for c in calls
            ],
        )
        _insert_prompts(conn, calls)


def _blob_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


def _insert_prompts(conn: sqlite3.Connection, calls: Sequence[LLMCall]) -> None:
    """Each call's prompt and answer: texts once in ``blobs``, references in ``llm_prompts``."""
    rows = []
    texts: dict[str, str] = {}
    for call in calls:
        prompt = call.prompt
        if not prompt:
            continue
        refs = []
        for role, content in prompt.get("messages", []):
            key = _blob_key(content)
            texts[key] = content
            refs.append([role, key])
        answer = prompt.get("answer")
        answer_key = None
        if isinstance(answer, str):
            answer_key = _blob_key(answer)
            texts[answer_key] = answer
        sampling = prompt.get("sampling")
        rows.append(
            (
                call.seq,
                json.dumps(refs, separators=(",", ":")),
                prompt.get("schema_name"),
                json.dumps(sampling, sort_keys=True) if sampling is not None else None,
                answer_key,
            )
        )
    if not rows:
        return
    known = set()
    keys = list(texts)
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        known |= {
            r[0]
            for r in conn.execute(f"SELECT hash FROM blobs WHERE hash IN ({marks})", chunk)  # noqa: S608
        }
    conn.executemany(
        "INSERT OR IGNORE INTO blobs (hash, size, data) VALUES (?, ?, ?)",
        [
            (key, len(text), zlib.compress(text.encode("utf-8", "replace"), 6))
            for key, text in texts.items()
            if key not in known
        ],
    )
    conn.executemany(
        "INSERT INTO llm_prompts (seq, messages, schema_name, sampling, answer) "
        "VALUES (?, ?, ?, ?, ?)",
        rows,
    )


def _row_to_event(row: Sequence[Any]) -> Event:
    data = dict(zip(_EVENT_COLUMNS, row[:-1], strict=True))
    data.update(json.loads(row[-1]))
    return EventAdapter.validate_python(data)
