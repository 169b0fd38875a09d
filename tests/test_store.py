"""The run store: migrations, one transaction per tick, typed readers, exports, read-only use."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from societas.store import DB_NAME, SCHEMA_VERSION, RunStore
from societas.typing import (
    ActionEvent,
    Event,
    EventAdapter,
    LLMCall,
    MessageEvent,
    MetricEvent,
    RunCompleted,
    RunStarted,
    StoreError,
    TickCompleted,
    WorldState,
)

RUN_ID = "run0"
EVENT_COLUMNS = ["seq", "run_id", "tick", "sim_time", "wall_time", "actor", "kind", "parent", "v"]
LLM_CALL_COLUMNS = [
    "seq",
    "run_id",
    "tick",
    "actor",
    "purpose",
    "model",
    "request_hash",
    "prompt_tokens",
    "completion_tokens",
    "status",
    "attempts",
    "repair",
    "error",
    "latency_ms",
    "cache_hit",
    "faults",
]


def _create(directory: Path) -> RunStore:
    return RunStore.create(
        directory,
        run_id=RUN_ID,
        scenario="commons",
        seed=7,
        model="scripted",
        config={"scenario": {"agents": 2}, "run": {"seed": 7}},
        num_ticks=2,
        version="0.0-test",
    )


def _call(seq: int, tick: int, actor: str, prompt: int, completion: int, **kw: Any) -> LLMCall:
    return LLMCall(
        seq=seq,
        run_id=RUN_ID,
        tick=tick,
        wall_time=1_700_000_000.25 + seq,
        actor=actor,
        purpose="harvest",
        model="scripted",
        request_hash=f"h{seq}",
        prompt_tokens=prompt,
        completion_tokens=completion,
        status="ok",
        **kw,
    )


def _tick_events(tick: int, first_seq: int) -> list[Event]:
    """A realistic tick: a call per agent, their actions, a message, the world, the tick end."""
    s = first_seq
    now = 1_700_000_100.5 + tick
    return [
        _call(s, tick, "a", 100, 10),
        _call(s + 1, tick, "b", 120, 12, attempts=2, repair=True, latency_ms=3.5, cache_hit=True),
        ActionEvent(
            seq=s + 2,
            run_id=RUN_ID,
            tick=tick,
            sim_time=float(tick),
            wall_time=now,
            actor="a",
            parent=s,
            phase="harvest",
            action_type="catch",
            data={"tons": 5, "note": "ünïcode ✓"},
        ),
        ActionEvent(
            seq=s + 3,
            run_id=RUN_ID,
            tick=tick,
            sim_time=float(tick),
            wall_time=now,
            actor="b",
            phase="harvest",
            action_type="catch",
            data={"tons": 7},
            fallback=True,
        ),
        MessageEvent(
            seq=s + 4,
            run_id=RUN_ID,
            tick=tick,
            wall_time=now,
            actor="a",
            phase="discuss",
            text="let's take 'less' & \"share\"\nnew line",
            audience=["b"],
        ),
        WorldState(
            seq=s + 5,
            run_id=RUN_ID,
            tick=tick,
            wall_time=now,
            phase="harvest",
            state={"stock": 88.5, "history": [1, 2, None]},
        ),
        TickCompleted(seq=s + 6, run_id=RUN_ID, tick=tick, wall_time=now, llm_calls=2),
    ]


def _fill(store: RunStore) -> list[Event]:
    """Write a two-tick run with metrics, the way the engine does; return what was written."""
    start: list[Event] = [
        RunStarted(
            seq=0,
            run_id=RUN_ID,
            tick=-1,
            wall_time=1_700_000_000.0,
            scenario="commons",
            seed=7,
            model="scripted",
            config={"agents": 2, "names": ["a", "b"]},
        )
    ]
    store.commit_tick(start, snapshot=(-1, 1, {"tick": -1}))
    t0 = _tick_events(0, 1)
    store.commit_tick(t0, ticks_completed=1, snapshot=(0, 8, {"tick": 0, "rng": [1, 2]}))
    t1 = _tick_events(1, 8)
    store.commit_tick(t1, ticks_completed=2, snapshot=(1, 15, {"tick": 1, "rng": [3, 4]}))
    end: list[Event] = [
        MetricEvent(seq=15, run_id=RUN_ID, tick=1, wall_time=1.5, name="efficiency", value=0.75),
        MetricEvent(seq=16, run_id=RUN_ID, tick=1, wall_time=1.5, name="equality", value=0.5),
        RunCompleted(seq=17, run_id=RUN_ID, tick=1, wall_time=1.5, ticks=2),
    ]
    store.commit_tick(
        end,
        status="completed",
        metrics={
            ("efficiency", -1): 0.75,
            ("equality", -1): 0.5,
            ("stock", 0): 88.5,
            ("stock", 1): 60.0,
        },
    )
    return [*start, *t0, *t1, *end]


@pytest.fixture
def filled(tmp_path: Path) -> tuple[Path, list[Event]]:
    with _create(tmp_path) as store:
        written = _fill(store)
    return tmp_path, written


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _raw(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# -- migrations and opening ---------------------------------------------------------------


def test_fresh_store_is_at_the_current_schema_version(tmp_path: Path) -> None:
    _create(tmp_path).close()
    assert SCHEMA_VERSION >= 1
    assert _raw(tmp_path / DB_NAME, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    tables = {r[0] for r in _raw(tmp_path / DB_NAME, "SELECT name FROM sqlite_master")}
    assert {"runs", "events", "llm_calls", "metrics", "snapshots"} <= tables
    assert _raw(tmp_path / DB_NAME, "PRAGMA journal_mode") == [("wal",)]
    # Reopening read-write applies nothing and keeps the data.
    with RunStore.open(tmp_path) as store:
        assert store.run_info()["run_id"] == RUN_ID
        assert store.run_info()["status"] == "running"
        assert store.run_info()["config"] == {"scenario": {"agents": 2}, "run": {"seed": 7}}
    assert _raw(tmp_path / DB_NAME, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def test_create_refuses_an_existing_run(tmp_path: Path) -> None:
    _create(tmp_path).close()
    before = _sha(tmp_path / DB_NAME)
    with pytest.raises(StoreError, match="already exists"):
        _create(tmp_path)
    assert _sha(tmp_path / DB_NAME) == before


def test_a_store_being_created_is_never_seen_half_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader polling for run.db (the dashboard, a test waiting for the first tick) once
    found it at schema version 0: the store appeared before its migrations were committed.
    It is now built under another name and linked in whole."""
    import societas.store.runstore as runstore

    seen: list[bool] = []
    migrate = runstore.migrate

    def watched(conn: sqlite3.Connection, path: object = "run store") -> int:
        seen.append((tmp_path / DB_NAME).exists())
        return migrate(conn, path)

    monkeypatch.setattr(runstore, "migrate", watched)
    store = _create(tmp_path)
    assert seen == [False]  # not there while the schema is being made
    store.close()
    with RunStore.open(tmp_path, readonly=True) as reader:
        assert reader.run_info()["run_id"] == RUN_ID
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []


