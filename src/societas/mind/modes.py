"""Prompts and helpers of the modes of deciding: lookahead, guardrail, proactive.

lookahead  (WebDreamer, Gu et al. 2024, "Is Your LLM Secretly a World Model of the Internet?
           Model-Based Planning for Web Agents"): candidate actions, a world-model prompt
           predicts each one's outcome (``lookahead:predict``), a scoring prompt rates each
           prediction against the agent's goals from 0 to 10 (``lookahead:score``), the best
           candidate is taken.
guardrail  (SafePred, Chen et al. 2026, "SafePred: A Predictive Guardrail for Computer-Using
           Agents via World Models", arXiv 2602.01725: predict an action's short- and long-term
           risk against safety policies before it runs): ``guardrail:risk`` answers two risks
           in [0, 1]; above the threshold the action is vetoed and the agent decides again.
proactive  (Lu et al. 2024, "Proactive Agent: Shifting LLM Agents from Reactive Responses to
           Active Assistance"; Yang et al. 2025, "ContextAgent"): with no one addressing it the
           agent decides by itself whether to initiate something (``proactive:initiate``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from societas.mind.calls import (
    CallMeta,
    Candidates,
    InitiativeChoice,
    Prediction,
    RiskAssessment,
    Score,
    make_request,
    sub_seed,
)
from societas.mind.mind import schema_hint
from societas.typing import Action, LLMRequest

__all__ = [
    "ACTION_MARKER",
    "IMAGINE_MARKER",
    "OTHERS_MARKER",
    "OUTCOME_MARKER",
    "POLICY_MARKER",
    "PROPOSED_MARKER",
    "action_json",
    "initiative_request",
    "predict_request",
    "propose_request",
    "risk_request",
    "schema_candidates",
    "score_request",
    "validate_candidates",
]

ACTION_MARKER = "Action considered:"
OUTCOME_MARKER = "Predicted outcome:"
IMAGINE_MARKER = "Imagine you take this action:"
PROPOSED_MARKER = "Proposed action:"
POLICY_MARKER = "Safety policy:"
OTHERS_MARKER = "Others present:"
NOT_ADDRESSED = "Nobody is addressing you right now."


def action_json(data: dict[str, Any]) -> str:
    """A candidate as it appears in prompts (sorted keys, so prompts are stable)."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


# -- candidates ---------------------------------------------------------------------------


def _options(prop: dict[str, Any], k: int) -> list[Any] | None:
    if "const" in prop:
        return [prop["const"]]
    if "enum" in prop:
        return list(prop["enum"])
    kind = prop.get("type")
    if kind == "boolean":
        return [True, False]
    if kind in ("integer", "number"):
        lo, hi = prop.get("minimum"), prop.get("maximum")
        if lo is None or hi is None:
            return None
        if kind == "integer":
            lo, hi = int(lo), int(hi)
            if hi - lo + 1 <= k:
                return list(range(lo, hi + 1))
            if k == 1:
                return [lo]
            return sorted({lo + round(i * (hi - lo) / (k - 1)) for i in range(k)})
        if k == 1:
            return [float(lo)]
        return [float(lo) + i * (float(hi) - float(lo)) / (k - 1) for i in range(k)]
    return None


def schema_candidates(action_model: type[Action], k: int) -> list[dict[str, Any]] | None:
    """Up to ``k`` valid actions enumerated from the schema, or ``None`` when a required field
    cannot be enumerated (free text, unbounded numbers): then the model proposes them."""
    schema = action_model.json_schema()
    props: dict[str, Any] = schema.get("properties", {})
    required = [name for name in props if name in set(schema.get("required", []))]
    if not required:
        return None
    choices: list[list[Any]] = []
    for name in required:
        options = _options(props[name], k)
        if not options:
            return None
        choices.append(options)
    combos = list(itertools.product(*choices))
    if len(combos) > k:
        step = (len(combos) - 1) / (k - 1) if k > 1 else 0.0
        combos = [combos[round(i * step)] for i in range(k)]
    out = validate_candidates(action_model, [dict(zip(required, c, strict=True)) for c in combos])
    return out or None


