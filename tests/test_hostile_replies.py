"""Hostile model servers: generated replies (deep JSON, lone surrogates, huge integers, endless
bodies, wrong types, error statuses) served by a real aiohttp web server on 127.0.0.1 to a
commons run through the ``openai`` backend. Every run completes and every reply is recorded.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local_http import serve
from societas.engine import prepare_run, run_sync
from societas.llm.openai import MAX_BODY_BYTES, MAX_TOKENS_FIELD, OpenAIModel
from societas.scenarios import load_spec
from societas.store import RunStore
from societas.store.check import run_checks
from societas.testing.faults import valid_answer
from societas.typing import BackendError, ChatMessage, LLMCall, LLMRequest

# -- replies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    kind: str
    status: int = 200
    body: bytes = b""
    endless: bool = False  # stream chunks until the client hangs up


def _completion(content: Any, usage: Any = None) -> bytes:
    body: dict[str, Any] = {"choices": [{"message": {"role": "assistant", "content": content}}]}
    if usage is not None:
        body["usage"] = usage
    return json.dumps(body).encode()


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


HOSTILE: dict[str, Reply] = {
    "deep_body": Reply("deep_body", body=_deep(10_000)),
    "deep_content": Reply("deep_content", body=_completion('{"catch": ' + "[" * 5000)),
    "deep_error": Reply("deep_error", status=500, body=_deep(10_000)),
    "surrogate": Reply("surrogate", body=_completion('{"catch": 1, "reason": "\ud800x"}')),
    "surrogate_error": Reply("surrogate_error", status=400, body=b'{"error": "\\udfff bad"}'),
    "huge_usage": Reply(
        "huge_usage",
        body=_completion("{}", {"prompt_tokens": 10**30, "completion_tokens": -(10**30)}),
    ),
    "float_usage": Reply("float_usage", body=_completion("{}", {"prompt_tokens": 1e308})),
    "bad_utf8": Reply("bad_utf8", body=b'{"choices": [{"message": {"content": "\xff\xfe\xc3"}}]}'),
    "not_json": Reply("not_json", body=b"\x00\x01<html>oops"),
    "wrong_types": Reply("wrong_types", body=b'{"choices": {"message": 5}}'),
    "content_list": Reply("content_list", body=_completion([{"type": "text"}])),
    "announced_huge": Reply("announced_huge", endless=True),
    "error_404": Reply(
        "error_404", status=404, body=b'{"message": "The model `m` does not exist."}'
    ),
    "error_503": Reply("error_503", status=503, body=b"\x1b]0;title\x07\x1b[2J"),
}


@dataclass
class HostileServer:
    """An aiohttp web server answering chat requests from ``plan`` (cycled); ``None`` in the
    plan means a valid answer. The preflight probe is answered as a schema-following server."""

    plan: list[Reply | None]
    served: int = 0
    kinds: list[str] = field(default_factory=list)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        data = await request.json()
        schema = (data.get("response_format") or {}).get("json_schema", {}).get("schema", {})
        if schema.get("required") == ["probe"]:
            return web.Response(body=_completion('{"probe": 7}'), content_type="application/json")
        reply = self.plan[self.served % len(self.plan)]
        self.served += 1
        self.kinds.append(reply.kind if reply else "valid")
        if reply is None:
            return web.Response(
                body=_completion(valid_answer(data)), content_type="application/json"
            )
        if reply.endless:
            stream = web.StreamResponse(status=200)
            await stream.prepare(request)
            chunk = b"x" * 65536
            try:
                for _ in range(2 * MAX_BODY_BYTES // len(chunk)):
                    await stream.write(chunk)
            except (ConnectionError, RuntimeError):
                pass
            return stream
        return web.Response(status=reply.status, body=reply.body, content_type="application/json")

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "m"}]})


SETS = [
    "months=1",
    "agents=3",
    "discussion_rounds=1",
    "run.max_attempts=2",
    "run.retry_base_delay_s=0",
    "run.breaker_threshold=0",
    "run.max_fallback_rate=1.0",
]
TOTALS = {"tried": 0, "recorded": 0, "runs": 0, "completed": 0}


def run_against(plan: list[Reply | None], out: Path) -> tuple[HostileServer, list[LLMCall]]:
    server = HostileServer(plan)
    with serve(server.chat, server.models) as url:
        spec = load_spec("commons", [*SETS, f"run.base_url={url}"], model="openai:m", seed=3)
        handle = prepare_run(spec.scenario, spec.config, spec.options, out, api_key="k")
        run_sync(handle)
    with RunStore.open(out, readonly=True) as store:
        assert store.run_info()["status"] == "completed"
        calls = [e for e in store.events(["llm_call"]) if isinstance(e, LLMCall)]
    assert all(result.ok for result in run_checks(out)), [r.problems for r in run_checks(out)]
    return server, calls


plans = st.lists(st.sampled_from([None, *HOSTILE.values()]), min_size=1, max_size=8)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=plans)
def test_generated_hostile_replies_never_fail_a_run(
    tmp_path_factory: pytest.TempPathFactory, plan: list[Reply | None]
) -> None:
    out = tmp_path_factory.mktemp("hostile") / "run"
    server, calls = run_against(plan, out)
    # Every reply the server sent is one attempt of one recorded call (retries included).
    attempts = sum(c.attempts for c in calls if not c.cache_hit)
    assert attempts == server.served, (attempts, server.served, server.kinds)
    assert all(0 <= c.prompt_tokens <= MAX_TOKENS_FIELD for c in calls)
    TOTALS["tried"] += server.served
    TOTALS["recorded"] += attempts
    TOTALS["runs"] += 1
    TOTALS["completed"] += 1


def test_every_hostile_kind_in_one_run(tmp_path: Path) -> None:
    plan: list[Reply | None] = [*HOSTILE.values(), None]
    server, calls = run_against(plan, tmp_path / "run")
    assert set(HOSTILE) <= set(server.kinds)
    assert sum(c.attempts for c in calls if not c.cache_hit) == server.served
    errors = " ".join(f"{c.error} {' '.join(c.faults)}" for c in calls)
    assert "nested deeper than 64" in errors
    assert f"over the {MAX_BODY_BYTES}-byte cap" in errors
    assert "\x1b" not in errors


def test_single_replies_map_to_errors_not_crashes() -> None:
    request = LLMRequest(messages=(ChatMessage(role="user", content="hi"),))

    async def one(reply: Reply) -> str:
        server = HostileServer([reply])
        with serve(server.chat, server.models) as url:
            model = OpenAIModel("m", base_url=url, api_key="k", timeout_s=10)
            try:
                response = await model.generate(request)
                return f"ok {response.text!r} {response.prompt_tokens}"
            except BackendError as exc:
                return f"error {exc}"
            finally:
                await model.aclose()

    results = {name: asyncio.run(one(reply)) for name, reply in HOSTILE.items()}
    assert results["surrogate"].startswith("ok ")
    assert "\ufffd" in results["surrogate"]
    assert results["huge_usage"] == "ok '{}' " + str(MAX_TOKENS_FIELD)
    assert results["deep_body"].startswith("error ")
    assert results["announced_huge"].startswith("error ")
    for text in results.values():
        text.encode("utf-8")  # strict UTF-8: no lone surrogate anywhere


def test_report_totals() -> None:
    """Printed with -s: the property test's figures for the notes."""
    print(f"hostile replies: {TOTALS}")
