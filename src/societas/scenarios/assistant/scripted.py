"""The assistant scenario's scripted policy: a keyword assistant and the rule-based user.

assistant  reads the latest activity (and what the user said, first) and offers the first kind
           of help whose keywords it contains, else none. It knows nothing hidden: it sees what
           a model sees, so decoy activities (``day.py``) fool it and cues without its words
           escape it. A baseline, not an oracle.
user       accepts an offer exactly when it is for a need the user has right now (ProactiveBench
           scores an offer by whether the user would accept it; the rule-based user is that
           judgement).
cognition  the mind's sub-calls (initiative, lookahead) come from
           ``societas.mind.scripted.answer_cognition``.
"""

from __future__ import annotations

import json

import numpy as np

from societas.mind.scripted import answer_cognition
from societas.scenarios.assistant.day import HelpKind
from societas.typing import LLMRequest

__all__ = ["KEYWORDS", "assistant_policy", "keyword_offer"]

KEYWORDS: tuple[tuple[HelpKind, tuple[str, ...]], ...] = (
    ("debugging", ("error", "fail", "crash", "bug")),
    ("reminder", ("remind", "moved to", "expires", "promised", "due ")),
    ("booking", ("book", "appointment", "slot")),
    ("shopping", ("milk", "shopping", "lacks", "groceries", "order", "stock")),
    ("directions", ("route", "cancelled", "map", "get to", "way to")),
    ("writing", ("write", "essay", "notes", "description", "draft")),
    ("research", ("compare", "which of", "sources", "contradictory")),
)


def keyword_offer(text: str) -> HelpKind | None:
    """The first kind of help whose keywords the text contains."""
    lowered = text.lower()
    for kind, words in KEYWORDS:
        if any(word in lowered for word in words):
            return kind
    return None


def assistant_policy(request: LLMRequest, rng: np.random.Generator) -> str:
    """The scripted answer to any request of an assistant run."""
    answer = answer_cognition(request, rng)
    if answer is not None:
        return answer
    ctx = request.context
    phase = str(ctx.get("phase", request.purpose))
    if phase == "assist":
        said = str(ctx.get("said", ""))
        kind = (keyword_offer(said) if said else None) or keyword_offer(
            str(ctx.get("activity", ""))
        )
        if kind is None:
            return json.dumps({"help": "none", "message": ""})
        return json.dumps({"help": kind, "message": f"I can help you with {kind} now."})
    if phase == "respond":
        accept = str(ctx.get("offered", "")) in {str(n) for n in ctx.get("needs", [])}
        return json.dumps({"accept": accept, "reply": "Yes, please." if accept else "No."})
    raise ValueError(f"the assistant scenario's scripted policy has no answer for {phase!r}")
