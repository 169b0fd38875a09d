"""Runs through OpenAI-compatible servers from PyPI that this project did not write, serving
the bundled GGUF on 127.0.0.1: llama-cpp-python's own server (``python -m llama_cpp.server``)
and the LiteLLM proxy (PyPI ``litellm[proxy]``, offline) in front of it.

What is verified: ``run.response_format: auto`` finds the shape the server constrains answers
with (llama-cpp-python takes ``{"type": "json_object", "schema": ...}``, llama_cpp/llama_types.py
``ChatCompletionRequestResponseFormat``, and answers ``json_schema`` with HTTP 500 "Input should
be 'text' or 'json_object'"), a 2-month commons completes with no invalid answer, and a server
killed mid-run pauses the run, which ``societas resume`` completes once it is back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from real_servers import (
    MODEL_NAME,
    PROXY_KEY,
    PROXY_PYTHON,
    Server,
    free_port,
    start_litellm_proxy,
    start_llama_server,
)
from societas.store import RunStore
from societas.typing import LLMCall
from test_model_servers import comparable_events, startup_s

pytestmark = [pytest.mark.server, pytest.mark.slow]

SOCIETAS = [sys.executable, "-m", "societas"]


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_llama_server(tmp_path_factory.mktemp("llama"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def litellm(llama: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not PROXY_PYTHON.exists():
        missing = "the LiteLLM proxy is not installed (scripts/install.sh puts it in .venv-proxy)"
        if os.environ.get("CI"):
            pytest.fail(missing)  # CI installs it: its absence there is a broken install
        pytest.skip(missing)
    server = start_litellm_proxy(tmp_path_factory.mktemp("litellm"), llama.base_url)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def litellm_alone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The proxy with nothing behind it (its upstream a closed port): what it refuses, it
    refuses before asking upstream, so these tests need no model."""
    if not PROXY_PYTHON.exists():
        missing = "the LiteLLM proxy is not installed (scripts/install.sh puts it in .venv-proxy)"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    server = start_litellm_proxy(
        tmp_path_factory.mktemp("litellm-alone"), f"http://127.0.0.1:{free_port()}/v1"
    )
    try:
        yield server
    finally:
        server.stop()


def run_commons(
    url: str, out: Path, *sets: str, key: str | None = None, cache: Path | None = None
) -> subprocess.CompletedProcess[str]:
    args = ["run", "commons", "--model", f"openai:{MODEL_NAME}", "--base-url", url]
    if key is not None:
        args += ["--api-key", key]
    if cache is not None:
        args += ["--cache", str(cache)]
    args += ["--set", "months=2", "--out", str(out), "-q"]
    for item in sets:
        args += ["--set", item]
    return subprocess.run(
        [*SOCIETAS, *args], capture_output=True, text=True, timeout=900, check=False
    )


def only_bound_fallbacks(out: Path) -> None:
    """No decision fell back for want of a schema: every fallback's answer is a JSON object the
    constraint shaped, refused only for a number outside the schema's bounds. llama-cpp-python's
    ``json_object`` schema constraint does not bound integers: the bundled model answered the
    agreement's ``limit`` with 103456897 against a maximum of 1000000 (twice, so the repair
    round did not help either)."""
    with RunStore.open(out, readonly=True) as store:
        fallbacks = store.events(["decision_fallback"])
    for fallback in fallbacks:
        assert isinstance(json.loads(fallback.raw_output or ""), dict), fallback
        assert re.search(r"(less|greater) than or equal to", fallback.error or ""), fallback


def calls_of(out: Path) -> list[LLMCall]:
    with RunStore.open(out, readonly=True) as store:
        return [e for e in store.events(["llm_call"]) if isinstance(e, LLMCall)]


