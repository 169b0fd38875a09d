"""The LLM layer: cache, wrappers, gateway validation/repair/fallback, scripted and replay."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from pydantic import Field

from societas.llm import Gateway, ResponseCache, ScriptedModel, build_stack, create_backend
from societas.llm.registry import BackendOptions, parse_spec
from societas.llm.replay import ReplayModel
from societas.llm.wrappers import (
    CachedModel,
    CircuitBreakerModel,
    ConcurrencyLimitedModel,
    OutageMonitor,
    RetryingModel,
    TimeoutModel,
)
from societas.typing import (
    Action,
    BackendError,
    ChatMessage,
    ConfigError,
    InProcessModel,
    LLMRequest,
    LLMResponse,
    ReplayMissError,
    Sampling,
)


class Pick(Action):
    action_type: ClassVar[str] = "pick"
    n: int = Field(ge=0, le=10)


def req(text: str = "hi", seed: int = 1, **kw: object) -> LLMRequest:
    return LLMRequest(
        messages=(ChatMessage(role="user", content=text),),
        json_schema=Pick.json_schema(),
        seed=seed,
        **kw,  # type: ignore[arg-type]
    )


class Canned:
    """A backend answering from a list, recording every request it saw."""

    model_id = "canned"

    def __init__(self, answers: list[str | BackendError], delay: float = 0.0) -> None:
        self.answers = list(answers)
        self.seen: list[LLMRequest] = []
        self.delay = delay

    async def generate(self, request: LLMRequest) -> LLMResponse:
        self.seen.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BackendError):
            raise answer
        return LLMResponse(text=answer, model=self.model_id, prompt_tokens=3, completion_tokens=2)

    async def aclose(self) -> None:
        return None


def test_cache_key_depends_on_everything_that_shapes_the_answer() -> None:
    base = req()
    assert base.cache_key("m") == req().cache_key("m")
    assert base.cache_key("m") != base.cache_key("other")
    assert base.cache_key("m") != req(seed=2).cache_key("m")
    assert base.cache_key("m") != req("hello").cache_key("m")
    hotter = base.model_copy(update={"sampling": Sampling(temperature=1.0)})
    assert base.cache_key("m") != hotter.cache_key("m")
    # purpose/actor/context describe the call but do not change the answer
    tagged = base.model_copy(update={"purpose": "x", "actor": "a", "context": {"k": 1}})
    assert base.cache_key("m") == tagged.cache_key("m")


def test_gateway_valid_answer_gives_action_and_accounting() -> None:
    gw = Gateway(Canned(['{"n": 3}']))
    decision = asyncio.run(gw.decide(req(), Pick))
    assert isinstance(decision.action, Pick)
    assert decision.action.n == 3
    assert [c.status for c in decision.calls] == ["ok"]
    assert gw.totals.calls == 1
    assert gw.totals.prompt_tokens == 3
    assert gw.totals.completion_tokens == 2


def test_gateway_extracts_json_from_chatter() -> None:
    gw = Gateway(Canned(['Sure! ```json\n{"n": 4}\n``` hope it helps']))
    decision = asyncio.run(gw.decide(req(), Pick))
    assert decision.action == Pick(n=4)


def test_gateway_repairs_once_with_the_error_in_the_prompt() -> None:
    backend = Canned(['{"n": 99}', '{"n": 5}'])
    gw = Gateway(backend)
    decision = asyncio.run(gw.decide(req(), Pick))
    assert decision.action == Pick(n=5)
    assert [c.status for c in decision.calls] == ["invalid", "ok"]
    assert decision.calls[1].repair
    repair_prompt = backend.seen[1].messages[-1].content
    assert "n" in repair_prompt
    assert "less than or equal to 10" in repair_prompt
    assert backend.seen[1].messages[-2].content == '{"n": 99}'
    assert backend.seen[1].purpose.endswith(":repair")


def test_gateway_reports_failure_after_a_failed_repair() -> None:
    gw = Gateway(Canned(["not json at all"]))
    decision = asyncio.run(gw.decide(req(), Pick))
    assert decision.action is None
    assert decision.failure == "invalid_output"
    assert decision.raw_output == "not json at all"
    assert len(decision.calls) == 2
    assert gw.totals.invalid == 2


def test_gateway_without_repair_fails_after_one_call() -> None:
    gw = Gateway(Canned(["nope"]), repair=False)
    decision = asyncio.run(gw.decide(req(), Pick))
    assert decision.failure == "invalid_output"
    assert len(decision.calls) == 1


def test_gateway_backend_error_is_reported_not_raised() -> None:
    gw = Gateway(Canned([BackendError("down", retryable=False)]))
    decision = asyncio.run(gw.decide(req(), Pick))
    assert decision.action is None
    assert decision.failure == "backend_error"
    assert decision.calls[0].status == "error"
    assert "down" in (decision.error or "")


def test_retry_backs_off_and_counts_attempts() -> None:
    backend = Canned([BackendError("busy", retry_after=0.01), BackendError("busy"), '{"n": 1}'])
    model = RetryingModel(backend, max_attempts=4, base_delay_s=0.001)
    response = asyncio.run(model.generate(req()))
    assert response.attempts == 3
    assert model.retries == 2


def test_retry_gives_up_after_max_attempts_and_skips_non_retryable() -> None:
    backend = Canned([BackendError("busy")])
    model = RetryingModel(backend, max_attempts=3, base_delay_s=0.001)
    with pytest.raises(BackendError) as info:
        asyncio.run(model.generate(req()))
    assert info.value.attempts == 3
    assert len(backend.seen) == 3
    fatal = Canned([BackendError("bad request", retryable=False)])
    with pytest.raises(BackendError):
        asyncio.run(RetryingModel(fatal, base_delay_s=0.001).generate(req()))
    assert len(fatal.seen) == 1


def test_retry_delay_honours_retry_after_and_caps() -> None:
    model = RetryingModel(Canned(["{}"]), base_delay_s=0.5, max_delay_s=4.0)
    for attempt in range(8):
        assert 0 <= model.delay(attempt, None) <= 4.0
    assert model.delay(0, 2.5) >= 2.5


def test_timeout_becomes_retryable_backend_error() -> None:
    model = TimeoutModel(Canned(['{"n": 1}'], delay=1.0), timeout_s=0.05)
    with pytest.raises(BackendError) as info:
        asyncio.run(model.generate(req()))
    assert info.value.retryable


def test_concurrency_limit_bounds_in_flight_and_reaches_it() -> None:
    limited = ConcurrencyLimitedModel(Canned(['{"n": 1}'], delay=0.02), limit=4)

    async def go() -> None:
        await asyncio.gather(*(limited.generate(req(seed=i)) for i in range(20)))

    asyncio.run(go())
    assert limited.peak_in_flight == 4


def test_response_cache_serves_repeats(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.db")
    backend = Canned(['{"n": 2}'])
    model = CachedModel(backend, cache)
    first = asyncio.run(model.generate(req()))
    second = asyncio.run(model.generate(req()))
    assert not first.cached
    assert second.cached
    assert second.attempts == 0
    assert second.text == first.text
    assert len(backend.seen) == 1
    assert cache.models() == ["canned"]
    cache.close()
    reopened = ResponseCache(tmp_path / "c.db")
    assert len(reopened) == 1
    reopened.close()


def test_replay_answers_from_cache_and_names_the_missing_hash(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.db")
    asyncio.run(CachedModel(Canned(['{"n": 7}']), cache).generate(req()))
    replay = ReplayModel(cache)
    assert replay.model_id == "canned"
    assert asyncio.run(replay.generate(req())).text == '{"n": 7}'
    with pytest.raises(ReplayMissError) as info:
        asyncio.run(replay.generate(req(seed=99)))
    assert req(seed=99).cache_key("canned") in str(info.value)
    assert not info.value.retryable
    cache.close()


def test_replay_of_an_empty_cache_is_a_config_error(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "empty.db")
    with pytest.raises(ConfigError):
        ReplayModel(cache)
    cache.close()


def test_scripted_model_is_deterministic_per_seed() -> None:
    def policy(request: LLMRequest, rng: np.random.Generator) -> str:
        return json.dumps({"n": int(rng.integers(0, 10))})

    model = ScriptedModel(policy)

    async def go() -> list[str]:
        answers = await asyncio.gather(*(model.generate(req(seed=s)) for s in range(30)))
        return [a.text for a in answers]

    first = asyncio.run(go())
    assert first == asyncio.run(go())
    assert len(set(first)) > 1


def test_backend_registry_and_specs(tmp_path: Path) -> None:
    assert parse_spec("openai:qwen2.5-7b") == ("openai", "qwen2.5-7b")
    assert parse_spec("local") == ("local", None)
    with pytest.raises(ConfigError):
        create_backend("nonsense", BackendOptions())
    with pytest.raises(ConfigError):
        create_backend("scripted", BackendOptions())  # no policy
    with pytest.raises(ConfigError):
        create_backend("replay", BackendOptions())  # no cache
    with pytest.raises(ConfigError):
        create_backend("openai", BackendOptions())  # no model name


def test_build_stack_order_cache_outermost(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.db")
    stack = build_stack(Canned(["{}"]), cache=cache, max_concurrency=3, timeout_s=5, max_attempts=2)
    layers = []
    node: object = stack
    while hasattr(node, "inner"):
        layers.append(type(node).__name__)
        node = node.inner
    assert layers == [
        "CachedModel",
        "RetryingModel",
        "CircuitBreakerModel",
        "ConcurrencyLimitedModel",
        "TimeoutModel",
    ]
    cache.close()


class OneAtATime(Canned):
    """An in-process backend like the local model: one generation at a time, the rest queue
    inside it (llama.cpp's single worker thread)."""

    max_in_flight = 1

    def __init__(self, answers: list[str | BackendError], delay: float) -> None:
        super().__init__(answers, delay)
        self._turn = asyncio.Lock()

    async def generate(self, request: LLMRequest) -> LLMResponse:
        async with self._turn:
            return await super().generate(request)


def test_an_in_process_backend_queues_before_the_stack_not_against_its_timeout() -> None:
    # Eight requests of 0.1 s each behind a 0.25 s request timeout: queued inside the backend,
    # all but the first two would time out and count towards an outage; the stack instead lets
    # one through at a time and sets no timeout, breaker or outage limit for such a backend.
    backend = OneAtATime(['{"n": 1}'], delay=0.1)
    outage = OutageMonitor(max_outage_s=0.2)
    stack = build_stack(
        backend, cache=None, max_concurrency=64, timeout_s=0.25, max_attempts=1, outage=outage
    )
    assert isinstance(backend, InProcessModel)
    assert not isinstance(Canned(["{}"]), InProcessModel)

    async def go() -> list[LLMResponse]:
        return await asyncio.gather(*(stack.generate(req(seed=i)) for i in range(8)))

    answers = asyncio.run(go())
    assert [a.text for a in answers] == ['{"n": 1}'] * 8
    layers = []
    node: object = stack
    while hasattr(node, "inner"):
        layers.append(node)
        node = node.inner
    assert [type(n).__name__ for n in layers] == ["RetryingModel", "ConcurrencyLimitedModel"]
    limited = layers[1]
    assert isinstance(limited, ConcurrencyLimitedModel)
    assert limited.limit == 1
    assert limited.peak_in_flight == 1
    assert outage.reason is None


class Flaky:
    """Fails while ``down`` is set; counts the requests that reached it."""

    model_id = "flaky"

    def __init__(self) -> None:
        self.down = True
        self.reached = 0

    async def generate(self, request: LLMRequest) -> LLMResponse:
        self.reached += 1
        if self.down:
            raise BackendError("503 unavailable")
        return LLMResponse(text='{"n": 1}', model=self.model_id)

    async def aclose(self) -> None:
        return None


def test_circuit_breaker_pauses_instead_of_burning_retries() -> None:
    backend = Flaky()
    breaker = CircuitBreakerModel(backend, threshold=3, cooldown_s=0.05, max_cooldown_s=0.2)

    async def go() -> list[LLMResponse | BaseException]:
        async def recover() -> None:
            await asyncio.sleep(0.5)
            backend.down = False

        recovery = asyncio.create_task(recover())
        model = RetryingModel(breaker, max_attempts=3, base_delay_s=0.001)
        results = await asyncio.gather(
            *(model.generate(req(seed=i)) for i in range(20)), return_exceptions=True
        )
        await recovery
        return results

    results = asyncio.run(go())
    # 20 callers x 3 attempts would be 60 requests in a tight loop without the breaker;
    # with it, the backend sees the first failures, then single probes while it is down.
    assert backend.reached < 35
    assert breaker.opened >= 1
    assert breaker.paused_s > 0
    assert breaker.state == "closed"
    assert any(isinstance(r, LLMResponse) for r in results)


def test_circuit_breaker_ignores_non_retryable_errors() -> None:
    breaker = CircuitBreakerModel(Canned([BackendError("400", retryable=False)]), threshold=1)
    with pytest.raises(BackendError):
        asyncio.run(breaker.generate(req()))
    assert breaker.state == "closed"


def test_every_failed_attempt_is_in_the_call_record() -> None:
    backend = Canned([BackendError("busy 1"), BackendError("busy 2"), '{"n": 1}'])
    gw = Gateway(RetryingModel(backend, max_attempts=4, base_delay_s=0.001))
    decision = asyncio.run(gw.decide(req(), Pick))
    assert decision.action == Pick(n=1)
    (call,) = decision.calls
    assert call.attempts == 3
    assert [f.split(": ", 1)[1] for f in call.faults] == ["busy 1", "busy 2"]
    failing = Gateway(
        RetryingModel(Canned([BackendError("down")]), max_attempts=2, base_delay_s=0.001)
    )
    failed = asyncio.run(failing.decide(req(), Pick))
    assert len(failed.calls[0].faults) == 2


def test_circuit_breaker_pause_does_not_grow_with_the_number_of_callers() -> None:
    # 64 calls in flight when the backend starts failing: 5 failures open the circuit, the
    # other 59 were already in flight and must not lengthen the pause.
    backend = Canned([BackendError("down")], delay=0.01)
    breaker = CircuitBreakerModel(backend, threshold=5, cooldown_s=0.1)

    async def go() -> None:
        await asyncio.gather(
            *(breaker.generate(req(seed=i)) for i in range(64)), return_exceptions=True
        )

    asyncio.run(go())
    assert breaker.opened == 1
    assert breaker.cooldown_s == 0.1  # only failed probes lengthen the pause


def test_gateway_keeps_only_the_start_of_a_huge_bad_answer() -> None:
    gw = Gateway(Canned(["x" * 100_000]))
    decision = asyncio.run(gw.decide(req(), Pick))
    assert decision.raw_output is not None
    assert len(decision.raw_output) == 2000


def test_raw_control_characters_inside_strings_are_read() -> None:
    from societas.llm.gateway import parse_action
    from societas.typing import Action

    class Say(Action):
        message: str

    assert parse_action(Say, '{"message": "two\nlines"}').message == "two\nlines"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="answer"):
        parse_action(Say, '{"message": ')