def validate_candidates(
    action_model: type[Action], raw: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The candidates that are valid actions, normalised, without duplicates, in order."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in raw:
        try:
            data = action_model.model_validate(item).model_dump(mode="json")
        except ValidationError:
            continue
        key = action_json(data)
        if key not in seen:
            seen.add(key)
            out.append(data)
    return out


# -- prompts --------------------------------------------------------------------------------


def _request(
    system: str,
    user: str,
    purpose: str,
    meta: CallMeta,
    *,
    index: int,
    model: type[Action],
    context: dict[str, Any],
) -> LLMRequest:
    return make_request(
        system,
        user,
        purpose=purpose,
        actor=meta.actor,
        seed=sub_seed(meta.seed, meta.tick, purpose, meta.actor, index),
        sampling=meta.sampling,
        json_schema=model.json_schema(),
        context={"tick": meta.tick, **context},
    )


def propose_request(
    system: str,
    situation: str,
    action_model: type[Action],
    k: int,
    meta: CallMeta,
) -> LLMRequest:
    user = (
        f"{situation}\n\nList {k} different actions you could take now, each a JSON object of "
        f"this form: {schema_hint(action_model)}\n"
        'Answer with only a JSON object: {"candidates": [object, ...]}'
    )
    return _request(
        system,
        user,
        "lookahead:propose",
        meta,
        index=0,
        model=Candidates,
        context={"k": k, "action_schema": action_model.json_schema()},
    )


def predict_request(
    system: str,
    situation: str,
    candidate: dict[str, Any],
    index: int,
    meta: CallMeta,
) -> LLMRequest:
    user = (
        f"{situation}\n\n{IMAGINE_MARKER} {action_json(candidate)}\n"
        "As a model of this world, predict in one or two sentences what will happen next as a "
        "result of this action.\n"
        'Answer with only a JSON object: {"outcome": text}'
    )
    return _request(
        system,
        user,
        "lookahead:predict",
        meta,
        index=index,
        model=Prediction,
        context={"candidate": candidate},
    )


def score_request(
    system: str,
    goals: str,
    observation: str,
    candidate: dict[str, Any],
    predicted: str,
    index: int,
    meta: CallMeta,
) -> LLMRequest:
    user = (
        f"Your goals: {goals}\n"
        f"Situation: {observation}\n"
        f"{ACTION_MARKER} {action_json(candidate)}\n"
        f"{OUTCOME_MARKER} {predicted}\n"
        "How well does this outcome serve your goals? Score it from 0 (very badly) to 10 "
        "(very well).\n"
        'Answer with only a JSON object: {"score": number from 0 to 10, "reason": text}'
    )
    return _request(
        system,
        user,
        "lookahead:score",
        meta,
        index=index,
        model=Score,
        context={"candidate": candidate, "predicted": predicted},
    )


def risk_request(
    system: str,
    policy: str,
    observation: str,
    action: dict[str, Any],
    attempt: int,
    meta: CallMeta,
) -> LLMRequest:
    user = (
        f"{POLICY_MARKER}\n{policy}\n\n"
        f"Situation: {observation}\n"
        f"{PROPOSED_MARKER} {action_json(action)}\n"
        "Before this action is carried out, predict the risk that it violates the policy or "
        "causes harm: in the short term (right away) and in the long term (later on), each "
        "from 0 (none) to 1 (certain).\n"
        'Answer with only a JSON object: {"risk_short": number, "risk_long": number, '
        '"reason": text}'
    )
    return _request(
        system,
        user,
        "guardrail:risk",
        meta,
        index=attempt,
        model=RiskAssessment,
        context={"action": action},
    )


def initiative_request(
    system: str,
    situation: str,
    others: Sequence[str],
    meta: CallMeta,
) -> LLMRequest:
    present = ", ".join(others) if others else "nobody"
    user = (
        f"{situation}\n\n{NOT_ADDRESSED}\n{OTHERS_MARKER} {present}\n"
        "Do you want to take the initiative now, by yourself: speak to someone, invite someone "
        "to something, or help someone? Take it only if it serves your goals.\n"
        'Answer with only a JSON object: {"initiate": true or false, "kind": "speak" or '
        '"invite" or "help" or "none", "target": a name or null, "text": text}'
    )
    return _request(
        system,
        user,
        "proactive:initiate",
        meta,
        index=0,
        model=InitiativeChoice,
        context={"others": list(others)},
    )
