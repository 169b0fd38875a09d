"""Hand-damaged stores: ``resume`` refuses them (exit 2) before running a tick, and ``check``
never crashes on any input (exit 0 sound, 1 problems, 2 cannot open; never a traceback).

The fuzzing starts from a real interrupted run and damages a copy of its ``run.db``: SQL
edits of the rows (payloads, kinds, versions, ticks, snapshots; a payload nested 100,000
levels), truncation at a random length, and random byte flips.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from societas.cli.main import app
from societas.engine import RunInterrupted, prepare_run, run_sync
from societas.scenarios import load_spec
from societas.store import DB_NAME
from societas.store.check import check_store

FUZZ = settings(
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
DEEP = "[" * 100_000 + "]" * 100_000


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A commons run stopped after its first two ticks (as Ctrl-C stops it), resumable."""
    out = tmp_path_factory.mktemp("damage") / "run"
    spec = load_spec("commons", ["months=6", "agents=3"], model="scripted", seed=5)
    handle = prepare_run(spec.scenario, spec.config, spec.options, out)
    original = handle.simulation.step
    steps = {"n": 0}

    async def step(tick: int) -> None:
        await original(tick)
        steps["n"] += 1
        if steps["n"] == 2:
            handle.simulation.request_stop()

    handle.simulation.step = step  # type: ignore[method-assign]
    with pytest.raises(RunInterrupted):
        run_sync(handle)
    assert check_store(out) == []
    return out


@contextmanager
def _copy(run: Path, tmp: Path) -> Iterator[Path]:
    out = tmp / "copy"
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(run, out)
    for suffix in ("-wal", "-shm"):
        (out / f"{DB_NAME}{suffix}").unlink(missing_ok=True)
    yield out


def _sql(run: Path, statement: str, params: tuple[object, ...] = ()) -> None:
    conn = sqlite3.connect(run / DB_NAME)
    try:
        conn.execute(statement, params)
        conn.commit()
    finally:
        conn.close()


def _progress(run: Path) -> tuple[int, int]:
    conn = sqlite3.connect(f"{(run / DB_NAME).resolve().as_uri()}?mode=ro", uri=True)
    try:
        ticks = int(conn.execute("SELECT ticks_completed FROM runs").fetchone()[0])
        events = int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    finally:
        conn.close()
    return ticks, events


def _assert_refused(run: Path) -> Result:
    before = _progress(run)
    result = _invoke("resume", str(run), "-q")
    assert result.exit_code == 2, result.output
    assert "damaged" in result.output
    assert "internal error" not in result.output
    assert _progress(run) == before  # not a tick, not an event
    return result


def test_resume_refuses_an_invalid_payload_before_running_a_tick(
    interrupted_run: Path, tmp_path: Path
) -> None:
    with _copy(interrupted_run, tmp_path) as run:
        _sql(
            run,
            "UPDATE events SET payload = ? WHERE seq = "
            "(SELECT MIN(seq) FROM events WHERE kind = 'action')",
            (json.dumps({"action": "not an object"}),),
        )
        result = _assert_refused(run)
        assert "payloads" in result.output


def test_resume_refuses_an_unknown_event_version(interrupted_run: Path, tmp_path: Path) -> None:
    with _copy(interrupted_run, tmp_path) as run:
        _sql(run, "UPDATE events SET v = 99 WHERE seq = (SELECT MAX(seq) FROM events)")
        _assert_refused(run)


def test_resume_refuses_a_snapshot_that_does_not_restore(
    interrupted_run: Path, tmp_path: Path
) -> None:
    with _copy(interrupted_run, tmp_path) as run:
        _sql(run, "UPDATE snapshots SET state = ?", (json.dumps({"world": 1, "minds": {}}),))
        result = _assert_refused(run)
        assert "does not restore" in result.output


