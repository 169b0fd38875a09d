"""The town: named places, a clock, and talk between people who are at the same place.

Each tick (``minutes_per_tick`` of simulated time, by default one hour):
  act       every resident chooses a place on the map and a short activity; the world puts
            them there (an isolated resident, or one who chose someone else's home, stays at
            home);
  talk_k    (if ``talk``) for k = 1..talk_rounds, every resident who shares a place with at
            least one other resident may say something to the people present, or nothing;
            each round sees the earlier rounds' words at that place. A message is a
            ``message`` event whose audience is the people present, and a memory for each
            of them.

Residents see who else is at their place, never what the others do there: what one knows of
another's plans comes from conversation (or an intervention's news), as in the information-
diffusion study of Park et al. 2023, section 7.1.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
from pydantic import ValidationError

from societas.scenarios.town.actions import Act, Talk, act_model
from societas.scenarios.town.config import TownConfig, clock_text
from societas.typing import (
    Action,
    ConfigError,
    MessageEvent,
    Observation,
    OutcomeEvent,
)
from societas.typing import WorldState as WorldStateEvent
from societas.typing.scenario import Percept, PhaseSpec, Recorder

__all__ = ["ACT", "Town", "talk_phase"]

A = TypeVar("A", bound=Action)

ACT = "act"
ACT_INSTRUCTION = (
    "Decide where you will be until the next turn and what you will do there (a few words)."
)
# Settings an intervention may change during a run.
MUTABLE_SETTINGS = frozenset({"talk", "talk_rounds", "isolated"})


def talk_phase(round_no: int) -> PhaseSpec:
    return PhaseSpec(
        name=f"talk_{round_no}",
        action_model=Talk,
        instruction=(
            "Say something short to the people here, or leave the message empty to stay silent."
        ),
    )


class Town:
    def __init__(self, config: TownConfig) -> None:
        self.config = config
        self.ids = [a.id for a in config.agents]
        self.names = {a.id: a.name for a in config.agents}
        self.homes = {a.id: a.home for a in config.agents}
        self.kinds = {p.name: p.kind for p in config.places}
        # Everyone wakes up at home.
        self.where: dict[str, str] = dict(self.homes)
        # This tick's words, by place: [(speaker, text)] in round order.
        self.said: dict[str, list[tuple[str, str]]] = {}
        self.act_phase = PhaseSpec(
            name=ACT,
            action_model=act_model([p.name for p in config.places]),
            instruction=ACT_INSTRUCTION,
        )
        self.rules_text = self._rules()

    # -- static text (first in every prompt, identical for all residents) -----------------

    def _rules(self) -> str:
        c = self.config
        places = "; ".join(
            f"{p.name} ({p.description or p.kind})" if p.kind != "home" else f"{p.name} (a home)"
            for p in c.places
        )
        return (
            f"You live in a small town. Its places: {places}. Homes are private: only the "
            f"people who live there can be in them. Each turn is {c.minutes_per_tick} minutes; "
            f"a day runs from {c.day_start} to {c.day_end}, for {c.days} day(s). Every turn you "
            "choose where to be and what to do; people at the same place can talk to each "
            "other."
        )

    # -- World protocol ------------------------------------------------------------------

    def agent_ids(self) -> Sequence[str]:
        return self.ids

    def num_ticks(self) -> int:
        return self.config.num_ticks()

    def sim_time(self, tick: int) -> float:
        return self.config.sim_seconds(tick)

    def is_over(self) -> bool:
        return False

    def phases(self, tick: int) -> Sequence[PhaseSpec]:
        phases = [self.act_phase]
        if self.config.talk:
            phases += [talk_phase(r + 1) for r in range(self.config.talk_rounds)]
        return phases

    def _clock(self, tick: int) -> tuple[int, str]:
        return self.config.day_of(tick), clock_text(self.config.minute_of(tick))

    def _company(self, agent_id: str) -> list[str]:
        place = self.where[agent_id]
        return [a for a in self.ids if a != agent_id and self.where[a] == place]

    def observe(self, agent_id: str, tick: int, phase: PhaseSpec) -> Observation | None:
        c = self.config
        day, clock = self._clock(tick)
        spec = c.agent(agent_id)
        place = self.where[agent_id]
        fields: dict[str, Any] = {
            "day": day,
            "clock": clock,
            "minute": c.minute_of(tick),
            "place": place,
            "name": self.names[agent_id],
        }
        if phase.name == ACT:
            step = spec.step_at(c.minute_of(tick))
            until = clock_text(min(c.minute_of(tick) + c.minutes_per_tick, 24 * 60))
            fields.update(
                home=spec.home,
                routine_place=step.place,
                routine_activity=step.activity,
                isolated=agent_id in c.isolated,
            )
            text = (
                f"It is {clock} on day {day}. You are at {place}. Where will you be from "
                f"{clock} to {until}, and what will you do there?"
            )
            return Observation(
                agent_id=agent_id, tick=tick, phase=phase.name, text=text, fields=fields
            )
        others = self._company(agent_id)
        if not others:
            return None
        names = [self.names[a] for a in others]
        fields.update(present=names, present_ids=others, round=phase.name)
        lines = [f"It is {clock} on day {day}. You are at {place} with {', '.join(names)}."]
        said = self.said.get(place, [])
        if said:
            lines.append("What was said here this turn (quoted, as the speakers said it):")
            lines += [f'{self.names[a]}: "{m}"' for a, m in said]
        return Observation(
            agent_id=agent_id, tick=tick, phase=phase.name, text="\n".join(lines), fields=fields
        )

    def fallback(self, observation: Observation, phase: PhaseSpec) -> Action:
        """A failed decision: an agent follows its usual routine, or stays silent."""
        if phase.name == ACT:
            step = self.config.agent(observation.agent_id).step_at(
                int(observation.fields["minute"])
            )
            return self.act_phase.action_model.model_validate(
                {"place": step.place, "activity": step.activity}
            )
        return Talk(message="")

    def resolve(
        self,
        tick: int,
        phase: PhaseSpec,
        actions: Mapping[str, Action],
        rng: np.random.Generator,
        recorder: Recorder,
    ) -> Mapping[str, Sequence[Percept]]:
        if phase.name == ACT:
            return self._act(tick, actions, recorder)
        return self._talk(tick, phase, actions, recorder)

    def _act(
        self, tick: int, actions: Mapping[str, Action], recorder: Recorder
    ) -> Mapping[str, Sequence[Percept]]:
        c = self.config
        day, clock = self._clock(tick)
        activities: dict[str, str] = {}
        redirected: dict[str, str] = {}
        for aid in self.ids:
            act = _as(actions[aid], Act) if aid in actions else None
            chosen = act.place if act is not None else self.where[aid]
            place = chosen
            if aid in c.isolated or (self.kinds[chosen] == "home" and chosen != self.homes[aid]):
                place = self.homes[aid]
            if place != chosen:
                redirected[aid] = chosen
            self.where[aid] = place
            activities[aid] = act.activity.strip() if act is not None else ""
        self.said = {}
        groups: dict[str, list[str]] = defaultdict(list)
        for aid in self.ids:
            groups[self.where[aid]].append(aid)
        recorder.emit(
            OutcomeEvent,
            phase=ACT,
            data={
                "day": day,
                "clock": clock,
                "minute": c.minute_of(tick),
                "where": dict(self.where),
                "activities": activities,
                "redirected": redirected,
            },
        )
        recorder.emit(
            WorldStateEvent,
            phase=ACT,
            state={
                "day": day,
                "clock": clock,
                "places_occupied": len(groups),
                "agents_in_company": sum(len(g) for g in groups.values() if len(g) > 1),
            },
        )
        percepts: dict[str, list[Percept]] = {}
        for aid in self.ids:
            place = self.where[aid]
            doing = f", {activities[aid]}" if activities[aid] else ""
            text = f"Day {day} {clock}: I was at {place}{doing}."
            others = [self.names[a] for a in groups[place] if a != aid]
            if others:
                text += " Also there: " + ", ".join(others) + "."
            items = [Percept(text=text, kind="observation", importance=2.0)]
            if aid in redirected:
                items.append(
                    Percept(
                        text=f"I could not go to {redirected[aid]}; I stayed at {place}.",
                        kind="observation",
                        importance=3.0,
                    )
                )
            percepts[aid] = items
        if tick == 0:
            party = c.party
            percepts[party.host].insert(
                0,
                Percept(
                    text=f"I am planning to throw {party.sentence()}. I want to invite "
                    "everyone I meet.",
                    kind="plan",
                    importance=9.0,
                ),
            )
        return percepts

    def _talk(
        self,
        tick: int,
        phase: PhaseSpec,
        actions: Mapping[str, Action],
        recorder: Recorder,
    ) -> Mapping[str, Sequence[Percept]]:
        day, clock = self._clock(tick)
        percepts: dict[str, list[Percept]] = defaultdict(list)
        for aid in self.ids:
            if aid not in actions:
                continue
            message = _as(actions[aid], Talk).message.strip()
            if not message:
                continue
            place = self.where[aid]
            audience = self._company(aid)
            if not audience:
                continue
            recorder.emit(
                MessageEvent, actor=aid, phase=phase.name, text=message, audience=audience
            )
            self.said.setdefault(place, []).append((aid, message))
            heard = f'Day {day} {clock} at {place}, {self.names[aid]} said: "{message}"'
            for listener in audience:
                percepts[listener].append(Percept(text=heard, kind="conversation", importance=5.0))
            names = ", ".join(self.names[a] for a in audience)
            percepts[aid].append(
                Percept(
                    text=f'Day {day} {clock} at {place}, I said to {names}: "{message}"',
                    kind="conversation",
                    importance=4.0,
                )
            )
        return dict(percepts)

    # -- interventions -------------------------------------------------------------------

    def apply_settings(self, settings: Mapping[str, Any]) -> None:
        """Change settings mid-run (an intervention): ``talk``, ``talk_rounds``, ``isolated``."""
        fixed = set(settings) - MUTABLE_SETTINGS
        if fixed:
            raise ConfigError(
                "run.interventions",
                f"set.{sorted(fixed)[0]}",
                "a setting that can change during a run ("
                + ", ".join(sorted(MUTABLE_SETTINGS))
                + ")",
            )
        try:
            config = TownConfig.model_validate({**self.config.model_dump(), **settings})
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in err["loc"])
            raise ConfigError(
                "run.interventions", f"set.{field}", str(err["msg"]), err.get("input")
            ) from exc
        self.config = config

    # -- snapshots -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "where": dict(self.where),
            "said": {p: [list(m) for m in msgs] for p, msgs in self.said.items()},
            "settings": {k: self.config.model_dump(mode="json")[k] for k in MUTABLE_SETTINGS},
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        if "settings" in state:
            self.config = TownConfig.model_validate(
                {**self.config.model_dump(), **state["settings"]}
            )
        self.where = {str(a): str(p) for a, p in state["where"].items()}
        self.said = {p: [(a, m) for a, m in msgs] for p, msgs in state["said"].items()}


def _as(action: Action, kind: type[A]) -> A:
    if not isinstance(action, kind):
        raise TypeError(f"expected a {kind.__name__} action, got {type(action).__name__}")
    return action
