"""Model faults never lose data: commons runs against a faulty fake OpenAI server on 127.0.0.1.

Every run must complete with every tick and every event, and every fault the server injected
must show in the store: transport faults as lines of ``llm_call.faults``, bad content as
``invalid`` calls followed by a repair or a ``decision_fallback``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from societas.engine import prepare_run
from societas.llm.gateway import parse_action
from societas.llm.openai import OpenAIModel
from societas.llm.wrappers import RetryingModel, build_stack
from societas.scenarios import load_spec
from societas.scenarios.commons.actions import Reflect, Speak, harvest_model
from societas.store import RunStore
from societas.testing.fake_openai import FakeOpenAIServer, Fault, FaultHook, serve_in_subprocess
from societas.testing.faults import (
    CONTENT_KINDS,
    FAULT_KINDS,
    TRANSPORT_KINDS,
    FaultKind,
    FaultPlan,
    classify_fault,
    huge_answer,
    valid_answer,
    violating_answer,
)
from societas.typing import (
    Action,
    BackendError,
    ChatMessage,
    ConfigError,
    DecisionFallback,
    Event,
    LLMCall,
    LLMRequest,
    LLMResponse,
)

MONTHS = 3
FAST = [
    f"months={MONTHS}",
    "collapse_threshold=0",
    "run.request_timeout_s=0.5",
    "run.retry_base_delay_s=0.01",
    "run.breaker_cooldown_s=0.1",
]


@dataclass
class Outcome:
    status: str
    ticks_completed: int
    events: list[Event]
    server_saw: int

    @property
    def calls(self) -> list[LLMCall]:
        return [e for e in self.events if isinstance(e, LLMCall)]

    @property
    def fallbacks(self) -> list[DecisionFallback]:
        return [e for e in self.events if isinstance(e, DecisionFallback)]


def run_commons(out: Path, faults: FaultHook | None, *sets: str) -> Outcome:
    """A commons run through ``openai:fake`` against an in-process server in the same loop."""

    async def main() -> int:
        server = FakeOpenAIServer(answer=valid_answer, faults=faults)
        base_url = await server.start()
        try:
            spec = load_spec(
                "commons", [*FAST, *sets, f"run.base_url={base_url}"], model="openai:fake", seed=1
            )
            # In a thread: its preflight probe runs its own loop while this one serves.
            handle = await asyncio.to_thread(
                prepare_run, spec.scenario, spec.config, spec.options, out, api_key="k"
            )
            try:
                await handle.run()
            finally:
                handle.close()
        finally:
            await server.stop()
        return server.chat_requests

    seen = asyncio.run(main())
    with RunStore.open(out, readonly=True) as store:
        info = store.run_info()
        events = store.events()
    return Outcome(str(info["status"]), int(info["ticks_completed"]), events, seen)


def assert_nothing_lost(outcome: Outcome, months: int = MONTHS) -> None:
    assert outcome.status == "completed"
    assert outcome.ticks_completed == months
    assert [e.seq for e in outcome.events] == list(range(len(outcome.events)))
    ticks = [e.tick for e in outcome.events if e.kind == "tick_completed"]
    assert ticks == list(range(months))
    assert outcome.events[-1].kind == "run_completed"


def decision_key(event: LLMCall | DecisionFallback) -> tuple[int, str | None, str]:
    phase = event.purpose.removesuffix(":repair") if isinstance(event, LLMCall) else event.phase
    return event.tick, event.actor, phase


def assert_transport_faults_accounted(outcome: Outcome) -> None:
    """Each call with faults got an answer after as many retries (which may still be invalid),
    or failed and fell back."""
    fell_back = {decision_key(f): f.reason for f in outcome.fallbacks}
    for call in outcome.calls:
        if not call.faults:
            assert call.status != "error"
        elif call.status in ("ok", "invalid"):
            assert call.attempts == len(call.faults) + 1
        else:
            assert call.status == "error"
            assert call.attempts == len(call.faults)
            assert fell_back[decision_key(call)] == "backend_error"


# -- each kind alone ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(TRANSPORT_KINDS))
def test_transport_fault_is_retried_and_recorded(tmp_path: Path, kind: FaultKind) -> None:
    plan = FaultPlan(rate=0.3, seed=3, kinds={kind: 1.0}, retry_after_s=(0,))
    timeout = ["run.request_timeout_s=0.2"] if kind == "hang" else []
    outcome = run_commons(tmp_path / "run", plan, *timeout)

    assert_nothing_lost(outcome)
    recorded = [line for call in outcome.calls for line in call.faults]
    assert plan.injected[kind] >= 5
    assert sum(plan.injected.values()) == plan.injected[kind]
    assert len(recorded) == plan.injected[kind]  # one line per failed attempt, none lost
    assert {classify_fault(line) for line in recorded} == {kind}
    assert_transport_faults_accounted(outcome)
    assert not [c for c in outcome.calls if c.status == "invalid"]
    assert outcome.server_saw == len(outcome.calls) + len(recorded) - sum(
        c.status == "error" for c in outcome.calls
    )


@pytest.mark.parametrize("kind", sorted(CONTENT_KINDS))
def test_bad_content_is_invalid_then_repaired_or_falls_back(
    tmp_path: Path, kind: FaultKind
) -> None:
    plan = FaultPlan(rate=0.3, seed=3, kinds={kind: 1.0}, huge_bytes=2_000_000)
    outcome = run_commons(tmp_path / "run", plan)

    assert_nothing_lost(outcome)
    invalid = [c for c in outcome.calls if c.status == "invalid"]
    assert plan.injected[kind] >= 5
    assert len(invalid) == plan.injected[kind]
    assert not [line for c in outcome.calls for line in c.faults]
    fell_back = {decision_key(f): f.reason for f in outcome.fallbacks}
    repairs = {decision_key(c): c for c in outcome.calls if c.repair}
    for call in invalid:
        key = decision_key(call)
        if call.repair:  # the repair itself was bad: the decision fell back
            assert fell_back[key] == "invalid_output"
        else:  # a repair followed; if it did not give an action, a fallback did
            assert key in repairs
            assert repairs[key].status == "ok" or key in fell_back
    if kind == "huge":
        assert all(c.completion_tokens >= 400_000 for c in invalid)
    assert all(f.reason == "invalid_output" for f in outcome.fallbacks)


def test_a_burst_of_every_kind_then_healthy(tmp_path: Path) -> None:
    plan = FaultPlan(rate=1.0, seed=5, stop=16, retry_after_s=(0,), huge_bytes=100_000)
    outcome = run_commons(tmp_path / "run", plan)

    assert_nothing_lost(outcome)
    assert sum(plan.injected.values()) == 16
    recorded = Counter(classify_fault(line) for c in outcome.calls for line in c.faults)
    transport = {k: n for k, n in plan.injected.items() if k in TRANSPORT_KINDS and n}
    assert dict(recorded) == transport
    invalid = sum(c.status == "invalid" for c in outcome.calls)
    assert invalid == sum(plan.injected[k] for k in CONTENT_KINDS)
    assert_transport_faults_accounted(outcome)
    # After the burst every decision of the last month went through without a fault.
    last = [c for c in outcome.calls if c.tick == MONTHS - 1]
    assert all(c.status == "ok" and not c.faults for c in last)


# -- circuit breaker ---------------------------------------------------------------------


class Outage:
    """Every chat request fails with a 500 during ``seconds`` from the first one."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.until: float | None = None
        self.failed = 0

    def __call__(self, index: int, request: dict[str, Any]) -> Fault | None:
        now = time.monotonic()
        if self.until is None:
            self.until = now + self.seconds
        if now < self.until:
            self.failed += 1
            return Fault(status=500)
        return None