def test_the_local_model_is_an_in_process_backend() -> None:
    from societas.llm.local import LocalModel

    model = LocalModel()  # not loaded: the weights are read on the first request
    assert isinstance(model, InProcessModel)
    assert model.max_in_flight == 1


def test_call_record_names_the_llm_call_events_own_fields() -> None:
    """A gateway's ``CallRecord`` is the ``llm_call`` event before it has a place in the run:
    the same fields by the same names, so ``LLMCall(**fields())`` loses nothing."""
    import dataclasses

    from societas.llm.gateway import CallRecord
    from societas.typing import EventBase, LLMCall

    own = [n for n in LLMCall.model_fields if n not in EventBase.model_fields and n != "kind"]
    assert sorted(f.name for f in dataclasses.fields(CallRecord)) == sorted(own)
    record = CallRecord(
        purpose="decide",
        model="m",
        request_hash="h",
        prompt_tokens=3,
        completion_tokens=1,
        status="ok",
        attempts=2,
        repair=False,
        error=None,
        latency_ms=1.5,
        cache_hit=False,
        faults=("timeout",),
        response_format="json_schema",
        prompt={"messages": []},
    )
    event = LLMCall(seq=0, run_id="r", tick=0, wall_time=0.0, **record.fields())
    assert event.faults == ["timeout"]
    assert {n: getattr(event, n) for n in own} == record.fields()
