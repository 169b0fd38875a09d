"""Scripted answers for planning, the modes of deciding and interviews.

Each answer is derived from the request's prompt text (and, for candidate proposals, the action
schema it carries), so it is deterministic and stable under replay: a scenario's scripted
policy delegates to ``societas.mind.scripted.answer_cognition``, which looks the purpose up in
``MODE_ANSWERS``. They are plausible, not clever: enough to exercise every path offline.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from societas.mind.modes import (
    ACTION_MARKER,
    IMAGINE_MARKER,
    OTHERS_MARKER,
    OUTCOME_MARKER,
    POLICY_MARKER,
    PROPOSED_MARKER,
)
from societas.mind.planning import (
    DAY_MARKER,
    HOUR_MARKER,
    NOW_MARKER,
    OBSERVATION_MARKER,
    REVISE_MARKER,
)
from societas.typing import LLMRequest

__all__ = ["MODE_ANSWERS", "URGENT_WORDS"]

Answer = Callable[[LLMRequest, np.random.Generator], str]

# Observations containing one of these call for a reaction (re-planning).
URGENT_WORDS = ("emergency", "urgent", "fire", "alarm", "accident", "injured", "storm", "flood")
_HELP_WORDS = ("help", "hurt", "stuck", "lost", "injured", "needs", "struggling")
_INVITE_WORDS = ("party", "event", "gathering", "festival", "meeting", "dinner")
_TIME = re.compile(r"\b(\d{1,2}):(\d{2})\b")
_WORD = re.compile(r"[a-z]{4,}")


def _stable(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def _user(request: LLMRequest) -> str:
    # The prompt is the first user message (a repair request appends more after it).
    return next((m.content for m in request.messages if m.role == "user"), "")


def _system(request: LLMRequest) -> str:
    return next((m.content for m in request.messages if m.role == "system"), "")


def _after(text: str, marker: str) -> str:
    """The rest of the line that starts with ``marker`` (empty if none)."""
    for line in text.splitlines():
        if line.startswith(marker):
            return line[len(marker) :].strip()
    return ""


def _block(text: str, title: str) -> list[str]:
    """The ``- item`` lines right after a line equal to ``title``."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == title:
            items = []
            for item in lines[i + 1 :]:
                if not item.startswith("- "):
                    break
                items.append(item[2:].strip())
            return items
    return []


def _minutes(text: str) -> int | None:
    match = _TIME.search(text)
    return None if match is None else int(match.group(1)) * 60 + int(match.group(2))


def _goals(request: LLMRequest) -> list[str]:
    match = re.search(r"Goals: (.*?)\.(?:\s|$)", _system(request))
    return [g.strip() for g in match.group(1).split(";")] if match else []


def _name(request: LLMRequest) -> str:
    # The persona comes last in the system message (after the world's rules).
    found = re.findall(r"You are ([^,.]+)", _system(request))
    return found[-1].strip() if found else "someone"


# -- planning -------------------------------------------------------------------------------


def plan_day(request: LLMRequest, rng: np.random.Generator) -> str:
    goals = _goals(request) or ["get my work done"]
    items = [
        "07:00 wake up and get ready",
        "08:00 have breakfast",
        f"09:00 {goals[0]}",
        "12:00 have lunch and talk with whoever is around",
        f"13:00 {goals[1] if len(goals) > 1 else 'go on with the work'}",
        "18:00 have dinner and spend time with others",
        "22:00 go to sleep",
    ]
    return json.dumps({"items": items})


def plan_hour(request: LLMRequest, rng: np.random.Generator) -> str:
    text = _user(request)
    items = _block(text, DAY_MARKER)
    now = _minutes(_after(text, NOW_MARKER)) or 0
    current = items[0] if items else "go about the day"
    for item in items:
        start = _minutes(item)
        if start is not None and start <= now:
            current = item
    current = _TIME.sub("", current, count=1).strip() or current
    reason = _after(text, REVISE_MARKER)
    plan = f"first deal with this: {reason}; then {current}" if reason else current
    return json.dumps({"plan": plan[:400]})


def plan_step(request: LLMRequest, rng: np.random.Generator) -> str:
    text = _user(request)
    hour = _after(text, HOUR_MARKER) or "go about the day"
    now = _after(text, NOW_MARKER)
    minutes = 5 + _stable(hour + now) % 11
    return json.dumps({"action": hour.split(";")[0][:200], "minutes": minutes})


