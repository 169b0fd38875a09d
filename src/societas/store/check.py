"""Verify a run store: ``societas check DIR`` and ``check_store(path)``.

The store is opened read-only and never changed; all checks read one snapshot of it, so a run
in progress can be checked too. The checks, in order:

integrity   SQLite's ``PRAGMA integrity_check``
schema      the schema version (``PRAGMA user_version``) is one this societas knows, and the
            tables are there
runs        exactly one row in ``runs``, with sane progress
event_seq   event ``seq`` runs 0..n-1, no gaps, no duplicates
payloads    every event row is a known kind with a known payload version ``v`` and parses
ticks       one ``tick_completed`` per tick 0..ticks_completed-1, consistent with ``runs``
snapshot    the latest snapshot is of tick ticks_completed-1, and nothing but process events
            (and, once completed, the final metrics) were recorded after it
llm_calls   one ``llm_calls`` row per ``llm_call`` event, with the same fields

A check whose tables are missing is skipped (the schema check reports why). A store that
cannot be opened at all (no file, not SQLite, damaged header) is a ``StoreError``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError

from societas.store.migrations import SCHEMA_VERSION
from societas.store.runstore import DB_NAME
from societas.typing import EVENT_SCHEMA_VERSION, Event, EventAdapter, StoreError
from societas.typing.events import PROCESS_EVENT_KINDS

__all__ = ["CHECKS", "CheckResult", "Problem", "check_store", "run_checks"]

# name -> what it verifies (the order in which the checks run)
CHECKS: dict[str, str] = {
    "integrity": "SQLite integrity_check",
    "schema": "schema version known, tables present",
    "runs": "exactly one runs row",
    "event_seq": "event seq 0..n-1, no gaps or duplicates",
    "payloads": "every event a known kind and version, parses",
    "ticks": "one tick_completed per completed tick",
    "snapshot": "latest snapshot matches the progress",
    "llm_calls": "one llm_calls row per llm_call event",
}

_TABLES = ("runs", "events", "llm_calls", "metrics", "snapshots")
_EVENT_COLUMNS = ("seq", "run_id", "tick", "sim_time", "wall_time", "actor", "kind", "parent", "v")
_MAX_LISTED = 20  # problems listed per check; the rest are counted


def _known_kinds() -> frozenset[str]:
    union = get_args(Event)[0]
    return frozenset(str(cls.model_fields["kind"].default) for cls in get_args(union))


KNOWN_KINDS = _known_kinds()
# What a completed run records after its last snapshot: the final metrics and the end marker.
_AFTER_COMPLETION = frozenset({"metric", "run_completed"})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a store: which check found it and what it is."""

    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.check}: {self.message}"


@dataclass(frozen=True)
class CheckResult:
    name: str
    description: str
    problems: tuple[Problem, ...] = ()
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.skipped is None


def check_store(path: str | Path) -> list[Problem]:
    """Every problem found in the run store at ``path`` (a run directory or its ``run.db``).

    An empty list means the store is sound. Raises ``StoreError`` if it cannot be opened.
    """
    return [p for result in run_checks(path) for p in result.problems]


def run_checks(path: str | Path) -> list[CheckResult]:
    """Run every check in ``CHECKS`` order; one result per check."""
    db = _db_path(Path(path))
    try:
        conn, tables = _connect(db)
    except _Damaged as damaged:
        first, *rest = CHECKS.items()
        return [
            CheckResult(*first, problems=(Problem(first[0], str(damaged)),)),
            *(CheckResult(*item, skipped="the database cannot be read") for item in rest),
        ]
    try:
        conn.execute("BEGIN")  # one read transaction: every check sees the same snapshot
        ctx = _Context(db, conn, tables)
        return [
            ctx.check(name, description, _CHECK_FUNCTIONS[name])
            for name, description in CHECKS.items()
        ]
    finally:
        conn.close()


# -- opening ---------------------------------------------------------------------------------


