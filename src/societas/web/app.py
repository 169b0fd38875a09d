"""The dashboard's web application (aiohttp): a static page and a read-only JSON API.

Every endpoint but one is a GET that opens the named run's store read-only for the length of
the request (queries run in a worker thread, so the event loop keeps serving), and none of them
writes anything. The one exception is ``POST /api/seat``: a person's answer for an agent seated
with ``--human``, written to that run's seat folder (never its store) after it is checked
against the request's schema; the run itself reads, validates and records it. Only runs and
experiments that discovery finds under the served folder can be named. Agent and model text
leaves here as JSON; the page puts it in the document as text, never as markup, and the
Content-Security-Policy forbids every script but the page's own.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from societas import __version__
from societas.typing import SocietasError
from societas.web import reader
from societas.web.experiment import experiment_view
from societas.web.stores import Catalog, is_live, read_only

__all__ = ["STATIC", "create_app"]

STATIC = Path(__file__).parent / "static"
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
T = TypeVar("T")
CATALOG_KEY = web.AppKey("catalog", Catalog)
SETTINGS_KEY = web.AppKey("settings", dict)


class _OverviewCache:
    """Overviews of runs whose store has not changed since (file size and mtimes)."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._items: OrderedDict[Path, tuple[tuple[float, ...], dict[str, Any]]] = OrderedDict()

    @staticmethod
    def stamp(db: Path) -> tuple[float, ...]:
        out: list[float] = []
        for path in (db, db.with_name(db.name + "-wal")):
            try:
                st = path.stat()
                out += [st.st_mtime, float(st.st_size)]
            except OSError:
                out += [0.0, 0.0]
        return tuple(out)

    def get(self, db: Path) -> dict[str, Any] | None:
        hit = self._items.get(db)
        if hit is None or hit[0] != self.stamp(db):
            return None
        self._items.move_to_end(db)
        return hit[1]

    def put(self, db: Path, stamp: tuple[float, ...], value: dict[str, Any]) -> None:
        self._items[db] = (stamp, value)
        self._items.move_to_end(db)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def through(
        self,
        db: Path,
        load: Callable[[], dict[str, Any]],
        keep: Callable[[dict[str, Any]], bool] = lambda _: True,
    ) -> dict[str, Any]:
        """The cached value for this version of ``db``, else ``load()``'s, kept if ``keep``
        says so (blocking: call it in a thread)."""
        hit = self.get(db)
        if hit is not None:
            return hit
        stamp = self.stamp(db)  # before reading, so a write during the read is seen next time
        value = load()
        if keep(value):
            self.put(db, stamp, value)
        return value


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(
        data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False, allow_nan=False)
    )


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status=status)


async def _in_thread(fn: Callable[[], T]) -> T:
    return await asyncio.to_thread(fn)


def _int(request: web.Request, name: str, default: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"query parameter {name}: expected an integer, got {raw!r}"}),
            content_type="application/json",
        ) from None


def _catalog(request: web.Request) -> Catalog:
    return request.app[CATALOG_KEY]


def _db(request: web.Request) -> Path:
    run_id = request.query.get("run", "")
    try:
        return _catalog(request).run_db(run_id)
    except KeyError:
        raise web.HTTPNotFound(
            text=json.dumps({"error": f"no run {run_id!r} under the served folder"}),
            content_type="application/json",
        ) from None


