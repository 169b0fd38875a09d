"""One line per tick saying what happened, read from the store's events.

A scenario with a storyteller here gets its own words ("month 1: the fishers asked for 330 t of
100; the lake collapsed"); every other scenario, plugins included, gets the generic line: what
the agents did, what they said, how many model calls and fallbacks, and which world numbers
moved the most.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from societas.web.reader import _flatten, _loads

__all__ = ["STORYTELLERS", "generic_stories", "stories"]

Story = list[dict[str, Any]]


def _outcomes(conn: sqlite3.Connection, phase: str | None = None) -> list[tuple[int, Any]]:
    sql = "SELECT tick, payload FROM events WHERE kind = 'outcome' AND actor IS NULL"
    args: list[Any] = []
    if phase is not None:
        sql += " AND json_extract(payload, '$.phase') = ?"
        args.append(phase)
    out = []
    for tick, payload in conn.execute(sql + " ORDER BY seq", args):
        data = _loads(payload)
        if isinstance(data, dict) and isinstance(data.get("data"), dict):
            out.append((int(tick), data["data"]))
    return out


def generic_stories(conn: sqlite3.Connection) -> Story:
    """Per tick: actions by type, messages, model calls, fallbacks, the biggest world change."""
    actions: dict[int, Counter[str]] = defaultdict(Counter)
    for tick, action_type, n in conn.execute(
        "SELECT tick, json_extract(payload, '$.action_type'), COUNT(*) FROM events "
        "WHERE kind = 'action' GROUP BY tick, 2"
    ):
        actions[int(tick)][str(action_type)] += int(n)
    for tick, payload in conn.execute(
        "SELECT tick, json_extract(payload, '$.counts') FROM events WHERE kind = 'population_step'"
    ):
        counts = _loads(payload)
        if isinstance(counts, dict):
            for name, n in counts.items():
                if isinstance(n, int):
                    actions[int(tick)][str(name)] += n
    messages = dict(
        conn.execute(
            "SELECT tick, COUNT(*) FROM events WHERE kind = 'message' GROUP BY tick"
        ).fetchall()
    )
    ticks: dict[int, tuple[int, int]] = {}
    for tick, payload in conn.execute(
        "SELECT tick, payload FROM events WHERE kind = 'tick_completed' ORDER BY seq"
    ):
        data = _loads(payload) or {}
        ticks[int(tick)] = (int(data.get("llm_calls", 0)), int(data.get("fallbacks", 0)))
    states: dict[int, dict[str, float]] = {}
    for tick, payload in conn.execute(
        "SELECT tick, payload FROM events WHERE kind = 'world_state' AND actor IS NULL ORDER BY seq"
    ):
        data = _loads(payload)
        if isinstance(data, dict) and isinstance(data.get("state"), dict):
            flat: dict[str, float] = {}
            _flatten("", data["state"], flat)
            states.setdefault(int(tick), {}).update(flat)
    out: Story = []
    previous: dict[str, float] = {}
    for tick in sorted(set(ticks) | set(actions) | set(states)):
        parts: list[str] = []
        if actions.get(tick):
            shown = ", ".join(f"{n} {name}" for name, n in actions[tick].most_common(4))
            parts.append(f"actions: {shown}")
        if messages.get(tick):
            parts.append(f"{messages[tick]} message(s)")
        calls, fallbacks = ticks.get(tick, (0, 0))
        if calls:
            parts.append(f"{calls} model call(s)")
        if fallbacks:
            parts.append(f"{fallbacks} fallback(s)")
        state = states.get(tick, {})
        changes = [
            (abs(v - previous[k]) / (abs(previous[k]) or 1.0), k, previous[k], v)
            for k, v in state.items()
            if k in previous and v != previous[k] and k not in ("tick", "month", "day")
        ]
        for _, key, before, after in sorted(changes, reverse=True)[:2]:
            parts.append(f"{key} {before:g} → {after:g}")
        previous.update(state)
        out.append({"tick": tick, "text": f"tick {tick}: " + ("; ".join(parts) or "no events")})
    return out


_COMMONS_WORDS = {
    "fishery": ("the fishers", "t", "the lake"),
    "pasture": ("the shepherds", "ha", "the pasture"),
    "pollution": ("the factory owners", "%", "the river"),
}


def commons_stories(conn: sqlite3.Connection) -> Story:
    row = conn.execute("SELECT json_extract(config, '$.scenario.resource') FROM runs").fetchone()
    who, unit, place = _COMMONS_WORDS.get(
        str(row[0] if row else "fishery"), _COMMONS_WORDS["fishery"]
    )
    out: Story = []
    for tick, data in _outcomes(conn):
        if "wanted" not in data or "stock_before" not in data:
            continue
        wanted = sum(v for v in data["wanted"].values() if isinstance(v, int | float))
        caught = sum(v for v in data.get("caught", {}).values() if isinstance(v, int | float))
        month = data.get("month", tick + 1)
        text = f"month {month}: {who} asked for {wanted:g} {unit} of {data['stock_before']:g}"
        if caught != wanted:
            text += f" and got {caught:g}"
        if data.get("collapsed"):
            text += f"; {place} collapsed"
        else:
            text += (
                f"; {data.get('stock_after', 0):g} {unit} left, "
                f"{data.get('stock_next', 0):g} {unit} next month"
            )
        out.append({"tick": tick, "text": text})
    return out


def town_stories(conn: sqlite3.Connection) -> Story:
    talk = dict(
        conn.execute(
            "SELECT tick, COUNT(*) FROM events WHERE kind = 'message' GROUP BY tick"
        ).fetchall()
    )
    out: Story = []
    for tick, data in _outcomes(conn):
        where = data.get("where")
        if not isinstance(where, dict):
            continue
        places = Counter(str(p) for p in where.values())
        busiest, n = places.most_common(1)[0] if places else ("", 0)
        text = f"day {data.get('day', '?')} {data.get('clock', '')}: {len(where)} residents in "
        text += f"{len(places)} places"
        if n > 1:
            text += f", {n} at {busiest}"
        if talk.get(tick):
            text += f"; {talk[tick]} line(s) of conversation"
        out.append({"tick": tick, "text": text})
    return out


def social_stories(conn: sqlite3.Connection) -> Story:
    out: Story = []
    for tick, payload in conn.execute(
        "SELECT tick, payload FROM events WHERE kind = 'world_state' AND actor IS NULL ORDER BY seq"
    ):
        data = _loads(payload)
        state = data.get("state") if isinstance(data, dict) else None
        if not isinstance(state, dict) or "active" not in state:
            continue
        acts = state.get("actions", {})
        shown = ", ".join(
            f"{n:,} {name}"
            for name, n in acts.items()
            if isinstance(n, int) and n and name != "idle"
        )
        text = f"tick {tick}: {state['active']:,} users active"
        if shown:
            text += f" ({shown})"
        cascades = state.get("seed_cascades", {})
        if isinstance(cascades, dict) and cascades:
            sizes = ", ".join(f"{v:,}" for v in cascades.values())
            text += f"; rumour cascade size {sizes}"
        if "mean_attitude" in state:
            text += f"; mean attitude {state['mean_attitude']:+.3f}"
        out.append({"tick": tick, "text": text})
    return out


def donor_stories(conn: sqlite3.Connection) -> Story:
    rounds: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for tick, payload in conn.execute(
        "SELECT tick, payload FROM events WHERE kind = 'outcome' AND actor IS NOT NULL "
        "AND json_extract(payload, '$.phase') = 'donate' ORDER BY seq"
    ):
        data = _loads(payload)
        if isinstance(data, dict) and isinstance(data.get("data"), dict):
            rounds[int(tick)].append(data["data"])
    out: Story = []
    for tick, data in _outcomes(conn, "generation"):
        text = f"generation {data.get('generation', '?')} begins"
        newcomers = data.get("newcomers")
        if isinstance(newcomers, list):
            text += f" with {len(newcomers)} newcomer(s)"
        out.append({"tick": tick, "text": text})
    for tick, items in rounds.items():
        first = items[0]
        given = [float(i.get("fraction", 0.0)) for i in items]
        text = (
            f"generation {first.get('generation', '?')} game {first.get('game', '?')} round "
            f"{first.get('round', '?')}: {len(items)} donation(s), "
            f"mean {sum(given) / len(given):.0%} of resources given"
        )
        out.append({"tick": tick, "text": text})
    out.sort(key=lambda s: int(s["tick"]))
    merged: Story = []
    for entry in out:
        if merged and merged[-1]["tick"] == entry["tick"]:
            merged[-1]["text"] += "; " + entry["text"]
        else:
            merged.append(entry)
    return merged


STORYTELLERS: dict[str, Callable[[sqlite3.Connection], Story]] = {
    "commons": commons_stories,
    "town": town_stories,
    "social": social_stories,
    "donor": donor_stories,
}


def stories(conn: sqlite3.Connection, scenario: str) -> Story:
    """The scenario's lines where it has a storyteller, the generic line for other ticks."""
    generic = {s["tick"]: s["text"] for s in generic_stories(conn)}
    teller = STORYTELLERS.get(scenario)
    own = {s["tick"]: s["text"] for s in teller(conn)} if teller is not None else {}
    out = []
    for tick in sorted(set(generic) | set(own)):
        text = own.get(tick)
        detail = generic.get(tick)
        out.append({"tick": tick, "text": text or detail, "detail": detail if text else None})
    return out
