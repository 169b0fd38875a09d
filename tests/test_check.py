"""``societas check``: a sound store passes; each kind of damage is reported clearly."""

from __future__ import annotations

import asyncio
import hashlib
import random
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from societas.cli.main import app
from societas.engine import prepare_resume, prepare_run, run_sync
from societas.scenarios import get_scenario, load_spec
from societas.store import DB_NAME, RunStore
from societas.store.check import CHECKS, Problem, check_store, run_checks
from societas.typing import StoreError

MONTHS = 3


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("check") / "good"
    spec = load_spec("commons", [f"months={MONTHS}"], model="scripted", seed=3)
    run_sync(prepare_run(spec.scenario, spec.config, spec.options, out))
    return out


@pytest.fixture
def damaged(good_run: Path, tmp_path: Path) -> Path:
    """A private copy of the good run, to damage."""
    out = tmp_path / "copy"
    shutil.copytree(good_run, out)
    wal, shm = out / f"{DB_NAME}-wal", out / f"{DB_NAME}-shm"
    if wal.exists():  # left by read-only readers; empty: everything is in run.db
        assert wal.stat().st_size == 0
        wal.unlink()
        shm.unlink(missing_ok=True)
    return out


def _sql(run: Path, *statements: str) -> None:
    conn = sqlite3.connect(run / DB_NAME)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def _one(run: Path, sql: str) -> int:
    conn = sqlite3.connect(run / DB_NAME)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def _checks(problems: list[Problem]) -> set[str]:
    return {p.check for p in problems}


def _messages(problems: list[Problem], check: str) -> str:
    return "\n".join(p.message for p in problems if p.check == check)


def _cli_finds_problems(run: Path) -> Result:
    result = _invoke("check", str(run))
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert "problem(s) found" in result.stderr
    return result


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- sound stores -----------------------------------------------------------------------------


def test_a_good_run_passes(good_run: Path) -> None:
    before = _sha(good_run / DB_NAME)
    assert check_store(good_run) == []
    assert check_store(good_run / DB_NAME) == []
    results = run_checks(good_run)
    assert [r.name for r in results] == list(CHECKS)
    assert all(r.ok for r in results)
    result = _invoke("check", str(good_run))
    assert result.exit_code == 0, (result.stdout, result.stderr)
    for name in CHECKS:
        assert name in result.stdout
    assert "sound run store" in result.stdout
    assert _sha(good_run / DB_NAME) == before  # read-only


def test_an_interrupted_and_a_resumed_run_pass(tmp_path: Path) -> None:
    out = tmp_path / "interrupted"
    spec = load_spec("commons", [f"months={MONTHS}"], model="scripted", seed=3)
    handle = prepare_run(spec.scenario, spec.config, spec.options, out)
    asyncio.run(handle.simulation.step(0))
    handle.close()
    assert check_store(out) == []
    run_sync(prepare_resume(out, get_scenario("commons")))
    assert check_store(out) == []
    with RunStore.open(out, readonly=True) as store:
        assert [e.kind for e in store.events(["run_resumed"])] == ["run_resumed"]


# -- damage ---------------------------------------------------------------------------------


def test_a_deleted_event_row(damaged: Path) -> None:
    seq = _one(damaged, "SELECT seq FROM events WHERE kind = 'world_state' AND tick = 1 LIMIT 1")
    _sql(damaged, f"DELETE FROM events WHERE seq = {seq}")
    problems = check_store(damaged)
    assert _checks(problems) == {"event_seq"}
    assert f"event seq {seq} missing" in _messages(problems, "event_seq")
    assert f"event seq {seq} missing" in _cli_finds_problems(damaged).stdout


def test_a_duplicate_tick_completed(damaged: Path) -> None:
    _sql(
        damaged,
        "INSERT INTO events (seq, run_id, tick, sim_time, wall_time, actor, kind, parent, v, "
        "payload) SELECT (SELECT MAX(seq) + 1 FROM events), run_id, tick, sim_time, wall_time, "
        "actor, kind, parent, v, payload FROM events WHERE kind = 'tick_completed' AND tick = 1",
    )
    problems = check_store(damaged)
    assert "ticks" in _checks(problems)
    assert "tick 1 has 2 tick_completed events" in _messages(problems, "ticks")
    # Recorded after the last snapshot, too: a resume would not know about it.
    assert "after the latest snapshot" in _messages(problems, "snapshot")
    _cli_finds_problems(damaged)


