"""Secrets stay out of everything written; servers bind 127.0.0.1; agent text is data.

The commons runs here talk to the fake OpenAI server (in a thread, on 127.0.0.1), which
insists on the test key: a run whose calls all succeed proves the key was sent.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from societas.cli.main import app
from societas.store import DB_NAME, RunStore
from societas.store.check import check_store
from societas.testing.fake_openai import FakeOpenAIServer, Fault, FaultHook, run_in_subprocess
from societas.typing import LLMCall, MessageEvent, ReflectionEvent

KEY = "sk-test-SECRET-1234567890"
# The key, and its distinctive part (a prefix-masked key would still give that away).
NEEDLES = (KEY, "SECRET-1234567890")
KEY_ENV = ("SOCIETAS_API_KEY", "OPENAI_API_KEY", "SOCIETAS_OPENAI_API_KEY")
SETS = ["protocol=societas", "months=2", "agents=3", "discussion_rounds=1", "run.max_attempts=1"]
SRC = Path(__file__).resolve().parents[1] / "src" / "societas"


def commons_answer(
    message: str = "Let us keep to the sustainable share.",
    reflection: str = "Keep catches small.",
    reason: str = "sustainable",
) -> Callable[[dict[str, Any]], str]:
    """Valid JSON for whichever commons action the request's schema asks for."""

    def answer(request: dict[str, Any]) -> str:
        props = request["response_format"]["json_schema"]["schema"]["properties"]
        if "catch" in props:
            return json.dumps({"catch": 3, "reason": reason})
        if "message" in props:
            return json.dumps({"message": message})
        if "reflection" in props:
            return json.dumps({"reflection": reflection})
        return "{}"

    return answer


@contextmanager
def fake_server(
    answer: Callable[[dict[str, Any]], str],
    *,
    api_key: str | None = KEY,
    faults: FaultHook | None = None,
) -> Iterator[tuple[str, FakeOpenAIServer]]:
    """The fake server on its own event loop in a thread; yields (base URL, server)."""
    server = FakeOpenAIServer(answer=answer, api_key=api_key, faults=faults)
    started = threading.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        state["loop"] = asyncio.get_running_loop()
        state["stop"] = asyncio.Event()
        state["url"] = await server.start()
        started.set()
        await state["stop"].wait()
        await server.stop()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert started.wait(10), "the fake server did not start"
    try:
        yield state["url"], server
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(10)


@pytest.fixture(autouse=True)
def _no_key_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEY_ENV:
        monkeypatch.delenv(name, raising=False)


def _invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, args, env=env)


def _run_args(url: str, out: Path, *extra: str) -> list[str]:
    args = ["run", "commons", "--model", "openai:fake-model", "--base-url", url, "--out", str(out)]
    for item in SETS:
        args += ["--set", item]
    return [*args, "-q", *extra]


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _leaks(blobs: dict[str, bytes]) -> list[str]:
    return [
        f"{name} holds {needle!r}"
        for name, data in blobs.items()
        for needle in NEEDLES
        if needle.encode() in data or needle.encode("utf-16-le") in data
    ]


def _outputs(results: dict[str, Result]) -> dict[str, bytes]:
    return {
        f"{name} {stream}": getattr(result, stream).encode()
        for name, result in results.items()
        for stream in ("stdout", "stderr")
    }


# -- secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["--api-key", "OPENAI_API_KEY"])
def test_the_api_key_is_sent_but_never_written(tmp_path: Path, via: str) -> None:
    out = tmp_path / "run"
    mid_run: dict[str, bytes] = {}
    answer = commons_answer()
    served = {"n": 0}

    def answer_and_look(request: dict[str, Any]) -> str:
        served["n"] += 1
        if served["n"] == 14:  # month 2: run.db has a WAL with month 1 in it
            mid_run.update({f"mid-run {k}": v for k, v in _files(out).items()})
        return answer(request)

    with fake_server(answer_and_look) as (url, server):
        if via == "--api-key":
            run = _invoke(_run_args(url, out, "--api-key", KEY))
        else:
            run = _invoke(_run_args(url, out), env={"OPENAI_API_KEY": KEY})
        assert run.exit_code == 0, (run.stdout, run.stderr)
        assert server.requests_served > 0
    assert any(name.endswith(f"{DB_NAME}-wal") for name in mid_run), sorted(mid_run)

    with RunStore.open(out, readonly=True) as store:
        calls = [e for e in store.events(["llm_call"]) if isinstance(e, LLMCall)]
    assert calls
    assert {c.status for c in calls} == {"ok"}  # the server accepted the key on every call

    results = {"run": run}
    results["summary"] = _invoke(["summary", str(out), "--json"])
    results["summary-table"] = _invoke(["summary", str(out)])
    results["export-jsonl"] = _invoke(["export", str(out), "--format", "jsonl"])
    results["export-parquet"] = _invoke(["export", str(out), "--format", "parquet"])
    results["report"] = _invoke(["report", str(out)])
    results["check"] = _invoke(["check", str(out)])
    for name, result in results.items():
        assert result.exit_code == 0, (name, result.stdout, result.stderr)

    written = _files(out)
    assert {"run.db", "cache.db", "events.jsonl", "events.parquet", "report/index.html"} <= set(
        written
    )
    assert _leaks(written) == []
    assert _leaks(mid_run) == []
    assert _leaks(_outputs(results)) == []


