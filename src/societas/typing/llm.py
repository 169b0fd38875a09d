"""The model protocol: one async method, plain value types in and out."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal, Protocol, Self, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

__all__ = [
    "ChatMessage",
    "InProcessModel",
    "LLMRequest",
    "LLMResponse",
    "LanguageModel",
    "Sampling",
    "estimated_usage",
]


def estimated_usage(text: str) -> int:
    """The tokens an offline backend (``scripted``, ``test``, the fake OpenAI server) reports
    for ``text``: whole 4-character chunks, at least 1.

    Memory budgets count by ``societas.memory.approx_tokens``, which rounds up instead. The two
    stay apart on purpose: one rule for both would change either the token counts every
    recorded scripted run holds (``llm_call`` events, ``run.budget`` spend) or which memories
    enter prompts.
    """
    return max(1, len(text) // 4)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str


class Sampling(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(default=256, ge=1, le=32768)


class LLMRequest(BaseModel):
    """One chat request.

    ``messages``, ``json_schema``, ``sampling`` and ``seed`` (plus the model id) make the cache
    key. ``purpose``, ``actor`` and ``context`` describe the request for accounting and for
    scripted policies; they are not part of the key.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    messages: tuple[ChatMessage, ...]
    json_schema: dict[str, Any] | None = None
    sampling: Sampling = Sampling()
    seed: int = Field(default=0, ge=0, lt=2**31)
    purpose: str = "decide"
    actor: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    # The key per model id, computed once: the gateway and the cache wrapper both ask for it.
    _keys: dict[str, str] = PrivateAttr(default_factory=dict)

    def cache_key(self, model_id: str) -> str:
        """Content hash of everything that determines the answer (computed once per model)."""
        key = self._keys.get(model_id)
        if key is None:
            key = self._keys[model_id] = self._content_hash(model_id)
        return key

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with its own (empty) key memo: an updated copy has other content."""
        copy = super().model_copy(update=update, deep=deep)
        copy._keys = {}
        return copy

    def _content_hash(self, model_id: str) -> str:
        body = {
            "model": model_id,
            "messages": [[m.role, m.content] for m in self.messages],
            "schema": self.json_schema,
            "sampling": self.sampling.model_dump(),
            "seed": self.seed,
        }
        blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class LLMResponse(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    model: str
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    finish_reason: str | None = None
    # Transport facts filled in by wrappers: how many backend attempts it took, and whether
    # the answer came from the response cache (then ``attempts`` is 0).
    attempts: int = Field(default=1, ge=0)
    cached: bool = False
    # The failed attempts before this answer, one line each (retried faults).
    faults: tuple[str, ...] = ()
    # How the backend constrained the answer to the schema (``run.response_format`` modes,
    # ``grammar`` for the local model); ``None`` when nothing was asked or it is not known.
    response_format: str | None = None


@runtime_checkable
class LanguageModel(Protocol):
    """A backend or a wrapper around one. ``model_id`` names the weights, not the wrapper."""

    model_id: str

    async def generate(self, request: LLMRequest) -> LLMResponse: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class InProcessModel(LanguageModel, Protocol):
    """A backend that computes on this machine (llama.cpp on its cores), not a server.

    It answers at most ``max_in_flight`` requests at a time; the rest wait their turn. A
    request waiting its turn is not late and a busy machine is not an outage, so the stack
    gives such a backend no request timeout, no circuit breaker and no outage limit, and lets
    only ``max_in_flight`` requests through to it (the phase deadline still holds).
    """

    max_in_flight: int