def test_a_tick_completed_event_too_many_in_place(damaged: Path) -> None:
    seq = _one(damaged, "SELECT seq FROM events WHERE kind = 'world_state' AND tick = 1 LIMIT 1")
    _sql(
        damaged,
        "UPDATE events SET kind = 'tick_completed', payload = '{\"llm_calls\": 0, "
        f'"fallbacks": 0}}\' WHERE seq = {seq}',
    )
    problems = check_store(damaged)
    assert _checks(problems) == {"ticks"}
    assert "tick 1 has 2 tick_completed events" in _messages(problems, "ticks")
    assert str(seq) in _messages(problems, "ticks")


def _pages(db: Path) -> tuple[int, int]:
    conn = sqlite3.connect(db)
    try:
        return (
            int(conn.execute("PRAGMA page_size").fetchone()[0]),
            int(conn.execute("PRAGMA page_count").fetchone()[0]),
        )
    finally:
        conn.close()


def test_garbage_bytes_in_the_middle_of_the_file(damaged: Path) -> None:
    db = damaged / DB_NAME
    page_size, page_count = _pages(db)
    assert page_count > 10
    noise = random.Random(0).randbytes(page_size)
    with db.open("r+b") as fh:
        for page in (page_count // 3, page_count // 2, 2 * page_count // 3):
            fh.seek(page * page_size)
            fh.write(noise)
    problems = check_store(damaged)
    assert "integrity" in _checks(problems)
    text = _messages(problems, "integrity")
    assert "SQLite reports" in text or "integrity_check could not finish" in text
    _cli_finds_problems(damaged)


def test_a_truncated_file(damaged: Path) -> None:
    db = damaged / DB_NAME
    size = db.stat().st_size
    with db.open("r+b") as fh:
        fh.truncate(size * 6 // 10)
    problems = check_store(damaged)
    assert "integrity" in _checks(problems)
    assert _messages(problems, "integrity")
    _cli_finds_problems(damaged)


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        ("kind = 'teleport'", "unknown event kind 'teleport'"),
        ("v = 7", "unknown payload schema version v=7"),
        ("payload = '{\"phase\": '", "payload is not JSON"),
        ("payload = '[1, 2]'", "payload is not a JSON object"),
        ('payload = \'{"seq": 1, "phase": "x", "state": {}}\'', "repeats column(s) seq"),
        ('payload = \'{"kind": "action", "phase": "x", "state": {}}\'', "payload says kind"),
        ('payload = \'{"phase": "harvest"}\'', "does not parse as a world_state event (state"),
        ("run_id = 'someone-else'", "is not the run's"),
    ],
)
def test_an_unreadable_event(damaged: Path, update: str, expected: str) -> None:
    seq = _one(damaged, "SELECT seq FROM events WHERE kind = 'world_state' AND tick = 1 LIMIT 1")
    _sql(damaged, f"UPDATE events SET {update} WHERE seq = {seq}")
    problems = check_store(damaged)
    assert _checks(problems) == {"payloads"}
    text = _messages(problems, "payloads")
    assert f"event seq {seq}" in text
    assert expected in text
    assert expected in _cli_finds_problems(damaged).stdout


def test_wrong_ticks_completed(damaged: Path) -> None:
    _sql(damaged, "UPDATE runs SET ticks_completed = 2")
    problems = check_store(damaged)
    assert _checks(problems) == {"ticks", "snapshot"}
    assert (
        "runs.ticks_completed is 2, but the tick_completed events cover ticks 0..2 (3 completed)"
        in _messages(problems, "ticks")
    )
    assert "latest snapshot is of tick 2, expected tick 1" in _messages(problems, "snapshot")
    _cli_finds_problems(damaged)


def test_ticks_completed_beyond_the_run(damaged: Path) -> None:
    _sql(damaged, f"UPDATE runs SET ticks_completed = {MONTHS + 4}")
    problems = check_store(damaged)
    assert f"outside 0..num_ticks ({MONTHS})" in _messages(problems, "runs")
    assert "cover ticks 0..2" in _messages(problems, "ticks")