def test_breaker_pauses_callers_while_the_server_is_down(tmp_path: Path) -> None:
    agents, attempts = 10, 8
    outage = Outage(1.0)
    outcome = run_commons(
        tmp_path / "run",
        outage,
        "months=2",
        f"agents={agents}",
        f"run.max_attempts={attempts}",
        "run.breaker_threshold=5",
    )

    assert_nothing_lost(outcome, months=2)
    # Callers waited for the circuit instead of spending their attempts on a dead server.
    assert outage.failed <= agents + 8
    assert outage.failed * 4 < agents * attempts
    assert not outcome.fallbacks
    assert sum(len(c.faults) for c in outcome.calls) == outage.failed


# -- Retry-After -------------------------------------------------------------------------


class Take(Action):
    action_type = "take"
    catch: int = Field(ge=0, le=10)


REQUEST = LLMRequest(
    messages=(ChatMessage(role="user", content="How many tons?"),),
    json_schema=Take.json_schema(),
)


class RateLimitedOnce:
    model_id = "flaky"

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        self.calls = 0

    async def generate(self, request: LLMRequest) -> LLMResponse:
        self.calls += 1
        if self.calls == 1:
            raise BackendError("HTTP 429: slow down", retry_after=self.retry_after)
        return LLMResponse(text='{"catch": 1}', model=self.model_id)

    async def aclose(self) -> None:
        pass


def test_retry_delay_is_never_below_retry_after() -> None:
    model = RetryingModel(RateLimitedOnce(0.0), base_delay_s=0.5, max_delay_s=20.0)
    for attempt in range(6):
        for _ in range(50):
            assert model.delay(attempt, 3.0) >= 3.0
            assert model.delay(attempt, None) <= min(20.0, 0.5 * 2**attempt)


