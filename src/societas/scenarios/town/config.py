"""Configuration of the town scenario (after Park et al. 2023, "Generative Agents").

The defaults are a small Smallville: eight residents, a cafe, a park, a store, a college and a
pub, one simulated day from 07:00 to 23:00 in hourly ticks, and Isabella Rodriguez's
Valentine's Day party at Hobbs Cafe from 17:00 to 19:00 (the paper's information-diffusion
experiment, section 7.1). Names, occupations and places are the paper's Smallville ones;
ages, traits, routines and relationships are ours.
"""

from __future__ import annotations

import re
from itertools import combinations
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from societas.engine.protocol import Survey, SurveyQuestion
from societas.mind.generative import MindConfig

__all__ = [
    "SURVEY_NAME",
    "SURVEY_QUESTIONS",
    "AgentSpec",
    "PartyConfig",
    "PlaceSpec",
    "Relationship",
    "RoutineStep",
    "TownConfig",
    "clock_text",
    "parse_clock",
]

_CLOCK = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")

PlaceKind = Literal["home", "cafe", "park", "store", "college", "bar", "other"]


def parse_clock(value: str) -> int:
    """``"HH:MM"`` -> minutes after midnight (``"24:00"`` is 1440)."""
    match = _CLOCK.match(value.strip())
    if match is None:
        raise ValueError(f"a time of day as HH:MM (got {value!r})")
    minutes = int(match.group(1)) * 60 + int(match.group(2))
    if minutes > 24 * 60:
        raise ValueError(f"a time of day no later than 24:00 (got {value!r})")
    return minutes


def clock_text(minutes: int) -> str:
    """Minutes after midnight -> ``"HH:MM"``."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _clock_field(value: object) -> object:
    """Validate a time of day; YAML 1.1 reads an unquoted 17:00 as the base-60 integer 1020,
    which is minutes after midnight, so such an integer is taken as that."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 24 * 60:
        return clock_text(value)
    if isinstance(value, str):
        parse_clock(value)
        return value.strip()
    return value  # not a string: the field's type check reports it


class PlaceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9' .\-]+$")
    kind: PlaceKind = "other"
    description: str = Field(default="", max_length=300)


class RoutineStep(BaseModel):
    """From ``at`` on (until the next step), the agent is usually at ``place`` doing this."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: str = Field(description="HH:MM")
    place: str
    activity: str = Field(max_length=80)

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: object) -> object:
        return _clock_field(value)

    @property
    def minute(self) -> int:
        return parse_clock(self.at)


class AgentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    name: str = Field(min_length=1, max_length=100)
    age: int = Field(ge=0, le=150)
    occupation: str = Field(max_length=120)
    traits: list[str] = Field(default_factory=list, max_length=10)
    home: str = Field(description="the name of the agent's home (a place of kind 'home')")
    bio: str = Field(default="", max_length=500)
    routine: list[RoutineStep] = Field(min_length=1, description="the usual day, by time")

    @field_validator("routine")
    @classmethod
    def _in_order(cls, value: list[RoutineStep]) -> list[RoutineStep]:
        minutes = [s.minute for s in value]
        if minutes != sorted(minutes) or len(set(minutes)) != len(minutes):
            raise ValueError("routine steps in increasing order of time, one per time")
        return value

    def step_at(self, minute: int) -> RoutineStep:
        """The routine step in effect at ``minute`` (before the first: at home)."""
        current = RoutineStep(at="00:00", place=self.home, activity="at home")
        for step in self.routine:
            if step.minute <= minute:
                current = step
        return current

    def routine_text(self) -> str:
        return "; ".join(f"{s.at} {s.place} ({s.activity})" for s in self.routine)


class Relationship(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    a: str
    b: str
    relation: str = Field(default="acquaintances", max_length=120)


class PartyConfig(BaseModel):
    """The host's intention: only the host knows of it at the start."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(default="isabella", description="agent id of the host")
    place: str = "Hobbs Cafe"
    day: int = Field(default=1, ge=1, description="day of the party (1 = first day)")
    start: str = Field(default="17:00", description="HH:MM")
    end: str = Field(default="19:00", description="HH:MM")
    description: str = Field(default="a Valentine's Day party", max_length=200)
    keywords: list[str] = Field(
        default=["party", "valentine"],
        min_length=1,
        description="a message mentioning any of these (case-insensitive) tells of the party",
    )

    @field_validator("start", "end", mode="before")
    @classmethod
    def _times(cls, value: object) -> object:
        return _clock_field(value)

    @model_validator(mode="after")
    def _window(self) -> Self:
        if parse_clock(self.end) <= parse_clock(self.start):
            raise ValueError("the party must end after it starts")
        if any(not k.strip() for k in self.keywords):
            raise ValueError("keywords must not be empty")
        if not self.mentions(self.description):
            # The host describes the party in its own words; they must count as telling.
            raise ValueError("the description must contain one of the keywords")
        return self

    def sentence(self) -> str:
        return (
            f"{self.description} at {self.place} on day {self.day} from {self.start} to {self.end}"
        )

    def mentions(self, text: str) -> bool:
        low = text.lower()
        return any(k.lower() in low for k in self.keywords)


