"""A rule-based team member for tests and baselines (``--model scripted``).

It solves the task it is shown (the task's fields travel in the request's context) and errs
with a probability that grows with difficulty, the same for the fast and the slow prompt (a
rule does not think longer); after seeing teammates it adopts the most common
answer among them and itself with probability 0.8, else keeps its own; asked whom it trusts, it
names a teammate whose answer is that most common one. Seeded by the request, so deterministic.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np

from societas.scenarios.teams.tasks import Task, solve
from societas.typing import LLMRequest

__all__ = ["skill", "teams_policy"]


def skill(difficulty: int) -> float:
    """Probability of solving a task alone."""
    return max(0.2, 0.9 - 0.12 * (difficulty - 1))


def _wrong(task: Task, rng: np.random.Generator) -> str:
    if task.kind == "arithmetic":
        return str(int(solve(task)) + int(rng.choice([-2, -1, 1, 2, 10])))
    if task.kind == "sorting":
        numbers = sorted(task.numbers)
        i = int(rng.integers(len(numbers) - 1))
        numbers[i], numbers[i + 1] = numbers[i + 1], numbers[i]
        return ", ".join(map(str, numbers))
    others = [p for p in task.people if p != solve(task)]
    return str(rng.choice(others))


def teams_policy(request: LLMRequest, rng: np.random.Generator) -> str:
    ctx = request.context
    task = Task.model_validate(ctx["task"])
    role = str(ctx.get("role", "solve"))
    own = str(ctx.get("own", ""))
    peers: dict[str, str] = dict(ctx.get("peers", {}))
    if role == "fast":  # the short prompt: the answer alone
        answer = solve(task) if rng.random() < skill(task.difficulty) else _wrong(task, rng)
        return json.dumps({"answer": answer})
    if role in ("solve", "slow") or (not own and not peers):
        answer = solve(task) if rng.random() < skill(task.difficulty) else _wrong(task, rng)
        return json.dumps({"reason": "worked it out", "answer": answer})
    pool = Counter(v for v in [*peers.values(), own] if v)
    common = pool.most_common(1)[0][0] if pool else own
    answer = common if rng.random() < 0.8 else (own or common)
    if role == "score":
        trusted = sorted(a for a, v in peers.items() if v == common) or sorted(peers)
        return json.dumps({"best": trusted[0] if trusted else "", "answer": answer})
    return json.dumps({"answer": answer, "reason": "most of us agree" if answer == common else ""})
