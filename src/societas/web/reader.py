"""What the dashboard shows of one run, read from its store with SQL (never live objects).

Every function takes a read-only connection and returns plain JSON-ready data. Nothing here
knows a scenario by name except through ``story`` and ``views``; the generic pieces read the
event kinds every run has: ``world_state`` and ``outcome`` numbers become per-tick series,
``metrics`` rows with a tick become series too, ``tick_completed`` and ``llm_calls`` feed the
model panel. Payloads that can be huge (a million-user ``population_step``, snapshots) are
never read whole on a page's first request.
"""

from __future__ import annotations

import json
import math
import sqlite3
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MAX_SERIES",
    "agent_view",
    "event_detail",
    "events_page",
    "llm_panel",
    "overview",
    "run_row",
    "series",
]

MAX_SERIES = 60
# Dicts with more keys than this are not turned into one series per key (per-agent maps of a
# large run); lists are never series.
_MAX_DICT_KEYS = 24
_SUMMARY_CHARS = 400
_PAYLOAD_PREVIEW = 4000
_DETAIL_CHARS = 200_000


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(float(value)):
        return float(value)
    return None


def _flatten(prefix: str, data: Mapping[str, Any], out: dict[str, float]) -> None:
    """Numeric leaves of ``data`` one level deep: ``stock``, ``emotion.calm``."""
    for key, value in data.items():
        number = _num(value)
        if number is not None:
            out[f"{prefix}{key}"] = number
        elif isinstance(value, dict) and 0 < len(value) <= _MAX_DICT_KEYS:
            for sub, inner in value.items():
                number = _num(inner)
                if number is not None:
                    out[f"{prefix}{key}.{sub}"] = number


# -- run summary (runs list) ----------------------------------------------------------------


def run_row(conn: sqlite3.Connection) -> dict[str, Any]:
    """One line of the runs list: status, scenario, model, ticks, calls, tokens, cost, fallbacks."""
    cur = conn.execute(
        "SELECT run_id, scenario, seed, model, status, num_ticks, ticks_completed, created, "
        "updated, error, json_extract(config, '$.run.price_per_1k_tokens') FROM runs LIMIT 1"
    )
    row = cur.fetchone()
    if row is None:
        raise LookupError("the runs table is empty")
    calls, prompt, completion, failed = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), "
        "COALESCE(SUM(status != 'ok'), 0) FROM llm_calls"
    ).fetchone()
    fallbacks = conn.execute(
        "SELECT COALESCE(SUM(json_extract(payload, '$.fallbacks')), 0) FROM events "
        "WHERE kind = 'tick_completed'"
    ).fetchone()[0]
    decisions = conn.execute(
        "SELECT COUNT(*) FROM events WHERE kind IN ('action', 'group_decision')"
    ).fetchone()[0]
    price = float(row[10] or 0.0)
    tokens = int(prompt) + int(completion)
    return {
        "run_id": row[0],
        "scenario": row[1],
        "seed": row[2],
        "model": row[3],
        "status": row[4],
        "num_ticks": row[5],
        "ticks_completed": row[6],
        "created": row[7],
        "updated": row[8],
        "error": row[9],
        "calls": int(calls),
        "failed_calls": int(failed),
        "prompt_tokens": int(prompt),
        "completion_tokens": int(completion),
        "tokens": tokens,
        "cost": tokens / 1000.0 * price,
        "fallbacks": int(fallbacks or 0),
        "decisions": int(decisions),
        "fallback_rate": (int(fallbacks or 0) / int(decisions)) if decisions else 0.0,
    }


# -- per-tick series ------------------------------------------------------------------------


