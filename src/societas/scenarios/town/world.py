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
from typing import Any

import numpy as np
from pydantic import Field

from societas.kit import (
    ConfigError,
    MessageEvent,
    Observation,
    OutcomeEvent,
    Percept,
    Persona,
    Phase,
    PhaseContext,
    State,
    World,
    WorldState,
)
from societas.scenarios.town.actions import Act, Talk, act_model
from societas.scenarios.town.config import TownConfig, clock_text

__all__ = ["ACT", "Town", "TownState"]

ACT = "act"
ACT_INSTRUCTION = (
    "Decide where you will be until the next turn and what you will do there (a few words)."
)
TALK_INSTRUCTION = (
    "Say something short to the people here, or leave the message empty to stay silent."
)
# Settings an intervention may change during a run.
MUTABLE_SETTINGS = frozenset({"talk", "talk_rounds", "isolated"})


class TownState(State):
    """Where everyone is, and this tick's words by place: [(speaker, text)] in round order."""

    where: dict[str, str] = Field(default_factory=dict)
    said: dict[str, list[tuple[str, str]]] = Field(default_factory=dict)


class Town(World[TownConfig, TownState]):
    fixed_settings = frozenset(TownConfig.model_fields) - MUTABLE_SETTINGS

    def setup(self, rng: np.random.Generator) -> None:
        unknown = [a for a in self.members if a not in {s.id for s in self.config.agents}]
        if unknown:
            raise ConfigError(
                "personas",
                "id",
                "a resident of the town (an id of the config's agents)",
                unknown[0],
            )
        self.state.where = {a: self.config.agent(a).home for a in self.members}  # wake at home
        self.reconfigured()

    def reconfigured(self) -> None:
        c = self.config
        self.homes = {a.id: a.home for a in c.agents}
        self.kinds = {p.name: p.kind for p in c.places}
        self.act_phase = Phase(
            name=ACT,
            action_model=act_model([p.name for p in c.places]),
            instruction=ACT_INSTRUCTION,
            observe=self._observe_act,
            resolve=self._act,
            fallback=self._routine,
        )
        self.rules_text = self._rules()

    def talk_phase(self, round_no: int) -> Phase:
        name = f"talk_{round_no}"
        return Phase(
            name=name,
            action_model=Talk,
            instruction=TALK_INSTRUCTION,
            observe=lambda agent_id, tick: self._observe_talk(agent_id, tick, name),
            resolve=lambda actions, ctx: self._talk(actions, ctx, name),
            fallback=Talk(message=""),
        )

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

    # -- the tick ------------------------------------------------------------------------

    def num_ticks(self) -> int:
        return self.config.num_ticks()

    def sim_time(self, tick: int) -> float:
        return self.config.sim_seconds(tick)

    def phases(self, tick: int) -> Sequence[Phase]:
        phases = [self.act_phase]
        if self.config.talk:
            phases += [self.talk_phase(r + 1) for r in range(self.config.talk_rounds)]
        return phases

    @property
    def where(self) -> dict[str, str]:
        return self.state.where

    @property
    def said(self) -> dict[str, list[tuple[str, str]]]:
        return self.state.said

    @property
    def ids(self) -> list[str]:
        return self.members

    def _clock(self, tick: int) -> tuple[int, str]:
        return self.config.day_of(tick), clock_text(self.config.minute_of(tick))

    def _company(self, agent_id: str) -> list[str]:
        place = self.where[agent_id]
        return [a for a in self.ids if a != agent_id and self.where[a] == place]

    def _fields(self, agent_id: str, tick: int) -> dict[str, Any]:
        day, clock = self._clock(tick)
        return {
            "day": day,
            "clock": clock,
            "minute": self.config.minute_of(tick),
            "place": self.where[agent_id],
            "name": self.name_of(agent_id),
        }

    def _observe_act(self, agent_id: str, tick: int) -> Observation:
        c = self.config
        fields = self._fields(agent_id, tick)
        step = c.agent(agent_id).step_at(c.minute_of(tick))
        until = clock_text(min(c.minute_of(tick) + c.minutes_per_tick, 24 * 60))
        fields.update(
            home=self.homes[agent_id],
            routine_place=step.place,
            routine_activity=step.activity,
            isolated=agent_id in c.isolated,
        )
        text = (
            f"It is {fields['clock']} on day {fields['day']}. You are at {fields['place']}. "
            f"Where will you be from {fields['clock']} to {until}, and what will you do there?"
        )
        return Observation(agent_id=agent_id, tick=tick, phase=ACT, text=text, fields=fields)

    def _observe_talk(self, agent_id: str, tick: int, phase: str) -> Observation | None:
        others = self._company(agent_id)
        if not others:
            return None
        fields = self._fields(agent_id, tick)
        names = [self.name_of(a) for a in others]
        place = fields["place"]
        fields.update(present=names, present_ids=others, round=phase)
        lines = [
            f"It is {fields['clock']} on day {fields['day']}. "
            f"You are at {place} with {', '.join(names)}."
        ]
        said = self.said.get(place, [])
        if said:
            lines.append("What was said here this turn (quoted, as the speakers said it):")
            lines += [f'{self.name_of(a)}: "{m}"' for a, m in said]
        return Observation(
            agent_id=agent_id, tick=tick, phase=phase, text="\n".join(lines), fields=fields
        )

    def _routine(self, observation: Observation) -> Act:
        """A failed act decision: the resident follows its usual routine."""
        spec = self.config.agent(observation.agent_id)
        step = spec.step_at(int(observation.fields["minute"]))
        return self.act_phase.action_model.model_validate(
            {"place": step.place, "activity": step.activity}
        )  # type: ignore[return-value]

    def _act(self, actions: Mapping[str, Act], ctx: PhaseContext) -> dict[str, list[Percept]]:
        c = self.config
        tick = ctx.tick
        day, clock = self._clock(tick)
        activities: dict[str, str] = {}
        redirected: dict[str, str] = {}
        for aid in self.ids:
            act = actions.get(aid)
            chosen = act.place if act is not None else self.where[aid]
            place = chosen
            if aid in c.isolated or (self.kinds[chosen] == "home" and chosen != self.homes[aid]):
                place = self.homes[aid]
            if place != chosen:
                redirected[aid] = chosen
            self.where[aid] = place
            activities[aid] = act.activity.strip() if act is not None else ""
        self.state.said = {}
        groups: dict[str, list[str]] = defaultdict(list)
        for aid in self.ids:
            groups[self.where[aid]].append(aid)
        ctx.emit(
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
        ctx.emit(
            WorldState,
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
            others = [self.name_of(a) for a in groups[place] if a != aid]
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
        if tick == 0 and c.party.host in percepts:
            percepts[c.party.host].insert(
                0,
                Percept(
                    text=f"I am planning to throw {c.party.sentence()}. I want to invite "
                    "everyone I meet.",
                    kind="plan",
                    importance=9.0,
                ),
            )
        return percepts

    def _talk(
        self, actions: Mapping[str, Talk], ctx: PhaseContext, phase: str
    ) -> dict[str, list[Percept]]:
        day, clock = self._clock(ctx.tick)
        percepts: dict[str, list[Percept]] = defaultdict(list)
        for aid in self.ids:
            if aid not in actions:
                continue
            message = actions[aid].message.strip()
            if not message:
                continue
            place = self.where[aid]
            audience = self._company(aid)
            if not audience:
                continue
            ctx.emit(MessageEvent, actor=aid, phase=phase, text=message, audience=audience)
            self.said.setdefault(place, []).append((aid, message))
            heard = f'Day {day} {clock} at {place}, {self.name_of(aid)} said: "{message}"'
            for listener in audience:
                percepts[listener].append(Percept(text=heard, kind="conversation", importance=5.0))
            names = ", ".join(self.name_of(a) for a in audience)
            percepts[aid].append(
                Percept(
                    text=f'Day {day} {clock} at {place}, I said to {names}: "{message}"',
                    kind="conversation",
                    importance=4.0,
                )
            )
        return dict(percepts)

    # -- membership: the residents are the config's ---------------------------------------

    def add_agents(self, personas: Sequence[Persona]) -> None:
        raise ConfigError(
            "run.interventions", "add", "a scenario whose world accepts new agents", "town"
        )

    def remove_agents(self, ids: Sequence[str]) -> None:
        raise ConfigError(
            "run.interventions", "remove", "a scenario whose world lets agents leave", "town"
        )
