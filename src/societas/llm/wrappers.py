"""Wrappers of the ``LanguageModel`` protocol: cache, retry, concurrency limit, timeout.

They stack; ``build_stack`` puts them in the order the Gateway uses:
cache -> budget -> retry -> circuit breaker -> limit -> timeout -> backend. A cache hit takes
no slot and costs nothing; the budget (``societas.llm.budget``) holds a call's most spend over
all its attempts; a retry waits its backoff without holding a slot; an open circuit holds
requests before they take a slot or an attempt; the timeout bounds one attempt. A backend
computing in this process (``InProcessModel``: the local llama.cpp model) gets its own limit
and no timeout, breaker or outage limit: its queue is the machine being busy, not a server
failing.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from societas.llm.budget import BudgetedModel, BudgetMonitor
from societas.llm.cache import ResponseCache
from societas.typing import BackendError, InProcessModel, LanguageModel, LLMRequest, LLMResponse

__all__ = [
    "CachedModel",
    "CircuitBreakerModel",
    "ConcurrencyLimitedModel",
    "OutageMonitor",
    "RetryingModel",
    "TimeoutModel",
    "build_stack",
]


class _Wrapper:
    def __init__(self, inner: LanguageModel) -> None:
        self.inner = inner
        self.model_id = inner.model_id

    async def aclose(self) -> None:
        await self.inner.aclose()


class TimeoutModel(_Wrapper):
    """Bounds one attempt; a timeout is a retryable ``BackendError``."""

    def __init__(self, inner: LanguageModel, timeout_s: float) -> None:
        super().__init__(inner)
        self.timeout_s = timeout_s

    async def generate(self, request: LLMRequest) -> LLMResponse:
        try:
            # ``asyncio.timeout`` runs the call in this task (``wait_for`` made a new task per
            # attempt: measurable at thousands of calls a second).
            async with asyncio.timeout(self.timeout_s):
                return await self.inner.generate(request)
        except TimeoutError as exc:
            raise BackendError(
                f"{self.model_id}: no answer within {self.timeout_s:g} s", retryable=True
            ) from exc


class ConcurrencyLimitedModel(_Wrapper):
    """At most ``limit`` requests in flight to the backend."""

    def __init__(self, inner: LanguageModel, limit: int) -> None:
        super().__init__(inner)
        self.limit = limit
        self._sem = asyncio.Semaphore(limit)
        self.in_flight = 0
        self.peak_in_flight = 0

    async def generate(self, request: LLMRequest) -> LLMResponse:
        async with self._sem:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                return await self.inner.generate(request)
            finally:
                self.in_flight -= 1


class RetryingModel(_Wrapper):
    """Retries retryable ``BackendError``s with exponential backoff and full jitter.

    Delay before attempt k+1 is ``uniform(0, min(max_delay, base * 2**k))``, or the server's
    Retry-After when it gave one (never less). Jitter only moves timing, never results.
    """

    def __init__(
        self,
        inner: LanguageModel,
        *,
        max_attempts: int = 4,
        base_delay_s: float = 0.5,
        max_delay_s: float = 20.0,
    ) -> None:
        super().__init__(inner)
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self._jitter = random.Random()  # timing only; results never depend on it
        self.retries = 0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        cap = min(self.max_delay_s, self.base_delay_s * (2**attempt))
        wait = self._jitter.uniform(0, cap)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_delay_s * 3))
        return wait

    async def generate(self, request: LLMRequest) -> LLMResponse:
        attempt = 0
        faults: list[str] = []
        while True:
            attempt += 1
            try:
                response = await self.inner.generate(request)
            except BackendError as exc:
                faults.append(f"{type(exc).__name__}: {exc}"[:300])
                if not exc.retryable or attempt >= self.max_attempts:
                    exc.attempts = attempt
                    exc.faults = tuple(faults)
                    raise
                self.retries += 1
                await asyncio.sleep(self.delay(attempt - 1, exc.retry_after))
                continue
            if attempt == 1:
                return response
            return response.model_copy(update={"attempts": attempt, "faults": tuple(faults)})


class OutageMonitor:
    """Shared by a run's circuit breakers: set ``reason`` once one of them has seen its backend
    fail without a success for longer than ``max_outage_s``. The engine reads it after each
    tick and pauses the run; meanwhile the breakers fail waiting requests at once."""

    def __init__(self, max_outage_s: float) -> None:
        self.max_outage_s = max_outage_s
        self.reason: str | None = None


class CircuitBreakerModel(_Wrapper):
    """Pauses every request while the backend looks down, instead of burning retries.

    After ``threshold`` consecutive retryable failures the circuit opens: requests wait (they
    neither fail nor count as attempts) until ``cooldown_s`` has passed; then one probe goes
    through (half-open). A success closes the circuit; a failure reopens it with the cooldown
    doubled, up to ``max_cooldown_s``. Non-retryable errors do not trip it.

    With an ``outage`` monitor the wait is bounded: once the backend has failed without a
    success for ``outage.max_outage_s``, waiting and new requests fail at once with a
    non-retryable ``BackendError`` (the engine then pauses the run), instead of waiting on.
    """

    def __init__(
        self,
        inner: LanguageModel,
        *,
        threshold: int = 5,
        cooldown_s: float = 1.0,
        max_cooldown_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        outage: OutageMonitor | None = None,
    ) -> None:
        super().__init__(inner)
        self.outage = outage
        self.down_since: float | None = None
        self.threshold = threshold
        self.base_cooldown_s = cooldown_s
        self.cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self._clock = clock
        self.consecutive_failures = 0
        self.open_until: float | None = None
        self._probe = asyncio.Lock()
        self.opened = 0
        self.paused_s = 0.0

    @property
    def state(self) -> str:
        if self.open_until is None:
            return "closed"
        return "open" if self._clock() < self.open_until else "half-open"

    def _outage_left(self) -> float:
        """Seconds until the outage limit (infinite without a monitor or an outage)."""
        if self.outage is None or self.down_since is None:
            return float("inf")
        return self.down_since + self.outage.max_outage_s - self._clock()

    def _check_outage(self) -> None:
        if self.outage is not None and self.down_since is not None and self._outage_left() <= 0:
            down = self._clock() - self.down_since
            reason = (
                f"{self.model_id}: model server unreachable for {down:.0f} s "
                f"(run.max_outage_s {self.outage.max_outage_s:g})"
            )
            if self.outage.reason is None:
                self.outage.reason = reason
            raise BackendError(reason, retryable=False)

    async def _wait_until_closed(self) -> bool:
        """Wait out an open circuit. Returns True if this caller must act as the probe."""
        while self.open_until is not None:
            self._check_outage()
            remaining = self.open_until - self._clock()
            if remaining > 0:
                t0 = self._clock()
                await asyncio.sleep(max(0.0, min(remaining, self._outage_left() + 0.01)))
                self.paused_s += self._clock() - t0
                continue
            if not self._probe.locked():
                await self._probe.acquire()
                if self.open_until is None:  # another probe closed it meanwhile
                    self._probe.release()
                    return False
                return True
            await asyncio.sleep(min(0.05, self.cooldown_s))
        return False

    def _record_failure(self, probe: bool) -> None:
        if self.down_since is None:
            self.down_since = self._clock()
        self.consecutive_failures += 1
        if probe:  # the half-open probe failed: stay open, longer
            self.cooldown_s = min(self.max_cooldown_s, self.cooldown_s * 2)
            self.open_until = self._clock() + self.cooldown_s
        elif self.open_until is None and self.consecutive_failures >= self.threshold:
            self.opened += 1
            self.open_until = self._clock() + self.cooldown_s
        # Failures of calls already in flight when the circuit opened change nothing.

    def _record_success(self) -> None:
        self.down_since = None
        self.consecutive_failures = 0
        self.open_until = None
        self.cooldown_s = self.base_cooldown_s

    async def generate(self, request: LLMRequest) -> LLMResponse:
        probe = await self._wait_until_closed()
        try:
            response = await self.inner.generate(request)
        except BackendError as exc:
            if exc.retryable:
                self._record_failure(probe)
                self._check_outage()
            raise
        else:
            self._record_success()
            return response
        finally:
            if probe:
                self._probe.release()


class CachedModel(_Wrapper):
    """Serves repeated requests from a ``ResponseCache``; stores every fresh answer."""

    def __init__(self, inner: LanguageModel, cache: ResponseCache) -> None:
        super().__init__(inner)
        self.cache = cache
        self.hits = 0
        self.misses = 0

    async def generate(self, request: LLMRequest) -> LLMResponse:
        key = request.cache_key(self.model_id)
        hit = self.cache.get(key)
        if hit is not None:
            self.hits += 1
            return hit
        self.misses += 1
        response = await self.inner.generate(request)
        self.cache.put(key, response)
        return response


def build_stack(
    backend: LanguageModel,
    *,
    cache: ResponseCache | None,
    max_concurrency: int,
    timeout_s: float | None,
    max_attempts: int,
    base_delay_s: float = 0.5,
    breaker_threshold: int | None = 5,
    breaker_cooldown_s: float = 1.0,
    outage: OutageMonitor | None = None,
    budget: BudgetMonitor | None = None,
) -> LanguageModel:
    model: LanguageModel = backend
    if isinstance(backend, InProcessModel):
        # Requests queue here, not inside the backend, so none waits out a timeout in a queue;
        # an answer slow because the machine is busy is not a fault to retry or an outage.
        max_concurrency = max(1, min(max_concurrency, backend.max_in_flight))
        timeout_s, breaker_threshold, outage = None, None, None
    if timeout_s is not None:
        model = TimeoutModel(model, timeout_s)
    model = ConcurrencyLimitedModel(model, max_concurrency)
    if breaker_threshold is not None:
        model = CircuitBreakerModel(
            model, threshold=breaker_threshold, cooldown_s=breaker_cooldown_s, outage=outage
        )
    model = RetryingModel(model, max_attempts=max_attempts, base_delay_s=base_delay_s)
    if budget is not None:
        model = BudgetedModel(model, budget)
    if cache is not None:
        model = CachedModel(model, cache)
    return model
