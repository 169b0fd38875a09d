"""The ``scripted`` backend: a Python policy answers in place of a model.

Deterministic: the policy gets a generator seeded from the request's seed, so concurrent
requests give the same answers in any order. Used by tests and by rule-based agents.
"""

from __future__ import annotations

import numpy as np

from societas.typing import LLMRequest, LLMResponse
from societas.typing.scenario import ScriptedPolicy

__all__ = ["ScriptedModel"]


def _approx_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class ScriptedModel:
    def __init__(self, policy: ScriptedPolicy, model_id: str = "scripted") -> None:
        self.policy = policy
        self.model_id = model_id
        self.calls = 0

    async def generate(self, request: LLMRequest) -> LLMResponse:
        self.calls += 1
        rng = np.random.default_rng(request.seed)
        text = self.policy(request, rng)
        prompt = sum(_approx_tokens(m.content) for m in request.messages)
        return LLMResponse(
            text=text,
            model=self.model_id,
            prompt_tokens=prompt,
            completion_tokens=_approx_tokens(text),
            finish_reason="stop",
        )

    async def aclose(self) -> None:
        return None
