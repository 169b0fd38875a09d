"""The ``scripted`` backend: a Python policy answers in place of a model.

Deterministic: the policy gets a generator seeded from the request's seed, so concurrent
requests give the same answers in any order. Used by tests and by rule-based agents.
"""

from __future__ import annotations

import json

import numpy as np

from societas.typing import LLMRequest, LLMResponse
from societas.typing.llm import estimated_usage
from societas.typing.scenario import ScriptedPolicy

__all__ = ["ScriptedModel", "survey_answer"]


def survey_answer(request: LLMRequest, rng: np.random.Generator) -> str:
    """A scripted respondent: a valid answer to any survey question, drawn from ``rng``."""
    q = request.context.get("question", {})
    kind = q.get("type")
    answer: object
    if kind == "likert":
        answer = int(rng.integers(1, int(q.get("scale", 5)) + 1))
    elif kind == "numeric":
        answer = round(float(rng.uniform(float(q["min"]), float(q["max"]))), 3)
    elif kind == "choice":
        options = list(q.get("options") or [""])
        answer = options[int(rng.integers(len(options)))]
    else:
        answer = f"{request.actor or 'I'} has no strong view on that."
    return json.dumps({"answer": answer})


class ScriptedModel:
    def __init__(self, policy: ScriptedPolicy, model_id: str = "scripted") -> None:
        self.policy = policy
        self.model_id = model_id
        self.calls = 0

    async def generate(self, request: LLMRequest) -> LLMResponse:
        self.calls += 1
        rng = np.random.default_rng(request.seed)
        # A policy that answers surveys itself says so; otherwise a random valid respondent.
        if request.purpose.startswith("survey:") and not getattr(
            self.policy, "answers_surveys", False
        ):
            text = survey_answer(request, rng)
        else:
            text = self.policy(request, rng)
        prompt = sum(estimated_usage(m.content) for m in request.messages)
        return LLMResponse(
            text=text,
            model=self.model_id,
            prompt_tokens=prompt,
            completion_tokens=estimated_usage(text),
            finish_reason="stop",
        )

    async def aclose(self) -> None:
        return None
