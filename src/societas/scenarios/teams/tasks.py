"""Tasks whose answers code checks exactly, generated from the seed at a given difficulty.

- ``arithmetic``: a nested expression of ``difficulty + 1`` whole numbers with ``+``, ``-``,
  ``*`` (evaluated as parenthesised); the answer is an integer.
- ``sorting``: ``difficulty + 3`` distinct numbers to put in ascending order.
- ``ordering``: ``difficulty + 2`` people and the pairwise "taller than" facts between
  neighbours in height, shuffled; the question asks for the tallest or the shortest.

``normalise`` turns a free-text answer into the form the verifier compares (the first integer;
the integers in order; the first person named), so a correct answer in a sentence counts.
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

__all__ = ["KINDS", "Task", "TaskKind", "make_task", "normalise", "solve"]

TaskKind = Literal["arithmetic", "sorting", "ordering"]
KINDS: tuple[TaskKind, ...] = ("arithmetic", "sorting", "ordering")
NAMES = ("Ana", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kim", "Lea")
_INT = re.compile(r"-?\d+")


class Task(BaseModel):
    """One task: the text shown to agents and what the verifier needs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int
    kind: TaskKind
    difficulty: int
    text: str
    numbers: tuple[int, ...] = ()
    ops: tuple[str, ...] = ()
    people: tuple[str, ...] = ()  # tallest first
    ask: Literal["tallest", "shortest", ""] = ""

    @property
    def answer(self) -> str:
        return solve(self)


def make_task(seed: int, index: int, difficulty: int, kind: TaskKind) -> Task:
    """Task ``index`` of a run: a pure function of (seed, index, difficulty, kind)."""
    rng = np.random.default_rng([seed, index, difficulty, KINDS.index(kind)])
    if kind == "arithmetic":
        numbers = [int(rng.integers(2, 20))]
        ops: list[str] = []
        for _ in range(difficulty):
            op = str(rng.choice(["+", "-", "*"]))
            ops.append(op)
            numbers.append(int(rng.integers(2, 10 if op == "*" else 50)))
        expr = str(numbers[0])
        for op, n in zip(ops, numbers[1:], strict=True):
            expr = f"({expr} {op} {n})"
        text = f"Compute {expr}. Answer with the whole number."
        return Task(
            index=index,
            kind=kind,
            difficulty=difficulty,
            text=text,
            numbers=tuple(numbers),
            ops=tuple(ops),
        )
    if kind == "sorting":
        count = difficulty + 3
        numbers = [int(x) for x in rng.choice(np.arange(1, 100), size=count, replace=False)]
        text = (
            "Sort these numbers in ascending order: "
            + ", ".join(map(str, numbers))
            + ". Answer with the sorted numbers, separated by commas."
        )
        return Task(
            index=index, kind=kind, difficulty=difficulty, text=text, numbers=tuple(numbers)
        )
    count = min(difficulty + 2, len(NAMES))
    people = [str(p) for p in rng.choice(np.asarray(NAMES), size=count, replace=False)]
    facts = [f"{a} is taller than {b}." for a, b in pairwise(people)]
    order = rng.permutation(len(facts))
    ask: Literal["tallest", "shortest"] = "tallest" if rng.random() < 0.5 else "shortest"
    text = " ".join(facts[i] for i in order) + f" Who is the {ask}? Answer with one name."
    return Task(
        index=index, kind=kind, difficulty=difficulty, text=text, people=tuple(people), ask=ask
    )


def solve(task: Task) -> str:
    """The correct answer, in normalised form."""
    if task.kind == "arithmetic":
        value = task.numbers[0]
        for op, n in zip(task.ops, task.numbers[1:], strict=True):
            value = value + n if op == "+" else value - n if op == "-" else value * n
        return str(value)
    if task.kind == "sorting":
        return ", ".join(map(str, sorted(task.numbers)))
    return task.people[0] if task.ask == "tallest" else task.people[-1]


def normalise(task: Task, answer: str) -> str:
    """A free-text answer in the verifier's form ("" when it holds none)."""
    if task.kind == "arithmetic":
        found = _INT.search(answer)
        return found.group() if found else ""
    if task.kind == "sorting":
        return ", ".join(_INT.findall(answer))
    lowered = answer.lower()
    hits = [(lowered.find(p.lower()), p) for p in task.people if p.lower() in lowered]
    return min(hits)[1] if hits else ""