def test_a_create_killed_before_its_link_leaves_no_run_and_is_redone(tmp_path: Path) -> None:
    partial = tmp_path / f".{DB_NAME}.partial"
    partial.write_bytes(b"half a database")
    Path(f"{partial}-wal").write_bytes(b"junk")
    assert not (tmp_path / DB_NAME).exists()
    _create(tmp_path).close()
    assert not partial.exists()
    assert not Path(f"{partial}-wal").exists()
    with RunStore.open(tmp_path, readonly=True) as reader:
        assert reader.run_info()["run_id"] == RUN_ID


def _future(directory: Path) -> Path:
    _create(directory).close()
    path = directory / DB_NAME
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    return path


@pytest.mark.parametrize("readonly", [False, True])
def test_store_from_a_future_version_is_refused(tmp_path: Path, readonly: bool) -> None:
    path = _future(tmp_path)
    with pytest.raises(StoreError, match=f"version {SCHEMA_VERSION + 1}"):
        RunStore.open(tmp_path, readonly=readonly)
    # Refusing it must not have touched its version or its tables.
    assert _raw(path, "PRAGMA user_version") == [(SCHEMA_VERSION + 1,)]


@pytest.mark.parametrize("readonly", [False, True])
def test_future_version_error_names_the_file_and_says_upgrade(
    tmp_path: Path, readonly: bool
) -> None:
    path = _future(tmp_path)
    with pytest.raises(StoreError) as info:
        RunStore.open(tmp_path, readonly=readonly)
    assert str(path) in str(info.value)
    assert "upgrade" in str(info.value)
    assert "read-write to migrate" not in str(info.value)


