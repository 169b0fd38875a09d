"""What the CLI prints is inert: model and server text reaches the terminal without control
characters, nothing is read as rich markup, and paths are printed verbatim.

The hostile text comes from a real HTTP server on 127.0.0.1 (the fake OpenAI server): an
interview answer, and an error body of a refused request.
"""

from __future__ import annotations

import asyncio
import json
import threading
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from societas.cli.main import app
from societas.testing.fake_openai import FakeOpenAIServer, Fault

# Clear screen, a window title (OSC 0), a hyperlink (OSC 8), cursor moves, CR and backspace
# overwriting earlier text, a bell, a C1 CSI, a right-to-left override, rich markup.
HOSTILE = (
    "\x1b[2J\x1b[H\x1b]0;pwned title\x07\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\"
    "I keep \x1b[31mred\x1b[0m fish.\rOVERWRITE\x08\x08\x07 \x9b2J \u202eevil\u202c "
    "[bold]not bold[/] [/x] :smile:\nsecond line"
)
WIDE = {"COLUMNS": "500"}


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=WIDE)


def _shows(path: Path, output: str) -> bool:
    """``path`` appears verbatim in ``output`` (a table title may wrap it over lines)."""
    return "".join(str(path).split()) in "".join(output.split())


def _assert_inert(text: str) -> None:
    for ch in text:
        assert ch in "\n\t" or unicodedata.category(ch) != "Cc", repr(ch)
    assert "\u202e" not in text


def test_safe_strips_every_control_and_keeps_the_text() -> None:
    # Imported here: the other tests only drive the CLI, so they run on any version (they
    # fail on 5c4716e, which had no ``safe``).
    from societas.cli.terminal import safe

    cleaned = safe(HOSTILE)
    _assert_inert(cleaned)
    assert "pwned title" not in cleaned
    assert "http://evil" not in cleaned
    assert "I keep red fish.OVERWRITE" in cleaned
    assert "[bold]not bold[/] [/x] :smile:\nsecond line" in cleaned
    assert safe("Ünïcödé 🐟 tab\tnewline\n") == "Ünïcödé 🐟 tab\tnewline\n"


def _answer(request: dict[str, Any]) -> str:
    if "response_format" not in request:  # the interview's free-text question
        return HOSTILE
    props = request["response_format"]["json_schema"]["schema"]["properties"]
    if "catch" in props:
        return json.dumps({"catch": 3, "reason": "ok"})
    if "message" in props:
        return json.dumps({"message": "hello"})
    return json.dumps({"reflection": "fine"})


@contextmanager
def _server(faults: Callable[[int, dict[str, Any]], Fault | None] | None = None) -> Iterator[str]:
    server = FakeOpenAIServer(answer=_answer, faults=faults)
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
    assert started.wait(10)
    try:
        yield str(state["url"])
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(10)


def _run(url: str, out: Path) -> None:
    result = _invoke(
        "run", "commons", "--model", "openai:fake", "--base-url", url, "--out", str(out),
        "--set", "months=1", "--set", "agents=2", "--set", "discussion_rounds=1", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def test_interview_answers_reach_the_terminal_without_control_codes(tmp_path: Path) -> None:
    with _server() as url:
        out = tmp_path / "run"
        _run(url, out)
        result = _invoke("interview", str(out), "fisher_1", "How is the lake?")
    assert result.exit_code == 0, result.output
    _assert_inert(result.stdout)
    assert "I keep red fish." in result.stdout
    assert "[/x]" in result.stdout  # printed as text, not read as markup


def test_a_server_error_body_reaches_stderr_without_control_codes(tmp_path: Path) -> None:
    def refuse_interviews(_index: int, request: dict[str, Any]) -> Fault | None:
        if "response_format" in request:
            return None
        return Fault(status=400, body=HOSTILE)

    with _server(refuse_interviews) as url:
        out = tmp_path / "run"
        _run(url, out)
        result = _invoke("interview", str(out), "fisher_1", "How is the lake?")
    assert result.exit_code != 0
    assert "HTTP 400" in result.stderr
    _assert_inert(result.stderr)
    assert "internal error" not in result.stderr


@pytest.fixture
def bracket_dir(tmp_path: Path) -> Path:
    return tmp_path / "a[/x]b[bold]c"


def test_a_path_with_markup_works_in_summary_check_report(bracket_dir: Path) -> None:
    out = bracket_dir / "run[/x]"
    result = _invoke("run", "commons", "-m", "scripted", "--set", "months=2", "-o", str(out), "-q")
    assert result.exit_code == 0, result.output
    for command in ("summary", "check", "report"):
        result = _invoke(command, str(out))
        assert result.exit_code == 0, f"{command}: {result.output}"
        assert _shows(out, result.output), f"{command}: {result.output}"
        assert "internal error" not in result.output


def test_a_path_with_markup_works_in_sweep_and_its_report(bracket_dir: Path) -> None:
    bracket_dir.mkdir(parents=True)
    spec = bracket_dir / "exp[/x].yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(
        "name: brackets\nscenario: commons\nbase:\n  months: 2\n  run: {model: scripted}\n"
        "grid:\n  allocation: [stochastic]\nseeds: 1\n"
    )
    out = bracket_dir / "exp[/x]"
    result = _invoke("sweep", str(spec), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert _shows(out, result.output)
    result = _invoke("report", str(out))
    assert result.exit_code == 0, result.output
    assert _shows(out, result.output)