def plan_react(request: LLMRequest, rng: np.random.Generator) -> str:
    seen = _after(_user(request), OBSERVATION_MARKER).lower()
    for word in URGENT_WORDS:
        if word in seen:
            return json.dumps({"react": True, "reason": f"what I see calls for it ({word})"})
    return json.dumps({"react": False, "reason": "nothing calls for a change"})


# -- modes ----------------------------------------------------------------------------------


def initiate(request: LLMRequest, rng: np.random.Generator) -> str:
    text = _user(request)
    others = [o.strip() for o in _after(text, OTHERS_MARKER).split(",") if o.strip()]
    if not others or others == ["nobody"]:
        return json.dumps({"initiate": False, "kind": "none", "target": None, "text": ""})
    target = others[0]
    lowered = text.lower()
    if any(w in lowered for w in _HELP_WORDS):
        kind, line = "help", f"{target}, can I help you?"
    elif any(w in lowered for w in _INVITE_WORDS):
        kind, line = "invite", f"{target}, would you like to come along?"
    else:
        kind, line = "speak", f"Hello {target}, how are you today?"
    return json.dumps({"initiate": True, "kind": kind, "target": target, "text": line})


def _value(prop: dict[str, Any], i: int) -> Any:
    if "const" in prop:
        return prop["const"]
    if "enum" in prop:
        return prop["enum"][i % len(prop["enum"])]
    kind = prop.get("type")
    if kind == "boolean":
        return i % 2 == 0
    if kind in ("integer", "number"):
        lo = prop.get("minimum", 0)
        hi = prop.get("maximum", lo + 10)
        value = lo + (hi - lo) * i / 4
        return int(value) if kind == "integer" else float(value)
    if kind == "array":
        return []
    return f"option {i + 1}"


def propose(request: LLMRequest, rng: np.random.Generator) -> str:
    schema = request.context.get("action_schema", {})
    k = int(request.context.get("k", 3))
    props: dict[str, Any] = schema.get("properties", {})
    candidates = [{name: _value(prop, i) for name, prop in props.items()} for i in range(k)]
    return json.dumps({"candidates": candidates})


def predict(request: LLMRequest, rng: np.random.Generator) -> str:
    action = _after(_user(request), IMAGINE_MARKER)
    return json.dumps({"outcome": f"After {action}, things go on much as they are."})


def score(request: LLMRequest, rng: np.random.Generator) -> str:
    """Goal words found in the action and its predicted outcome, plus a stable tie-break."""
    text = _user(request)
    seen = (_after(text, ACTION_MARKER) + " " + _after(text, OUTCOME_MARKER)).lower()
    goal_words = {w for g in _goals(request) for w in _WORD.findall(g.lower())}
    hits = sum(1 for w in goal_words if w in seen)
    value = min(10.0, 4.0 + 2.0 * hits + (_stable(seen) % 10) / 10.0)
    return json.dumps({"score": value, "reason": f"{hits} of my goals served"})


def risk(request: LLMRequest, rng: np.random.Generator) -> str:
    """High risk when the action uses a word of the policy (``steal`` against "do not steal")."""
    text = _user(request)
    policy = text.split(POLICY_MARKER, 1)[-1].split("\n\n", 1)[0].lower()
    action = _after(text, PROPOSED_MARKER).lower()
    policy_words = set(_WORD.findall(policy))
    flagged = sorted(w for w in set(_WORD.findall(action)) if w in policy_words)
    if flagged:
        reason = f"the policy forbids it ({', '.join(flagged)})"
        return json.dumps({"risk_short": 0.9, "risk_long": 0.8, "reason": reason})
    return json.dumps({"risk_short": 0.1, "risk_long": 0.1, "reason": "nothing in the policy"})


def interview(request: LLMRequest, rng: np.random.Generator) -> str:
    """In character: the remembered line sharing most words with the question (latest on ties)."""
    text = _user(request)
    memories = _block(text, "What you remember:")
    question = _after(text, "Question:").lower()
    asked = set(_WORD.findall(question))
    best, best_hits = "", 0
    for memory in memories:
        hits = len(asked & set(_WORD.findall(memory.lower())))
        if hits >= best_hits and hits > 0:
            best, best_hits = memory, hits
    if not best:
        return f"I am {_name(request)}. I do not remember anything about that."
    return f"I am {_name(request)}. I remember this: {best}"


MODE_ANSWERS: dict[str, Answer] = {
    "plan:day": plan_day,
    "plan:hour": plan_hour,
    "plan:step": plan_step,
    "plan:react": plan_react,
    "proactive:initiate": initiate,
    "lookahead:propose": propose,
    "lookahead:predict": predict,
    "lookahead:score": score,
    "guardrail:risk": risk,
    "interview": interview,
}
