"""The donor game's scripted policy: rule-based agents whose strategies evolve.

A scripted strategy is one sentence with five numbers (percentages of the donor's units):
give ``base`` to a recipient with no history, ``high`` to one who gave at least
``threshold`` of their units in their last round as donor, ``low`` otherwise; with
punishment on, a recipient who gave less than ``punish_below`` is punished with
``punish_share`` instead. The sentence is the strategy text the world stores and shows back,
so the policy reads its own rule out of the observation.

Generation 1 draws the numbers from the request's generator. Later newcomers copy the rule of
a randomly chosen survivor and mutate each number a little (cultural transmission with
variation); survivors' strategies written by a model, which have no such numbers, are skipped.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from societas.typing import LLMRequest

__all__ = ["Rule", "donor_policy"]

_PATTERN = re.compile(
    r"give (\d+)% to a recipient with no history, (\d+)% if they gave at least (\d+)% "
    r"last time and (\d+)% otherwise(?:; if they gave less than (\d+)%, punish with (\d+)%)?"
)


@dataclass(frozen=True)
class Rule:
    base: int
    high: int
    low: int
    threshold: int
    punish_below: int = 0
    punish_share: int = 0

    def text(self, punishment: bool) -> str:
        text = (
            f"My strategy will be to give {self.base}% to a recipient with no history, "
            f"{self.high}% if they gave at least {self.threshold}% last time and "
            f"{self.low}% otherwise"
        )
        if punishment and self.punish_share > 0:
            text += (
                f"; if they gave less than {self.punish_below}%, punish with {self.punish_share}%"
            )
        return text + "."

    @classmethod
    def parse(cls, text: str) -> Rule | None:
        m = _PATTERN.search(text)
        if m is None:
            return None
        base, high, threshold, low = (int(m.group(i)) for i in (1, 2, 3, 4))
        below = int(m.group(5)) if m.group(5) else 0
        share = int(m.group(6)) if m.group(6) else 0
        return cls(base, high, low, threshold, below, share)

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Rule:
        base = int(rng.integers(2, 15)) * 5  # 10% .. 70%
        return cls(
            base=base,
            high=int(rng.integers(base // 5, 19)) * 5,  # at least base, at most 90%
            low=int(rng.integers(0, base // 10 + 1)) * 5,  # at most half of base
            threshold=int(rng.integers(4, 13)) * 5,  # 20% .. 60%
            punish_below=int(rng.integers(0, 4)) * 5,  # 0% .. 15%
            punish_share=int(rng.integers(1, 5)) * 5,  # 5% .. 20%
        )

    def mutate(self, rng: np.random.Generator) -> Rule:
        def nudge(x: int) -> int:
            return int(np.clip(x + int(rng.integers(-2, 3)) * 5, 0, 100))

        return replace(
            self,
            base=nudge(self.base),
            high=nudge(self.high),
            low=nudge(self.low),
            threshold=nudge(self.threshold),
            punish_below=nudge(self.punish_below),
            punish_share=nudge(self.punish_share),
        )


DEFAULT_RULE = Rule(base=10, high=10, low=10, threshold=0)


def _last_share(trace: Sequence[Mapping[str, Any]]) -> float | None:
    """Percentage of their units the recipient gave in their last round as donor."""
    if not trace:
        return None
    last = trace[0]
    had = float(last.get("resources", 0.0))
    if had <= 0:
        return None  # nothing to give says nothing about them
    if last.get("action") != "donate":
        return 0.0
    return 100.0 * float(last.get("amount", 0.0)) / had


def _strategy(ctx: Mapping[str, Any], rng: np.random.Generator) -> str:
    punishment = bool(ctx.get("punishment", False))
    parents = [Rule.parse(str(e.get("strategy", ""))) for e in ctx.get("elders", [])]
    rules = [r for r in parents if r is not None]
    rule = rules[int(rng.integers(len(rules)))].mutate(rng) if rules else Rule.draw(rng)
    return json.dumps({"strategy": rule.text(punishment)})


def _donate(ctx: Mapping[str, Any]) -> str:
    punishment = bool(ctx.get("punishment", False))
    rule = Rule.parse(str(ctx.get("strategy", ""))) or DEFAULT_RULE
    resources = float(ctx.get("resources", 0.0))
    last = _last_share(ctx.get("trace", []))
    choice = "donate"
    if last is None:
        share, why = rule.base, "no history"
    elif punishment and rule.punish_share > 0 and last < rule.punish_below:
        choice, share, why = "punish", rule.punish_share, f"they gave {last:.0f}%"
    elif last >= rule.threshold:
        share, why = rule.high, f"they gave {last:.0f}%"
    else:
        share, why = rule.low, f"they gave {last:.0f}%"
    amount = math.floor(resources * share) / 100  # cents, never above what I have
    answer: dict[str, Any] = {"amount": amount, "reason": f"{why}: {choice} {share}%"}
    if punishment:
        answer = {"choice": choice, **answer}
    return json.dumps(answer)


def donor_policy(request: LLMRequest, rng: np.random.Generator) -> str:
    ctx = request.context
    phase = str(ctx.get("phase", ""))
    if phase == "strategy":
        return _strategy(ctx, rng)
    if phase == "donate":
        return _donate(ctx)
    return json.dumps({})