@web.middleware
async def _guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Reads only (GET/HEAD), from the expected host names, with strict browser policies."""
    seat_post = request.method == "POST" and request.path == "/api/seat"
    if request.method not in ("GET", "HEAD") and not seat_post:
        return _error(405, "the dashboard only reads: use GET")
    if seat_post and request.content_type != "application/json":
        # A cross-site page cannot send JSON without a CORS grant (never given here).
        return _error(415, "a seat answer is sent as application/json from the dashboard page")
    allowed: set[str] = request.app[SETTINGS_KEY]["hosts"]
    host = (request.host or "").rsplit(":", 1)[0].strip("[]").lower()
    if allowed and host not in allowed:
        return _error(421, f"unexpected Host header {request.host!r}")
    try:
        response = await handler(request)
    except SocietasError as exc:
        response = _error(422, str(exc))
    except sqlite3.DatabaseError as exc:
        response = _error(422, f"the run store cannot be read: {exc}")
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"
    return response


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


def _runs_listing(catalog: Catalog) -> dict[str, Any]:
    runs, experiments = catalog.scan()
    rows = []
    for run_id in runs:
        db = catalog.run_db(run_id)
        try:
            with read_only(db) as conn:
                row = reader.run_row(conn)
        except (SocietasError, sqlite3.DatabaseError, LookupError) as exc:
            rows.append({"id": run_id, "status": "unreadable", "error": str(exc)})
            continue
        row["id"] = run_id
        row["live"] = is_live(db, str(row["status"]))
        rows.append(row)
    return {
        "root": str(catalog.root),
        "version": __version__,
        "runs": rows,
        "experiments": experiments,
    }


async def api_runs(request: web.Request) -> web.StreamResponse:
    catalog = _catalog(request)
    return _json(await _in_thread(lambda: _runs_listing(catalog)))


async def api_run(request: web.Request) -> web.StreamResponse:
    db = _db(request)
    cache: _OverviewCache = request.app[SETTINGS_KEY]["cache"]

    def load() -> dict[str, Any]:
        with read_only(db) as conn:
            data = reader.overview(conn)
        data["run"]["live"] = is_live(db, str(data["run"]["status"]))
        return data

    data = dict(
        await _in_thread(
            lambda: cache.through(db, load, keep=lambda d: d["run"]["status"] != "running")
        )
    )
    data["id"] = request.query.get("run", "")
    return _json(data)


async def api_events(request: web.Request) -> web.StreamResponse:
    db = _db(request)
    kinds = [k for value in request.query.getall("kind", []) for k in value.split(",") if k]
    actor = request.query.get("actor") or None
    phase = request.query.get("phase") or None
    tick = _int(request, "tick")
    after = _int(request, "after", -1)
    limit = _int(request, "limit", 100)

    def load() -> dict[str, Any]:
        with read_only(db) as conn:
            return reader.events_page(
                conn,
                kinds=kinds,
                actor=actor,
                phase=phase,
                tick=tick,
                after=after if after is not None else -1,
                limit=limit if limit is not None else 100,
            )

    return _json(await _in_thread(load))


async def api_event(request: web.Request) -> web.StreamResponse:
    db = _db(request)
    seq = _int(request, "seq")
    if seq is None:
        return _error(400, "query parameter seq: expected an event number")

    def load() -> dict[str, Any] | None:
        with read_only(db) as conn:
            return reader.event_detail(conn, seq)

    data = await _in_thread(load)
    if data is None:
        return _error(404, f"no event {seq} in this run")
    return _json(data)


async def api_agent(request: web.Request) -> web.StreamResponse:
    db = _db(request)
    agent = request.query.get("agent", "")
    if not agent:
        return _error(400, "query parameter agent: expected an agent id")
    tick = _int(request, "tick")

    def load() -> dict[str, Any]:
        with read_only(db) as conn:
            return reader.agent_view(conn, agent, tick)

    return _json(await _in_thread(load))


async def api_interview(request: web.Request) -> web.StreamResponse:
    """Ask an agent a question as of a tick (``societas.analysis.interview``): the agent's mind
    is rebuilt from the store, read-only, and asked through a gateway of its own; the run is
    not changed. The model costs tokens, so a page elsewhere must not be able to trigger it:
    the request needs the ``X-Societas-Interview`` header, which a cross-site request cannot
    send without a CORS grant (never given here)."""
    from societas.analysis.interview import interview

    if request.headers.get("X-Societas-Interview") != "1":
        return _error(403, "interviews are asked from the dashboard page (header missing)")
    db = _db(request)
    agent = request.query.get("agent", "")
    question = request.query.get("question", "")
    if not agent:
        return _error(400, "query parameter agent: expected an agent id")
    if not question.strip() or len(question) > 2000:
        return _error(400, "query parameter question: expected 1 to 2000 characters")
    tick = _int(request, "tick")
    answer = await _in_thread(lambda: interview(db.parent, agent, question, tick=tick))
    return _json({"agent": agent, "tick": tick, "question": question, "answer": answer})


async def api_cascades(request: web.Request) -> web.StreamResponse:
    """The social scenario's rumour cascades as trees (``views.cascade_trees``); read once per
    version of the store (they need every population step)."""
    from societas.web.views import cascade_trees

    db = _db(request)
    cache: _OverviewCache = request.app[SETTINGS_KEY]["cascades"]

    def load() -> dict[str, Any]:
        with read_only(db) as conn:
            return cascade_trees(conn)

    return _json(await _in_thread(lambda: cache.through(db, load)))


async def api_follows(request: web.Request) -> web.StreamResponse:
    """A sample of a social run's follow graph (``views.follow_sample``): the run's world is
    rebuilt from its settings and latest snapshot, so it is read once per version of the
    store."""
    from societas.web.views import follow_sample

    db = _db(request)
    cache: _OverviewCache = request.app[SETTINGS_KEY]["follows"]

    return _json(await _in_thread(lambda: cache.through(db, lambda: follow_sample(db.parent))))


async def api_seat(request: web.Request) -> web.StreamResponse:
    """The decisions of seated agents (``--human``) waiting for a person, oldest first."""
    from societas.llm.human import pending_requests

    run_dir = _db(request).parent
    waiting = await _in_thread(lambda: pending_requests(run_dir))
    return _json({"pending": [r.model_dump(mode="json") for r in waiting]})


async def api_seat_answer(request: web.Request) -> web.StreamResponse:
    """A person's answer to one waiting decision: ``{"id": ..., "answer": {...}}``."""
    from societas.llm.human import answer_seat

    run_dir = _db(request).parent
    try:
        body = await request.json()
    except ValueError:
        return _error(400, 'expected a JSON body {"id": ..., "answer": {...}}')
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or "answer" not in body:
        return _error(400, 'expected a JSON body {"id": ..., "answer": {...}}')
    text = json.dumps(body["answer"], ensure_ascii=False)
    await _in_thread(lambda: answer_seat(run_dir, body["id"], text))
    return _json({"ok": True, "id": body["id"]})