def _failing_run(tmp_path: Path, *, server_key: str, faults: FaultHook | None) -> Path:
    out = tmp_path / "failing"
    with fake_server(commons_answer(), api_key=server_key, faults=faults) as (url, _):
        result = _invoke(_run_args(url, out, "--api-key", KEY))
    # Every decision fell back: the run ends failed, naming the (scrubbed) error.
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "decisions fell back" in result.stderr
    assert _leaks(_outputs({"run": result})) == []
    assert _leaks(_files(out)) == []
    return out


def test_a_rejected_key_stops_the_run_before_it_starts(tmp_path: Path) -> None:
    out = tmp_path / "rejected"
    with fake_server(commons_answer(), api_key="sk-test-the-right-one") as (url, _):
        result = _invoke(_run_args(url, out, "--api-key", KEY))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "HTTP 401" in result.stderr
    assert "invalid api key" in result.stderr
    assert _leaks(_outputs({"run": result})) == []
    assert not out.exists()  # the preflight refused it before a directory was made


def test_a_server_that_echoes_the_key_in_its_error_is_scrubbed(tmp_path: Path) -> None:
    echo = Fault(
        status=401,
        body=json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}."}}),
    )
    out = _failing_run(tmp_path, server_key=KEY, faults=lambda index, request: echo)
    with RunStore.open(out, readonly=True) as store:
        calls = [e for e in store.events(["llm_call"]) if isinstance(e, LLMCall)]
    assert calls
    assert all("Incorrect API key provided: ***" in (c.error or "") for c in calls)
    assert all(all(KEY not in fault for fault in c.faults) for c in calls)


PASSWORD = "pw-SECRET-in-the-url-4711"


@pytest.mark.parametrize("via", ["--base-url", "SOCIETAS_OPENAI_BASE_URL"])
def test_a_password_in_the_base_url_never_reaches_an_error_event_or_export(
    tmp_path: Path, via: str
) -> None:
    out = tmp_path / "run"
    # Every third request fails: the stored errors quote the server's URL.
    fault = Fault(status=500, body='{"error": {"message": "injected"}}')
    faults: FaultHook = lambda index, request: fault if index % 3 == 0 else None  # noqa: E731
    seen: list[str] = []
    answer = commons_answer()

    def answer_and_look(request: dict[str, Any]) -> str:
        seen.append("x")
        return answer(request)

    with fake_server(answer_and_look, api_key=None, faults=faults) as (url, _):
        secret_url = url.replace("http://", f"http://alice:{PASSWORD}@")
        if via == "--base-url":
            args = _run_args(secret_url, out)
            run = _invoke(args)
        else:
            args = [a for a in _run_args(url, out) if a not in ("--base-url", url)]
            run = _invoke(args, env={"SOCIETAS_OPENAI_BASE_URL": secret_url})
    assert run.exit_code == 0, (run.stdout, run.stderr)
    assert seen  # the server answered through the URL with its credentials
    with RunStore.open(out, readonly=True) as store:
        calls = [e for e in store.events(["llm_call"]) if isinstance(e, LLMCall)]
    assert any(c.faults for c in calls)  # errors quoting the URL were recorded
    results = {"run": run}
    results["summary"] = _invoke(["summary", str(out), "--json"])
    results["export-jsonl"] = _invoke(["export", str(out), "--format", "jsonl"])
    results["export-parquet"] = _invoke(["export", str(out), "--format", "parquet"])
    results["report"] = _invoke(["report", str(out)])
    results["check"] = _invoke(["check", str(out)])
    blobs = {**_files(out), **_outputs(results)}
    leaks = [name for name, data in blobs.items() if PASSWORD.encode() in data]
    assert leaks == []
    if via == "--base-url":  # the stored setting keeps the user, not the password
        with RunStore.open(out, readonly=True) as store:
            assert ":***@" in store.run_info()["config"]["run"]["base_url"]