# -- the default town -------------------------------------------------------------------

CAFE, PARK, STORE, COLLEGE, PUB = (
    "Hobbs Cafe",
    "Johnson Park",
    "The Willows Market and Pharmacy",
    "Oak Hill College",
    "The Rose and Crown Pub",
)


def _places() -> list[PlaceSpec]:
    return [
        PlaceSpec(name=CAFE, kind="cafe", description="a cafe on the main street"),
        PlaceSpec(name=PARK, kind="park", description="a park with a pond"),
        PlaceSpec(name=STORE, kind="store", description="a grocery store with a pharmacy"),
        PlaceSpec(name=COLLEGE, kind="college", description="classrooms and a library"),
        PlaceSpec(name=PUB, kind="bar", description="the town's pub"),
        PlaceSpec(name="Rodriguez apartment", kind="home"),
        PlaceSpec(name="Lin family house", kind="home"),
        PlaceSpec(name="Oak Hill dorm", kind="home"),
        PlaceSpec(name="Moore house", kind="home"),
        PlaceSpec(name="Burton apartment", kind="home"),
    ]


def _r(*steps: tuple[str, str, str]) -> list[RoutineStep]:
    return [RoutineStep(at=at, place=place, activity=activity) for at, place, activity in steps]


def _agents() -> list[AgentSpec]:
    return [
        AgentSpec(
            id="isabella",
            name="Isabella Rodriguez",
            age=34,
            occupation="the owner of Hobbs Cafe",
            traits=["friendly", "outgoing", "hospitable"],
            home="Rodriguez apartment",
            bio="You love to make people feel welcome at your cafe.",
            routine=_r(
                ("07:00", "Rodriguez apartment", "getting ready"),
                ("08:00", CAFE, "opening and running the cafe"),
                ("20:00", "Rodriguez apartment", "resting at home"),
            ),
        ),
        AgentSpec(
            id="klaus",
            name="Klaus Mueller",
            age=20,
            occupation="a sociology student at Oak Hill College",
            traits=["curious", "studious", "kind"],
            home="Oak Hill dorm",
            bio="You are writing a paper on gentrification in low-income communities.",
            routine=_r(
                ("07:00", "Oak Hill dorm", "waking up"),
                ("08:00", CAFE, "having coffee"),
                ("09:00", COLLEGE, "studying in the library"),
                ("13:00", CAFE, "having lunch"),
                ("14:00", COLLEGE, "writing a paper"),
                ("17:00", PARK, "taking a walk"),
                ("18:00", "Oak Hill dorm", "reading"),
                ("20:00", PUB, "meeting friends"),
                ("21:00", "Oak Hill dorm", "going to bed"),
            ),
        ),
        AgentSpec(
            id="maria",
            name="Maria Lopez",
            age=21,
            occupation="a physics student at Oak Hill College",
            traits=["energetic", "funny", "gamer"],
            home="Oak Hill dorm",
            bio="You stream video games in your spare time.",
            routine=_r(
                ("07:00", "Oak Hill dorm", "waking up"),
                ("08:00", COLLEGE, "attending lectures"),
                ("12:00", CAFE, "having lunch"),
                ("13:00", COLLEGE, "working in the lab"),
                ("17:00", "Oak Hill dorm", "streaming games"),
                ("20:00", PUB, "hanging out"),
                ("22:00", "Oak Hill dorm", "going to bed"),
            ),
        ),
        AgentSpec(
            id="john",
            name="John Lin",
            age=45,
            occupation="the pharmacy shopkeeper at The Willows Market and Pharmacy",
            traits=["patient", "kind", "organized"],
            home="Lin family house",
            bio="You live with your wife Mei and your son Eddy.",
            routine=_r(
                ("07:00", "Lin family house", "having breakfast with family"),
                ("08:00", STORE, "working at the pharmacy counter"),
                ("18:00", "Lin family house", "having dinner with family"),
            ),
        ),
        AgentSpec(
            id="mei",
            name="Mei Lin",
            age=43,
            occupation="a philosophy professor at Oak Hill College",
            traits=["thoughtful", "warm", "curious"],
            home="Lin family house",
            bio="You are married to John and are Eddy's mother.",
            routine=_r(
                ("07:00", "Lin family house", "having breakfast with family"),
                ("08:00", PARK, "taking a morning walk"),
                ("09:00", COLLEGE, "teaching and meeting students"),
                ("17:00", STORE, "shopping for dinner"),
                ("18:00", "Lin family house", "cooking dinner"),
            ),
        ),
        AgentSpec(
            id="eddy",
            name="Eddy Lin",
            age=19,
            occupation="a music theory student at Oak Hill College",
            traits=["creative", "dreamy", "friendly"],
            home="Lin family house",
            bio="You are composing a piece for your class.",
            routine=_r(
                ("07:00", "Lin family house", "having breakfast with family"),
                ("09:00", COLLEGE, "attending music class"),
                ("13:00", PARK, "composing music"),
                ("14:00", COLLEGE, "practicing piano"),
                ("16:00", CAFE, "having a snack"),
                ("17:00", PARK, "composing music"),
                ("19:00", PUB, "listening to live music"),
                ("21:00", "Lin family house", "going to bed"),
            ),
        ),
        AgentSpec(
            id="sam",
            name="Sam Moore",
            age=65,
            occupation="a retired navy officer running for mayor",
            traits=["confident", "sociable", "principled"],
            home="Moore house",
            bio="You want to meet as many residents as you can before the election.",
            routine=_r(
                ("07:00", "Moore house", "reading the news"),
                ("08:00", PARK, "jogging"),
                ("09:00", CAFE, "chatting with residents"),
                ("10:00", STORE, "buying groceries"),
                ("11:00", "Moore house", "working on the campaign"),
                ("15:00", PARK, "meeting residents"),
                ("17:00", "Moore house", "working on the campaign"),
                ("21:00", PUB, "having a drink"),
                ("22:00", "Moore house", "going to bed"),
            ),
        ),
        AgentSpec(
            id="arthur",
            name="Arthur Burton",
            age=42,
            occupation="the bartender at The Rose and Crown Pub",
            traits=["witty", "good listener", "easygoing"],
            home="Burton apartment",
            bio="You know most regulars at the pub by name.",
            routine=_r(
                ("07:00", "Burton apartment", "sleeping in"),
                ("11:00", STORE, "buying supplies for the pub"),
                ("12:00", CAFE, "having lunch"),
                ("13:00", PARK, "reading on a bench"),
                ("15:00", "Burton apartment", "resting"),
                ("16:00", PUB, "tending the bar"),
            ),
        ),
    ]