def test_resume_refuses_a_snapshot_nested_100000_levels(
    interrupted_run: Path, tmp_path: Path
) -> None:
    with _copy(interrupted_run, tmp_path) as run:
        _sql(run, "UPDATE snapshots SET state = ?", (DEEP,))
        _assert_refused(run)


def test_an_undamaged_interrupted_run_still_resumes(interrupted_run: Path, tmp_path: Path) -> None:
    with _copy(interrupted_run, tmp_path) as run:
        result = _invoke("resume", str(run), "-q")
        assert result.exit_code == 0, result.output
        assert check_store(run) == []


def test_check_reports_a_payload_nested_100000_levels(
    interrupted_run: Path, tmp_path: Path
) -> None:
    with _copy(interrupted_run, tmp_path) as run:
        _sql(run, "UPDATE events SET payload = ? WHERE seq = 3", (DEEP,))
        result = _invoke("check", str(run))
        assert result.exit_code == 1, result.output
        assert "event seq 3" in result.output
        assert "internal error" not in result.output


def _check_survives(run: Path) -> None:
    result = _invoke("check", str(run))
    assert result.exit_code in (0, 1, 2), result.output
    assert "internal error" not in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output


_JSON = st.recursive(
    st.none() | st.integers() | st.text(max_size=8),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=10,
)
_VALUE = st.one_of(
    st.just(DEEP),
    st.just('{"a": ' * 5000 + "1" + "}" * 5000),
    st.builds(json.dumps, _JSON),
    st.text(max_size=40),
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.binary(max_size=20),
)
_EDITS = st.sampled_from(
    [
        ("events", "payload"),
        ("events", "payload"),
        ("events", "payload"),
        ("events", "kind"),
        ("events", "v"),
        ("events", "tick"),
        ("events", "seq"),
        ("events", "run_id"),
        ("runs", "ticks_completed"),
        ("runs", "num_ticks"),
        ("runs", "config"),
        ("runs", "status"),
        ("snapshots", "state"),
        ("snapshots", "state"),
        ("snapshots", "next_seq"),
        ("snapshots", "tick"),
        ("llm_calls", "faults"),
        ("llm_calls", "status"),
    ]
)


@FUZZ
@given(edits=st.lists(st.tuples(_EDITS, _VALUE, st.integers(0, 200)), min_size=1, max_size=4))
def test_check_survives_any_row_edit(
    interrupted_run: Path, tmp_path: Path, edits: list[tuple[tuple[str, str], object, int]]
) -> None:
    with _copy(interrupted_run, tmp_path) as run:
        conn = sqlite3.connect(run / DB_NAME)
        try:
            conn.execute("PRAGMA ignore_check_constraints=ON")
            for (table, column), value, row in edits:
                # A constraint may refuse an edit: the store then stays as it was.
                with suppress(sqlite3.Error):
                    conn.execute(
                        f"UPDATE {table} SET {column} = ? WHERE rowid = "
                        f"(SELECT rowid FROM {table} LIMIT 1 OFFSET ?)",
                        (value, row),
                    )
            conn.commit()
        finally:
            conn.close()
        _check_survives(run)


@FUZZ
@given(cut=st.floats(0.0, 1.0))
def test_check_survives_truncation(interrupted_run: Path, tmp_path: Path, cut: float) -> None:
    with _copy(interrupted_run, tmp_path) as run:
        db = run / DB_NAME
        data = db.read_bytes()
        db.write_bytes(data[: int(len(data) * cut)])
        _check_survives(run)


@FUZZ
@given(flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(1, 255)), min_size=1, max_size=30))
def test_check_survives_byte_flips(
    interrupted_run: Path, tmp_path: Path, flips: list[tuple[float, int]]
) -> None:
    with _copy(interrupted_run, tmp_path) as run:
        db = run / DB_NAME
        data = bytearray(db.read_bytes())
        for where, mask in flips:
            i = min(len(data) - 1, int(len(data) * where))
            data[i] ^= mask
        db.write_bytes(bytes(data))
        _check_survives(run)
