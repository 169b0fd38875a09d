"""World views: the data of a scenario's own picture, read from its events.

``world_view`` returns ``{"view": name, ...}``; the page draws the views it knows (commons,
town, social, donor) and falls back to the generic run view (per-tick series and the event
log) for every other scenario and for runs whose events lack what a view needs.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from societas.web.reader import _loads

__all__ = ["VIEWS", "world_view"]

View = dict[str, Any]
_MESSAGES = 2000


def _outcome_rows(
    conn: sqlite3.Connection, phase: str | None = None
) -> list[tuple[int, dict[str, Any]]]:
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


def _messages(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    out = []
    for seq, tick, actor, phase, text, audience in conn.execute(
        "SELECT seq, tick, actor, json_extract(payload, '$.phase'), "
        "substr(json_extract(payload, '$.text'), 1, 2000), json_extract(payload, '$.audience') "
        "FROM events WHERE kind = 'message' ORDER BY seq LIMIT ?",
        (_MESSAGES,),
    ):
        out.append(
            {
                "seq": seq,
                "tick": tick,
                "actor": actor,
                "phase": phase,
                "text": text,
                "audience": _loads(audience),
            }
        )
    return out


def commons_view(conn: sqlite3.Connection) -> View | None:
    months = []
    for tick, data in _outcome_rows(conn):
        if "wanted" not in data or "stock_before" not in data:
            continue
        months.append(
            {
                "tick": tick,
                "month": data.get("month", tick + 1),
                "stock_before": data.get("stock_before"),
                "stock_after": data.get("stock_after"),
                "stock_next": data.get("stock_next"),
                "threshold": data.get("threshold"),
                "collapsed": bool(data.get("collapsed")),
                "wanted": data.get("wanted", {}),
                "caught": data.get("caught", {}),
            }
        )
    if not months:
        return None
    capacity = conn.execute(
        "SELECT json_extract(config, '$.scenario.capacity') FROM runs"
    ).fetchone()
    return {
        "view": "commons",
        "capacity": capacity[0] if capacity else None,
        "months": months,
        "messages": _messages(conn),
    }


def town_view(conn: sqlite3.Connection) -> View | None:
    frames = []
    for tick, data in _outcome_rows(conn):
        if isinstance(data.get("where"), dict):
            frames.append(
                {
                    "tick": tick,
                    "day": data.get("day"),
                    "clock": data.get("clock"),
                    "where": data["where"],
                    "activities": data.get("activities", {}),
                }
            )
    if not frames:
        return None
    places_raw = _loads(
        conn.execute("SELECT json_extract(config, '$.scenario.places') FROM runs").fetchone()[0]
    )
    places = (
        [
            {"name": str(p.get("name")), "kind": str(p.get("kind", ""))}
            for p in places_raw
            if isinstance(p, dict)
        ]
        if isinstance(places_raw, list)
        else []
    )
    known = {p["name"] for p in places}
    for frame in frames:
        for place in frame["where"].values():
            if str(place) not in known:
                known.add(str(place))
                places.append({"name": str(place), "kind": ""})
    messages = _messages(conn)
    return {
        "view": "town",
        "places": places,
        "frames": frames,
        "messages": messages,
        "heard": _town_heard(conn, messages, [str(a) for a in frames[0]["where"]]),
    }


def _town_heard(
    conn: sqlite3.Connection, messages: list[dict[str, Any]], everyone: list[str]
) -> dict[str, Any] | None:
    """Who has heard of the party by the end of each tick: the host, then everyone in the
    audience of a message that mentions it (the town's own ``exposed`` definition and
    keywords, ``societas.scenarios.town.metrics``), plus survey answers where asked."""
    from pydantic import ValidationError

    from societas.scenarios.town.config import TownConfig

    raw = _loads(conn.execute("SELECT json_extract(config, '$.scenario') FROM runs").fetchone()[0])
    try:
        config = TownConfig.model_validate(raw)
    except ValidationError:
        return None
    party = config.party
    exposed = {party.host}
    by_tick: dict[int, list[str]] = {}
    for message in messages:
        if party.mentions(str(message["text"] or "")):
            audience = message["audience"]
            exposed.update(audience if isinstance(audience, list) else everyone)
        by_tick[int(message["tick"])] = sorted(exposed)
    ticks = [int(t) for (t,) in conn.execute("SELECT DISTINCT tick FROM events WHERE tick >= 0")]
    out: dict[str, list[str]] = {}
    current = [party.host]
    for tick in sorted(ticks):
        current = by_tick.get(tick, current)
        out[str(tick)] = current
    said_yes: dict[str, list[str]] = defaultdict(list)
    for tick, actor in conn.execute(
        "SELECT tick, actor FROM events WHERE kind = 'survey_answer' "
        "AND json_extract(payload, '$.question') = ? AND json_extract(payload, '$.answer') = ?",
        ("heard", "yes"),
    ):
        said_yes[str(tick)].append(str(actor))
    return {
        "host": party.host,
        "place": party.place,
        "description": party.description,
        "exposed": out,
        "said_yes": dict(said_yes),
    }


def _histogram(values: list[float], bins: int = 20) -> list[int]:
    counts = [0] * bins
    for value in values:
        index = int((min(1.0, max(-1.0, value)) + 1.0) / 2.0 * bins)
        counts[min(bins - 1, index)] += 1
    return counts


def social_view(conn: sqlite3.Connection) -> View | None:
    ticks = []
    for tick, payload in conn.execute(
        "SELECT tick, payload FROM events WHERE kind = 'world_state' AND actor IS NULL ORDER BY seq"
    ):
        data = _loads(payload)
        state = data.get("state") if isinstance(data, dict) else None
        if not isinstance(state, dict) or "seed_cascades" not in state:
            continue
        sample = state.get("attitude_sample")
        ticks.append(
            {
                "tick": int(tick),
                "active": state.get("active"),
                "actions": state.get("actions", {}),
                "cascades": state.get("seed_cascades", {}),
                "posts": state.get("posts"),
                "follow_edges": state.get("follow_edges"),
                "emotion": state.get("emotion", {}),
                "attitude_hist": _histogram([float(v) for v in sample])
                if isinstance(sample, list)
                else None,
            }
        )
    if not ticks:
        return None
    seeds = []
    for payload in conn.execute(
        "SELECT payload FROM events WHERE kind = 'outcome' "
        "AND json_extract(payload, '$.phase') = 'seed' ORDER BY seq LIMIT 50"
    ):
        data = _loads(payload[0])
        if isinstance(data, dict) and isinstance(data.get("data"), dict):
            seed = data["data"]
            seeds.append({k: seed.get(k) for k in ("seed", "tick", "label", "topic", "text")})
    groups: dict[int, int] = defaultdict(int)
    for tick, n in conn.execute(
        "SELECT tick, COUNT(*) FROM events WHERE kind = 'group_decision' GROUP BY tick"
    ):
        groups[int(tick)] = int(n)
    return {"view": "social", "ticks": ticks, "seeds": seeds, "groups": dict(groups)}


def cascade_trees(conn: sqlite3.Connection, max_nodes: int = 300) -> dict[str, Any]:
    """The social scenario's rumour cascades as trees: each seed post (its ``outcome`` event
    of phase ``seed``) and the reposts and comments whose ``root`` is that post, from the
    ``population_step`` events' columns (``post``, ``parent``, ``root``, ``actor``,
    ``action``), in the order they happened. Each tree keeps its first ``max_nodes`` posts
    (with their depth); ``size`` and ``per_tick`` count all of them."""
    from societas.scenarios.social.actions import ACTION_NAMES, COMMENT, REPOST

    trees: dict[int, dict[str, Any]] = {}
    for (payload,) in conn.execute(
        "SELECT payload FROM events WHERE kind = 'outcome' "
        "AND json_extract(payload, '$.phase') = 'seed' ORDER BY seq"
    ):
        data = _loads(payload)
        seed = data.get("data") if isinstance(data, dict) else None
        if not isinstance(seed, dict) or not isinstance(seed.get("post_id"), int):
            continue
        root = int(seed["post_id"])
        trees[root] = {
            "seed": seed.get("seed"),
            "label": seed.get("label"),
            "topic": seed.get("topic"),
            "size": 1,
            "per_tick": {},
            "nodes": [
                {
                    "post": root,
                    "parent": -1,
                    "author": seed.get("author"),
                    "tick": seed.get("tick"),
                    "kind": "post",
                    "depth": 0,
                }
            ],
        }
    if not trees:
        return {"trees": []}
    depth = dict.fromkeys(trees, 0)
    spreading = (REPOST, COMMENT)
    for tick, columns in conn.execute(
        "SELECT tick, json_extract(payload, '$.columns') FROM events "
        "WHERE kind = 'population_step' AND json_extract(payload, '$.phase') != 'seed' "
        "AND (COALESCE(json_extract(payload, '$.counts.repost'), 0) "
        "+ COALESCE(json_extract(payload, '$.counts.comment'), 0)) > 0 ORDER BY seq"
    ):
        cols = _loads(columns)
        if not isinstance(cols, dict) or not {"post", "parent", "root", "action"} <= set(cols):
            continue
        rows = zip(
            cols.get("actor") or [None] * len(cols["post"]),
            cols["action"],
            cols["post"],
            cols["parent"],
            cols["root"],
            strict=False,
        )
        for actor, action, post, parent, root in rows:
            tree = trees.get(root)
            if tree is None or action not in spreading or post is None or post < 0:
                continue
            tree["size"] += 1
            tree["per_tick"][int(tick)] = tree["per_tick"].get(int(tick), 0) + 1
            if len(tree["nodes"]) < max_nodes and parent in depth:
                depth[post] = depth[parent] + 1
                tree["nodes"].append(
                    {
                        "post": post,
                        "parent": parent,
                        "author": actor,
                        "tick": int(tick),
                        "kind": ACTION_NAMES[action],
                        "depth": depth[post],
                    }
                )
    return {"trees": sorted(trees.values(), key=lambda t: (t["seed"] is None, t["seed"]))}


def follow_sample(run_dir: Path, max_nodes: int = 80) -> dict[str, Any]:
    """A sample of a social run's follow graph as of its latest snapshot: each seed post's
    author, the first users of its cascade tree and some of the author's followers, with every
    follow edge among them (``src`` follows ``dst``). The graph is the world's own: the run's
    world is assembled from its stored settings (``engine.runner.assemble``) and restored from
    the snapshot, so follows made during the run are in it."""
    from societas.engine.runner import assemble, stored_settings
    from societas.scenarios import get_scenario
    from societas.scenarios.social.world import SocialWorld
    from societas.store import DB_NAME, RunStore
    from societas.web.stores import read_only

    with RunStore.open(run_dir, readonly=True) as store:
        info = store.run_info()
        snap = store.latest_snapshot()
    with read_only(run_dir / DB_NAME) as conn:
        trees = cascade_trees(conn)["trees"]
    if info["scenario"] != "social" or snap is None:
        return {"nodes": [], "edges": [], "tick": None}
    scenario = get_scenario("social")
    config, options, personas = stored_settings(scenario, info)
    world = assemble(scenario, config, options, personas).world
    world.restore(snap[2]["world"])
    if not isinstance(world, SocialWorld):
        return {"nodes": [], "edges": [], "tick": None}
    graph = world.graph
    role: dict[int, str] = {}
    for tree in trees:
        if tree["nodes"] and isinstance(tree["nodes"][0]["author"], int):
            role[int(tree["nodes"][0]["author"])] = "seed author"
    per_tree = max(1, (max_nodes // 2) // max(1, len(trees)))
    for tree in trees:
        for node in tree["nodes"][1 : 1 + per_tree]:
            if isinstance(node["author"], int):
                role.setdefault(int(node["author"]), node["kind"] + "er")
    authors = [u for u, r in role.items() if r == "seed author"]
    room = max(0, max_nodes - len(role))
    for author in authors:
        rows = np.flatnonzero(graph.indices == author)  # follow edges pointing at the author
        followers = np.searchsorted(graph.indptr, rows, side="right") - 1
        for u in followers[: max(1, room // max(1, len(authors)))].tolist():
            role.setdefault(int(u), "follower")
    members = np.asarray(sorted(role), dtype=np.int64)
    edges = [
        [int(u), int(v)]
        for u in members.tolist()
        for v in graph.followees(u).tolist()
        if v in role and v != u
    ]
    indeg = graph.in_degree()
    return {
        "tick": snap[0],
        "users": int(graph.n),
        "follow_edges": int(graph.num_edges),
        "nodes": [
            {"user": u, "role": role[u], "followers": int(indeg[u])} for u in members.tolist()
        ],
        "edges": edges,
    }


def donor_view(conn: sqlite3.Connection) -> View | None:
    per_gen: dict[int, dict[str, Any]] = {}
    for gen, n, given, fraction in conn.execute(
        "SELECT json_extract(payload, '$.data.generation'), COUNT(*), "
        "SUM(json_extract(payload, '$.data.given')), AVG(json_extract(payload, '$.data.fraction')) "
        "FROM events WHERE kind = 'outcome' AND actor IS NOT NULL "
        "AND json_extract(payload, '$.phase') = 'donate' GROUP BY 1 ORDER BY 1"
    ):
        if gen is None:
            continue
        per_gen[int(gen)] = {
            "generation": int(gen),
            "donations": int(n),
            "given": float(given or 0.0),
            "mean_fraction": float(fraction or 0.0),
        }
    if not per_gen:
        return None
    for _, data in _outcome_rows(conn, "generation"):
        gen = data.get("generation")
        if isinstance(gen, int) and gen in per_gen:
            agents = data.get("agents") or []
            newcomers = data.get("newcomers") or []
            per_gen[gen]["agents"] = len(agents)
            per_gen[gen]["survivors"] = len([a for a in agents if a not in newcomers])
            per_gen[gen]["newcomers"] = len(newcomers)
    return {"view": "donor", "generations": [per_gen[g] for g in sorted(per_gen)]}


VIEWS: dict[str, Callable[[sqlite3.Connection], View | None]] = {
    "commons": commons_view,
    "town": town_view,
    "social": social_view,
    "donor": donor_view,
}


def world_view(conn: sqlite3.Connection, scenario: str) -> View:
    maker = VIEWS.get(scenario)
    view = maker(conn) if maker is not None else None
    return view if view is not None else {"view": "generic"}
