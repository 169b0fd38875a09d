"""The Gateway: the one road from an agent's decision to a model and back to a typed action.

It sends a request through the wrapper stack, parses and validates the answer against the
action model, asks once for a repair when the answer is invalid, and otherwise reports a
failure so the caller records a fallback action. Every model call becomes a ``CallRecord``,
which the engine stores as an ``llm_call`` event.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from societas.llm.budget import BudgetReached
from societas.llm.tick_budget import TickBudget
from societas.typing import Action, BackendError, ChatMessage, LanguageModel, LLMRequest

__all__ = [
    "CallRecord",
    "Decision",
    "Gateway",
    "GatewayTotals",
    "TickBudgetSpent",
    "parse_action",
    "prompt_of",
]

# How much of an unusable answer is kept in a ``decision_fallback`` event.
RAW_LIMIT = 2000
# Distinct errors reported through ``Gateway.on_error`` (then it goes quiet).
MAX_ERRORS_REPORTED = 50
_NUMBERS = re.compile(r"[0-9a-f]{8,}|\d+(\.\d+)?")

REPAIR_PROMPT = (
    "Your previous answer could not be used: {error}\n"
    "Reply again with only one JSON object that matches this schema, nothing else:\n{schema}"
)


class TickBudgetSpent(BackendError):
    """The tick's token budget (``Gateway.tick_budget``) has no room for this call; it was
    not sent."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


