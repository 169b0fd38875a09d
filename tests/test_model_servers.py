"""Model servers that cannot serve, go away mid-run, or make every decision fall back; clean
stops by signal. Real ``societas`` processes and real sockets on 127.0.0.1; the server is the
fake OpenAI-compatible one (its own process), so these tests need no model lock."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from societas.store import RunStore
from societas.typing import LLMCall
from societas.typing.events import NONREPRODUCIBLE_FIELDS, PROCESS_EVENT_KINDS

SOCIETAS = [sys.executable, "-m", "societas"]
FAST = ["--set", "run.retry_base_delay_s=0.01", "--set", "run.breaker_cooldown_s=0.2"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def fake_server(port: int, *args: str) -> Iterator[str]:
    """``python -m societas.testing.fake_openai`` on ``port``; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "societas.testing.fake_openai", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        process.terminate()
        process.communicate(timeout=10)


def societas(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SOCIETAS, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def startup_s() -> float:
    """Seconds this machine takes to start ``societas`` and do nothing (``--version``): on a
    loaded 2-core machine the interpreter and imports alone can take over 10 s, which is not
    the time a refusal takes."""
    started = time.monotonic()
    societas("--version")
    return time.monotonic() - started


def status(out: Path) -> str:
    with RunStore.open(out, readonly=True) as store:
        return str(store.run_info()["status"])


def comparable_events(out: Path) -> list[dict[str, Any]]:
    """Events without what differs between a run and its resumed copy (timing, resumes)."""
    with RunStore.open(out, readonly=True) as store:
        events = store.events()
    drop = {*NONREPRODUCIBLE_FIELDS, "seq", "parent", "run_id"}
    return [
        {k: v for k, v in e.model_dump(mode="json").items() if k not in drop}
        for e in events
        if e.kind not in PROCESS_EVENT_KINDS
    ]


# -- before tick 0: fail fast, loud, exit 2, no directory ---------------------------------


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("closed port", "cannot reach the model server"),
        ("unknown host", "cannot reach the model server"),
        ("unknown model", "does not exist"),
        ("bad key", "invalid api key"),
    ],
)
def test_a_server_that_cannot_serve_stops_the_command_within_15_s(
    tmp_path: Path, case: str, expected: str
) -> None:
    out = tmp_path / "run"
    port = free_port()
    args = ["run", "commons", "--set", "months=2", "--out", str(out), "-q", "--api-key", "k"]
    with fake_server(port, "--model-name", "served", "--api-key", "k") as url:
        if case == "closed port":
            args += ["--model", "openai:served", "--base-url", f"http://127.0.0.1:{free_port()}/v1"]
        elif case == "unknown host":
            args += ["--model", "openai:served", "--base-url", "http://no-such-host.invalid/v1"]
        elif case == "unknown model":
            args += ["--model", "openai:nonexistent-model", "--base-url", url]
        else:
            args += ["--model", "openai:served", "--base-url", url]
            args[args.index("--api-key") + 1] = "wrong-key"
        t0 = time.monotonic()
        result = societas(*args)
        elapsed = time.monotonic() - t0
        baseline = startup_s()
    assert result.returncode == 2, result.stderr
    assert elapsed - baseline < 15, (elapsed, baseline)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert expected in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_auto_probes_the_server_once_and_records_the_format(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with fake_server(free_port(), "--answer", "schema") as url:
        result = societas(
            "run", "commons", "--model", "openai:m", "--base-url", url, "--set", "months=1",
            "--out", str(out), "-q",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "response_format json_schema (probed)" in result.stderr
    with RunStore.open(out, readonly=True) as store:
        record = store.run_info()["config"]["preflight"]
        calls = [e for e in store.events(["llm_call"]) if isinstance(e, LLMCall)]
    assert [v["response_format"] for v in record.values()] == ["json_schema"]
    assert calls
    assert {c.response_format for c in calls} == {"json_schema"}


# -- during the run: an outage pauses, resume completes it exactly -------------------------


def test_a_server_down_mid_run_pauses_and_resume_completes_it_exactly(tmp_path: Path) -> None:
    port = free_port()
    months = "6"
    reference = tmp_path / "reference"
    with fake_server(port, "--answer", "schema") as url:
        result = societas(
            "run", "commons", "--model", "openai:m", "--base-url", url, "--set",
            f"months={months}", "--out", str(reference), "-q", *FAST,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr

    out = tmp_path / "run"
    args = [
        "run", "commons", "--model", "openai:m", "--base-url", url, "--set", f"months={months}",
        "--set", "run.max_outage_s=2", "--out", str(out), "-q", *FAST,
    ]  # fmt: skip
    with fake_server(port, "--answer", "schema", "--latency", "0.05"):
        process = subprocess.Popen(
            [*SOCIETAS, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        _wait_for_ticks(out, 2)
    # The server is gone now: the run must pause within max_outage_s + one tick.
    t0 = time.monotonic()
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 75, stderr
    assert time.monotonic() - t0 < 30
    assert "paused" in stderr
    assert f"societas resume {out}" in stderr
    assert "unreachable" in stderr
    assert status(out) == "paused"
    assert societas("check", str(out)).returncode == 0

    with fake_server(port, "--answer", "schema"):
        resumed = societas("resume", str(out), "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert status(out) == "completed"
    assert comparable_events(out) == comparable_events(reference)
    assert societas("check", str(out)).returncode == 0


def _wait_for_ticks(out: Path, ticks: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception), RunStore.open(out, readonly=True) as store:
            if int(store.run_info()["ticks_completed"]) >= ticks:
                return
        time.sleep(0.05)
    raise AssertionError(f"{out} did not reach {ticks} ticks")


def test_a_run_whose_decisions_fall_back_ends_failed_naming_the_error(tmp_path: Path) -> None:
    out = tmp_path / "run"
    plan = '{"rate": 1.0, "seed": 1, "kinds": {"schema_violation": 1.0}}'
    with fake_server(free_port(), "--answer", "schema", "--fault-plan", plan) as url:
        result = societas(
            "run", "commons", "--model", "openai:m", "--base-url", url, "--set", "months=2",
            "--out", str(out), "-q", *FAST,
        )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "decisions fell back" in result.stderr
    assert "most frequent error" in result.stderr
    assert status(out) == "failed"
    assert societas("check", str(out)).returncode == 0


def test_the_first_occurrence_of_each_error_is_printed_as_it_happens(tmp_path: Path) -> None:
    out = tmp_path / "run"
    plan = '{"rate": 1.0, "seed": 2, "kinds": {"server_error": 1.0}, "stop": 3}'
    with fake_server(free_port(), "--answer", "schema", "--fault-plan", plan) as url:
        result = societas(
            "run", "commons", "--model", "openai:m", "--base-url", url, "--set", "months=2",
            "--out", str(out), "-q", *FAST,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = [line for line in result.stderr.splitlines() if "first of its kind" in line]
    assert len(printed) == 1, result.stderr  # three 500s, one kind of error
    assert "HTTP 500" in printed[0]


# -- clean stops by signal ------------------------------------------------------------------


def _slow_run(out: Path, url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *SOCIETAS,
            "run",
            "commons",
            "--model",
            "openai:m",
            "--base-url",
            url,
            "--set",
            "months=200",
            "--out",
            str(out),
            "-q",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_one_signal_stops_after_the_tick_and_the_run_resumes(
    tmp_path: Path, sig: signal.Signals
) -> None:
    out = tmp_path / "run"
    with fake_server(free_port(), "--answer", "schema", "--latency", "0.2") as url:
        process = _slow_run(out, url)
        _wait_for_ticks(out, 1)
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stderr
        assert "stopping after this tick (Ctrl-C again to stop now)" in stderr
        assert "Traceback" not in stderr
        assert f"societas resume {out}" in stderr
        assert status(out) == "interrupted"
        assert societas("check", str(out)).returncode == 0
        with RunStore.open(out, readonly=True) as store:
            done = int(store.run_info()["ticks_completed"])
        assert 1 <= done < 200


def test_a_second_ctrl_c_stops_at_once_without_a_traceback(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with fake_server(free_port(), "--answer", "schema", "--latency", "5") as url:
        process = _slow_run(out, url)
        _wait_for_ticks(out, 0)
        time.sleep(1.0)  # tick 0's calls are in flight (5 s each)
        process.send_signal(signal.SIGINT)
        time.sleep(0.5)
        t0 = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        assert time.monotonic() - t0 < 5
    assert process.returncode == 130, stderr
    assert "stopping after this tick" in stderr
    assert "Traceback" not in stderr
    assert "CancelledError" not in stderr
    assert status(out) == "interrupted"
    assert societas("check", str(out)).returncode == 0


def test_sigterm_during_preflight_or_before_a_tick_leaves_no_running_status(
    tmp_path: Path,
) -> None:
    if os.name != "posix":
        pytest.skip("POSIX signals")
    out = tmp_path / "run"
    with fake_server(free_port(), "--answer", "schema", "--latency", "0.3") as url:
        process = _slow_run(out, url)
        _wait_for_ticks(out, 0)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert process.returncode == 130
    assert status(out) == "interrupted"
