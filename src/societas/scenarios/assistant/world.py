"""Proactive assistants: a simulated user lives through a day; its assistant decides each tick
whether to offer help, and what; the user accepts or declines.

Each tick (one hour of the day, from 08:00):
  assist    every assistant sees its user's recent activities (and what the user said to it,
            if anything) and offers one kind of help or none. In ``reactive`` mode an
            assistant acts only on a tick where its user spoke to it (Lu et al. 2024's reactive
            baseline: help on request); in ``proactive`` and ``lookahead`` every tick.
  respond   a user offered help accepts or declines it, knowing its own needs (which the
            assistant was never told).
Then every assistant's tick is judged against the hidden needs as ProactiveBench judges an
event (thunlp/ProactiveAgent, ``eval/calculate_agent_performance.py`` lines 13-27): an offer is
a true positive if it meets a need active now, else a false positive; silence is a true
negative if no need is active, else a false negative. Each judgement is an ``outcome`` event
(phase ``judge``), which the metrics read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from societas.kit import (
    Action,
    MessageEvent,
    Observation,
    OutcomeEvent,
    Phase,
    PhaseContext,
    State,
    World,
)
from societas.scenarios.assistant.day import (
    KINDS,
    Activity,
    HelpKind,
    Need,
    OfferKind,
    PersonaKind,
    draw_day,
)

__all__ = [
    "AssistantConfig",
    "AssistantMode",
    "AssistantState",
    "AssistantWorld",
    "Offer",
    "Respond",
    "pair_of",
]

AssistantMode = Literal["reactive", "proactive", "lookahead"]
HOUR = 3600.0
DAY_START = 8 * HOUR
SHOWN = 3  # recent activities an assistant sees


class AssistantConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: int = Field(default=2, ge=1, le=1000, description="simulated users, one assistant each")
    days: int = Field(default=1, ge=1, le=365, description="days simulated")
    hours: int = Field(default=12, ge=2, le=16, description="ticks (hours from 08:00) a day")
    needs: int = Field(default=3, ge=0, le=5, description="hidden needs a user has a day")
    window: int = Field(default=2, ge=1, le=16, description="ticks a need stays active")
    ask_share: float = Field(
        default=0.3, ge=0.0, le=1.0, description="share of needs the user also says aloud"
    )
    assistant_mode: AssistantMode = Field(
        default="proactive",
        description="reactive: acts only when spoken to; proactive: decides every tick, with "
        "the mind's initiative step; lookahead: imagines each offer's outcome first",
    )
    lookahead_k: int = Field(
        default=8, ge=1, le=10, description="lookahead: offers compared (8 = every kind + none)"
    )

    def kind_of(self, index: int) -> PersonaKind:
        return KINDS[index % len(KINDS)]


class Offer(Action):
    help: OfferKind = Field(description="the kind of help you offer now, or none to stay silent")
    message: str = Field(default="", max_length=300, description="what you say to the user")


class Respond(Action):
    accept: bool = Field(description="true to accept the offered help")
    reply: str = Field(default="", max_length=200, description="what you answer")


class AssistantState(State):
    activities: dict[str, list[Activity]] = Field(default_factory=dict)  # by user, every tick
    needs: dict[str, list[Need]] = Field(default_factory=dict)  # by user, every day's
    offers: dict[str, str] = Field(default_factory=dict)  # this tick: assistant -> help kind
    messages: dict[str, str] = Field(default_factory=dict)  # this tick: assistant -> text
    history: dict[str, list[str]] = Field(default_factory=dict)  # assistant -> lines


def pair_of(agent_id: str) -> str:
    """``assistant_3`` <-> ``user_3``."""
    role, _, number = agent_id.rpartition("_")
    return f"{'user' if role == 'assistant' else 'assistant'}_{number}"


def clock(tick: int, hours: int) -> str:
    hour = 8 + tick % hours
    return f"{hour:02d}:00"


class AssistantWorld(World[AssistantConfig, AssistantState]):
    def setup(self, rng: np.random.Generator) -> None:
        c = self.config
        for i, user in enumerate(self.users()):
            activities: list[Activity] = []
            needs: list[Need] = []
            for day in range(c.days):
                acts, day_needs = draw_day(
                    c.kind_of(i), c.hours, c.needs, c.ask_share, day * c.hours, rng
                )
                offset = len(needs)
                activities += [
                    a.model_copy(update={"need": None if a.need is None else a.need + offset})
                    for a in acts
                ]
                needs += day_needs
            self.state.activities[user] = activities
            self.state.needs[user] = needs
        self.rules_text = (
            "A personal assistant watches what its user does during the day and may offer "
            "help: a reminder, directions, a shopping list, writing, debugging, a booking or "
            "research. Good assistants offer the help the user needs when they need it and "
            "stay silent otherwise; unwanted offers annoy."
        )

    def users(self) -> list[str]:
        return [f"user_{i + 1}" for i in range(self.config.users)]

    def num_ticks(self) -> int:
        return self.config.days * self.config.hours

    def sim_time(self, tick: int) -> float:
        day, hour = divmod(tick, self.config.hours)
        return day * 24 * HOUR + DAY_START + hour * HOUR

    def phases(self, tick: int) -> list[Phase]:
        return [
            Phase(
                name="assist",
                action_model=Offer,
                instruction=(
                    'Offer the one kind of help your user needs right now, or "none" if they '
                    "need nothing from you at the moment."
                ),
                observe=self.observe_assistant,
                resolve=self.resolve_assist,
                fallback=Offer(help="none"),
            ),
            Phase(
                name="respond",
                action_model=Respond,
                instruction="Accept the offer only if it helps you with what you need now.",
                observe=self.observe_user,
                resolve=self.resolve_respond,
                fallback=Respond(accept=False),
            ),
        ]

    # -- ground truth ------------------------------------------------------------------------

    def active(self, user: str, tick: int) -> list[int]:
        """Indexes of the user's needs active at ``tick`` (cue seen, not met, in the window)."""
        return [
            i
            for i, n in enumerate(self.state.needs.get(user, []))
            if n.tick <= tick < n.tick + self.config.window and n.met_tick is None
        ]

    def asked(self, user: str, tick: int) -> str:
        activity = self.state.activities[user][tick]
        if activity.need is None:
            return ""
        need = self.state.needs[user][activity.need]
        return need.ask if need.asked else ""

    # -- assist ------------------------------------------------------------------------------

    def observe_assistant(self, agent_id: str, tick: int) -> Observation | None:
        if not agent_id.startswith("assistant_"):
            return None
        user = pair_of(agent_id)
        if user not in self.state.activities:
            return None
        said = self.asked(user, tick)
        if self.config.assistant_mode == "reactive" and not said:
            return None
        name = self.personas[user].name if user in self.personas else user
        hours = self.config.hours
        start = max(tick - SHOWN + 1, tick - tick % hours)
        seen = [
            f"- {clock(t, hours)} {name} {self.state.activities[user][t].text}"
            + (" (now)" if t == tick else "")
            for t in range(start, tick + 1)
        ]
        lines = [f"It is {clock(tick, hours)}. What {name} did recently:", *seen]
        if said:
            lines.append(f'{name} says to you: "{said}"')
        earlier = self.state.history.get(agent_id, [])[-3:]
        if earlier:
            lines.append("Your earlier offers today: " + "; ".join(earlier))
        return Observation(
            agent_id=agent_id,
            tick=tick,
            phase="assist",
            text="\n".join(lines),
            fields={
                "role": "assistant",
                "user": user,
                "activity": self.state.activities[user][tick].text,
                "said": said,
                "present": [name],
                "addressed_by": [user] if said else [],
            },
        )

    def resolve_assist(self, actions: Mapping[str, Offer], ctx: PhaseContext) -> dict[str, str]:
        self.state.offers, self.state.messages = {}, {}
        for agent_id, action in actions.items():
            if action.help == "none":
                continue
            self.state.offers[agent_id] = action.help
            text = action.message.strip() or f"Can I help you with {action.help}?"
            self.state.messages[agent_id] = text
            ctx.emit(
                MessageEvent,
                actor=agent_id,
                phase="assist",
                text=text,
                audience=[pair_of(agent_id)],
            )
        return {}

    # -- respond -----------------------------------------------------------------------------

    def observe_user(self, agent_id: str, tick: int) -> Observation | None:
        assistant = pair_of(agent_id)
        offered = self.state.offers.get(assistant)
        if not agent_id.startswith("user_") or offered is None:
            return None
        needs = [self.state.needs[agent_id][i].kind for i in self.active(agent_id, tick)]
        wanted = ", ".join(needs) if needs else "nothing in particular"
        text = (
            f"It is {clock(tick, self.config.hours)}. You "
            f"{self.state.activities[agent_id][tick].text}.\n"
            f'Your assistant offers help with {offered}: "{self.state.messages[assistant]}"\n'
            f"What you need help with right now (your assistant was not told): {wanted}."
        )
        return Observation(
            agent_id=agent_id,
            tick=tick,
            phase="respond",
            text=text,
            fields={
                "role": "user",
                "offered": offered,
                "needs": needs,
                "addressed_by": [assistant],
            },
        )

    def resolve_respond(self, actions: Mapping[str, Respond], ctx: PhaseContext) -> dict[str, str]:
        learned: dict[str, str] = {}
        counts = {"tp": 0, "fp": 0, "tn": 0, "fn": 0}
        hours = self.config.hours
        for user in self.users():
            assistant = pair_of(user)
            if user not in self.state.needs or assistant not in self.members:
                continue
            if ctx.tick % hours == 0:
                # The day's ground truth, for the metrics (no agent sees it).
                day = ctx.tick // hours
                needs = [n for n in self.state.needs[user] if n.tick // hours == day]
                ctx.emit(
                    OutcomeEvent,
                    phase="day",
                    data={
                        "user": user,
                        "day": day,
                        "needs": [n.model_dump(mode="json") for n in needs],
                    },
                )
            active = self.active(user, ctx.tick)
            kinds: list[HelpKind] = [self.state.needs[user][i].kind for i in active]
            offered = self.state.offers.get(assistant)
            accepted: bool | None = None
            if offered is None:
                label = "fn" if active else "tn"
            else:
                response = actions.get(user)
                accepted = bool(response.accept) if response is not None else False
                matching = [i for i in active if self.state.needs[user][i].kind == offered]
                label = "tp" if matching else "fp"
                if matching and accepted:
                    self.state.needs[user][matching[0]].met_tick = ctx.tick
                verdict = "accepted" if accepted else "declined"
                line = f"{clock(ctx.tick, hours)} {offered}: {verdict}"
                self.state.history.setdefault(assistant, []).append(line)
                learned[assistant] = f"{user} {verdict} your offer of {offered} help."
            counts[label] += 1
            ctx.emit(
                OutcomeEvent,
                phase="judge",
                data={
                    "assistant": assistant,
                    "user": user,
                    "tick": ctx.tick,
                    "day": ctx.tick // hours,
                    "offered": offered,
                    "accepted": accepted,
                    "label": label,
                    "active": list(kinds),
                    "asked": bool(self.asked(user, ctx.tick)),
                },
            )
        for name, value in counts.items():
            ctx.metric(name, float(value))
        if ctx.tick % hours == hours - 1:
            self.state.history = {}
        return learned