@pytest.mark.parametrize("readonly", [False, True])
def test_opening_a_file_that_is_not_sqlite_names_it(tmp_path: Path, readonly: bool) -> None:
    path = tmp_path / DB_NAME
    path.write_bytes(bytes(range(256)) * 40)
    before = _sha(path)
    with pytest.raises(StoreError, match="not a readable run store") as info:
        RunStore.open(tmp_path, readonly=readonly)
    assert str(path) in str(info.value)
    assert _sha(path) == before


def test_opening_a_text_file_given_by_path_names_it(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("just some notes, not a database\n" * 100, encoding="utf-8")
    with pytest.raises(StoreError) as info:
        RunStore.open(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("readonly", [False, True])
def test_opening_a_missing_or_empty_directory_names_it(tmp_path: Path, readonly: bool) -> None:
    missing = tmp_path / "no" / "such" / "run"
    with pytest.raises(StoreError, match="no run store") as info:
        RunStore.open(missing, readonly=readonly)
    assert str(missing) in str(info.value)
    assert not missing.exists()

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StoreError) as info:
        RunStore.open(empty, readonly=readonly)
    assert str(empty) in str(info.value)
    assert list(empty.iterdir()) == []


# -- writing: one transaction per tick ----------------------------------------------------


def _landed(path: Path) -> dict[str, Any]:
    return {
        "events": _raw(path, "SELECT seq, kind FROM events ORDER BY seq"),
        "llm_calls": _raw(path, "SELECT seq FROM llm_calls ORDER BY seq"),
        "snapshots": _raw(path, "SELECT tick FROM snapshots ORDER BY tick"),
        "metrics": _raw(path, "SELECT name, tick FROM metrics ORDER BY name, tick"),
        "runs": _raw(path, "SELECT ticks_completed, status FROM runs"),
    }


def test_commit_tick_writes_events_calls_snapshot_and_progress_together(tmp_path: Path) -> None:
    with _create(tmp_path) as store:
        store.commit_tick(
            _tick_events(0, 0),
            ticks_completed=1,
            snapshot=(0, 7, {"tick": 0}),
            metrics={("stock", 0): 88.5},
        )
    landed = _landed(tmp_path / DB_NAME)
    assert [seq for seq, _ in landed["events"]] == list(range(7))
    assert landed["llm_calls"] == [(0,), (1,)]
    assert landed["snapshots"] == [(0,)]
    assert landed["metrics"] == [("stock", 0)]
    assert landed["runs"] == [(1, "running")]


def test_a_duplicate_seq_rolls_back_the_whole_tick(tmp_path: Path) -> None:
    with _create(tmp_path) as store:
        store.commit_tick(_tick_events(0, 0), ticks_completed=1, snapshot=(0, 7, {"tick": 0}))
        before = _landed(tmp_path / DB_NAME)
        # Tick 1 starts with fresh seqs (two llm calls among them), then reuses seq 3.
        tick1 = _tick_events(1, 7)
        clash = MessageEvent(
            seq=3, run_id=RUN_ID, tick=1, wall_time=2.0, phase="discuss", text="duplicate"
        )
        with pytest.raises((sqlite3.IntegrityError, StoreError)):
            store.commit_tick(
                [*tick1, clash],
                ticks_completed=2,
                snapshot=(1, 15, {"tick": 1}),
                status="completed",
                metrics={("efficiency", -1): 1.0},
            )
        assert _landed(tmp_path / DB_NAME) == before
        assert store.next_seq() == 7
        # The connection is usable again: the same tick, without the clash, commits.
        store.commit_tick(tick1, ticks_completed=2, snapshot=(1, 14, {"tick": 1}))
        assert store.next_seq() == 14
        assert store.latest_snapshot() == (1, 14, {"tick": 1})


def test_a_failure_after_the_inserts_rolls_back_events_and_calls(tmp_path: Path) -> None:
    with _create(tmp_path) as store:
        before = _landed(tmp_path / DB_NAME)
        # Events and llm_calls are inserted first; the snapshot is not JSON and fails last.
        with pytest.raises(TypeError):
            store.commit_tick(
                _tick_events(0, 0),
                ticks_completed=1,
                snapshot=(0, 7, {"state": object()}),
            )
        assert _landed(tmp_path / DB_NAME) == before
        assert store.counts()["events"] == 0
        assert store.counts()["llm_calls"] == 0


# -- reading ------------------------------------------------------------------------------


def test_events_round_trip_as_equal_typed_events(filled: tuple[Path, list[Event]]) -> None:
    directory, written = filled
    with RunStore.open(directory, readonly=True) as store:
        read = store.events()
        assert read == written
        assert [type(e) for e in read] == [type(e) for e in written]
        calls = store.events(["llm_call"])
        assert calls == [e for e in written if isinstance(e, LLMCall)]
        some = store.events(["message", "run_completed"])
        assert [e.kind for e in some] == ["message", "message", "run_completed"]
        assert store.events(["no_such_kind"]) == []
        assert store.next_seq() == len(written)


def test_events_df_has_the_common_columns_and_a_payload(
    filled: tuple[Path, list[Event]],
) -> None:
    directory, written = filled
    with RunStore.open(directory, readonly=True) as store:
        df = store.events_df()
        only_actions = store.events_df(["action"])
        empty = store.events_df(["no_such_kind"])
    assert list(df.columns) == [*EVENT_COLUMNS, "payload"]
    assert len(df) == len(written)
    assert df["seq"].tolist() == [e.seq for e in written]
    assert df["kind"].tolist() == [e.kind for e in written]
    assert df["payload"].tolist() == [e.payload() for e in written]
    assert df.loc[df["kind"] == "action", "payload"].iloc[0]["data"]["note"] == "ünïcode ✓"
    assert set(only_actions["kind"]) == {"action"}
    assert len(only_actions) == 4
    assert list(empty.columns) == [*EVENT_COLUMNS, "payload"]
    assert empty.empty


def test_llm_calls_df_mirrors_the_llm_call_events(filled: tuple[Path, list[Event]]) -> None:
    directory, written = filled
    calls = [e for e in written if isinstance(e, LLMCall)]
    with RunStore.open(directory, readonly=True) as store:
        df = store.llm_calls_df()
    assert list(df.columns) == LLM_CALL_COLUMNS
    assert df["seq"].tolist() == [c.seq for c in calls]
    assert df["prompt_tokens"].tolist() == [c.prompt_tokens for c in calls]
    assert df["actor"].tolist() == ["a", "b", "a", "b"]
    assert df["repair"].tolist() == [0, 1, 0, 1]
    assert df["cache_hit"].tolist() == [0, 1, 0, 1]
    assert df["attempts"].tolist() == [1, 2, 1, 2]


def test_metrics_final_metrics_and_counts(filled: tuple[Path, list[Event]]) -> None:
    directory, written = filled
    with RunStore.open(directory, readonly=True) as store:
        mdf = store.metrics_df()
        final = store.final_metrics()
        counts = store.counts()
        info = store.run_info()
    assert list(mdf.columns) == ["name", "tick", "value"]
    assert list(mdf.itertuples(index=False, name=None)) == [
        ("efficiency", -1, 0.75),
        ("equality", -1, 0.5),
        ("stock", 0, 88.5),
        ("stock", 1, 60.0),
    ]
    assert final == {"efficiency": 0.75, "equality": 0.5}
    assert counts == {
        "events": len(written),
        "llm_calls": 4,
        "prompt_tokens": 2 * (100 + 120),
        "completion_tokens": 2 * (10 + 12),
    }
    assert info["status"] == "completed"
    assert info["ticks_completed"] == 2


def test_empty_store_readers(tmp_path: Path) -> None:
    with _create(tmp_path) as store:
        assert store.events() == []
        assert store.next_seq() == 0
        assert store.latest_snapshot() is None
        assert store.final_metrics() == {}
        assert store.counts() == {
            "events": 0,
            "llm_calls": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
        }
        assert store.llm_calls_df().empty
        assert store.metrics_df().empty


def test_latest_snapshot_is_the_highest_tick(tmp_path: Path) -> None:
    with _create(tmp_path) as store:
        store.commit_tick([], snapshot=(-1, 0, {"at": "start"}))
        assert store.latest_snapshot() == (-1, 0, {"at": "start"})
        store.commit_tick(_tick_events(0, 0), snapshot=(0, 7, {"at": 0, "rng": {"s": [1, 2]}}))
        store.commit_tick(_tick_events(1, 7), snapshot=(1, 14, {"at": 1, "rng": {"s": [3]}}))
        assert store.latest_snapshot() == (1, 14, {"at": 1, "rng": {"s": [3]}})
        # A commit without a snapshot keeps the last one.
        store.commit_tick([], status="interrupted")
        assert store.latest_snapshot() == (1, 14, {"at": 1, "rng": {"s": [3]}})
    with RunStore.open(tmp_path, readonly=True) as store:
        assert store.latest_snapshot() == (1, 14, {"at": 1, "rng": {"s": [3]}})
        assert store.run_info()["status"] == "interrupted"


# -- exports ------------------------------------------------------------------------------


def test_export_jsonl_lines_parse_as_the_events(
    filled: tuple[Path, list[Event]], tmp_path: Path
) -> None:
    directory, written = filled
    out = tmp_path / "events.jsonl"
    with RunStore.open(directory, readonly=True) as store:
        n = store.export_jsonl(out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert n == len(written) == len(lines)
    assert [EventAdapter.validate_json(line) for line in lines] == written
    assert all(isinstance(json.loads(line), dict) for line in lines)


def test_export_parquet_is_readable_by_pandas(
    filled: tuple[Path, list[Event]], tmp_path: Path
) -> None:
    directory, written = filled
    out = tmp_path / "events.parquet"
    with RunStore.open(directory, readonly=True) as store:
        n = store.export_parquet(out)
    df = pd.read_parquet(out)
    assert n == len(written) == len(df)
    assert list(df.columns) == [*EVENT_COLUMNS, "payload"]
    assert df["seq"].tolist() == [e.seq for e in written]
    assert df["kind"].tolist() == [e.kind for e in written]
    assert [json.loads(p) for p in df["payload"]] == [e.payload() for e in written]


# -- read-only ----------------------------------------------------------------------------


def test_readonly_open_leaves_the_file_untouched(filled: tuple[Path, list[Event]]) -> None:
    directory, written = filled
    path = directory / DB_NAME
    before = _sha(path)
    with RunStore.open(directory, readonly=True) as store:
        assert store.events() == written
        store.events_df()
        store.llm_calls_df()
        store.metrics_df()
        store.final_metrics()
        store.counts()
        store.latest_snapshot()
        with pytest.raises((sqlite3.Error, StoreError)):
            store.commit_tick([], status="failed", error="must not land")
    assert _sha(path) == before
    with RunStore.open(directory, readonly=True) as store:
        assert store.run_info()["status"] == "completed"
        assert store.run_info()["error"] is None


def test_readonly_open_of_a_read_only_file(filled: tuple[Path, list[Event]]) -> None:
    directory, written = filled
    path = directory / DB_NAME
    before = _sha(path)
    path.chmod(0o444)
    try:
        with RunStore.open(directory, readonly=True) as store:
            assert store.counts()["events"] == len(written)
    finally:
        path.chmod(0o644)
    assert _sha(path) == before


def test_commit_tick_updates_the_timestamp_only_on_write(tmp_path: Path) -> None:
    with _create(tmp_path) as store:
        created = store.run_info()["updated"]
        time.sleep(0.01)
        store.set_status("failed", error="boom")
        info = store.run_info()
    assert info["updated"] > created
    assert info["status"] == "failed"
    assert info["error"] == "boom"


def test_read_only_open_recovers_what_a_killed_writer_left(tmp_path: Path) -> None:
    import subprocess
    import sys

    # A writer dies mid-transaction with a hot rollback journal beside the store; a read-only
    # connection cannot roll it back ("attempt to write a readonly database").
    run = tmp_path / "run"
    RunStore.create(
        run, run_id="r", scenario="x", seed=0, model="m", config={}, num_ticks=3, version="t"
    ).close()
    code = f"""
import os, signal, sqlite3
c = sqlite3.connect({str(run / DB_NAME)!r}, isolation_level=None)
c.execute("PRAGMA journal_mode=DELETE")
c.execute("PRAGMA cache_size=1")
c.execute("BEGIN")
c.execute("UPDATE runs SET status = 'failed'")
c.execute("CREATE TABLE filler(x)")
c.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,) for _ in range(2000)])
os.kill(os.getpid(), signal.SIGKILL)
"""
    subprocess.run([sys.executable, "-c", code], check=False)
    assert (run / f"{DB_NAME}-journal").exists()
    with RunStore.open(run, readonly=True) as store:
        assert store.run_info()["status"] == "running"  # the dead transaction rolled back
        with pytest.raises(sqlite3.OperationalError):
            store._conn.execute("DELETE FROM runs")
