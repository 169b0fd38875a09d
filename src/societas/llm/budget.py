"""Hard budgets: what a run may spend on its model, checked before each call is sent.

``BudgetMonitor`` holds the run's spend (calls answered by a model, not by the response cache;
their prompt and completion tokens; their cost from a price per model) and its limits. A
``BudgetedModel`` in the wrapper stack (below the cache, so cache hits are free; above retries)
reserves each call before sending it and settles the reservation with the tokens the model
reports. A call that could pass a limit is refused with a non-retryable ``BackendError`` and
the monitor's ``reached`` is set; the engine then pauses the run after its last completed tick
(``engine/health.py``), like an outage.

A reservation counts one call and, for token and cost limits, the request's prompt at two
characters a token (more than any tokenizer here needs for prose) plus its ``max_tokens``: so
calls in flight at once cannot together pass a limit. Spend starts from what the run's store
recorded (``spend_from_rows``), so it survives a resume.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from societas.typing import BackendError, LanguageModel, LLMRequest, LLMResponse

__all__ = [
    "BudgetLimits",
    "BudgetMonitor",
    "BudgetReached",
    "BudgetedModel",
    "Price",
    "Spend",
    "price_table",
    "reserve_tokens",
    "spend_from_rows",
    "spend_since",
]

# Characters a token at most, for the reservation of a prompt not yet tokenized.
RESERVE_CHARS_PER_TOKEN = 2
# Per message: role markers of a chat template.
RESERVE_TOKENS_PER_MESSAGE = 8


@dataclass(frozen=True)
class Price:
    """Cost of a million prompt and completion tokens of one model."""

    prompt: float = 0.0
    completion: float = 0.0

    def of(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt + completion_tokens * self.completion) / 1e6


@dataclass(frozen=True)
class BudgetLimits:
    """At most this many calls, tokens (prompt + completion) or this cost; ``None``: no limit."""

    calls: int | None = None
    tokens: int | None = None
    cost: float | None = None

    @property
    def any(self) -> bool:
        return self.calls is not None or self.tokens is not None or self.cost is not None


@dataclass
class Spend:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def describe(self, limits: BudgetLimits | None = None) -> str:
        """``12 calls, 3,456 tokens (3,100 + 356), $0.0123``; each against its limit if set."""
        lim = limits or BudgetLimits()
        calls = f"{self.calls:,}" + (f" of {lim.calls:,}" if lim.calls is not None else "")
        tokens = f"{self.tokens:,}" + (f" of {lim.tokens:,}" if lim.tokens is not None else "")
        cost = f"{self.cost:.4f}" + (f" of {lim.cost:g}" if lim.cost is not None else "")
        return (
            f"{calls} calls, {tokens} tokens ({self.prompt_tokens:,} prompt + "
            f"{self.completion_tokens:,} completion), cost {cost}"
        )


class BudgetReached(BackendError):
    """A call refused because it could pass the run's budget (never retried)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def reserve_tokens(request: LLMRequest) -> tuple[int, int]:
    """(prompt, completion) tokens held for a call in flight: an upper bound of what it uses."""
    chars = sum(len(m.content) for m in request.messages)
    prompt = math.ceil(chars / RESERVE_CHARS_PER_TOKEN) + RESERVE_TOKENS_PER_MESSAGE * len(
        request.messages
    )
    return prompt, request.sampling.max_tokens