def _db_path(path: Path) -> Path:
    db = path / DB_NAME if path.is_dir() or not path.suffix else path
    if not db.is_file():
        raise StoreError(f"{db}: no run store here (expected a run directory with {DB_NAME})")
    return db


def _connect(db: Path) -> tuple[sqlite3.Connection, set[str]]:
    uri = db.resolve().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"{db}: cannot open the run store ({exc})") from exc
    try:
        names = {
            str(row[0])
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    # A damaged schema can make SQLite's own error message undecodable (UnicodeDecodeError).
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        conn.close()
        header = _header(db)
        if header is None:
            raise StoreError(
                f"{db}: not an SQLite database, or its header is damaged ({exc}); nothing to check"
            ) from exc
        raise _Damaged(f"SQLite cannot read the database ({exc}); {header}") from exc
    if not names & set(_TABLES):
        conn.close()
        raise StoreError(f"{db}: not a run store (none of its tables: {', '.join(_TABLES)})")
    return conn, names


_MAGIC = b"SQLite format 3\x00"


class _Damaged(Exception):
    """An SQLite file (its header is intact) whose schema cannot be read."""


def _header(db: Path) -> str | None:
    """What a valid header of a damaged database says about its size; None if no valid header."""
    with db.open("rb") as fh:
        head = fh.read(100)
    if len(head) < 100 or not head.startswith(_MAGIC):
        return None
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    valid = (
        page_size in {2**n for n in range(9, 17)}
        and head[18] in (1, 2)  # write and read versions: legacy or WAL
        and head[19] in (1, 2)
        and head[21:24] == b"\x40\x20\x20"  # payload fractions, fixed by the format
    )
    if not valid:
        return None
    pages = int.from_bytes(head[28:32], "big")
    size = db.stat().st_size
    text = f"the file has {size} bytes, its header says {pages} pages of {page_size} bytes"
    if size < pages * page_size:
        text += " (truncated?)"
    return text


def _loads(text: Any) -> Any:
    """``json.loads`` that reports nesting too deep to parse as bad JSON (a ``ValueError``)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


# -- the checks ------------------------------------------------------------------------------


class _Skip(Exception):
    """A check cannot run because what it reads is missing (already reported elsewhere)."""


@dataclass
class _Context:
    path: Path
    conn: sqlite3.Connection
    tables: set[str]
    run_row: dict[str, Any] | None = None

    def check(
        self, name: str, description: str, check: Callable[[_Context], Iterable[str]]
    ) -> CheckResult:
        messages: list[str] = []
        more = 0
        try:
            for message in check(self):
                if len(messages) < _MAX_LISTED:
                    messages.append(message)
                else:
                    more += 1
        except _Skip as skip:
            return CheckResult(name, description, skipped=str(skip))
        except sqlite3.DatabaseError as exc:
            messages.append(f"could not read the store ({exc})")
        except Exception as exc:  # noqa: BLE001 - damaged data must be reported, not crash
            messages.append(
                f"the check could not finish on this data ({type(exc).__name__}: {exc})"
            )
        if more:
            messages.append(f"... and {more} more like these")
        return CheckResult(name, description, tuple(Problem(name, m) for m in messages))

    def need(self, *tables: str) -> None:
        missing = [t for t in tables if t not in self.tables]
        if missing:
            raise _Skip(f"table {', '.join(missing)} missing")

    def need_run(self) -> dict[str, Any]:
        if self.run_row is None:
            raise _Skip("no single runs row")
        return self.run_row

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql, params).fetchone()[0]


def _integrity(ctx: _Context) -> Iterable[str]:
    try:
        rows = [str(row[0]) for row in ctx.conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        yield f"SQLite's integrity_check could not finish ({exc}): the file is damaged"
        return
    if rows != ["ok"]:
        yield from (f"SQLite reports: {row}" for row in rows)


def _schema(ctx: _Context) -> Iterable[str]:
    version = int(ctx.scalar("PRAGMA user_version"))
    if version > SCHEMA_VERSION:
        yield (
            f"schema version {version} is newer than this societas knows ({SCHEMA_VERSION}); "
            "upgrade societas to check it"
        )
    elif version < 1:
        yield f"schema version {version}: the store was never initialised"
    missing = [t for t in _TABLES if t not in ctx.tables]
    if missing:
        yield f"missing table(s): {', '.join(missing)}"


def _runs(ctx: _Context) -> Iterable[str]:
    ctx.need("runs")
    cur = ctx.conn.execute("SELECT * FROM runs")
    columns = [d[0] for d in cur.description]
    rows = [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
    if len(rows) != 1:
        yield f"expected exactly one row in runs, found {len(rows)}"
        return
    run = rows[0]
    ticks, num_ticks = run.get("ticks_completed"), run.get("num_ticks")
    if not isinstance(ticks, int) or not isinstance(num_ticks, int):
        yield f"ticks_completed ({ticks!r}) and num_ticks ({num_ticks!r}) must be integers"
        return
    ctx.run_row = run
    if not 0 <= ticks <= num_ticks:
        yield f"ticks_completed is {ticks}, outside 0..num_ticks ({num_ticks})"
    try:
        config = _loads(run.get("config") or "")
    except (TypeError, ValueError):
        config = None
    if not isinstance(config, dict):
        yield "runs.config is not a JSON object"


def _event_seq(ctx: _Context) -> Iterable[str]:
    ctx.need("events")
    expected = 0
    previous: int | None = None
    for (seq,) in ctx.conn.execute("SELECT seq FROM events ORDER BY seq"):
        if not isinstance(seq, int):
            yield f"event seq {seq!r} is not an integer"
            continue
        if seq == previous:
            yield f"event seq {seq} appears more than once"
            continue
        if seq > expected:
            gap = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
            after = (
                f"seq {expected - 1} is followed by {seq}" if expected else f"the first is {seq}"
            )
            yield f"event seq {gap} missing ({after})"
        elif seq < expected:
            yield f"event seq {seq} is negative"
        previous = seq
        expected = max(expected, seq + 1)


def _payloads(ctx: _Context) -> Iterable[str]:
    ctx.need("events")
    run_id = ctx.run_row.get("run_id") if ctx.run_row is not None else None
    cols = ", ".join(_EVENT_COLUMNS)
    cur = ctx.conn.execute(f"SELECT {cols}, payload FROM events ORDER BY seq")  # noqa: S608
    for row in cur:
        data = dict(zip(_EVENT_COLUMNS, row[:-1], strict=True))
        where = f"event seq {data['seq']}"
        kind, version = data["kind"], data["v"]
        if kind not in KNOWN_KINDS:
            yield f"{where}: unknown event kind {kind!r} (known: {', '.join(sorted(KNOWN_KINDS))})"
            continue
        where = f"{where} ({kind})"
        if not isinstance(version, int) or not 1 <= version <= EVENT_SCHEMA_VERSION:
            yield (
                f"{where}: unknown payload schema version v={version!r} (this societas reads "
                f"1..{EVENT_SCHEMA_VERSION})"
            )
            continue
        try:
            payload = _loads(row[-1])
        except (TypeError, ValueError):
            yield f"{where}: payload is not JSON"
            continue
        if not isinstance(payload, dict):
            yield f"{where}: payload is not a JSON object"
            continue
        clash = sorted(set(payload) & (set(_EVENT_COLUMNS) - {"kind"}))
        if clash:
            yield f"{where}: payload repeats column(s) {', '.join(clash)}"
            continue
        if payload.get("kind", kind) != kind:
            yield f"{where}: payload says kind {payload['kind']!r}, the kind column {kind!r}"
            continue
        try:
            EventAdapter.validate_python({**data, **payload})
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            loc = ".".join(str(p) for p in err["loc"][1:]) or "event"
            yield f"{where}: does not parse as a {kind} event ({loc}: {err['msg']})"
            continue
        if run_id is not None and data["run_id"] != run_id:
            yield f"{where}: run_id {data['run_id']!r} is not the run's ({run_id!r})"


def _ticks(ctx: _Context) -> Iterable[str]:
    ctx.need("events")
    run = ctx.need_run()
    completed = int(run["ticks_completed"])
    seqs: dict[int, list[int]] = {}
    for seq, tick in ctx.conn.execute(
        "SELECT seq, tick FROM events WHERE kind = 'tick_completed' ORDER BY seq"
    ):
        seqs.setdefault(int(tick), []).append(int(seq))
    for tick, found in sorted(seqs.items()):
        if len(found) > 1:
            yield (
                f"tick {tick} has {len(found)} tick_completed events "
                f"(seq {', '.join(map(str, found))}); each tick completes once"
            )
    ticks = sorted(seqs)
    if ticks == list(range(len(ticks))) and len(ticks) != completed:
        covered = f"ticks 0..{len(ticks) - 1}" if ticks else "no tick"
        yield (
            f"runs.ticks_completed is {completed}, but the tick_completed events cover "
            f"{covered} ({len(ticks)} completed)"
        )
    else:
        missing = [t for t in range(completed) if t not in seqs]
        if missing:
            yield f"no tick_completed event for tick(s) {_ranges(missing)}"
        beyond = [t for t in ticks if not 0 <= t < completed]
        if beyond:
            yield (
                f"tick_completed events for tick(s) {_ranges(beyond)}, outside "
                f"0..{completed - 1} (runs.ticks_completed is {completed})"
            )
    ends = [int(row[0]) for row in ctx.conn.execute(
        "SELECT seq FROM events WHERE kind = 'run_completed' ORDER BY seq"
    )]  # fmt: skip
    status = run.get("status")
    if status == "completed" and len(ends) != 1:
        yield f"the run's status is completed but it has {len(ends)} run_completed events"
    elif status != "completed" and ends:
        yield f"the run's status is {status!r} but it has a run_completed event (seq {ends[0]})"


def _snapshot(ctx: _Context) -> Iterable[str]:
    ctx.need("snapshots", "events")
    run = ctx.need_run()
    completed = int(run["ticks_completed"])
    row = ctx.conn.execute(
        "SELECT tick, next_seq, state FROM snapshots ORDER BY tick DESC LIMIT 1"
    ).fetchone()
    if row is None:
        yield "no snapshot: the run cannot be resumed (start it again)"
        return
    tick, next_seq, state = row
    if tick != completed - 1:
        yield (
            f"the latest snapshot is of tick {tick}, expected tick {completed - 1} "
            f"(runs.ticks_completed is {completed})"
        )
    events = int(ctx.scalar("SELECT COUNT(*) FROM events"))
    if not isinstance(next_seq, int) or not 0 <= next_seq <= events:
        yield f"the latest snapshot's next_seq is {next_seq!r}, beyond the {events} events"
    else:
        allowed = PROCESS_EVENT_KINDS
        if run.get("status") == "completed":
            allowed = allowed | _AFTER_COMPLETION
        marks = ", ".join("?" for _ in allowed)
        late = ctx.conn.execute(
            f"SELECT seq, kind FROM events WHERE seq >= ? AND kind NOT IN ({marks}) "  # noqa: S608
            "ORDER BY seq",
            (next_seq, *sorted(allowed)),
        ).fetchall()
        if late:
            first_seq, first_kind = late[0]
            yield (
                f"{len(late)} simulation event(s) recorded after the latest snapshot (tick "
                f"{tick}, next_seq {next_seq}), first seq {first_seq} ({first_kind}); a resume "
                "would record them twice"
            )
    try:
        parsed = _loads(state)
    except (TypeError, ValueError):
        parsed = None
    if not isinstance(parsed, dict):
        yield f"the snapshot of tick {tick} is not a JSON object"


# llm_calls column -> how the llm_call event holds it
_CALL_FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "run_id": lambda e: e["run_id"],
    "tick": lambda e: e["tick"],
    "actor": lambda e: e["actor"],
    "purpose": lambda e: e.get("purpose"),
    "model": lambda e: e.get("model"),
    "request_hash": lambda e: e.get("request_hash"),
    "prompt_tokens": lambda e: e.get("prompt_tokens"),
    "completion_tokens": lambda e: e.get("completion_tokens"),
    "status": lambda e: e.get("status"),
    "attempts": lambda e: e.get("attempts", 1),
    "repair": lambda e: int(bool(e.get("repair", False))),
    "error": lambda e: e.get("error"),
    "latency_ms": lambda e: e.get("latency_ms", 0.0),
    "cache_hit": lambda e: int(bool(e.get("cache_hit", False))),
    "faults": lambda e: e.get("faults", []),
}


def _llm_calls(ctx: _Context) -> Iterable[str]:
    ctx.need("events", "llm_calls")
    missing = [
        int(row[0])
        for row in ctx.conn.execute(
            "SELECT seq FROM events WHERE kind = 'llm_call' "
            "AND seq NOT IN (SELECT seq FROM llm_calls) ORDER BY seq"
        )
    ]
    if missing:
        yield f"llm_call event(s) without an llm_calls row: seq {_ranges(missing)}"
    orphans = [
        int(row[0])
        for row in ctx.conn.execute(
            "SELECT seq FROM llm_calls WHERE seq NOT IN "
            "(SELECT seq FROM events WHERE kind = 'llm_call') ORDER BY seq"
        )
    ]
    if orphans:
        yield f"llm_calls row(s) without an llm_call event: seq {_ranges(orphans)}"
    columns = ", ".join(f"c.{name}" for name in _CALL_FIELDS)
    cur = ctx.conn.execute(
        f"SELECT e.seq, e.run_id, e.tick, e.actor, e.payload, {columns} "  # noqa: S608
        "FROM events e JOIN llm_calls c ON c.seq = e.seq WHERE e.kind = 'llm_call' ORDER BY e.seq"
    )
    for row in cur:
        seq, run_id, tick, actor, payload_text = row[:5]
        try:
            payload = _loads(payload_text)
        except (TypeError, ValueError):
            payload = None
        if not isinstance(payload, dict):
            continue  # the payloads check reports it
        event = {**payload, "run_id": run_id, "tick": tick, "actor": actor}
        stored = dict(zip(_CALL_FIELDS, row[5:], strict=True))
        try:
            stored["faults"] = _loads(stored["faults"])
        except (TypeError, ValueError):
            yield f"llm_calls row seq {seq}: faults is not JSON"
            continue
        differ = [name for name, get in _CALL_FIELDS.items() if not _same(get(event), stored[name])]
        if differ:
            yield f"llm_calls row seq {seq} differs from its llm_call event in {', '.join(differ)}"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, int | float) and isinstance(b, int | float) and float(a) == float(b)
    return bool(a == b)


def _ranges(values: Sequence[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1..3, 7"`` (at most ten ranges shown)."""
    spans: list[tuple[int, int]] = []
    for value in values:
        if spans and value == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], value)
        else:
            spans.append((value, value))
    shown = [f"{a}" if a == b else f"{a}..{b}" for a, b in spans[:10]]
    if len(spans) > 10:
        shown.append(f"... ({len(values)} in all)")
    return ", ".join(shown)


_CHECK_FUNCTIONS: dict[str, Callable[[_Context], Iterable[str]]] = {
    "integrity": _integrity,
    "schema": _schema,
    "runs": _runs,
    "event_seq": _event_seq,
    "payloads": _payloads,
    "ticks": _ticks,
    "snapshot": _snapshot,
    "llm_calls": _llm_calls,
}
