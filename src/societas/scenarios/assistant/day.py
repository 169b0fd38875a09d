"""A simulated user's day: activities from a persona, some of them cues of hidden needs.

The catalogue below was written for societas (no data set of this kind is bundled; ProactiveBench
ships its test events as JSON, ``dataset/test_data/*.json`` of thunlp/ProactiveAgent, but only
for coding and writing sessions on a computer, and under no licence that covers copying it).
Each persona kind has cue activities, each revealing one need of a kind the assistant can offer
help with, and neutral activities, some of which mention the same words as a cue without any
need behind them (decoys: a keyword matcher raises false alarms on them).

A day is drawn from the run's seeded generator: ``needs`` cue activities at distinct ticks, the
others neutral, so the ground truth (which need is active at which tick) is known. A need is
active from its cue's tick for ``window`` ticks or until help for it is accepted. With
probability ``ask_share`` the user also says it aloud to the assistant (``asked``): the only
moments a reactive assistant acts.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

__all__ = [
    "HELP_KINDS",
    "KINDS",
    "Activity",
    "HelpKind",
    "Need",
    "OfferKind",
    "PersonaKind",
    "draw_day",
]

HelpKind = Literal[
    "reminder", "directions", "shopping", "writing", "debugging", "booking", "research"
]
HELP_KINDS: tuple[HelpKind, ...] = (
    "reminder",
    "directions",
    "shopping",
    "writing",
    "debugging",
    "booking",
    "research",
)
OfferKind = Literal[
    "none", "reminder", "directions", "shopping", "writing", "debugging", "booking", "research"
]
PersonaKind = Literal["developer", "nurse", "student", "parent"]
KINDS: tuple[PersonaKind, ...] = ("developer", "nurse", "student", "parent")


class Cue(BaseModel):
    text: str
    need: HelpKind
    ask: str = Field(description="what the user says when they ask for it aloud")


# (cue activities, neutral activities) per persona kind. Neutral lines marked as decoys in the
# comments share words with a cue of another kind.
CATALOGUE: dict[PersonaKind, tuple[list[Cue], list[str]]] = {
    "developer": (
        [
            Cue(
                text="runs the test suite; three tests fail with a KeyError in parser.py",
                need="debugging",
                ask="Can you help me find why parser.py raises a KeyError?",
            ),
            Cue(
                text="opens the pull request template and stares at the empty description",
                need="writing",
                ask="Could you draft the description of my pull request?",
            ),
            Cue(
                text="reads a calendar invite: design review moved to 16:00, no reminder set",
                need="reminder",
                ask="Please remind me of the design review at 16:00.",
            ),
            Cue(
                text="compares two logging libraries in browser tabs, going back and forth",
                need="research",
                ask="Can you compare these two logging libraries for me?",
            ),
            Cue(
                text="checks the train app: the usual line to the office is cancelled tomorrow",
                need="directions",
                ask="How else can I get to the office tomorrow?",
            ),
        ],
        [
            "makes a coffee in the kitchen",
            "answers a colleague's chat message about lunch",
            "refactors a function; all tests pass",  # decoy: tests
            "reads a blog post about the history of a programming language",  # decoy: reading
            "takes a short walk around the block",
            "reviews a colleague's pull request and approves it",  # decoy: pull request
            "listens to a podcast while tidying the desk",
            "writes a commit message and pushes the branch",  # decoy: writes
        ],
    ),
    "nurse": (
        [
            Cue(
                text="notices the shared pharmacy order form lacks bandages and saline",
                need="shopping",
                ask="Can you add bandages and saline to the order list?",
            ),
            Cue(
                text="gets a text: the car is at the garage, needs a way to the night shift",
                need="directions",
                ask="How do I get to the hospital tonight without my car?",
            ),
            Cue(
                text="realises the annual training certificate expires on Friday",
                need="booking",
                ask="Can you book me a slot for the certificate training before Friday?",
            ),
            Cue(
                text="has to hand over six patients and starts the handover notes, tired",
                need="writing",
                ask="Could you help me structure my handover notes?",
            ),
            Cue(
                text="promised a colleague to swap shifts next Tuesday and has no note of it",
                need="reminder",
                ask="Remind me about the shift swap next Tuesday, please.",
            ),
        ],
        [
            "does the morning medication round",
            "drinks tea in the break room",
            "writes the date on a patient's whiteboard",  # decoy: writes
            "chats with a patient's daughter about the weather",
            "walks to the ward on the third floor",  # decoy: walk/route
            "restocks gloves from the cupboard; there are plenty",  # decoy: stock/order
            "checks a patient's blood pressure",
            "reads the hospital newsletter",
        ],
    ),
    "student": (
        [
            Cue(
                text="opens the essay file due tomorrow; only the title is written",
                need="writing",
                ask="Can you help me outline my essay?",
            ),
            Cue(
                text="searches for sources on the topic and finds contradictory numbers",
                need="research",
                ask="Could you find reliable sources for these numbers?",
            ),
            Cue(
                text="the library room booking page shows the group room free at 14:00",
                need="booking",
                ask="Please book the group room at 14:00.",
            ),
            Cue(
                text="a python script for the lab assignment crashes with an IndexError",
                need="debugging",
                ask="Why does my lab script crash with an IndexError?",
            ),
            Cue(
                text="hears the exam was moved to Monday morning",
                need="reminder",
                ask="Remind me that the exam is on Monday morning.",
            ),
        ],
        [
            "has breakfast in the shared kitchen",
            "attends a lecture on statistics",
            "chats with a friend about the weekend",
            "reads a novel on the bus",  # decoy: reading on transport
            "goes to the gym",
            "books nothing, just browses photos of a trip",  # decoy: books/trip
            "writes a postcard to a grandparent",  # decoy: writes
            "watches a video about cooking pasta",
        ],
    ),
    "parent": (
        [
            Cue(
                text="opens the fridge: no milk, no eggs, and the kids' lunch boxes to fill",
                need="shopping",
                ask="Can you put milk and eggs on the shopping list?",
            ),
            Cue(
                text="the school sends a note: the dentist check-up form must be booked this week",
                need="booking",
                ask="Can you book the children's dentist appointment?",
            ),
            Cue(
                text="plans a Saturday trip to the zoo and looks at the map, unsure of the route",
                need="directions",
                ask="What is the best way to the zoo on Saturday?",
            ),
            Cue(
                text="a permission slip for the school trip must be signed and returned Thursday",
                need="reminder",
                ask="Remind me to return the permission slip by Thursday.",
            ),
            Cue(
                text="wonders which of two winter coats for the child is warmer and cheaper",
                need="research",
                ask="Which of these two winter coats is warmer for the price?",
            ),
        ],
        [
            "makes breakfast for the family",
            "drives the kids to school on the usual route",  # decoy: route
            "does the laundry",
            "reads a bedtime story",
            "plays a board game with the kids",
            "writes a birthday card for a neighbour",  # decoy: writes
            "waters the plants on the balcony",
            "puts away the groceries bought yesterday",  # decoy: groceries
        ],
    ),
}


class Need(BaseModel):
    """A hidden need of the day: which help, from which tick, and whether it was said aloud."""

    kind: HelpKind
    tick: int = Field(description="the tick of its cue (the day's first tick is 0)")
    asked: bool = False
    ask: str = ""
    met_tick: int | None = Field(default=None, description="tick help for it was accepted")


class Activity(BaseModel):
    """What the user is seen doing at one tick; ``need`` indexes the day's needs (or None)."""

    text: str
    need: int | None = None


def draw_day(
    kind: PersonaKind,
    ticks: int,
    needs: int,
    ask_share: float,
    first_tick: int,
    rng: np.random.Generator,
) -> tuple[list[Activity], list[Need]]:
    """One day of ``ticks`` activities with ``needs`` cues (at most the catalogue's five)."""
    cues, neutral = CATALOGUE[kind]
    n = min(needs, len(cues), ticks)
    chosen = sorted(int(i) for i in rng.choice(len(cues), size=n, replace=False))
    at = sorted(int(t) for t in rng.choice(ticks, size=n, replace=False))
    order = [int(i) for i in rng.permutation(n)]
    day_needs: list[Need] = []
    activities = [Activity(text=neutral[int(rng.integers(len(neutral)))]) for _ in range(ticks)]
    for slot, tick in enumerate(at):
        cue = cues[chosen[order[slot]]]
        asked = bool(rng.random() < ask_share)
        day_needs.append(
            Need(kind=cue.need, tick=first_tick + tick, asked=asked, ask=cue.ask if asked else "")
        )
        activities[tick] = Activity(text=cue.text, need=len(day_needs) - 1)
    return activities, day_needs