def test_commons_through_llama_cpp_pythons_server(llama: Server, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_commons(llama.base_url, out)
    assert result.returncode == 0, result.stderr
    assert "response_format json_object_schema (probed)" in result.stderr
    assert "warning" not in result.stderr
    with RunStore.open(out, readonly=True) as store:
        info = store.run_info()
    assert info["status"] == "completed"
    [record] = info["config"]["preflight"].values()
    assert record["response_format"] == "json_object_schema"
    assert record["constrained"] is True
    calls = calls_of(out)
    assert calls
    assert {c.response_format for c in calls} == {"json_object_schema"}
    # Every call was constrained by the schema (above), so no invalid answer comes from a
    # missing schema. The bundled 135M model can still run into max_tokens inside a long
    # string under the grammar (seen in 2 of ~25 calls under load; max_tokens derived from
    # the schema is issue 14's open work): such an answer must be repaired, never fall back.
    assert [c for c in calls if c.status == "error"] == []
    only_bound_fallbacks(out)


def test_commons_through_the_litellm_proxy_in_front_of_llama(
    litellm: Server, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    # Without the discussion (about 20 calls instead of 32, for CI's time): the proxy's part is
    # the format probe and passing every constrained request through.
    result = run_commons(litellm.base_url, out, "communication=false", key=PROXY_KEY)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    with RunStore.open(out, readonly=True) as store:
        info = store.run_info()
    assert info["status"] == "completed"
    [record] = info["config"]["preflight"].values()
    assert record["constrained"] is True
    # Through the proxy the probe finds the shape llama-cpp-python constrains with (the proxy
    # passes response_format through unchanged), and every call used it.
    assert record["response_format"] == "json_object_schema"
    calls = calls_of(out)
    assert calls
    assert {c.response_format for c in calls} == {"json_object_schema"}
    assert [c for c in calls if c.status == "error"] == []  # invalid: see the test above
    only_bound_fallbacks(out)
    assert PROXY_KEY not in (out / "run.db").read_bytes().decode("latin-1")


@pytest.mark.parametrize(
    ("model", "key", "message"),
    [
        ("nonexistent-model", PROXY_KEY, "Invalid model name passed in model=nonexistent-model"),
        (MODEL_NAME, "sk-wrong-key", "No connected db."),  # its answer to a key it does not know
    ],
)
def test_the_litellm_proxys_refusals_stop_the_command_within_15_s(
    litellm_alone: Server, tmp_path: Path, model: str, key: str, message: str
) -> None:
    out = tmp_path / "run"
    args = ["run", "commons", "--model", f"openai:{model}", "--base-url", litellm_alone.base_url]
    args += ["--api-key", key, "--set", "months=2", "--out", str(out), "-q"]
    started = time.monotonic()
    result = subprocess.run([*SOCIETAS, *args], capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    baseline = startup_s()
    assert result.returncode == 2, result.stderr
    assert elapsed - baseline < 15, (elapsed, baseline)  # beyond starting societas at all
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert message in line  # the server's own words
    assert "sk-wrong-key" not in result.stderr
    assert not out.exists()


def test_llama_server_killed_mid_run_pauses_and_resume_completes(
    llama: Server, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    process = subprocess.Popen(
        [
            *SOCIETAS,
            "run",
            "commons",
            "--model",
            f"openai:{MODEL_NAME}",
            "--base-url",
            llama.base_url,
            "--set",
            "months=2",
            "--set",
            # The bundled model may empty the lake in month 1; without collapse the run plays
            # both months, so the second is left to pause in and resume.
            "collapse_threshold=0",
            "--set",
            # No discussion: the pause and the resume are the point here, and a month without
            # one asks the model 10 questions instead of about 16 (CI's time).
            "communication=false",
            "--set",
            "run.max_outage_s=3",
            "--set",
            "run.breaker_cooldown_s=0.2",
            "--set",
            "run.retry_base_delay_s=0.05",
            "--out",
            str(out),
            "-q",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = time.monotonic()
    deadline = started + 600
    while time.monotonic() < deadline and process.poll() is None:
        # No error is tolerated here: the store appears whole (RunStore.create links it in
        # complete), so a reader polling for it never finds it half-made.
        if (out / "run.db").exists():
            with RunStore.open(out, readonly=True) as store:
                if int(store.run_info()["ticks_completed"]) >= 1:
                    break
        time.sleep(0.2)
    first_tick_s = time.monotonic() - started  # start, preflight and one tick: an upper bound
    killed = time.monotonic()
    os.killpg(llama.process.pid, signal.SIGKILL)
    llama.process.wait(10)
    _, stderr = process.communicate(timeout=600)
    paused_after = time.monotonic() - killed
    assert process.returncode == 75, stderr
    assert f"societas resume {out}" in stderr
    # Paused within max_outage_s + one tick.
    assert paused_after < 3 + first_tick_s, (paused_after, first_tick_s)
    with RunStore.open(out, readonly=True) as store:
        assert store.run_info()["status"] == "paused"
        paused_at = int(store.run_info()["ticks_completed"])
    assert paused_at == 1

    restarted = start_llama_server(llama.log.parent, port=llama.port)
    llama.process = restarted.process  # the module fixture stops whichever runs last
    resumed = subprocess.run(
        [*SOCIETAS, "resume", str(out), "-q"], capture_output=True, text=True, timeout=900
    )
    assert resumed.returncode == 0, resumed.stderr
    with RunStore.open(out, readonly=True) as store:
        assert store.run_info()["status"] == "completed"
        assert int(store.run_info()["ticks_completed"]) == 2
    check = subprocess.run([*SOCIETAS, "check", str(out)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout

    # The same run uninterrupted, given the same answers (a copy of the resumed run's response
    # cache; a real server need not answer a repeated request identically, the run's record
    # must not depend on the pause): its events equal the paused-and-resumed run's.
    cache = tmp_path / "answers.db"
    shutil.copyfile(out / "cache.db", cache)
    reference = tmp_path / "reference"
    uninterrupted = run_commons(
        llama.base_url,
        reference,
        "months=2",
        "collapse_threshold=0",
        "communication=false",
        cache=cache,
    )
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    assert comparable_events(out) == comparable_events(reference)