class BudgetMonitor:
    """A run's spend and limits, shared by every route's ``BudgetedModel``."""

    def __init__(
        self,
        limits: BudgetLimits | None = None,
        *,
        price: Callable[[str], Price] = lambda _model: Price(),
        spent: Spend | None = None,
    ) -> None:
        self.limits = limits or BudgetLimits()
        self.price = price
        self.spent = spent or Spend()
        # The same by model id: [calls, prompt tokens, completion tokens].
        self.by_model: dict[str, list[int]] = {}
        # The limit that refused a call first (the engine then pauses the run).
        self.reached: str | None = None
        self._held_calls = 0
        self._held_tokens = 0
        self._held_cost = 0.0

    @property
    def reason(self) -> str | None:
        """Why the run must pause, with the spend as it is now; ``None`` while within budget."""
        if self.reached is None:
            return None
        return f"budget reached ({self.reached}): spent {self.spent.describe(self.limits)}"

    def _passes(self, calls: int, tokens: int, cost: float) -> str | None:
        lim, s = self.limits, self.spent
        if lim.calls is not None and s.calls + self._held_calls + calls > lim.calls:
            return f"run.budget.calls {lim.calls:,}"
        if lim.tokens is not None and s.tokens + self._held_tokens + tokens > lim.tokens:
            return f"run.budget.tokens {lim.tokens:,}"
        if lim.cost is not None and s.cost + self._held_cost + cost > lim.cost + 1e-12:
            return f"run.budget.cost {lim.cost:g}"
        return None

    def reserve(self, model_id: str, request: LLMRequest) -> tuple[int, int, float]:
        """Hold the most this call can spend, or raise ``BudgetReached``."""
        prompt, completion = reserve_tokens(request)
        tokens = prompt + completion if self.limits.tokens is not None else 0
        cost = self.price(model_id).of(prompt, completion) if self.limits.cost is not None else 0
        passed = self._passes(1, tokens, cost)
        if passed is not None:
            if self.reached is None:
                self.reached = passed
            raise BudgetReached(
                f"budget reached ({passed}): spent {self.spent.describe(self.limits)}; "
                f"this call could need up to {prompt + completion:,} tokens"
            )
        self._held_calls += 1
        self._held_tokens += tokens
        self._held_cost += cost
        return 1, tokens, cost

    def release(self, held: tuple[int, int, float]) -> None:
        self._held_calls -= held[0]
        self._held_tokens -= held[1]
        self._held_cost -= held[2]

    def charge(self, model_id: str, prompt_tokens: int, completion_tokens: int) -> None:
        row = self.by_model.setdefault(model_id, [0, 0, 0])
        row[0] += 1
        row[1] += prompt_tokens
        row[2] += completion_tokens
        s = self.spent
        s.calls += 1
        s.prompt_tokens += prompt_tokens
        s.completion_tokens += completion_tokens
        s.cost += self.price(model_id).of(prompt_tokens, completion_tokens)


class BudgetedModel:
    """Refuses a call that could pass the budget; charges each answer the model gave."""

    def __init__(self, inner: LanguageModel, monitor: BudgetMonitor) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.monitor = monitor

    async def generate(self, request: LLMRequest) -> LLMResponse:
        held = self.monitor.reserve(self.model_id, request)
        try:
            response = await self.inner.generate(request)
        finally:
            self.monitor.release(held)
        if not response.cached:
            self.monitor.charge(self.model_id, response.prompt_tokens, response.completion_tokens)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def spend_since(
    before: Mapping[str, list[int]], now: Mapping[str, list[int]]
) -> dict[str, list[int]]:
    """What ``BudgetMonitor.by_model`` grew by from ``before`` to ``now``."""
    grown: dict[str, list[int]] = {}
    for model, row in now.items():
        old = before.get(model, [0, 0, 0])
        diff = [a - b for a, b in zip(row, old, strict=True)]
        if any(diff):
            grown[model] = diff
    return grown


def spend_from_rows(
    rows: Iterable[tuple[str, int, int, int]], price: Callable[[str], Price]
) -> Spend:
    """Spend from a store's ``(model, calls, prompt_tokens, completion_tokens)`` per model, of
    the calls a model answered (status ok or invalid, not served from the cache)."""
    spend = Spend()
    for model, calls, prompt, completion in rows:
        spend.calls += int(calls)
        spend.prompt_tokens += int(prompt)
        spend.completion_tokens += int(completion)
        spend.cost += price(model).of(int(prompt), int(completion))
    return spend


def price_table(
    prices: Mapping[str, Price], fallback_per_1k: float = 0.0
) -> Callable[[str], Price]:
    """A model's price: ``prices`` by model id, else ``fallback_per_1k`` per 1,000 tokens."""
    fallback = Price(prompt=fallback_per_1k * 1000.0, completion=fallback_per_1k * 1000.0)

    def price(model_id: str) -> Price:
        return prices.get(model_id, fallback)

    return price
