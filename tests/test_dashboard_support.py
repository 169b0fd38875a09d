"""Helpers of the dashboard tests (no tests here): runs, a served dashboard, a browser."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from societas.engine import prepare_run, run_sync
from societas.scenarios import load_spec
from societas.testing.fake_openai import FakeOpenAIServer
from societas.web.app import create_app

T = TypeVar("T")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path("/work/notes/screenshots")

# Agent and model text is untrusted: markup, ANSI escapes and a 10,000-character line (too
# long for a reflection: the run records it as a fallback with the model's raw output).
HOSTILE_REASON = "<script>window.__pwned = 1</script>\x1b[31mRED\x1b[0m"
HOSTILE_MESSAGE = '<img src=x onerror="window.__pwned = 2">\x1b]0;title\x07 & </td></tr>'
HOSTILE_LONG = "W" * 10_000


def in_thread(fn: Callable[[], T]) -> T:
    """``fn()`` in a thread of its own (the browser's event loop may be running in this one)."""
    result: list[T] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            result.append(fn())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def make_run(out: Path, scenario: str = "commons", *sets: str, model: str = "scripted") -> Path:
    """Run a scenario into ``out`` with the given settings."""

    def work() -> None:
        spec = load_spec(scenario, list(sets), model=model, seed=0)
        run_sync(prepare_run(spec.scenario, spec.config, spec.options, out))

    in_thread(work)
    return out


def commons_answer(
    reason: str, message: str, reflection: str | None = None
) -> Callable[[dict[str, Any]], str]:
    """Valid JSON for whichever commons action the request's schema asks for."""

    def answer(request: dict[str, Any]) -> str:
        props = request["response_format"]["json_schema"]["schema"]["properties"]
        if "catch" in props:
            return json.dumps({"catch": 3, "reason": reason})
        if "message" in props:
            return json.dumps({"message": message})
        if "reflection" in props:
            return json.dumps({"reflection": message if reflection is None else reflection})
        return "{}"

    return answer


@contextmanager
def fake_model(answer: Callable[[dict[str, Any]], str], latency_s: float = 0.0) -> Iterator[str]:
    """The fake OpenAI-compatible server on its own loop in a thread; yields its base URL."""
    server = FakeOpenAIServer(answer=answer, latency_s=latency_s)
    with _in_thread(server.start, server.stop) as url:
        yield url


@contextmanager
def _in_thread(start: Callable[[], Any], stop: Callable[[], Any]) -> Iterator[Any]:
    started = threading.Event()
    state: dict[str, Any] = {}

    async def main() -> None:
        state["loop"] = asyncio.get_running_loop()
        state["stop"] = asyncio.Event()
        try:
            state["value"] = await start()
        except BaseException as exc:
            state["error"] = exc
            started.set()
            raise
        started.set()
        await state["stop"].wait()
        await stop()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    assert started.wait(20), "the server did not start"
    if "error" in state:
        raise state["error"]
    try:
        yield state["value"]
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(20)


@contextmanager
def dashboard(target: Path, poll_s: float = 0.2) -> Iterator[str]:
    """The dashboard of ``target`` served on 127.0.0.1 (a free port); yields its base URL."""
    runner: dict[str, web.AppRunner] = {}

    async def start() -> str:
        app = create_app(target, poll_s=poll_s)
        runner["r"] = web.AppRunner(app, access_log=None)
        await runner["r"].setup()
        site = web.TCPSite(runner["r"], "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    async def stop() -> None:
        await runner["r"].cleanup()

    with _in_thread(start, stop) as url:
        yield url