def test_an_infinite_or_nan_timeout_is_refused(tmp_path: Path) -> None:
    for value in ("inf", "nan", "-1", "1e309"):
        out = tmp_path / value
        args = ["run", "commons", "--model", "scripted", "--out", str(out), "-q"]
        result = _invoke([*args, "--set", f"run.request_timeout_s={value}"])
        assert result.exit_code == 2, (value, result.stdout, result.stderr)
        assert "request_timeout_s" in result.stderr
        assert not out.exists()


# -- network binding --------------------------------------------------------------------


def test_the_fake_server_binds_loopback_by_default() -> None:
    assert inspect.signature(FakeOpenAIServer).parameters["host"].default == "127.0.0.1"

    async def main() -> tuple[str, list[str]]:
        server = FakeOpenAIServer()
        url = await server.start()
        assert server._server is not None
        hosts = [sock.getsockname()[0] for sock in server._server.sockets]
        await server.stop()
        return url, hosts

    url, hosts = asyncio.run(main())
    assert url.startswith("http://127.0.0.1:")
    assert hosts == ["127.0.0.1"]


def test_the_standalone_fake_server_prints_a_loopback_url() -> None:
    with run_in_subprocess() as url:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", url), url


def test_no_server_in_the_package_binds_all_interfaces() -> None:
    """Static guard: the only listening code is the fake server, and nothing says 0.0.0.0."""
    listeners = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "0.0.0.0" not in text, path
        if re.search(r"start_server\(|\.bind\(|\.listen\(|HTTPServer|serve_forever", text):
            listeners.append(path.relative_to(SRC).as_posix())
    assert listeners == ["testing/fake_openai.py"]


# -- agent text is data -------------------------------------------------------------------


def test_agent_text_with_sql_and_shell_is_stored_verbatim(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    message = (
        f"'); DROP TABLE events; -- $(touch {canary}) | rm -rf /nonexistent "
        '<script>alert(1)</script> "quoted" {0} %s \\'
    )
    reflection = f"Robert'); DELETE FROM runs; -- `touch {canary}` && cat /etc/passwd"
    reason = "x'; UPDATE runs SET status='failed'; --"
    assert len(message) <= 200
    assert len(reflection) <= 200
    assert len(reason) <= 120
    seen: list[dict[str, Any]] = []
    answer = commons_answer(message, reflection, reason)

    def record(request: dict[str, Any]) -> str:
        seen.append(request)
        return answer(request)

    out = tmp_path / "run"
    with fake_server(record) as (url, _):
        result = _invoke(_run_args(url, out, "--api-key", KEY))
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert not canary.exists()  # nothing went to a shell

    assert check_store(out) == []
    with RunStore.open(out, readonly=True) as store:
        info = store.run_info()
        messages = [e.text for e in store.events(["message"]) if isinstance(e, MessageEvent)]
        reflections = [
            e.text for e in store.events(["reflection"]) if isinstance(e, ReflectionEvent)
        ]
        reasons = {e.data.get("reason") for e in store.events(["action"]) if e.kind == "action"}
    assert info["status"] == "completed"
    assert messages == [message] * 3 * 2  # 3 fishers, 2 months, 1 round
    assert reflections == [reflection] * 3 * 2
    assert reason in reasons
    conn = sqlite3.connect(f"{(out / DB_NAME).resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert {"runs", "events", "llm_calls", "metrics", "snapshots"} <= tables

    # Other agents see it as a quotation, inside the block that marks what was said.
    prompts = [r["messages"][-1]["content"] for r in seen]
    quoted = [text for text in prompts if f': "{message}"' in text]
    assert quoted
    assert all("What was said (quoted):" in text for text in quoted)

    report = _invoke(["report", str(out)])
    assert report.exit_code == 0, report.stderr
    page = (out / "report" / "index.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