def _relationships() -> list[Relationship]:
    return [
        Relationship(a="john", b="mei", relation="married"),
        Relationship(a="john", b="eddy", relation="father and son"),
        Relationship(a="mei", b="eddy", relation="mother and son"),
        Relationship(a="klaus", b="maria", relation="classmates and dorm neighbours"),
        Relationship(a="isabella", b="maria", relation="Maria is a regular at the cafe"),
        Relationship(a="isabella", b="arthur", relation="fellow business owners"),
        Relationship(a="john", b="sam", relation="old friends"),
        Relationship(a="mei", b="klaus", relation="professor and student"),
    ]


class TownConfig(BaseModel):
    """A small town of residents with routines, a map of named places and a party."""

    model_config = ConfigDict(extra="forbid")

    places: list[PlaceSpec] = Field(
        default_factory=_places, min_length=1, description="the map: named places"
    )
    agents: list[AgentSpec] = Field(
        default_factory=_agents, min_length=1, description="the residents and their routines"
    )
    relationships: list[Relationship] = Field(
        default_factory=_relationships, description="who knows whom at the start"
    )
    party: PartyConfig = Field(default_factory=PartyConfig, description="the host's plan")
    days: int = Field(default=1, ge=1, le=365, description="days to simulate")
    day_start: str = Field(default="07:00", description="first tick of each day (HH:MM)")
    day_end: str = Field(default="23:00", description="end of each day (HH:MM)")
    minutes_per_tick: int = Field(default=60, ge=5, le=1440, description="sim minutes a tick")
    talk: bool = Field(default=True, description="co-located agents may talk")
    talk_rounds: int = Field(default=1, ge=0, le=10, description="talk rounds per tick")
    isolated: list[str] = Field(
        default_factory=list, description="agent ids kept at home (they meet only housemates)"
    )
    mind: MindConfig | None = Field(
        default_factory=MindConfig,
        description="the residents' cognition (generative minds); null: the basic mind",
    )

    @field_validator("day_start", "day_end", mode="before")
    @classmethod
    def _clock(cls, value: object) -> object:
        return _clock_field(value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [p.name for p in self.places]
        if len(set(names)) != len(names):
            raise ValueError("place names must be unique")
        kinds = {p.name: p.kind for p in self.places}
        ids = [a.id for a in self.agents]
        if len(set(ids)) != len(ids):
            raise ValueError("agent ids must be unique")
        for agent in self.agents:
            if kinds.get(agent.home) != "home":
                raise ValueError(
                    f"agent {agent.id}: home {agent.home!r} is not a place of kind home"
                )
            for step in agent.routine:
                if step.place not in kinds:
                    raise ValueError(
                        f"agent {agent.id}: routine place {step.place!r} is not on the map"
                    )
                if kinds[step.place] == "home" and step.place != agent.home:
                    raise ValueError(
                        f"agent {agent.id}: routine place {step.place!r} is someone else's home"
                    )
        known = set(ids)
        for rel in self.relationships:
            if rel.a not in known or rel.b not in known or rel.a == rel.b:
                raise ValueError(f"relationship {rel.a}-{rel.b}: two different agent ids")
        if self.party.host not in known:
            raise ValueError(f"party host {self.party.host!r} is not an agent id")
        if self.party.place not in kinds or kinds[self.party.place] == "home":
            raise ValueError(f"party place {self.party.place!r} is not a public place on the map")
        if self.party.day > self.days:
            raise ValueError(f"party day {self.party.day} is after the last day ({self.days})")
        unknown = sorted(set(self.isolated) - known)
        if unknown:
            raise ValueError(f"isolated agent {unknown[0]!r} is not an agent id")
        if parse_clock(self.day_end) - parse_clock(self.day_start) < self.minutes_per_tick:
            raise ValueError("day_end must be at least one tick (minutes_per_tick) after day_start")
        return self

    # -- clock ----------------------------------------------------------------------------

    def ticks_per_day(self) -> int:
        span = parse_clock(self.day_end) - parse_clock(self.day_start)
        return span // self.minutes_per_tick

    def num_ticks(self) -> int:
        return self.days * self.ticks_per_day()

    def day_of(self, tick: int) -> int:
        """1-based day of a tick."""
        return tick // self.ticks_per_day() + 1

    def minute_of(self, tick: int) -> int:
        """Minutes after midnight at the start of a tick."""
        return parse_clock(self.day_start) + (tick % self.ticks_per_day()) * self.minutes_per_tick

    def sim_seconds(self, tick: int) -> float:
        """Seconds since day 1 00:00 at the start of a tick (the unit of the memory stream
        and of planning: day ``d`` (1-based) starts at ``(d - 1) * 86400``)."""
        return float(((self.day_of(tick) - 1) * 1440 + self.minute_of(tick)) * 60)

    def party_ticks(self) -> list[int]:
        """Ticks whose interval overlaps the party's window."""
        start, end = parse_clock(self.party.start), parse_clock(self.party.end)
        out = []
        for tick in range(self.num_ticks()):
            lo = self.minute_of(tick)
            if (
                self.day_of(tick) == self.party.day
                and lo < end
                and lo + self.minutes_per_tick > start
            ):
                out.append(tick)
        return out

    # -- people ---------------------------------------------------------------------------

    def agent(self, agent_id: str) -> AgentSpec:
        for spec in self.agents:
            if spec.id == agent_id:
                return spec
        raise KeyError(agent_id)

    def known_pairs(self) -> set[tuple[str, str]]:
        return {_pair(r.a, r.b) for r in self.relationships}

    def all_pairs(self) -> list[tuple[str, str]]:
        return [_pair(a, b) for a, b in combinations(sorted(a.id for a in self.agents), 2)]

    # -- surveys --------------------------------------------------------------------------

    def survey_ticks(self, every: int = 4) -> list[int]:
        """The end of every ``every``-th tick (ticks every-1, 2*every-1, ...) and the last."""
        n = self.num_ticks()
        return sorted(set(range(every - 1, n, every)) | {n - 1})

    def party_surveys(self, every: int = 4) -> list[Survey]:
        """The awareness survey ("aware" in the metrics) for a run's ``run.surveys``."""
        return [
            Survey(tick=t, name=SURVEY_NAME, questions=list(SURVEY_QUESTIONS))
            for t in self.survey_ticks(every)
        ]


SURVEY_NAME = "party"
SURVEY_QUESTIONS = (
    SurveyQuestion(
        id="heard",
        type="choice",
        options=["yes", "no"],
        text="Have you heard about a party?",
    ),
    SurveyQuestion(
        id="details",
        type="text",
        text="If you have heard about a party, where and when is it? If not, say so.",
    ),
)


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)