@dataclass(frozen=True)
class CallRecord:
    """One model call as the ``llm_call`` event (``LLMCall``) will show it: that event's own
    fields, by the same names, before the engine gives it a place in the run (seq, tick,
    actor). ``tests/test_gateway.py`` checks the two name the same fields."""

    purpose: str
    model: str
    request_hash: str
    prompt_tokens: int
    completion_tokens: int
    status: Literal["ok", "invalid", "error"]
    attempts: int
    repair: bool
    error: str | None
    latency_ms: float
    cache_hit: bool
    faults: tuple[str, ...] = ()
    response_format: str | None = None
    # What was sent and what came back (``prompt_of``); the store keeps it in llm_prompts.
    prompt: dict[str, Any] | None = None

    def fields(self) -> dict[str, Any]:
        """The ``LLMCall`` event's own fields (all of this record's, by the same names)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["faults"] = list(self.faults)
        return out


@dataclass
class Decision:
    """The result of ``Gateway.decide``: an action, or why there is none."""

    action: Action | None
    calls: list[CallRecord] = field(default_factory=list)
    failure: Literal["invalid_output", "backend_error", "vetoed", "budget"] | None = None
    error: str | None = None
    raw_output: str | None = None
    request: LLMRequest | None = None


@dataclass
class GatewayTotals:
    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: int = 0
    invalid: int = 0
    repairs: int = 0
    latency_ms: float = 0.0


def prompt_of(request: LLMRequest, answer: str | None) -> dict[str, Any]:
    """A call's messages, schema name, sampling, seed and raw answer (first ``RAW_LIMIT``
    characters), as the store keeps them."""
    schema = request.json_schema or {}
    title = schema.get("title")
    return {
        "messages": [[m.role, m.content] for m in request.messages],
        "schema_name": title if isinstance(title, str) else ("schema" if schema else None),
        "sampling": {**request.sampling.model_dump(), "seed": request.seed},
        "answer": answer[:RAW_LIMIT] if answer is not None else None,
    }


def _extract_json(text: str) -> str:
    """The JSON object inside a model answer (tolerates code fences and chatter around it)."""
    start = text.find("{")
    end = text.rfind("}")
    if start == -1 or end < start:
        return text
    return text[start : end + 1]


def parse_action(action_model: type[Action], text: str) -> Action:
    """Parse and validate; raises ``ValueError`` with a message fit for a repair prompt."""
    raw = _extract_json(text)
    try:
        return action_model.model_validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            # Grammars of servers (llama-cpp-python's among them) let raw control characters
            # such as a newline into JSON strings; read them as the characters they are.
            try:
                return action_model.model_validate(json.loads(raw, strict=False))
            except (ValueError, RecursionError):
                pass
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ValueError(problems[:500]) from exc


class Gateway:
    """Validating front of a wrapped ``LanguageModel``, with token and latency accounting."""

    def __init__(
        self, model: LanguageModel, *, repair: bool = True, price_per_1k_tokens: float = 0.0
    ) -> None:
        self.model = model
        self.repair = repair
        self.price_per_1k_tokens = price_per_1k_tokens
        self.totals = GatewayTotals()
        # Called with the first occurrence of each distinct error or retried fault (numbers
        # blanked to tell them apart), as it happens: the CLI prints it above the progress bar.
        self.on_error: Callable[[str], None] | None = None
        self._errors_seen: set[str] = set()
        # The token budget of the open tick (the world's ``token_budget(tick)``), set by the
        # engine at each tick; None: no per-tick limit.
        self.tick_budget: TickBudget | None = None

    @property
    def model_id(self) -> str:
        return self.model.model_id

    @property
    def cost(self) -> float:
        tokens = self.totals.prompt_tokens + self.totals.completion_tokens
        return tokens / 1000.0 * self.price_per_1k_tokens

    def model_id_for(self, request: LLMRequest) -> str:
        """The model that answers ``request`` (a routed model may pick one per agent)."""
        pick = getattr(self.model, "model_id_for", None)
        return str(pick(request)) if pick is not None else self.model.model_id

    async def _call(
        self, request: LLMRequest, *, repair: bool
    ) -> tuple[str | None, CallRecord, BackendError | None]:
        budget, reservation = self.tick_budget, 0
        if budget is not None:
            admitted = budget.admit(request)
            if admitted is None:
                return None, *self._refused(request, budget)
            request, reservation = admitted
        model_id = self.model_id_for(request)
        key = request.cache_key(model_id)
        t0 = time.perf_counter()
        try:
            response = await self.model.generate(request)
        except BackendError as exc:
            if budget is not None:
                budget.settle(reservation, 0)
            latency = (time.perf_counter() - t0) * 1000.0
            record = CallRecord(
                purpose=request.purpose,
                model=model_id,
                request_hash=key,
                prompt_tokens=0,
                completion_tokens=0,
                status="error",
                attempts=exc.attempts,
                repair=repair,
                error=f"{type(exc).__name__}: {exc}"[:1000],
                latency_ms=latency,
                cache_hit=False,
                faults=exc.faults or (f"{type(exc).__name__}: {exc}"[:300],),
                prompt=prompt_of(request, None),
            )
            self._account(record)
            if not isinstance(exc, BudgetReached):  # the pause message says it once
                for fault in record.faults:
                    self._report(fault)
            return None, record, exc
        latency = (time.perf_counter() - t0) * 1000.0
        if budget is not None:
            budget.settle(reservation, response.prompt_tokens + response.completion_tokens)
        for fault in response.faults:
            self._report(fault)
        record = CallRecord(
            purpose=request.purpose,
            model=model_id,
            request_hash=key,
            prompt_tokens=response.prompt_tokens,
            completion_tokens=response.completion_tokens,
            status="ok",
            attempts=response.attempts,
            repair=repair,
            error=None,
            latency_ms=latency,
            cache_hit=response.cached,
            faults=response.faults,
            response_format=response.response_format,
            prompt=prompt_of(request, response.text),
        )
        return response.text, record, None

    def _refused(
        self, request: LLMRequest, budget: TickBudget
    ) -> tuple[CallRecord, TickBudgetSpent]:
        """A call the tick's budget has no room for: not sent, no tokens."""
        exc = TickBudgetSpent(
            f"the tick's token budget of {budget.tokens} is spent "
            f"({budget.spent} used, {budget.reserved} reserved by calls in flight)"
        )
        model_id = self.model_id_for(request)
        record = CallRecord(
            purpose=request.purpose,
            model=model_id,
            request_hash=request.cache_key(model_id),
            prompt_tokens=0,
            completion_tokens=0,
            status="error",
            attempts=0,
            repair=False,
            error=str(exc),
            latency_ms=0.0,
            cache_hit=False,
            prompt=prompt_of(request, None),
        )
        return record, exc

    def _report(self, error: str) -> None:
        if self.on_error is None:
            return
        kind = _NUMBERS.sub("#", error)[:200]
        if kind not in self._errors_seen and len(self._errors_seen) < MAX_ERRORS_REPORTED:
            self._errors_seen.add(kind)
            self.on_error(error)

    def _account(self, record: CallRecord) -> None:
        t = self.totals
        t.calls += 1
        t.cache_hits += int(record.cache_hit)
        t.prompt_tokens += record.prompt_tokens
        t.completion_tokens += record.completion_tokens
        t.errors += int(record.status == "error")
        t.invalid += int(record.status == "invalid")
        t.repairs += int(record.repair)
        t.latency_ms += record.latency_ms

    async def complete(self, request: LLMRequest) -> tuple[str | None, CallRecord]:
        """A free-text call (no action model); ``None`` text means the backend failed."""
        text, record, _ = await self._call(request, repair=False)
        if text is not None:
            self._account(record)
        return text, record

    async def decide(
        self, request: LLMRequest, action_model: type[Action], into: Decision | None = None
    ) -> Decision:
        """Ask for an ``action_model``; one repair round; failure is reported, never raised.

        With ``into``, calls are appended to it as they finish, so a caller that cancels the
        decision (a deadline) still has the records of the calls already made.
        """
        decision = into if into is not None else Decision(action=None)
        text, record, exc = await self._call(request, repair=False)
        if isinstance(exc, TickBudgetSpent):  # not sent: no call to record
            decision.failure, decision.error = "budget", str(exc)
            return decision
        if text is None:
            decision.calls.append(record)
            decision.failure = "backend_error"
            decision.error = str(exc)
            return decision
        try:
            decision.action = parse_action(action_model, text)
        except ValueError as problem:
            record = _mark_invalid(record, str(problem))
            self._account(record)
            decision.calls.append(record)
            if not self.repair:
                decision.failure, decision.error, decision.raw_output = (
                    "invalid_output",
                    str(problem),
                    text[:RAW_LIMIT],
                )
                return decision
            return await self._repair(request, action_model, text, str(problem), decision)
        self._account(record)
        decision.calls.append(record)
        return decision

    async def _repair(
        self,
        request: LLMRequest,
        action_model: type[Action],
        bad: str,
        problem: str,
        decision: Decision,
    ) -> Decision:
        schema = json.dumps(request.json_schema or action_model.json_schema())
        messages = (
            *request.messages,
            ChatMessage(role="assistant", content=bad[:2000]),
            ChatMessage(role="user", content=REPAIR_PROMPT.format(error=problem, schema=schema)),
        )
        repair_request = request.model_copy(
            update={"messages": messages, "purpose": request.purpose + ":repair"}
        )
        text, record, exc = await self._call(repair_request, repair=True)
        if isinstance(exc, TickBudgetSpent):
            decision.failure, decision.error, decision.raw_output = (
                "budget",
                str(exc),
                bad[:RAW_LIMIT],
            )
            return decision
        if text is None:
            decision.calls.append(record)
            decision.failure, decision.error, decision.raw_output = (
                "backend_error",
                str(exc),
                bad[:RAW_LIMIT],
            )
            return decision
        try:
            decision.action = parse_action(action_model, text)
        except ValueError as second:
            record = _mark_invalid(record, str(second))
            self._account(record)
            decision.calls.append(record)
            decision.failure, decision.error, decision.raw_output = (
                "invalid_output",
                str(second),
                text[:RAW_LIMIT],
            )
            return decision
        self._account(record)
        decision.calls.append(record)
        return decision


def _mark_invalid(record: CallRecord, error: str) -> CallRecord:
    return dataclasses.replace(record, status="invalid", error=error[:1000])