def series(
    conn: sqlite3.Connection, *, varying_only: bool = True, limit: int = MAX_SERIES
) -> list[dict[str, Any]]:
    """Per-tick numeric series, each ``{name, source, points: [[tick, value], ...]}``.

    Sources: ``world_state`` and ``outcome`` events without an actor (the last of a tick per
    phase and field), ``outcome`` events of agents (mean per tick), ``metrics`` rows with a tick
    (the scenario's per-tick metrics), ``tick_completed`` (model calls and fallbacks).
    """
    found: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    actor_sums: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    rows = conn.execute(
        "SELECT tick, kind, actor, payload FROM events "
        "WHERE kind IN ('world_state', 'outcome') ORDER BY seq"
    )
    for tick, kind, actor, payload in rows:
        data = _loads(payload)
        if not isinstance(data, dict):
            continue
        body = data.get("state" if kind == "world_state" else "data")
        if not isinstance(body, dict):
            continue
        phase = str(data.get("phase", ""))
        flat: dict[str, float] = {}
        _flatten("", body, flat)
        if actor is None:
            for key, value in flat.items():
                found[(kind, f"{phase}: {key}")][int(tick)] = value
        else:
            for key, value in flat.items():
                actor_sums[f"{phase}: {key} (mean over agents)"][int(tick)].append(value)
    out: list[dict[str, Any]] = []
    for (kind, name), points in found.items():
        if _is_counter_like(name):
            continue
        out.append({"name": name, "source": kind, "points": sorted(points.items())})
    for name, per_tick in actor_sums.items():
        pts = sorted((t, sum(v) / len(v)) for t, v in per_tick.items())
        out.append({"name": name, "source": "outcome", "points": pts})
    metric_rows = conn.execute(
        "SELECT name, tick, value FROM metrics WHERE tick >= 0 AND value IS NOT NULL "
        "ORDER BY name, tick"
    ).fetchall()
    by_metric: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for name, tick, value in metric_rows:
        number = _num(value)
        if number is not None:
            by_metric[str(name)].append((int(tick), number))
    out.extend({"name": n, "source": "metrics", "points": p} for n, p in by_metric.items())
    out = [s for s in out if s["points"]]
    # Constant series say nothing over time; keep them only when nothing else exists.
    varying = [s for s in out if len({v for _, v in s["points"]}) > 1]
    chosen = (varying or out) if varying_only else out
    chosen.sort(key=lambda s: (_SOURCE_ORDER.get(s["source"], 9), s["name"]))
    return chosen[:limit]


_SOURCE_ORDER = {"metrics": 0, "world_state": 1, "outcome": 2}


def _is_counter_like(name: str) -> bool:
    return name.endswith((": tick", ": month", ": day", ": generation"))


# -- the model panel ------------------------------------------------------------------------


