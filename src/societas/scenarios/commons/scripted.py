"""The commons' scripted policy: rule-based agents for tests and baselines.

cooperative  takes the sustainable share f(t);
adaptive     takes between f(t) and 1.5 f(t), drawn from the request's generator;
greedy       asks for twice f(t) (at least 1 unit).

Under ``protocol: govsim`` the discussion is GovSim's chat: each participant speaks once, in
order, and the last one concludes; the persona-less ``agree`` call reports f(t) as the limit
agreed on.

The take goes in the framing's field (``catch``, ``flocks`` or ``pallets``: the observation's
``amount_field``); the messages name the framing's unit.
"""

from __future__ import annotations

import json

import numpy as np

from societas.typing import LLMRequest

__all__ = ["commons_policy"]

_UNITS = {"fishery": "tons", "pasture": "flocks", "pollution": "pallets"}


def commons_policy(request: LLMRequest, rng: np.random.Generator) -> str:
    ctx = request.context
    phase = str(ctx.get("phase", ""))
    disposition = str(ctx.get("disposition", "cooperative"))
    threshold = int(ctx.get("threshold", 0))
    field = str(ctx.get("amount_field", "catch"))
    unit = _UNITS.get(str(ctx.get("resource", "fishery")), "tons")
    if phase == "harvest":
        if disposition == "greedy":
            catch = max(1, 2 * threshold)
        elif disposition == "adaptive":
            catch = int(rng.integers(threshold, int(threshold * 1.5) + 1))
        else:
            catch = threshold
        return json.dumps({field: catch, "reason": f"{disposition} rule, f(t)={threshold}"})
    if ctx.get("protocol") == "govsim":
        if phase == "agree":
            return json.dumps({"agreed": True, "limit": threshold})
        if phase.startswith("discuss"):
            participants = [str(p) for p in ctx.get("participants", [])]
            spoken = int(ctx.get("spoken", 0))
            last = spoken + 1 >= len(participants)
            caught = int(ctx.get("caught", 0))
            text = (
                f"I took {caught} {unit}; I will try to stay near {threshold}."
                if caught > threshold
                else f"Let us each keep to about {threshold} {unit}."
            )
            nxt = participants[min(spoken + 1, len(participants) - 1)] if participants else ""
            return json.dumps(
                {"response": text, "conversation_concluded": last, "next_speaker": nxt}
            )
    if phase.startswith("discuss"):
        if phase != "discuss_1" and rng.random() < 0.5:
            return json.dumps({"message": ""})
        caught = int(ctx.get("caught", 0))
        if caught > threshold:
            text = f"I took {caught} {unit}; I will try to stay near {threshold}."
        elif unit == "tons":
            text = f"Let us each keep to about {threshold} tons so the lake refills."
        else:
            text = f"Let us each keep to about {threshold} {unit} so the commons recovers."
        return json.dumps({"message": text})
    if phase == "reflect":
        left = int(ctx.get("stock_after", 0))
        if unit == "tons":
            text = (
                f"{left} tons were left after month {ctx.get('month')}; "
                f"keep catches near the sustainable share."
            )
        else:
            text = (
                f"{left} units were left after month {ctx.get('month')}; "
                f"keep {unit} near the sustainable share."
            )
        return json.dumps({"reflection": text})
    return json.dumps({})