def test_retrying_model_waits_the_retry_after() -> None:
    model = RetryingModel(RateLimitedOnce(0.3), base_delay_s=0.0)

    async def main() -> tuple[LLMResponse, float]:
        t0 = time.monotonic()
        response = await model.generate(REQUEST)
        return response, time.monotonic() - t0

    response, elapsed = asyncio.run(main())
    assert elapsed >= 0.3
    assert response.attempts == 2
    assert response.faults == ("BackendError: HTTP 429: slow down",)


def test_retry_after_from_the_server_is_honoured_through_the_stack() -> None:
    plan = FaultPlan(rate=1.0, stop=1, kinds={"rate_limit": 1.0}, retry_after_s=(1,))

    async def main() -> tuple[LLMResponse, float]:
        server = FakeOpenAIServer(answer=valid_answer, faults=plan)
        model = OpenAIModel("fake", base_url=await server.start(), api_key="k", timeout_s=5)
        stack = build_stack(
            model, cache=None, max_concurrency=4, timeout_s=5, max_attempts=3, base_delay_s=0.01
        )
        try:
            t0 = time.monotonic()
            response = await stack.generate(REQUEST)
            return response, time.monotonic() - t0
        finally:
            await stack.aclose()
            await server.stop()

    response, elapsed = asyncio.run(main())
    assert elapsed >= 1.0
    assert response.attempts == 2
    (line,) = response.faults
    assert "HTTP 429" in line
    assert classify_fault(line) == "rate_limit"
    assert plan.injected["rate_limit"] == 1


# -- the plan ----------------------------------------------------------------------------


def test_same_seed_same_faults() -> None:
    first = [FaultPlan(rate=0.3, seed=11).kind_for(i) for i in range(2000)]
    again = [FaultPlan(rate=0.3, seed=11).kind_for(i) for i in range(2000)]
    other = [FaultPlan(rate=0.3, seed=12).kind_for(i) for i in range(2000)]
    assert first == again
    assert first != other
    share = sum(k is not None for k in first) / len(first)
    assert 0.25 < share < 0.35
    assert set(first) == {*FAULT_KINDS, None}


def test_plan_window_weights_and_counts() -> None:
    plan = FaultPlan(rate=1.0, seed=2, kinds={"server_error": 1.0, "reset": 0.0}, start=3, stop=7)
    kinds = [plan.kind_for(i) for i in range(10)]
    assert kinds == [None] * 3 + ["server_error"] * 4 + [None] * 3
    for i in range(10):
        plan(i, {"messages": []})
    assert plan.injected["server_error"] == 4
    assert sum(plan.injected.values()) == 4
    assert FaultPlan.from_json(plan.to_json()).to_json() == plan.to_json()
    assert FaultPlan(rate=0.0).kind_for(0) is None


@pytest.mark.parametrize(
    "bad",
    [{"rate": 1.5}, {"rate": 0.1, "kinds": {"gremlins": 1.0}}, {"rate": 0.1, "kinds": {}}],
)
def test_plan_rejects_bad_settings(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        FaultPlan.from_json(json.dumps(bad))


# -- the answers -------------------------------------------------------------------------


class Mood(BaseModel):
    label: str = Field(min_length=3, max_length=5)
    level: float = Field(gt=0.5, lt=10)


class Rich(Action):
    action_type = "rich"
    choice: str = Field(json_schema_extra={"enum": ["left", "right"]})
    count: int = Field(gt=-3, le=4)
    tags: list[int] = Field(min_length=2)
    mood: Mood
    maybe: int | None = None
    flag: bool


def chat_request(action: type[Action]) -> dict[str, Any]:
    schema = action.json_schema()
    return {
        "messages": [{"role": "user", "content": "go"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "action", "schema": schema, "strict": False},
        },
    }


ACTIONS: list[type[Action]] = [harvest_model(100), Speak, Reflect, Take, Rich]


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.__name__)
def test_valid_answer_satisfies_the_schema_and_violations_do_not(action: type[Action]) -> None:
    request = chat_request(action)
    parse_action(action, valid_answer(request))
    for variant in (0, 1):
        with pytest.raises(ValueError, match=r"."):
            parse_action(action, violating_answer(request, variant))
    with pytest.raises(ValueError, match=r"."):
        parse_action(action, huge_answer(10_000))


def test_answers_without_a_schema() -> None:
    request: dict[str, Any] = {"messages": [], "response_format": {"type": "json_object"}}
    assert valid_answer(request) == "{}"
    assert json.loads(violating_answer(request)) == ["not", "an", "object"]
    assert len(huge_answer(2_000_000)) == 2_000_000
    assert "{" not in huge_answer(5000)


