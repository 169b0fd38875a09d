"""Scripted answers to the mind's own requests (importance, reflection, planning, modes).

A scenario's scripted policy calls ``answer_cognition(request, rng)`` first; a string is the
answer, ``None`` means the purpose is not a cognition purpose and the scenario answers. Answers
are derived from the request's text (the lists the prompts show, the schema's limits), so they
are deterministic, valid and stable under replay. Purposes are found in ``COGNITION_ANSWERS``
by the longest matching prefix ("reflect:insights" also answers "reflect:insights:repair").
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from societas.mind.importance import IMPORTANCE_PURPOSE, heuristic_importance
from societas.mind.reflection import INSIGHTS_PURPOSE, QUESTIONS_PURPOSE
from societas.mind.scripted_modes import MODE_ANSWERS
from societas.typing import LLMRequest
from societas.typing.scenario import ScriptedPolicy

__all__ = ["COGNITION_ANSWERS", "CognitionAnswer", "answer_cognition", "with_cognition"]

CognitionAnswer = Callable[[LLMRequest, np.random.Generator], str]

_LINE = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)
_QUESTION = re.compile(r"^Question: (.*)$", re.MULTILINE)
_WORD = re.compile(r"[a-z]{4,}")
_COMMON_TEXT = (
    "that this with from have were what when where which while there their they them then "
    "than about after before into over your will would could should been being also just "
    "some more most very each other these those only said told"
)
_COMMON = frozenset(_COMMON_TEXT.split())


def _user(request: LLMRequest) -> str:
    users = [m.content for m in request.messages if m.role == "user"]
    return users[-1] if users else ""


def _first_user(request: LLMRequest) -> str:
    # A repair request appends messages; the lists are in the first user message.
    return next((m.content for m in request.messages if m.role == "user"), "")


def _max_items(request: LLMRequest, name: str, default: int) -> int:
    schema: dict[str, Any] = request.json_schema or {}
    prop = schema.get("properties", {}).get(name, {})
    value = prop.get("maxItems", default)
    return int(value) if isinstance(value, int) else default


def _importance(request: LLMRequest, rng: np.random.Generator) -> str:
    items = _LINE.findall(_first_user(request))
    n = _max_items(request, "ratings", len(items))
    texts = [text for _, text in items][:n]
    texts += [""] * (n - len(texts))
    return json.dumps({"ratings": [heuristic_importance(t) for t in texts]})


def _topics(texts: list[str], k: int) -> list[str]:
    counts = Counter(w for t in texts for w in _WORD.findall(t.lower()) if w not in _COMMON)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [w for w, _ in ranked[:k]]


def _questions(request: LLMRequest, rng: np.random.Generator) -> str:
    texts = [text for _, text in _LINE.findall(_first_user(request))]
    n = _max_items(request, "questions", 3)
    topics = _topics(texts, n) or ["recent events"]
    who = request.actor or "I"
    return json.dumps({"questions": [f"What does {who} think about {t}?" for t in topics]})


def _insights(request: LLMRequest, rng: np.random.Generator) -> str:
    body = _first_user(request)
    items = [(int(i), text) for i, text in _LINE.findall(body)]
    match = _QUESTION.search(body)
    question = match.group(1).strip() if match else "recent events"
    k = _max_items(request, "insights", 2)
    if not items:
        return json.dumps(
            {"insights": [{"insight": f"I know little about {question}", "evidence": []}]}
        )
    insights = [
        {
            "insight": f"On '{question}': {items[0][1][:120]}",
            "evidence": [i for i, _ in items[:3]],
        }
    ]
    if k >= 2 and len(items) > 1:
        topic = (_topics([t for _, t in items], 1) or ["this"])[0]
        insights.append(
            {
                "insight": f"{topic.capitalize()} keeps coming up ({len(items)} memories)",
                "evidence": [i for i, _ in items[-2:]],
            }
        )
    return json.dumps({"insights": insights})


COGNITION_ANSWERS: dict[str, CognitionAnswer] = {
    IMPORTANCE_PURPOSE: _importance,
    QUESTIONS_PURPOSE: _questions,
    INSIGHTS_PURPOSE: _insights,
    **MODE_ANSWERS,
}


def answer_cognition(request: LLMRequest, rng: np.random.Generator) -> str | None:
    """The scripted answer for a cognition purpose, or ``None`` for any other purpose."""
    purpose = request.purpose
    best: str | None = None
    for prefix in COGNITION_ANSWERS:
        if (purpose == prefix or purpose.startswith(prefix + ":")) and (
            best is None or len(prefix) > len(best)
        ):
            best = prefix
    if best is None:
        return None
    return COGNITION_ANSWERS[best](request, rng)


def with_cognition(policy: ScriptedPolicy) -> ScriptedPolicy:
    """A scripted policy that answers cognition purposes itself and the rest with ``policy``."""

    def combined(request: LLMRequest, rng: np.random.Generator) -> str:
        answer = answer_cognition(request, rng)
        return policy(request, rng) if answer is None else answer

    return combined