def test_a_missing_tick_completed(damaged: Path) -> None:
    _sql(damaged, "UPDATE events SET kind = 'world_state', payload = '{\"phase\": \"x\", "
         "\"state\": {}}' WHERE kind = 'tick_completed' AND tick = 1")  # fmt: skip
    problems = check_store(damaged)
    assert _checks(problems) == {"ticks"}
    assert "no tick_completed event for tick(s) 1" in _messages(problems, "ticks")


def test_simulation_events_after_the_last_snapshot(damaged: Path) -> None:
    _sql(damaged, "DELETE FROM snapshots WHERE tick = (SELECT MAX(tick) FROM snapshots)")
    problems = check_store(damaged)
    assert _checks(problems) == {"snapshot"}
    text = _messages(problems, "snapshot")
    assert "latest snapshot is of tick 1, expected tick 2" in text
    assert "simulation event(s) recorded after the latest snapshot" in text


def test_no_snapshot_at_all(damaged: Path) -> None:
    _sql(damaged, "DELETE FROM snapshots")
    problems = check_store(damaged)
    assert "no snapshot: the run cannot be resumed" in _messages(problems, "snapshot")


def test_llm_calls_rows_that_do_not_match_the_events(damaged: Path) -> None:
    first, second, third = (
        _one(damaged, f"SELECT seq FROM llm_calls ORDER BY seq LIMIT 1 OFFSET {n}")
        for n in (0, 1, 2)
    )
    _sql(
        damaged,
        f"DELETE FROM llm_calls WHERE seq = {first}",
        f"UPDATE llm_calls SET prompt_tokens = prompt_tokens + 1 WHERE seq = {second}",
        f"UPDATE llm_calls SET seq = (SELECT MAX(seq) + 100 FROM events) WHERE seq = {third}",
    )
    problems = check_store(damaged)
    assert _checks(problems) == {"llm_calls"}
    text = _messages(problems, "llm_calls")
    assert f"llm_call event(s) without an llm_calls row: seq {first}, {third}" in text
    assert "llm_calls row(s) without an llm_call event" in text
    assert f"llm_calls row seq {second} differs from its llm_call event in prompt_tokens" in text


def test_two_runs_rows(damaged: Path) -> None:
    _sql(
        damaged,
        "INSERT INTO runs (run_id, scenario, seed, model, config, status, num_ticks, created, "
        "updated, societas_version) SELECT 'other', scenario, seed, model, config, status, "
        "num_ticks, created, updated, societas_version FROM runs",
    )
    problems = check_store(damaged)
    assert "expected exactly one row in runs, found 2" in _messages(problems, "runs")
    skipped = {r.name for r in run_checks(damaged) if r.skipped}
    assert skipped == {"ticks", "snapshot"}  # they need the run's progress


def test_unknown_schema_version_and_missing_table(damaged: Path) -> None:
    _sql(damaged, "PRAGMA user_version = 99", "DROP TABLE metrics")
    problems = check_store(damaged)
    text = _messages(problems, "schema")
    assert "schema version 99 is newer than this societas knows" in text
    assert "missing table(s): metrics" in text


def test_many_problems_are_summarised(damaged: Path) -> None:
    _sql(damaged, "UPDATE events SET v = 9")
    problems = check_store(damaged)
    assert len(problems) == 21
    assert problems[-1].message.startswith("... and ")


# -- stores that cannot be opened: exit 2 ------------------------------------------------------


def _cannot_open(target: Path) -> str:
    with pytest.raises(StoreError):
        check_store(target)
    result = _invoke("check", str(target))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_missing_directory(tmp_path: Path) -> None:
    line = _cannot_open(tmp_path / "nowhere")
    assert "no run store here" in line
    assert not (tmp_path / "nowhere").exists()


def test_directory_without_a_store(tmp_path: Path) -> None:
    assert "no run store here" in _cannot_open(tmp_path)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda data: b"\xde\xad\xbe\xef garbage " * 512, "not an SQLite database"),
        (lambda data: bytes(100) + data[100:], "not an SQLite database"),
        (lambda data: data[:16] + b"\xff" * 84 + data[100:], "not an SQLite database"),
        (lambda data: b"", "not a run store"),
    ],
    ids=["garbage", "zeroed-header", "damaged-header", "empty"],
)
def test_unopenable_store(damaged: Path, damage: Callable[[bytes], bytes], expected: str) -> None:
    db = damaged / DB_NAME
    db.write_bytes(damage(db.read_bytes()))
    line = _cannot_open(damaged)
    assert str(db) in line
    assert expected in line
