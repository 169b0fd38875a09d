"""The ``openai`` backend against the fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from societas.llm.gateway import Gateway
from societas.llm.openai import OpenAIModel, ResponseFormatMode
from societas.llm.wrappers import build_stack
from societas.testing.fake_openai import (
    Answer,
    FakeOpenAIServer,
    Fault,
    FaultHook,
    run_in_subprocess,
)
from societas.typing import Action, BackendError, ChatMessage, ConfigError, LLMRequest, Sampling

KEY = "sk-test-SECRET-0123456789"


class Harvest(Action):
    action_type = "harvest"
    amount: int


REQUEST = LLMRequest(
    messages=(
        ChatMessage(role="system", content="You are a fisher."),
        ChatMessage(role="user", content="How many fish do you take?"),
    ),
    json_schema=Harvest.json_schema(),
    sampling=Sampling(temperature=0.3, top_p=0.9, max_tokens=64),
    seed=1234,
)

Scenario = Callable[[FakeOpenAIServer, OpenAIModel], Awaitable[Any]]


def run(
    scenario: Scenario,
    *,
    answer: Answer | None = None,
    faults: FaultHook | None = None,
    latency_s: float = 0.0,
    timeout_s: float = 5.0,
) -> Any:
    """Run ``scenario`` with a fresh server (which checks the key) and model; close both."""

    async def main() -> Any:
        server = FakeOpenAIServer(latency_s=latency_s, faults=faults, api_key=KEY)
        if answer is not None:
            server.answer = answer
        model = OpenAIModel(
            "test-model", base_url=await server.start(), api_key=KEY, timeout_s=timeout_s
        )
        try:
            return await scenario(server, model)
        finally:
            await model.aclose()
            await server.stop()

    return asyncio.run(main())


def fail_with(fault: Fault) -> FaultHook:
    return lambda index, request: fault


def expect_error(faults: FaultHook, request: LLMRequest = REQUEST) -> BackendError:
    async def scenario(server: FakeOpenAIServer, model: OpenAIModel) -> BackendError:
        with pytest.raises(BackendError) as info:
            await model.generate(request)
        return info.value

    error: BackendError = run(scenario, faults=faults)
    return error


def test_request_body_carries_the_request_and_usage_is_parsed() -> None:
    seen: list[dict[str, Any]] = []

    def answer(request: dict[str, Any]) -> str:
        seen.append(request)
        return '{"amount": 3}'

    async def scenario(server: FakeOpenAIServer, model: OpenAIModel) -> Any:
        return await model.generate(REQUEST)

    response = run(scenario, answer=answer)
    (body,) = seen
    assert body["model"] == "test-model"
    assert body["messages"] == [
        {"role": "system", "content": "You are a fisher."},
        {"role": "user", "content": "How many fish do you take?"},
    ]
    assert (body["seed"], body["temperature"], body["top_p"], body["max_tokens"]) == (
        1234,
        0.3,
        0.9,
        64,
    )
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "action", "schema": Harvest.json_schema(), "strict": False},
    }
    assert response.text == '{"amount": 3}'
    assert response.model == "test-model"
    assert response.finish_reason == "stop"
    # The fake server counts len(text) // 4 tokens per message.
    assert response.prompt_tokens == 4 + 6
    assert response.completion_tokens == 3


def test_no_schema_sends_no_response_format_and_missing_usage_counts_zero() -> None:
    seen: list[dict[str, Any]] = []
    reply = {"choices": [{"message": {"role": "assistant", "content": "hello"}}]}

    def faults(index: int, request: dict[str, Any]) -> Fault:
        seen.append(request)
        return Fault(status=200, body=json.dumps(reply))

    async def scenario(server: FakeOpenAIServer, model: OpenAIModel) -> Any:
        return await model.generate(REQUEST.model_copy(update={"json_schema": None}))

    response = run(scenario, faults=faults)
    assert "response_format" not in seen[0]
    assert (response.text, response.prompt_tokens, response.completion_tokens) == ("hello", 0, 0)
    assert response.finish_reason is None


def test_429_is_retryable_with_retry_after() -> None:
    error = expect_error(fail_with(Fault(status=429, headers={"Retry-After": "7"})))
    assert error.retryable
    assert error.retry_after == 7.0
    assert "HTTP 429" in str(error)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (502, True), (503, True), (408, True), (400, False), (404, False), (422, False)],
)
def test_status_codes_map_to_retryable_or_not(status: int, retryable: bool) -> None:
    error = expect_error(fail_with(Fault(status=status, body='{"error": {"message": "nope"}}')))
    assert error.retryable is retryable
    assert error.retry_after is None
    assert f"HTTP {status}" in str(error)
    assert "nope" in str(error)


def test_a_rejected_response_format_fails_loudly_and_never_drops_the_schema() -> None:
    sent: list[str] = []

    def faults(index: int, request: dict[str, Any]) -> Fault | None:
        kind = request.get("response_format", {}).get("type", "none")
        sent.append(kind)
        message = f"response_format type '{kind}' is not supported by this server"
        return Fault(status=400, body=json.dumps({"error": {"message": message}}))

    async def scenario(server: FakeOpenAIServer, model: OpenAIModel) -> str:
        for _ in range(2):
            with pytest.raises(BackendError) as info:
                await model.generate(REQUEST)
            assert not info.value.retryable
            assert "rejects response_format 'json_schema'" in str(info.value)
            assert "is not supported by this server" in str(info.value)
        return model.response_format_mode

    assert run(scenario, faults=faults) == "json_schema"
    assert sent == ["json_schema", "json_schema"]


@pytest.mark.parametrize(
    ("mode", "field", "shape"),
    [
        ("json_schema", "response_format", {"type": "json_schema"}),
        ("json_object_schema", "response_format", {"type": "json_object"}),
        ("guided_json", "guided_json", None),
        ("ollama_format", "format", None),
        ("json_object", "response_format", {"type": "json_object"}),
    ],
)
def test_each_response_format_mode_sends_its_documented_shape(
    mode: ResponseFormatMode, field: str, shape: dict[str, str] | None
) -> None:
    seen: list[dict[str, Any]] = []

    def answer(request: dict[str, Any]) -> str:
        seen.append(request)
        return '{"amount": 3}'

    async def scenario(server: FakeOpenAIServer, model: OpenAIModel) -> str | None:
        model.response_format_mode = mode
        return (await model.generate(REQUEST)).response_format

    assert run(scenario, answer=answer) == mode
    sent = seen[0][field]
    if shape is None:
        assert sent == Harvest.json_schema()
    else:
        assert {k: sent[k] for k in shape} == shape
        schema = sent.get("schema") or sent.get("json_schema", {}).get("schema")
        assert schema == (None if mode == "json_object" else Harvest.json_schema())


def test_plain_400_does_not_downgrade() -> None:
    async def scenario(server: FakeOpenAIServer, model: OpenAIModel) -> str:
        with pytest.raises(BackendError) as info:
            await model.generate(REQUEST)
        assert not info.value.retryable
        return model.response_format_mode

    bad = fail_with(Fault(status=400, body='{"error": {"message": "context too long"}}'))
    assert run(scenario, faults=bad) == "json_schema"


@pytest.mark.parametrize(
    "body", ["this is not json", '{"choices": []}', '{"choices": [{"message": {"content": 5}}]}']
)
def test_malformed_answer_is_a_retryable_backend_error(body: str) -> None:
    error = expect_error(fail_with(Fault(status=200, body=body)))
    assert error.retryable
    assert "unreadable answer" in str(error)


def test_api_key_never_shows() -> None:
    leaky = Fault(status=401, body=json.dumps({"error": {"message": f"bad key {KEY}"}}))
    error = expect_error(fail_with(leaky))
    assert not error.retryable
    model = OpenAIModel("m", base_url="http://127.0.0.1:9/v1", api_key=KEY)
    for text in (str(error), repr(error), str(model), repr(model)):
        assert KEY not in text
    assert "***" in repr(model)


def test_wrong_key_is_rejected_by_the_server() -> None:
    async def scenario(server: FakeOpenAIServer, model: OpenAIModel) -> BackendError:
        other = OpenAIModel("m", base_url=model.base_url, api_key="sk-wrong")
        try:
            with pytest.raises(BackendError) as info:
                await other.generate(REQUEST)
        finally:
            await other.aclose()
        return info.value

    error: BackendError = run(scenario)
    assert "HTTP 401" in str(error)
    assert not error.retryable


def test_unreachable_server_is_retryable_and_keeps_the_key_secret() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def main() -> BackendError:
        model = OpenAIModel("m", base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY)
        try:
            with pytest.raises(BackendError) as info:
                await model.generate(REQUEST)
        finally:
            await model.aclose()
        return info.value

    error = asyncio.run(main())
    assert error.retryable
    assert "cannot reach" in str(error)
    assert KEY not in str(error)


def test_slow_server_times_out_as_retryable() -> None:
    error: BackendError

    async def scenario(server: FakeOpenAIServer, model: OpenAIModel) -> None:
        nonlocal error
        with pytest.raises(BackendError) as info:
            await model.generate(REQUEST)
        error = info.value

    run(scenario, latency_s=1.0, timeout_s=0.1)
    assert error.retryable
    assert "within 0.1 s" in str(error)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOCIETAS_OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("SOCIETAS_OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert OpenAIModel("m").base_url == "https://api.openai.com/v1"
    assert "api_key=None" in repr(OpenAIModel("m"))
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1/")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert OpenAIModel("m").base_url == "http://127.0.0.1:1/v1"
    monkeypatch.setenv("SOCIETAS_OPENAI_BASE_URL", "http://127.0.0.1:2/v1")
    model = OpenAIModel("m")
    assert model.base_url == "http://127.0.0.1:2/v1"
    assert "api_key=***" in repr(model)
    with pytest.raises(ConfigError):
        OpenAIModel("m", base_url="127.0.0.1:8000/v1")


def test_gateway_decides_through_the_stack_and_retries_a_5xx() -> None:
    def faults(index: int, request: dict[str, Any]) -> Fault | None:
        return Fault(status=503) if index == 0 else None

    async def scenario(server: FakeOpenAIServer, model: OpenAIModel) -> Any:
        stack = build_stack(
            model, cache=None, max_concurrency=4, timeout_s=5, max_attempts=3, base_delay_s=0.01
        )
        gateway = Gateway(stack)
        first = await gateway.decide(REQUEST, Harvest)
        rest = await asyncio.gather(
            *(gateway.decide(REQUEST.model_copy(update={"seed": s}), Harvest) for s in range(8))
        )
        return first, rest, server.requests_served

    first, rest, served = run(scenario, answer=lambda request: '{"amount": 3}', faults=faults)
    assert first.action == Harvest(amount=3)
    assert first.failure is None
    (record,) = first.calls
    assert (record.status, record.attempts) == ("ok", 2)
    assert record.prompt_tokens > 0
    assert record.completion_tokens > 0
    assert all(d.action == Harvest(amount=3) for d in rest)
    assert served == 10


def test_fake_server_in_a_subprocess_answers() -> None:
    async def ask(base_url: str) -> str:
        model = OpenAIModel("m", base_url=base_url, api_key=None)
        try:
            return (await model.generate(REQUEST)).text
        finally:
            await model.aclose()

    with run_in_subprocess(latency_s=0.0) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        assert asyncio.run(ask(base_url)) == "{}"
