"""The market's scripted policy: rule-based assistants and honest service agents.

assistant  search for the wanted items (the observation's hidden fields, as the shipped
           baselines use the customers' data), message every business found asking for the
           items (quoted) and the amenities, then pay one proposal that holds every wanted item
           by the configured rule, then end. Rules (``assistant_rule``), after
           ``data/data_generation_scripts/baseline_utilities.py`` of the original:
             pick_any                 a random proposal with the items;
             pick_first               the first proposal with the items received;
             pick_cheapest            the cheapest proposal with the items (amenities ignored);
             pick_any_with_amenities  a random proposal with the items whose seller says it
                                      has the amenities;
             pick_optimal             the cheapest of those.
           Without such a proposal it ends without buying.
           ``hasty`` instead messages one business a turn, in the search's order, and pays as
           soon as it holds a proposal with every wanted item and may pay (``wait_for``: it
           keeps asking until it holds that many proposals or has asked everyone found): the
           cheapest such proposal whose seller says it has the amenities, else the cheapest.
service    propose the requested items at menu prices (quoted names, else menu names found in
           the message), with a note listing the business's amenities; a message naming no
           item gets a text answer.
cognition  the minds' sub-calls (plans, lookahead, guardrail, ...) are answered by
           ``societas.mind.scripted.answer_cognition``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from societas.mind.scripted import answer_cognition
from societas.typing import LLMRequest

__all__ = ["AMENITY_NOTE", "market_policy", "offered_amenities", "requested_items"]

AMENITY_NOTE = "Amenities: "


def offered_amenities(note: str) -> set[str]:
    """The amenities a proposal's note names (``Amenities: A; B``)."""
    if AMENITY_NOTE not in note:
        return set()
    listed = note.split(AMENITY_NOTE, 1)[1].split(".")[0]
    return {a.strip() for a in listed.split(";") if a.strip()}


def requested_items(message: str, menu: dict[str, float]) -> list[str]:
    """Menu items a message asks for: its quoted names, else menu names it contains
    (longest first, each span used once)."""
    by_lower = {name.lower(): name for name in menu}
    quoted = [
        by_lower[q.lower()] for q in re.findall(r'"([^"]+)"', message) if q.lower() in by_lower
    ]
    if quoted:
        return list(dict.fromkeys(quoted))
    text = message.lower()
    found = []
    for low in sorted(by_lower, key=len, reverse=True):
        if low in text:
            found.append(by_lower[low])
            text = text.replace(low, " ")
    return found


def _assistant(ctx: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    wanted = [str(i) for i in ctx.get("wanted_items", [])]
    amenities = {str(a) for a in ctx.get("wanted_amenities", [])}
    if ctx.get("paid"):
        return {"type": "end"}
    if not ctx.get("searched"):
        return {"type": "search", "query": " ".join(wanted)}
    found = [str(b) for b in ctx.get("found", [])]
    new = [b for b in found if b not in ctx.get("contacted", [])]
    rule = str(ctx.get("rule", "pick_cheapest"))
    if rule == "hasty":
        return _hasty(ctx, wanted, amenities, new)
    if new:
        return _ask(wanted, amenities, new)
    offers = [o for o in ctx.get("offers", []) if set(wanted) <= set(o["items"])]
    if rule in ("pick_any_with_amenities", "pick_optimal"):
        offers = [o for o in offers if amenities <= offered_amenities(str(o.get("note", "")))]
    if not offers:
        return {"type": "end"}
    if rule == "pick_first":
        chosen = min(offers, key=lambda o: int(o["order"]))
    elif rule in ("pick_cheapest", "pick_optimal"):
        chosen = min(offers, key=lambda o: (float(o["total"]), int(o["order"])))
    else:
        chosen = offers[int(rng.integers(len(offers)))]
    return {"type": "pay", "proposal_id": chosen["id"]}


def _ask(wanted: list[str], amenities: set[str], to: list[str]) -> dict[str, Any]:
    items = ", ".join(f'1 x "{i}"' for i in wanted)
    text = f"Hello, I would like to order {items}."
    if amenities:
        text += " Do you offer " + ", ".join(sorted(amenities)) + "?"
    return {"type": "message", "to": to, "text": text + " Please send a proposal."}


def _hasty(
    ctx: dict[str, Any], wanted: list[str], amenities: set[str], new: list[str]
) -> dict[str, Any]:
    held = list(ctx.get("offers", []))
    complete = [o for o in held if set(wanted) <= set(o["items"])]
    may_pay = len(held) >= int(ctx.get("wait_for", 0)) or not new
    if complete and may_pay:
        with_amenities = [
            o for o in complete if amenities <= offered_amenities(str(o.get("note", "")))
        ]
        chosen = min(with_amenities or complete, key=lambda o: (float(o["total"]), int(o["order"])))
        return {"type": "pay", "proposal_id": chosen["id"]}
    if new:
        return _ask(wanted, amenities, new[:1])
    return {"type": "end"}


def _service(ctx: dict[str, Any]) -> dict[str, Any]:
    menu = {str(k): float(v) for k, v in dict(ctx.get("menu", {})).items()}
    items = requested_items(str(ctx.get("message", "")), menu)
    if not items:
        return {"type": "text", "text": "We do not have what you asked for."}
    note = AMENITY_NOTE + "; ".join(str(a) for a in ctx.get("amenities", [])) + "."
    lines = [{"item_name": i, "quantity": 1, "unit_price": menu[i]} for i in items]
    return {"type": "proposal", "items": lines, "note": note}


def market_policy(request: LLMRequest, rng: np.random.Generator) -> str:
    """The scripted answer to any request of a market run."""
    answer = answer_cognition(request, rng)
    if answer is not None:
        return answer
    ctx = request.context
    phase = str(ctx.get("phase", request.purpose))
    if phase == "assistant":
        return json.dumps({"step": _assistant(ctx, rng)})
    if phase.startswith("service"):
        return json.dumps({"reply": _service(ctx)})
    raise ValueError(f"the market's scripted policy has no answer for {request.purpose!r}")
