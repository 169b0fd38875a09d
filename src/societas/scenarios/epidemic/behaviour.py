"""Who isolates and who goes to work: the archetype key, the fixed rule, the model's question.

An agent's archetype is a mixed-radix code over the chosen key columns (``age``, ``borough``,
``occupation``, ``trend`` of the borough's weekly cases, ``income`` situation). The model is
asked once per non-empty group and answers two probabilities; every member then draws its own
decisions from them (``world._behave``). The heuristic baseline is a fixed rule of the same
attributes; it is also what ``--model scripted`` answers and the fallback of a failed call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from societas.kit import Action, Observation
from societas.scenarios.epidemic.config import AGE_BANDS, ARCHETYPE_KEYS, OCCUPATIONS

__all__ = [
    "INCOME",
    "TRENDS",
    "Behaviour",
    "Radix",
    "heuristic",
    "heuristic_action",
]

TRENDS = ("falling", "flat", "rising")
INCOME = ("employed", "unemployed", "not in the labour force")

_OCCUPATION_TEXT = {
    "none": "not in the labour force (children, retired people, carers)",
    "essential": "working on-site jobs that cannot be done from home (health, transit, "
    "groceries, construction)",
    "office": "working office jobs that can be done from home",
    "hospitality": "working in restaurants, shops and leisure",
}


class Behaviour(Action):
    """A group's answer: the share of its members who isolate at home this week and the share
    of its employed members who go to their workplace in person."""

    action_type = "behaviour"
    isolate: float = Field(ge=0.0, le=1.0, description="share who isolate at home this week")
    work: float = Field(
        ge=0.0, le=1.0, description="share of those with a job who go to work in person"
    )


class Radix:
    """The mixed-radix code of the chosen key columns (sizes: 6 ages, B boroughs, 4
    occupations, 3 trends, 3 income situations)."""

    def __init__(self, keys: Sequence[str], n_boroughs: int) -> None:
        self.keys = [k for k in ARCHETYPE_KEYS if k in keys]
        full = {
            "age": len(AGE_BANDS),
            "borough": n_boroughs,
            "occupation": len(OCCUPATIONS),
            "trend": len(TRENDS),
            "income": len(INCOME),
        }
        self.dims = [full[k] for k in self.keys]
        strides = []
        stride = 1
        for d in reversed(self.dims):
            strides.append(stride)
            stride *= d
        self.strides = list(reversed(strides))
        self.size = stride

    def encode(self, columns: dict[str, NDArray[Any]]) -> NDArray[np.int64]:
        """The code of every row (``columns`` holds at least the chosen keys)."""
        n = next(iter(columns.values())).shape[0]
        code = np.zeros(n, dtype=np.int64)
        for key, stride in zip(self.keys, self.strides, strict=True):
            code += columns[key].astype(np.int64) * stride
        return code

    def decode(self, codes: NDArray[np.int64]) -> dict[str, NDArray[np.int64]]:
        """The key columns of each code; keys not chosen are -1."""
        out = {k: np.full(codes.shape[0], -1, dtype=np.int64) for k in ARCHETYPE_KEYS}
        for key, dim, stride in zip(self.keys, self.dims, self.strides, strict=True):
            out[key] = (codes // stride) % dim
        return out


def heuristic(
    age: NDArray[np.int64],
    occupation: NDArray[np.int64],
    trend: NDArray[np.int64],
    income: NDArray[np.int64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The fixed rule: P(isolate) and P(go to work | employed). -1 marks an unknown column
    (a key the groups are not split by), which counts as the middle value.

    isolate = 0.05 + 0.10 [age 50-64] + 0.20 [age 65+] + 0.15 [rising] - 0.03 [falling]
              + 0.05 [unemployed]
    work    = essential 0.95, hospitality 0.85, office 0.50, minus 0.10 (essential) or 0.20
              (the others) when cases are rising.
    """
    old = (age == 4).astype(np.float64) * 0.10 + (age == 5).astype(np.float64) * 0.20
    rising = (trend == 2).astype(np.float64)
    falling = (trend == 0).astype(np.float64)
    iso = 0.05 + old + 0.15 * rising - 0.03 * falling + 0.05 * (income == 1)
    base = np.select([occupation == 1, occupation == 3, occupation == 2], [0.95, 0.85, 0.50], 0.80)
    drop = np.where(occupation == 1, 0.10, 0.20) * rising
    return np.clip(iso, 0.0, 1.0), np.clip(base - drop, 0.0, 1.0)


def _field_code(fields: dict[str, Any], key: str, labels: Sequence[str]) -> int:
    value = fields.get(key)
    return labels.index(value) if value in labels else -1


def heuristic_action(fields: dict[str, Any]) -> Behaviour:
    """The fixed rule's answer for a group described by observation ``fields``."""
    codes = [
        np.asarray([_field_code(fields, key, labels)], dtype=np.int64)
        for key, labels in (
            ("age", AGE_BANDS),
            ("occupation", OCCUPATIONS),
            ("trend", TRENDS),
            ("income", INCOME),
        )
    ]
    iso, work = heuristic(*codes)
    return Behaviour(isolate=round(float(iso[0]), 4), work=round(float(work[0]), 4))


def heuristic_fallback(observation: Observation) -> Behaviour:
    return heuristic_action(dict(observation.fields))


def group_persona(attrs: dict[str, str], size: int) -> str:
    who = [f"{size} people in New York City"]
    if "borough" in attrs:
        who[0] = f"{size} people living in {attrs['borough']}, New York City"
    if "age" in attrs:
        who.append(f"aged {attrs['age']}")
    if "occupation" in attrs:
        who.append(_OCCUPATION_TEXT[attrs["occupation"]])
    if "income" in attrs and attrs["income"] != "not in the labour force":
        who.append("currently " + attrs["income"])
    return "You speak for a group of " + ", ".join(who) + "."


def week_situation(week: int, place: str, per_100k: float, trend: str) -> str:
    """The week's situation a group (or cluster) is told before its question."""
    change = {
        "rising": "more than",
        "falling": "fewer than",
        "flat": "about the same as",
    }[trend]
    return (
        f"Week {week + 1} of a contagious respiratory disease that spreads through contact "
        f"and is more dangerous to older people. This week {place} had {per_100k:.0f} new "
        f"cases per 100,000 people, {change} the past month's average. "
    )


def group_question(week: int, place: str, per_100k: float, trend: str) -> str:
    return week_situation(week, place, per_100k, trend) + (
        "What share of your group isolates at home this week, and what share of those with a "
        "job goes to work in person? Answer with two numbers between 0 and 1."
    )
