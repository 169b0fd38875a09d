"""The donor game with cultural evolution (Vallinder and Hughes 2024, arXiv 2412.10270).

One tick is one round. A generation is ``games_per_generation`` games of ``rounds`` rounds:
  strategy   (first tick of a generation) every agent new to the population writes a one-sentence
             strategy; in the first generation from the rules alone, later from the strategies
             and scores of the survivors of the previous generation;
  donate     the population is split into two halves at the start of a generation. Every round
             one half donates to the other, and roles alternate from round to round; partners
             rotate so that no ordered (donor, recipient) pair repeats within 2 x half rounds.
             Each donor sees its resources, the recipient's name, resources and trace, and
             gives up an amount (the recipient gets ``multiplier`` times it) or, with
             punishment on, spends an amount to take ``punishment_loss`` times it away.
At the end of a game every agent's final resources are recorded; the second game of a
generation reverses every pairing (so each agent is a final-round recipient once), with
resources and traces reset. After the last game the agents are ranked by their mean final
resources; the top half survive (ties broken with the RNG) and new agents fill the other half.

The trace recurses as in the paper: when D gives to R in round t, D's trace becomes
"D's gift in round t" followed by R's trace at that moment, cut to ``trace_length`` entries.
With roles alternating, a donor in round t thus sees rounds t-1, t-2, ... (at most three).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from societas.scenarios.donor.actions import Donate, DonateOrPunish, WriteStrategy
from societas.scenarios.donor.config import DonorConfig
from societas.typing import Action, Observation, OutcomeEvent, ReflectionEvent
from societas.typing import WorldState as WorldStateEvent
from societas.typing.scenario import Percept, PhaseSpec, Recorder

__all__ = ["DonorWorld", "authors_round_pairs", "round_pairs"]

A = TypeVar("A", bound=Action)

STRATEGY_INSTRUCTION = (
    "Think briefly about what makes a strategy successful in this game, then describe your "
    "strategy without explanation in one sentence that starts: My strategy will be"
)

# Tolerance for an amount equal to the donor's resources up to floating-point noise.
_EPS = 1e-9


def round_pairs(
    groups: tuple[Sequence[str], Sequence[str]], round_no: int, game: int
) -> list[tuple[str, str]]:
    """(donor, recipient) pairs of a round (1-based) of a game (1-based).

    Odd rounds: the first half donates to the second; even rounds the other way round. The
    partner rotates: within 2 x half rounds every ordered pair occurs once, and within the
    first ``half`` rounds no two agents meet twice. The second game reverses every pair.
    """
    first, second = groups
    m = len(first)
    r0 = round_no - 1
    k = r0 // 2
    if r0 % 2 == 0:
        pairs = [(first[i], second[(i + k) % m]) for i in range(m)]
    else:
        h = (m + 1) // 2
        pairs = [(second[(i + k + h) % m], first[i]) for i in range(m)]
    if game % 2 == 0:
        pairs = [(r, d) for d, r in pairs]
    return pairs


def authors_round_pairs(
    groups: tuple[Sequence[str], Sequence[str]], round_no: int, game: int
) -> list[tuple[str, str]]:
    """(donor, recipient) pairs of a round (1-based) of a game, as the authors' notebook makes
    them (aronvallinder/llm-donor-game, ``Donor_Game_with_Cultural_Evolution.ipynb``):

    ``bipartiteRoundRobin`` (code cell 10, lines 1-18) makes ``half`` rounds; in round i
    (0-based) the first half meets the second half rotated by i (``B[-i:] + B[:-i]``) and the
    donor side alternates, first half first: A B A B A B. ``extendRounds`` (cell 11, lines
    1-8) appends every round again with the roles swapped: B A B A B A. So each pair meets
    twice, and the second half donates in rounds ``half`` and ``half + 1`` running. The
    second game plays every pair reversed (cell 14, line 74). Rounds past ``2 * half`` (the
    notebook's game length) repeat the cycle.
    """
    first, second = groups
    m = len(first)
    r0 = (round_no - 1) % (2 * m)
    i = r0 % m
    rotated = [second[(j - i) % m] for j in range(m)]
    first_donates = (i % 2 == 0) != (r0 >= m)
    pairs = list(zip(first, rotated, strict=True))
    if not first_donates:
        pairs = [(b, a) for a, b in pairs]
    if game % 2 == 0:
        pairs = [(r, d) for d, r in pairs]
    return pairs


def _fmt(x: float) -> str:
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


class DonorWorld:
    def __init__(
        self, config: DonorConfig, names: Mapping[str, str], rng: np.random.Generator
    ) -> None:
        self.config = config
        self.names = dict(names)
        self.generation = 1
        first = [config.agent_id(1, k + 1) for k in range(config.agents)]
        self.alive: list[str] = []
        self.groups: tuple[list[str], list[str]] = ([], [])
        self.resources: dict[str, float] = {}
        self.traces: dict[str, list[dict[str, Any]]] = {}
        self.game_scores: dict[str, list[float]] = {}
        self.strategies: dict[str, str] = {}
        self.pending: list[str] = []
        self.elders: list[dict[str, Any]] = []
        self._start_generation(first, rng)
        self.rules_text = self._rules()
        self.strategy_phase = PhaseSpec(
            name="strategy", action_model=WriteStrategy, instruction=STRATEGY_INSTRUCTION
        )
        self.donate_phase = PhaseSpec(
            name="donate",
            action_model=DonateOrPunish if config.punishment else Donate,
            instruction=self._donate_instruction(),
        )

    # -- static text (first in every prompt, identical for all agents) -------------------

    def _rules(self) -> str:
        c = self.config
        lines = [
            "You are playing a game with other players. Each player starts with "
            f"{_fmt(c.initial_endowment)} units of a valuable resource. In each round you are "
            "paired with another player: one of you is the donor, the other the recipient. The "
            "donor gives up some of their units (between 0 and all they have) and the recipient "
            f"receives {_fmt(c.multiplier)} times what the donor gave up. If you are the donor "
            "in one round, you are the recipient in the next, and the other way round. You are "
            "not told how many rounds the game lasts."
        ]
        if c.trace_length > 0:
            lines.append(
                "As a donor you see a little about the recipient (call them A): what A did in "
                "their most recent round as a donor, what A's partner in that round (B) did in "
                "the round before, and so on, at most "
                f"{c.trace_length} rounds back. You do not see more of A's own history."
            )
        else:
            lines.append("As a donor you see nothing about what the recipient did before.")
        if c.punishment:
            lines.append(
                "Instead of giving, a donor may punish the recipient: spend x units to take "
                f"{_fmt(c.punishment_loss)}x units away from them. Others may punish you too."
            )
        lines.append(
            "Your goal is to have as many units as possible after the final round. After the "
            "game, the best-performing half of the players survive into the next generation "
            "and new players join, who learn from the survivors' strategies."
        )
        return " ".join(lines)

    def _donate_instruction(self) -> str:
        c = self.config
        if c.punishment:
            return (
                'Choose "donate" (the recipient receives '
                f'{_fmt(c.multiplier)} times the amount) or "punish" (you spend the amount and '
                f"the recipient loses {_fmt(c.punishment_loss)} times it), and the amount, "
                "between 0 and what you have. Give a short reason."
            )
        return (
            "Decide how many units you give up, between 0 and what you have; the recipient "
            f"receives {_fmt(c.multiplier)} times that. Give a short reason."
        )

    # -- where a tick sits ---------------------------------------------------------------

    def position(self, tick: int) -> tuple[int, int, int]:
        """(generation, game, round) of a tick, all 1-based."""
        c = self.config
        per_gen = c.ticks_per_generation
        within = tick % per_gen
        return tick // per_gen + 1, within // c.rounds + 1, within % c.rounds + 1

    @property
    def authors(self) -> bool:
        return self.config.schedule == "authors_code"

    def pairs(self, tick: int) -> list[tuple[str, str]]:
        _, game, round_no = self.position(tick)
        if self.authors:
            return authors_round_pairs(self.groups, round_no, game)
        return round_pairs(self.groups, round_no, game)

    # -- World protocol ------------------------------------------------------------------

    def agent_ids(self) -> Sequence[str]:
        return self.alive

    def num_ticks(self) -> int:
        return self.config.generations * self.config.ticks_per_generation

    def sim_time(self, tick: int) -> float:
        return float(tick)

    def is_over(self) -> bool:
        return False

    def phases(self, tick: int) -> Sequence[PhaseSpec]:
        if tick % self.config.ticks_per_generation == 0:
            return [self.strategy_phase, self.donate_phase]
        return [self.donate_phase]

    def observe(self, agent_id: str, tick: int, phase: PhaseSpec) -> Observation | None:
        if agent_id not in self.resources:
            return None  # not alive in this generation
        if phase.name == "strategy":
            if agent_id not in self.pending:
                return None
            return self._observe_strategy(agent_id, tick)
        for donor, recipient in self.pairs(tick):
            if donor == agent_id:
                return self._observe_donate(agent_id, recipient, tick)
        return None  # a recipient this round

    def _observe_strategy(self, agent_id: str, tick: int) -> Observation:
        name = self.names[agent_id]
        lines = [f"Your name is {name}. This is generation {self.generation}."]
        if self.elders and self.authors:
            # The notebook hands newcomers the survivors' strategies only, no names or scores
            # (cell 20, lines 74 and 79; its prompt, cell 8 lines 31-33, still says "along
            # with their final scores").
            lines.append(
                "How would you approach the game? Here is the advice of the best-performing "
                "50% of the previous generation, along with their final scores."
            )
            lines += [f"- {e['strategy']}" for e in self.elders]
            lines.append(
                "Modify this advice to create your own strategy; think about how you can "
                "improve on the surviving agents' strategies."
            )
        elif self.elders:
            lines.append(
                "Here are the strategies of the best-performing half of the previous "
                "generation, with their scores (average final units):"
            )
            lines += [f"- {e['name']} ({_fmt(e['score'])}): {e['strategy']}" for e in self.elders]
            lines.append(
                "Modify this advice to create your own strategy; think about how you can "
                "improve on the survivors' strategies."
            )
        else:
            lines.append(
                "Based on the description of the game, create a strategy that you will follow "
                "as a donor. In the first round there is no information about the recipient: "
                "think carefully about how much to give then."
            )
        return Observation(
            agent_id=agent_id,
            tick=tick,
            phase="strategy",
            text="\n".join(lines),
            fields={
                "generation": self.generation,
                "name": name,
                "punishment": self.config.punishment,
                "elders": [dict(e) for e in self.elders],
            },
        )

    def _observe_donate(self, donor: str, recipient: str, tick: int) -> Observation:
        generation, game, round_no = self.position(tick)
        name, rname = self.names[donor], self.names[recipient]
        strategy = self.strategies.get(donor, "")
        trace = self.traces[recipient]
        lines = [f"Your name is {name}."]
        if strategy:
            lines.append(
                f"As you will recall, here is the strategy you decided to follow: {strategy}"
            )
        else:
            lines.append("You have no written strategy.")
        lines.append(f"This is generation {generation}. It is now round {round_no}.")
        lines.append(
            f"You are paired with {rname}, who has {_fmt(self.resources[recipient])} units."
        )
        if self.config.trace_length > 0:
            if trace:
                lines.append(f"What {rname} and their earlier partners did, most recent first:")
                lines += [f"- {_trace_text(e, self.authors)}" for e in trace]
            else:
                lines.append(f"{rname} has no previous interactions.")
        lines.append(
            f"You are the donor. You have {_fmt(self.resources[donor])} units. "
            "How many units do you give up?"
        )
        return Observation(
            agent_id=donor,
            tick=tick,
            phase="donate",
            text="\n".join(lines),
            fields={
                "generation": generation,
                "game": game,
                "round": round_no,
                "name": name,
                "recipient": rname,
                "recipient_resources": self.resources[recipient],
                "resources": self.resources[donor],
                "strategy": strategy,
                "trace": [dict(e) for e in trace],
                "punishment": self.config.punishment,
                "multiplier": self.config.multiplier,
            },
        )

    def fallback(self, observation: Observation, phase: PhaseSpec) -> Action:
        """What an agent does when its decision failed: gives nothing / has no strategy."""
        if phase.name == "strategy":
            return WriteStrategy(strategy="")
        if self.config.punishment:
            return DonateOrPunish(choice="donate", amount=0.0, reason="fallback: no valid decision")
        return Donate(amount=0.0, reason="fallback: no valid decision")

    def resolve(
        self,
        tick: int,
        phase: PhaseSpec,
        actions: Mapping[str, Action],
        rng: np.random.Generator,
        recorder: Recorder,
    ) -> Mapping[str, Sequence[Percept]]:
        if phase.name == "strategy":
            self._strategies(actions, recorder)
        else:
            self._donate(tick, actions, rng, recorder)
        # Agents keep nothing beyond what the world shows them (their strategy and the
        # recipient's trace), as in the paper; memories stay empty and prompts bounded.
        return {}

    def _strategies(self, actions: Mapping[str, Action], recorder: Recorder) -> None:
        for aid in self.pending:
            text = _as(actions[aid], WriteStrategy).strategy.strip()
            self.strategies[aid] = text
            recorder.emit(ReflectionEvent, actor=aid, phase="strategy", text=text)
        newcomers = list(self.pending)
        self.pending = []
        recorder.emit(
            OutcomeEvent,
            phase="generation",
            data={
                "generation": self.generation,
                "agents": list(self.alive),
                "groups": [list(self.groups[0]), list(self.groups[1])],
                "newcomers": newcomers,
                "survivors": [e["id"] for e in self.elders],
                "strategies": {aid: self.strategies.get(aid, "") for aid in self.alive},
            },
        )

    def _donate(
        self,
        tick: int,
        actions: Mapping[str, Action],
        rng: np.random.Generator,
        recorder: Recorder,
    ) -> None:
        c = self.config
        generation, game, round_no = self.position(tick)
        recorder.emit(
            WorldStateEvent,
            phase="donate",
            state={
                "generation": generation,
                "game": game,
                "round": round_no,
                "resources": {aid: self.resources[aid] for aid in self.alive},
            },
        )
        # Recipients do not donate this round, so their traces are read before any change.
        traces_before = {aid: list(t) for aid, t in self.traces.items()}
        for donor, recipient in self.pairs(tick):
            choice, asked = _decision(actions[donor])
            have, theirs = self.resources[donor], self.resources[recipient]
            valid = asked <= have * (1 + _EPS) + _EPS
            amount = min(asked, have) if valid else 0.0
            given = spent = taken = 0.0
            if choice == "punish":
                spent = amount
                taken = min(theirs, c.punishment_loss * amount)
            else:
                given = amount
            received = c.multiplier * given
            self.resources[donor] = max(0.0, have - given - spent)
            self.resources[recipient] = max(0.0, theirs + received - taken)
            entry = {
                "round": round_no,
                "donor": self.names[donor],
                "recipient": self.names[recipient],
                "action": choice if valid else "invalid",
                "amount": amount,
                "resources": have,
            }
            if c.trace_length > 0 and not valid and self.authors:
                # The notebook appends no entry for an invalid amount: the donor's trace is
                # the copy of the recipient's made at the start of the round (cell 14, line 23;
                # cell 13, lines 166-182), or its own in a game's first round.
                if round_no > 1:
                    self.traces[donor] = list(traces_before[recipient])[: c.trace_length]
            elif c.trace_length > 0:
                self.traces[donor] = [entry, *traces_before[recipient]][: c.trace_length]
            recorder.emit(
                OutcomeEvent,
                actor=donor,
                phase="donate",
                data={
                    "generation": generation,
                    "game": game,
                    "round": round_no,
                    "donor": donor,
                    "recipient": recipient,
                    "choice": choice,
                    "asked": asked,
                    "valid": valid,
                    "given": given,
                    "received": received,
                    "punish_spent": spent,
                    "punish_taken": taken,
                    "donor_resources": have,
                    "recipient_resources": theirs,
                    "donor_after": self.resources[donor],
                    "recipient_after": self.resources[recipient],
                    "fraction": given / have if have > 0 else None,
                },
            )
        if round_no == c.rounds:
            self._end_game(generation, game, rng, recorder)

    def _end_game(
        self, generation: int, game: int, rng: np.random.Generator, recorder: Recorder
    ) -> None:
        c = self.config
        for aid in self.alive:
            self.game_scores[aid].append(self.resources[aid])
        recorder.emit(
            OutcomeEvent,
            phase="game_end",
            data={
                "generation": generation,
                "game": game,
                "resources": {aid: self.resources[aid] for aid in self.alive},
            },
        )
        if game < c.games_per_generation:
            for aid in self.alive:  # the next game starts afresh
                self.resources[aid] = c.initial_endowment
                self.traces[aid] = []
            return
        if generation >= c.generations:
            return
        if self.authors:
            # total_final_score = sum(agent.resources for _ in range(2)): twice the final
            # resources of the generation's last game (cell 14, line 96; cell 19, lines 1-3).
            scores = {aid: 2.0 * self.game_scores[aid][-1] for aid in self.alive}
        else:
            scores = {aid: float(np.mean(self.game_scores[aid])) for aid in self.alive}
        tie_break = rng.permutation(len(self.alive))
        ranked = sorted(
            range(len(self.alive)), key=lambda i: (-scores[self.alive[i]], int(tie_break[i]))
        )
        order = [self.alive[i] for i in ranked]
        survivors, removed = order[: c.survivors], order[c.survivors :]
        newcomers = [c.agent_id(generation + 1, k + 1) for k in range(c.newcomers)]
        self.elders = [
            {
                "id": aid,
                "name": self.names[aid],
                "strategy": self.strategies.get(aid, ""),
                "score": scores[aid],
            }
            for aid in survivors
        ]
        recorder.emit(
            OutcomeEvent,
            phase="selection",
            data={
                "generation": generation,
                "scores": scores,
                "survivors": survivors,
                "removed": removed,
                "newcomers": newcomers,
            },
        )
        for aid in removed:
            self.strategies.pop(aid, None)
        self.generation = generation + 1
        self._start_generation(survivors + newcomers, rng, newcomers)

    def _start_generation(
        self,
        population: list[str],
        rng: np.random.Generator,
        newcomers: list[str] | None = None,
    ) -> None:
        c = self.config
        order = [population[i] for i in rng.permutation(len(population))]
        half = c.agents // 2
        self.alive = order
        self.groups = (order[:half], order[half:])
        self.resources = dict.fromkeys(order, c.initial_endowment)
        self.traces = {aid: [] for aid in order}
        self.game_scores = {aid: [] for aid in order}
        self.pending = list(population if newcomers is None else newcomers)

    # -- snapshots -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "alive": list(self.alive),
            "groups": [list(self.groups[0]), list(self.groups[1])],
            "resources": dict(self.resources),
            "traces": {aid: [dict(e) for e in t] for aid, t in self.traces.items()},
            "game_scores": {aid: list(s) for aid, s in self.game_scores.items()},
            "strategies": dict(self.strategies),
            "pending": list(self.pending),
            "elders": [dict(e) for e in self.elders],
            "schedule": self.config.schedule,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        # A snapshot without a schedule was written before 0.2, under the schedule now called
        # paper_text, and resumes under it.
        schedule = state.get("schedule", "paper_text")
        if schedule != self.config.schedule:
            self.config = self.config.model_copy(update={"schedule": schedule})
        self.generation = int(state["generation"])
        self.alive = [str(a) for a in state["alive"]]
        first, second = state["groups"]
        self.groups = ([str(a) for a in first], [str(a) for a in second])
        self.resources = {str(a): float(v) for a, v in state["resources"].items()}
        self.traces = {str(a): [dict(e) for e in t] for a, t in state["traces"].items()}
        self.game_scores = {str(a): [float(x) for x in s] for a, s in state["game_scores"].items()}
        self.strategies = {str(a): str(s) for a, s in state["strategies"].items()}
        self.pending = [str(a) for a in state["pending"]]
        self.elders = [dict(e) for e in state["elders"]]


def _trace_text(entry: Mapping[str, Any], authors: bool = False) -> str:
    r, donor, recipient = entry["round"], entry["donor"], entry["recipient"]
    amount, had = float(entry["amount"]), float(entry["resources"])
    if authors and entry["action"] != "punish":
        # cell 13, lines 101 and 115 (a donor with nothing counts as giving 100 %)
        percent = 100 * (amount / had if had > 0 else 1.0)
        return f"In round {r}, {donor} donated {percent:.2f}% of their resources to {recipient}."
    share = f"{amount / had:.0%}" if had > 0 else "0%"
    if entry["action"] == "invalid":
        return (
            f"In round {r}, {donor} tried to give more than they had, so {recipient} got nothing."
        )
    if had <= 0:
        return f"In round {r}, {donor} had nothing to give to {recipient}."
    if entry["action"] == "punish":
        return (
            f"In round {r}, {donor} spent {_fmt(amount)} units ({share} of their units) to "
            f"punish {recipient}."
        )
    return (
        f"In round {r}, {donor} gave up {share} of their units ({_fmt(amount)} units) to "
        f"{recipient}."
    )


def _decision(action: Action) -> tuple[str, float]:
    if isinstance(action, DonateOrPunish):
        return action.choice, float(action.amount)
    return "donate", float(_as(action, Donate).amount)


def _as(action: Action, kind: type[A]) -> A:
    if not isinstance(action, kind):
        raise TypeError(f"expected a {kind.__name__} action, got {type(action).__name__}")
    return action