async def api_experiment(request: web.Request) -> web.StreamResponse:
    catalog = _catalog(request)
    exp_id = request.query.get("exp", "")
    try:
        directory = catalog.experiment_dir(exp_id)
    except KeyError:
        return _error(404, f"no experiment {exp_id!r} under the served folder")
    data = await _in_thread(lambda: experiment_view(directory, catalog.root))
    data["id"] = exp_id
    return _json(data)


async def api_live(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the run's newest event and progress whenever they change."""
    db = _db(request)
    poll_s: float = request.app[SETTINGS_KEY]["poll_s"]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)

    def load() -> dict[str, Any]:
        with read_only(db) as conn:
            state = reader.live_state(conn)
        state["live"] = is_live(db, str(state["status"]))
        return state

    last: dict[str, Any] | None = None
    idle = 0.0
    try:
        while True:
            state = await _in_thread(load)
            if state != last:
                await response.write(f"data: {json.dumps(state)}\n\n".encode())
                last = state
                idle = 0.0
            else:
                idle += poll_s
                if idle >= 15.0:
                    await response.write(b": keep-alive\n\n")
                    idle = 0.0
            await asyncio.sleep(poll_s)
    except ConnectionResetError:  # the page went away
        pass
    return response


def create_app(
    target: str | Path, *, poll_s: float = 1.0, hosts: set[str] | None = None
) -> web.Application:
    """The dashboard for ``target`` (a run, a folder of runs or an experiment directory).

    ``hosts``: the Host names requests may carry (default: the loopback names); an empty set
    accepts any."""
    app = web.Application(middlewares=[_guard])
    app[CATALOG_KEY] = Catalog.at(target)
    app[SETTINGS_KEY] = {
        "poll_s": poll_s,
        "hosts": {"127.0.0.1", "localhost", "::1"} if hosts is None else hosts,
        "cache": _OverviewCache(),
        "cascades": _OverviewCache(size=4),
        "follows": _OverviewCache(size=4),
    }
    app.router.add_get("/", index)
    app.router.add_get("/api/runs", api_runs)
    app.router.add_get("/api/run", api_run)
    app.router.add_get("/api/events", api_events)
    app.router.add_get("/api/event", api_event)
    app.router.add_get("/api/agent", api_agent)
    app.router.add_get("/api/experiment", api_experiment)
    app.router.add_get("/api/live", api_live)
    app.router.add_get("/api/interview", api_interview)
    app.router.add_get("/api/cascades", api_cascades)
    app.router.add_get("/api/follows", api_follows)
    app.router.add_get("/api/seat", api_seat)
    app.router.add_post("/api/seat", api_seat_answer)
    app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
    return app