# -- the server's side of each fault -----------------------------------------------------


async def raw_exchange(base_url: str, read_timeout: float = 5.0) -> tuple[bytes, bool]:
    """POST one chat request on a raw socket; returns (all bytes until EOF, reset seen)."""
    host, port = base_url.removeprefix("http://").split("/")[0].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = json.dumps(chat_request(Take)).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    data = b""
    reset = False
    try:
        async with asyncio.timeout(read_timeout):
            while chunk := await reader.read(65536):
                data += chunk
                if b"\r\n\r\n" in data and not _expects_more(data):
                    break
    except TimeoutError:
        pass  # the client gives up
    except ConnectionResetError:
        reset = True
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            reset = True
    return data, reset


def _expects_more(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) < int(value)
    return False


def exchange_with_fault(kind: FaultKind, **plan: Any) -> tuple[bytes, bool]:
    fault_plan = FaultPlan(rate=1.0, kinds={kind: 1.0}, **plan)

    async def main() -> tuple[bytes, bool]:
        server = FakeOpenAIServer(answer=valid_answer, faults=fault_plan)
        try:
            return await raw_exchange(await server.start())
        finally:
            await server.stop()

    result = asyncio.run(main())
    assert fault_plan.injected[kind] == 1
    return result


def split(data: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
    return status, headers, body


def test_truncated_reply_announces_more_than_it_sends() -> None:
    data, _ = exchange_with_fault("truncated")
    status, headers, body = split(data)
    assert status.startswith("HTTP/1.1 200")
    assert 0 < len(body) < int(headers["content-length"])


def test_reset_sends_nothing() -> None:
    data, _ = exchange_with_fault("reset")
    assert data == b""


def test_malformed_and_huge_and_rate_limit_replies() -> None:
    status, _, body = split(exchange_with_fault("malformed")[0])
    assert status.startswith("HTTP/1.1 200")
    with pytest.raises(ValueError, match=r"."):
        json.loads(body)
    status, _, body = split(exchange_with_fault("huge", huge_bytes=300_000)[0])
    content = json.loads(body)["choices"][0]["message"]["content"]
    assert len(content) == 300_000
    status, headers, _ = split(exchange_with_fault("rate_limit", retry_after_s=(1,))[0])
    assert status.startswith("HTTP/1.1 429")
    assert headers["retry-after"] == "1"
    status, _, body = split(exchange_with_fault("schema_violation")[0])
    content = json.loads(body)["choices"][0]["message"]["content"]
    with pytest.raises(ValueError, match=r"."):
        parse_action(Take, content)


def test_a_hang_ends_when_the_client_leaves_and_at_stop() -> None:
    plan = FaultPlan(rate=1.0, kinds={"hang": 1.0}, hang_s=30.0)

    async def main() -> tuple[int, int, float, bytes]:
        server = FakeOpenAIServer(faults=plan)
        base_url = await server.start()
        # A client that gives up after 0.2 s: the server's side of it ends too.
        data, _ = await raw_exchange(base_url, read_timeout=0.2)
        await asyncio.sleep(0.1)
        after_leaving = server.open_connections
        # A client still waiting when the server stops.
        waiting = asyncio.create_task(raw_exchange(base_url, read_timeout=20))
        await asyncio.sleep(0.2)
        while_waiting = server.open_connections
        t0 = time.monotonic()
        await server.stop()
        await waiting
        return after_leaving, while_waiting, time.monotonic() - t0, data

    after_leaving, while_waiting, stopping, data = asyncio.run(main())
    assert data == b""
    assert (after_leaving, while_waiting) == (0, 1)
    assert stopping < 2
    assert plan.injected["hang"] == 2


def test_plan_in_a_subprocess_reports_what_it_injected() -> None:
    plan = FaultPlan(rate=0.5, seed=4, kinds={"server_error": 1.0, "malformed": 1.0})
    n = 12

    async def ask(base_url: str) -> int:
        model = OpenAIModel("fake", base_url=base_url, api_key=None, timeout_s=5)
        failures = 0
        try:
            for _ in range(n):
                try:
                    parse_action(Take, (await model.generate(REQUEST)).text)
                except BackendError:
                    failures += 1
        finally:
            await model.aclose()
        return failures

    with serve_in_subprocess(answer="schema", fault_plan=plan) as server:
        failures = asyncio.run(ask(server.base_url))
    expected = Counter(k for k in (plan.kind_for(i) for i in range(n)) if k is not None)
    injected = {k: v for k, v in server.stats["injected"].items() if v}
    assert injected == dict(expected)
    assert failures == sum(expected.values())
    assert server.stats["chat_requests"] == n
