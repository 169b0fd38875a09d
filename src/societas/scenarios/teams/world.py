"""Teams of agents on checkable tasks, in the organisations the multi-agent literature compares.

One tick is one task. Every topology starts with a ``solve`` phase and ends with the team's
answer, which the verifier (``tasks.normalise``/``solve``) checks exactly:

- ``single``: one agent solves; its answer is the team's.
- ``independent``: every agent solves alone; the majority answer wins (ties: a seeded draw).
- ``centralized``: workers (agents 2..N) solve; the orchestrator (agent 1) sees their answers
  and gives the team's answer (``aggregate``).
- ``decentralized``: everyone solves, then ``rounds`` exchange rounds in which each sees the
  peers' latest answers and may revise; the majority of the last round wins.
- ``hybrid``: workers solve and exchange once; the orchestrator aggregates.
- ``debate``: everyone solves, then ``rounds`` rounds of critique and answer (Du et al. 2023,
  "Improving Factuality and Reasoning in Language Models through Multiagent Debate"); majority.
- ``selforg``: everyone solves, then each names the teammate whose answer it trusts most; an
  answer's weight is 1 + the votes its author received, and the heaviest answer wins (after
  SelfOrg's response-conditioned routing from high contributors). Each agent's credit is its
  leave-one-out effect on the team's correctness (a one-permutation Shapley estimate).

``token_budget`` fixes the tokens all calls of a task may use (the gateway enforces it), for
comparisons at a matched budget; ``mind`` (fast, slow, dual) and ``deadline_ms`` put the
members under time pressure (docs/scenarios/teams.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from itertools import combinations
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from societas.kit import Action, Observation, OutcomeEvent, Phase, PhaseContext, State, World
from societas.scenarios.teams.tasks import KINDS, Task, TaskKind, make_task, normalise

__all__ = ["Answer", "TeamsConfig", "TeamsWorld", "Topology", "Trust"]

Topology = Literal[
    "single", "independent", "centralized", "decentralized", "hybrid", "debate", "selforg"
]
# How members solve (after HLA / AgileThinker's fast and slow minds): ``plain`` the one
# prompt; ``fast`` a short prompt for the answer alone; ``slow`` a deliberate prompt that works
# the task out in ``reason`` before answering; ``dual`` the fast answer first, then the slow
# one, which replaces it only if it arrives within ``deadline_ms``.
MindKind = Literal["plain", "fast", "slow", "dual"]


class TeamsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topology: Topology = "independent"
    agents: int = Field(default=3, ge=1, le=32, description="team size (single: always 1)")
    tasks: int = Field(default=20, ge=1, le=100_000, description="tasks (one per tick)")
    difficulty: int = Field(default=2, ge=1, le=10, description="steps / items per task")
    kind: TaskKind | Literal["mixed"] = Field(default="arithmetic", description="task family")
    rounds: int = Field(default=2, ge=1, le=10, description="exchange or debate rounds")
    mind: MindKind = Field(default="plain", description="plain, fast, slow or dual (fast+slow)")
    deadline_ms: int | None = Field(
        default=None,
        ge=1,
        description="time pressure: each decision must finish within this many milliseconds; "
        "a late one falls back (in dual: to the fast answer)",
    )
    token_budget: int | None = Field(
        default=None,
        ge=1,
        description="tokens (prompt + completion) all members' calls of one task may use "
        "together; the gateway refuses calls past it (matched-budget comparisons)",
    )

    @model_validator(mode="after")
    def _team_fits(self) -> TeamsConfig:
        need = {"centralized": 2, "hybrid": 3, "decentralized": 2, "debate": 2, "selforg": 2}
        least = need.get(self.topology, 1)
        if self.agents < least:
            raise ValueError(f"topology {self.topology} needs at least {least} agents")
        return self

    @property
    def team_size(self) -> int:
        return 1 if self.topology == "single" else self.agents

    def task(self, seed: int, index: int) -> Task:
        kind = KINDS[index % len(KINDS)] if self.kind == "mixed" else self.kind
        return make_task(seed, index, self.difficulty, kind)


class Answer(Action):
    answer: str = Field(max_length=200, description="your answer")
    reason: str = Field(default="", max_length=400, description="why (or your critique)")


class QuickAnswer(Action):
    answer: str = Field(max_length=60, description="just the answer")


class Worked(Action):
    reason: str = Field(max_length=600, description="your working, step by step")
    answer: str = Field(max_length=200, description="your answer")


class Trust(Action):
    best: str = Field(max_length=40, description="id of the teammate whose answer you trust most")
    answer: str = Field(max_length=200, description="your own answer now")


class TeamsState(State):
    seed: int = 0
    answers: dict[str, str] = Field(default_factory=dict)  # this task's latest, normalised
    first: dict[str, str] = Field(default_factory=dict)  # this task's solve answers
    reasons: dict[str, str] = Field(default_factory=dict)
    # this task's answers phase by phase (normalised), and whom each member trusted (score)
    rounds: dict[str, dict[str, str]] = Field(default_factory=dict)
    trusted: dict[str, str] = Field(default_factory=dict)


INSTRUCTIONS = {
    "solve": "Solve the task.",
    "fast": "Answer at once: only the answer, no working.",
    "slow": "Work the task out step by step in 'reason' first, checking each step; then give "
    "the answer.",
    "exchange": "Your teammates answered as shown. Give your answer now; keep it or change it.",
    "debate": "Critique your teammates' answers in 'reason', then give your answer.",
    "aggregate": "You lead the team. Give the team's final answer.",
    "score": "Name the teammate whose answer you trust most, and give your own answer.",
}


class TeamsWorld(World[TeamsConfig, TeamsState]):
    def setup(self, rng: np.random.Generator) -> None:
        self.state.seed = int(rng.integers(0, 2**31))
        self.rules_text = (
            "You are a member of a team that solves tasks with exact answers. "
            "Answer briefly; the answer is checked exactly."
        )

    def num_ticks(self) -> int:
        return self.config.tasks

    def token_budget(self, tick: int) -> int | None:
        return self.config.token_budget

    def task(self, tick: int) -> Task:
        return self.config.task(self.state.seed, tick)

    # -- who does what ---------------------------------------------------------------------

    @property
    def lead(self) -> str:
        return self.members[0]

    def _solvers(self) -> list[str]:
        if self.config.topology in ("centralized", "hybrid"):
            return self.members[1:]
        return self.members[:1] if self.config.topology == "single" else list(self.members)

    def phases(self, tick: int) -> Sequence[Phase]:
        c = self.config
        first: dict[MindKind, list[tuple[str, str, type[Action]]]] = {
            "plain": [("solve", "solve", Answer)],
            "fast": [("solve", "fast", QuickAnswer)],
            "slow": [("solve", "slow", Worked)],
            "dual": [("react", "fast", QuickAnswer), ("solve", "slow", Worked)],
        }
        steps = list(first[c.mind])
        if c.topology == "decentralized":
            steps += [(f"exchange_{r + 1}", "exchange", Answer) for r in range(c.rounds)]
        elif c.topology == "debate":
            steps += [(f"debate_{r + 1}", "debate", Answer) for r in range(c.rounds)]
        elif c.topology == "hybrid":
            steps += [("exchange_1", "exchange", Answer), ("aggregate", "aggregate", Answer)]
        elif c.topology == "centralized":
            steps.append(("aggregate", "aggregate", Answer))
        elif c.topology == "selforg":
            steps.append(("score", "score", Trust))
        last = len(steps) - 1
        return [
            self._phase(name, role, action, first=i == 0, final=i == last)
            for i, (name, role, action) in enumerate(steps)
        ]

    def _phase(
        self, name: str, role: str, action: type[Action], *, first: bool, final: bool
    ) -> Phase:
        fallback: Action | Callable[[Observation], Action]
        if action is Trust:
            fallback = Trust(best="", answer="")
        elif role == "slow" and not first:  # dual: the fast answer stands
            fallback = _keep_fast
        else:
            fallback = Answer(answer="")
        return Phase(
            name=name,
            action_model=action,
            instruction=INSTRUCTIONS[role],
            observe=lambda agent_id, tick: self._observe(agent_id, tick, role),
            resolve=lambda actions, ctx: self._resolve(actions, ctx, name, first, final),
            fallback=fallback,
            deadline_ms=self.config.deadline_ms,
        )

    def _observe(self, agent_id: str, tick: int, role: str) -> Observation | None:
        solving = role in ("solve", "fast", "slow")
        acting = {
            "solve": self._solvers(),
            "fast": self._solvers(),
            "slow": self._solvers(),
            "aggregate": [self.lead],
            "exchange": self._solvers(),
        }.get(role, self.members)
        if agent_id not in acting:
            return None
        task = self.task(tick)
        lines = [f"Task {tick + 1}: {task.text}"]
        peers = {a: self.state.answers.get(a, "") for a in self._solvers() if a != agent_id}
        if not solving:
            lines.append("Your teammates' answers:")
            for a, ans in peers.items():
                why = self.state.reasons.get(a)
                lines.append(f"- {a}: {ans or '(none)'}" + (f" ({why})" if why else ""))
            if agent_id in self.state.answers:
                lines.append(f"Your answer so far: {self.state.answers[agent_id] or '(none)'}")
        return Observation(
            agent_id=agent_id,
            tick=tick,
            phase=role,
            text="\n".join(lines),
            fields={
                "role": role,
                "task": task.model_dump(mode="json"),
                "peers": peers,
                "own": self.state.answers.get(agent_id, ""),
            },
        )

    # -- rules -------------------------------------------------------------------------------

    def _resolve(
        self, actions: Mapping[str, Action], ctx: PhaseContext, name: str, first: bool, final: bool
    ) -> dict[str, str]:
        task = self.task(ctx.tick)
        if first:
            self.state.answers, self.state.first, self.state.reasons = {}, {}, {}
            self.state.rounds, self.state.trusted = {}, {}
        votes: Counter[str] = Counter()
        for agent_id, action in actions.items():
            text = (
                action.answer if isinstance(action, Answer | Trust | QuickAnswer | Worked) else ""
            )
            given = normalise(task, text)
            # A member without an answer this round (its call fell back, e.g. for want of
            # budget) keeps the answer it had.
            self.state.answers[agent_id] = given or self.state.answers.get(agent_id, "")
            if isinstance(action, Answer | Worked):
                self.state.reasons[agent_id] = " ".join(action.reason.split())[:200]
            if (
                isinstance(action, Trust)
                and action.best in self.members
                and action.best != agent_id
            ):
                votes[action.best] += 1
                self.state.trusted[agent_id] = action.best
        self.state.rounds[name] = {a: self.state.answers[a] for a in actions}
        if name == "solve":
            self.state.first = dict(self.state.answers)
        if not final:
            return {}
        return self._finish(task, ctx, votes)

    def _finish(self, task: Task, ctx: PhaseContext, votes: Counter[str]) -> dict[str, str]:
        c = self.config
        expected = task.answer
        answers = self.state.answers
        if c.topology in ("centralized", "hybrid") or c.topology == "single":
            team = answers.get(self.lead, "")
        elif c.topology == "selforg":
            team = self._weighted(self.state.first, votes, ctx)
        else:
            team = self._weighted(answers, Counter(), ctx)  # every member weighs 1: a majority
        correct = team == expected
        credit = {}
        if c.topology == "selforg":
            for agent_id in self.state.first:
                rest = {a: v for a, v in self.state.first.items() if a != agent_id}
                without = self._weighted(rest, votes, ctx, draw=False) == expected
                credit[agent_id] = float(correct) - float(without)
        first_ok = {a: v == expected for a, v in self.state.first.items()}
        finals = list(answers.values())
        pairs = list(combinations(finals, 2))
        agreement = sum(a == b for a, b in pairs) / len(pairs) if pairs else 1.0
        ctx.emit(
            OutcomeEvent,
            phase="team",
            data={
                "task": task.index,
                "kind": task.kind,
                "expected": expected,
                "answer": team,
                "correct": correct,
                "first_answers": dict(self.state.first),
                "first_correct": first_ok,
                "final_answers": dict(answers),
                "votes": dict(votes),
                "credit": credit,
                "rounds": {k: dict(v) for k, v in self.state.rounds.items()},
                "trusted": dict(self.state.trusted),
            },
        )
        ctx.metric("correct", float(correct))
        ctx.metric("individual_accuracy", sum(first_ok.values()) / max(1, len(first_ok)))
        ctx.metric("agreement", agreement)
        verdict = "right" if correct else f"wrong (the answer was {expected})"
        told = f"Task {task.index + 1}: the team answered {team or '(none)'}, {verdict}."
        return dict.fromkeys(self.members, told)

    @staticmethod
    def _weighted(
        answers: Mapping[str, str], votes: Counter[str], ctx: PhaseContext, *, draw: bool = True
    ) -> str:
        weight: Counter[str] = Counter()
        for agent_id, value in answers.items():
            if value:
                weight[value] += 1 + votes[agent_id]
        if not weight:
            return ""
        top = max(weight.values())
        tied = sorted(v for v, n in weight.items() if n == top)
        return tied[int(ctx.rng.integers(len(tied)))] if draw and len(tied) > 1 else tied[0]


def _keep_fast(observation: Observation) -> Action:
    """The slow mind missed its deadline (or failed): the fast mind's answer stands."""
    return Answer(answer=str(observation.fields.get("own", "")), reason="(the fast answer)")