def llm_panel(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Per tick: calls, tokens, mean and max latency, failed calls, retried faults, cache
    hits, and the fallbacks counted by ``tick_completed``."""
    per_tick: dict[int, dict[str, Any]] = {}
    rows = conn.execute(
        "SELECT tick, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), AVG(latency_ms), "
        "MAX(latency_ms), SUM(status != 'ok'), SUM(faults != '[]'), SUM(cache_hit), "
        "SUM(repair) FROM llm_calls GROUP BY tick ORDER BY tick"
    )
    for tick, n, pt, ct, lat, lmax, bad, faulty, hits, repairs in rows:
        per_tick[int(tick)] = {
            "tick": int(tick),
            "calls": int(n),
            "prompt_tokens": int(pt or 0),
            "completion_tokens": int(ct or 0),
            "latency_mean_ms": float(lat or 0.0),
            "latency_max_ms": float(lmax or 0.0),
            "failed": int(bad or 0),
            "faults": int(faulty or 0),
            "cache_hits": int(hits or 0),
            "repairs": int(repairs or 0),
            "fallbacks": 0,
        }
    for tick, fallbacks in conn.execute(
        "SELECT tick, json_extract(payload, '$.fallbacks') FROM events "
        "WHERE kind = 'tick_completed' ORDER BY seq"
    ):
        entry = per_tick.setdefault(
            int(tick),
            {
                "tick": int(tick),
                "calls": 0,
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "latency_mean_ms": 0.0,
                "latency_max_ms": 0.0,
                "failed": 0,
                "faults": 0,
                "cache_hits": 0,
                "repairs": 0,
                "fallbacks": 0,
            },
        )
        entry["fallbacks"] = int(fallbacks or 0)
    return [per_tick[t] for t in sorted(per_tick)]


# -- the whole first page of a run ----------------------------------------------------------


def overview(conn: sqlite3.Connection) -> dict[str, Any]:
    """Everything the run view paints first (no event log, no agent)."""
    from societas.web.story import stories
    from societas.web.views import world_view

    row = run_row(conn)
    config = _loads(conn.execute("SELECT config FROM runs LIMIT 1").fetchone()[0]) or {}
    ticks = [
        int(t) for (t,) in conn.execute("SELECT tick FROM events WHERE kind = 'tick_completed'")
    ]
    kinds = [str(k) for (k,) in conn.execute("SELECT DISTINCT kind FROM events ORDER BY kind")]
    actors = [
        str(a)
        for (a,) in conn.execute(
            "SELECT DISTINCT actor FROM events WHERE actor IS NOT NULL ORDER BY actor"
        )
    ]
    phases = [
        str(p)
        for (p,) in conn.execute(
            "SELECT DISTINCT json_extract(payload, '$.phase') FROM events "
            "WHERE kind IN ('world_state', 'outcome', 'tick_completed') OR kind = 'action' "
            "ORDER BY 1"
        )
        if p is not None
    ]
    final = {
        str(n): float(v)
        for n, v in conn.execute(
            "SELECT name, value FROM metrics WHERE tick = -1 AND value IS NOT NULL ORDER BY name"
        )
    }
    max_seq = conn.execute("SELECT MAX(seq) FROM events").fetchone()[0]
    scenario = str(row["scenario"])
    return {
        "run": row,
        "config": config,
        "ticks": sorted(set(ticks)),
        "kinds": kinds,
        "actors": actors,
        "phases": phases,
        "final_metrics": final,
        "series": series(conn),
        "llm": llm_panel(conn),
        "story": stories(conn, scenario),
        "world": world_view(conn, scenario),
        "max_seq": -1 if max_seq is None else int(max_seq),
    }


# -- the event log --------------------------------------------------------------------------


def _summary(kind: str, data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    text: str
    if kind in ("message", "reflection", "plan"):
        text = str(data.get("text", ""))
    elif kind == "action":
        fields = data.get("data", {})
        text = f"{data.get('action_type', '')} {json.dumps(fields, ensure_ascii=False)}"
        if data.get("fallback"):
            text = "fallback: " + text
    elif kind == "llm_call":
        text = (
            f"{data.get('purpose', '')} {data.get('status', '')} "
            f"{data.get('prompt_tokens', 0)}+{data.get('completion_tokens', 0)} tokens "
            f"{float(data.get('latency_ms', 0.0)):.0f} ms"
        )
        if data.get("error"):
            text += f" error: {data['error']}"
    elif kind == "decision_fallback":
        text = f"{data.get('reason', '')}: {data.get('error', '')}"
    elif kind == "survey_answer":
        text = f"{data.get('question', '')} -> {json.dumps(data.get('answer'), ensure_ascii=False)}"
    elif kind == "metric":
        text = f"{data.get('name', '')} = {data.get('value')}"
    elif kind == "group_decision":
        answer = data.get("data", {})
        shown = json.dumps(answer, ensure_ascii=False) if isinstance(answer, dict) else ""
        flags = "".join(f", {f}" for f in ("reused", "fallback") if data.get(f))
        text = f"{data.get('size', '?')} member(s){flags}: {shown}"
    elif kind in ("world_state", "outcome"):
        body = data.get("state" if kind == "world_state" else "data")
        text = json.dumps(body, ensure_ascii=False)
    else:
        rest = {k: v for k, v in data.items() if k not in ("kind", "phase")}
        text = json.dumps(rest, ensure_ascii=False)
    return text[:_SUMMARY_CHARS] + ("…" if len(text) > _SUMMARY_CHARS else "")


def events_page(
    conn: sqlite3.Connection,
    *,
    kinds: Iterable[str] = (),
    actor: str | None = None,
    phase: str | None = None,
    tick: int | None = None,
    after: int = -1,
    limit: int = 100,
) -> dict[str, Any]:
    """One page of the event log in ``seq`` order, from the event after ``after``.

    Payloads are read up to a few kilobytes each; a row whose payload was cut shows the cut
    JSON text, and ``event_detail`` gives the rest."""
    where = ["seq > ?"]
    args: list[Any] = [after]
    kind_list = [k for k in kinds if k]
    if kind_list:
        where.append(f"kind IN ({', '.join('?' for _ in kind_list)})")
        args.extend(kind_list)
    if actor:
        where.append("actor = ?")
        args.append(actor)
    if tick is not None:
        where.append("tick = ?")
        args.append(tick)
    if phase:
        where.append("json_extract(payload, '$.phase') = ?")
        args.append(phase)
    limit = max(1, min(limit, 500))
    sql = (
        "SELECT seq, tick, actor, kind, length(payload), "  # noqa: S608 - placeholders only
        f"substr(payload, 1, {_PAYLOAD_PREVIEW}) FROM events WHERE {' AND '.join(where)} "
        "ORDER BY seq LIMIT ?"
    )
    rows = conn.execute(sql, [*args, limit + 1]).fetchall()
    out = []
    for seq, ev_tick, ev_actor, kind, size, preview in rows[:limit]:
        data = _loads(preview) if size <= _PAYLOAD_PREVIEW else None
        summary = (
            _summary(str(kind), data)
            if data is not None
            else (str(preview)[:_SUMMARY_CHARS] + f"… ({size} characters)")
        )
        out.append(
            {
                "seq": int(seq),
                "tick": int(ev_tick),
                "actor": ev_actor,
                "kind": kind,
                "phase": data.get("phase") if isinstance(data, dict) else None,
                "summary": summary,
            }
        )
    more = len(rows) > limit
    return {"events": out, "next": out[-1]["seq"] if more and out else None}


def event_detail(conn: sqlite3.Connection, seq: int) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT seq, tick, actor, kind, parent, length(payload), substr(payload, 1, ?) "
        "FROM events WHERE seq = ?",
        (_DETAIL_CHARS, seq),
    ).fetchone()
    if row is None:
        return None
    seq_, tick, actor, kind, parent, size, text = row
    data = _loads(text) if size <= _DETAIL_CHARS else None
    detail: dict[str, Any] = {
        "seq": seq_,
        "tick": tick,
        "actor": actor,
        "kind": kind,
        "parent": parent,
        "size": size,
        "payload": data,
        "truncated": None if data is not None else str(text),
    }
    if kind == "llm_call":
        detail["texts"] = call_texts(conn, [int(seq_)]).get(int(seq_))
    return detail


# -- model calls' prompts and answers -------------------------------------------------------


def call_texts(conn: sqlite3.Connection, seqs: list[int]) -> dict[int, dict[str, Any]]:
    """The stored prompt and answer of each ``llm_call`` in ``seqs``: its messages (role and
    text), the action schema's name and the raw answer, read from ``llm_prompts`` and the
    content-addressed ``blobs`` (store schema 3, ``docs/store.md``). Stores written before
    prompts were recorded have neither table: the result is then empty. Each text is cut at
    ``_DETAIL_CHARS`` characters."""
    if not seqs:
        return {}
    has = {
        str(r[0])
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN "
            "('llm_prompts', 'blobs')"
        )
    }
    if has != {"llm_prompts", "blobs"}:
        return {}
    marks = ", ".join("?" for _ in seqs)
    rows = [
        (int(seq), _loads(messages) or [], schema_name, answer)
        for seq, messages, schema_name, answer in conn.execute(
            f"SELECT seq, messages, schema_name, answer FROM llm_prompts "  # noqa: S608
            f"WHERE seq IN ({marks})",
            seqs,
        )
    ]
    keys = {key for _, messages, _, _ in rows for _, key in messages} | {
        answer for *_, answer in rows if answer
    }
    texts: dict[str, str] = {}
    key_list = sorted(keys)
    for i in range(0, len(key_list), 500):
        chunk = key_list[i : i + 500]
        for key, data in conn.execute(
            f"SELECT hash, data FROM blobs WHERE hash IN ({', '.join('?' for _ in chunk)})",  # noqa: S608
            chunk,
        ):
            try:
                texts[str(key)] = zlib.decompress(data).decode("utf-8", "replace")[:_DETAIL_CHARS]
            except zlib.error:
                texts[str(key)] = "(this text is damaged in the store; run 'societas check')"
    missing = "(missing from the store; run 'societas check')"
    out: dict[int, dict[str, Any]] = {}
    for seq, messages, schema_name, answer in rows:
        out[seq] = {
            "messages": [
                {"role": str(role), "content": texts.get(str(key), missing)}
                for role, key in messages
            ],
            "schema": schema_name,
            "answer": texts.get(str(answer), missing) if answer else None,
        }
    return out


# -- one agent ------------------------------------------------------------------------------

_AGENT_KINDS = (
    "action",
    "message",
    "plan",
    "reflection",
    "initiative",
    "prediction",
    "veto",
    "survey_answer",
    "decision_fallback",
    "outcome",
    "group_decision",
)
_AGENT_LIMIT = 2000


def _persona(config: Any, agent: str) -> list[dict[str, Any]]:
    """What the run's configuration says about ``agent``: the entries that name it, and for
    parallel lists (names and dispositions) the entries at its position."""
    found: list[dict[str, Any]] = []

    def walk(path: str, node: Any) -> None:
        if isinstance(node, dict):
            if any(node.get(k) == agent for k in ("id", "name", "agent", "key")):
                found.append({"from": path or "config", "entry": node})
                return
            for key, value in node.items():
                walk(f"{path}.{key}" if path else str(key), value)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(f"{path}[{i}]", value)

    walk("", config)
    return found[:10]


_MEMORY_LIMIT = 300
_DECAY = 0.995  # the memory stream's default recency decay per simulated hour (Park et al.)


def _minmax(values: list[float]) -> list[float]:
    lo, hi = min(values), max(values)
    return [0.0 if hi == lo else (v - lo) / (hi - lo) for v in values]


def memories(conn: sqlite3.Connection, agent: str, tick: int) -> dict[str, Any] | None:
    """The agent's memory records in the snapshot taken after ``tick``, scored for retrieval
    without a query: recency (0.995 per simulated hour since last retrieved) plus importance,
    each min-max normalised over the records (Park et al. 2023, section 4.1; relevance needs a
    question). ``None`` when the snapshot or the agent's mind is not there."""
    if any(c in agent for c in '"\\'):
        return None
    row = conn.execute(
        "SELECT json_extract(state, ?) FROM snapshots WHERE tick = ?",
        (f'$.minds."{agent}"', tick),
    ).fetchone()
    mind = _loads(row[0]) if row is not None and row[0] is not None else None
    if not isinstance(mind, dict):
        return None
    stream = mind.get("stream")
    records = mind.get("memory")
    if records is None and isinstance(stream, dict):
        records = stream.get("records")
    if not isinstance(records, list):
        return None
    records = [r for r in records if isinstance(r, dict)]
    sim_time = _num(mind.get("sim_time"))
    importance = [_num(r.get("importance")) or 0.0 for r in records]
    recency: list[float] | None = None
    if sim_time is not None and all(_num(r.get("last_accessed")) is not None for r in records):
        recency = [
            _DECAY ** (max(0.0, sim_time - float(r["last_accessed"])) / 3600.0) for r in records
        ]
    scores = _minmax(importance) if records else []
    if recency is not None and records:
        scores = [a + b for a, b in zip(_minmax(recency), scores, strict=True)]
    out = []
    for i, record in enumerate(records):
        entry = {k: record.get(k) for k in ("id", "tick", "kind", "text", "importance")}
        entry["recency"] = recency[i] if recency is not None else None
        entry["score"] = scores[i]
        out.append(entry)
    out.sort(key=lambda r: -float(r["score"]))
    return {
        "tick": tick,
        "count": len(out),
        "records": out[:_MEMORY_LIMIT],
        "scored_by": "recency + importance" if recency is not None else "importance",
    }


def agent_view(conn: sqlite3.Connection, agent: str, tick: int | None = None) -> dict[str, Any]:
    """An agent's persona, its events by kind (up to ``tick`` when given) and its model calls
    with their prompts and answers when stored."""
    config = _loads(conn.execute("SELECT config FROM runs LIMIT 1").fetchone()[0]) or {}
    persona = _persona(config.get("scenario", config), agent)
    start = conn.execute(
        "SELECT payload FROM events WHERE kind = 'run_started' ORDER BY seq LIMIT 1"
    ).fetchone()
    if not persona and start is not None:
        started = _loads(start[0]) or {}
        persona = _persona(started.get("config", {}), agent)
    marks = ", ".join("?" for _ in _AGENT_KINDS)
    where = f"actor = ? AND kind IN ({marks})"
    args: list[Any] = [agent, *_AGENT_KINDS]
    if tick is not None:
        where += " AND tick <= ?"
        args.append(tick)
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    rows = conn.execute(
        "SELECT seq, tick, kind, length(payload), "  # noqa: S608 - placeholders only
        f"substr(payload, 1, {_PAYLOAD_PREVIEW * 4}) FROM events WHERE {where} "
        "ORDER BY seq LIMIT ?",
        [*args, _AGENT_LIMIT],
    )
    for seq, ev_tick, kind, size, text in rows:
        data = _loads(text) if size <= _PAYLOAD_PREVIEW * 4 else None
        entry: dict[str, Any] = {"seq": int(seq), "tick": int(ev_tick)}
        if isinstance(data, dict):
            entry.update({k: v for k, v in data.items() if k != "kind"})
        else:
            entry["text"] = str(text)
        by_kind[str(kind)].append(entry)
    call_where = "actor = ?" + (" AND tick <= ?" if tick is not None else "")
    call_args: list[Any] = [agent] if tick is None else [agent, tick]
    cur = conn.execute(
        "SELECT seq, tick, purpose, model, status, prompt_tokens, completion_tokens, "  # noqa: S608
        f"latency_ms, attempts, repair, error, cache_hit, faults FROM llm_calls "
        f"WHERE {call_where} ORDER BY seq LIMIT ?",
        [*call_args, _AGENT_LIMIT],
    )
    names = [d[0] for d in cur.description]
    calls = [dict(zip(names, r, strict=True)) for r in cur]
    texts = call_texts(conn, [int(c["seq"]) for c in calls])
    for call in calls:
        call["faults"] = _loads(call["faults"]) or []
        call["texts"] = texts.get(int(call["seq"]))
    at = tick
    if at is None:
        last = conn.execute("SELECT MAX(tick) FROM snapshots").fetchone()[0]
        at = None if last is None else int(last)
    return {
        "agent": agent,
        "persona": persona,
        "memories": memories(conn, agent, at) if at is not None else None,
        "events": dict(by_kind),
        "calls": calls,
        "prompts_stored": bool(texts),
        "limit": _AGENT_LIMIT,
    }


def live_state(conn: sqlite3.Connection) -> dict[str, Any]:
    """What the live stream watches: the newest event and the run's progress."""
    max_seq = conn.execute("SELECT MAX(seq) FROM events").fetchone()[0]
    status, completed = conn.execute("SELECT status, ticks_completed FROM runs LIMIT 1").fetchone()
    return {
        "max_seq": -1 if max_seq is None else int(max_seq),
        "status": status,
        "ticks_completed": int(completed),
    }
