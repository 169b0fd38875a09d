"""The town's metrics, computed from a run's events (never from live objects).

Definitions (see docs/scenarios/town.md; the diffusion measures follow Park et al. 2023,
section 7.1, where the share of agents who know of Isabella's party is measured by interview):
  exposed(t)        residents who, by the end of tick t, are the host or were in the audience of
                    a message mentioning the party (one of its keywords) or were told news
                    mentioning it by an intervention;
  aware(t)          at each tick with the "party" survey, residents who answered "yes" to
                    "Have you heard about a party?";
  attendance        distinct residents whose place (after the world's rules) was the party's
                    place in a tick overlapping the party's window; guests = attendance without
                    the host;
  density before    known pairs (config relationships) / all pairs;
  density after     pairs that know each other or talked (one spoke, the other was in the
                    audience) / all pairs;
  cognition         counts of reflection, plan (and re-plan), initiative events;
  calls             model calls per resident per simulated hour and per resident-step (survey
                    calls excluded: they measure, they are not cognition);
  tokens            prompt tokens per call, by tick: flat means prompts do not grow.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

import pandas as pd

from societas.scenarios.town.config import SURVEY_NAME, TownConfig
from societas.typing import (
    ActionEvent,
    DecisionFallback,
    Event,
    InitiativeEvent,
    InterventionEvent,
    LLMCall,
    MessageEvent,
    OutcomeEvent,
    PlanEvent,
    ReflectionEvent,
    SurveyAnswerEvent,
)

__all__ = [
    "attendance",
    "call_table",
    "diffusion_table",
    "talked_pairs",
    "town_metrics",
]


def _ticks_played(events: Sequence[Event]) -> int:
    ticks = [e.tick for e in events if isinstance(e, OutcomeEvent) and e.phase == "act"]
    return max(ticks) + 1 if ticks else 0


def _is_survey(call: LLMCall) -> bool:
    return call.purpose.startswith("survey:")


def diffusion_table(config: TownConfig, events: Sequence[Event]) -> pd.DataFrame:
    """One row per tick played: ``exposed``, and ``aware``/``aware_place``/``surveyed`` at the
    ticks with a party survey (missing elsewhere)."""
    party = config.party
    everyone = [a.id for a in config.agents]
    exposed = {party.host}
    by_tick: dict[int, int] = {}
    heard: dict[int, dict[str, bool]] = {}
    details: dict[int, dict[str, str]] = {}
    for e in events:
        if e.tick < 0:
            continue
        if isinstance(e, MessageEvent) and party.mentions(e.text):
            exposed.update(e.audience if e.audience is not None else everyone)
        elif isinstance(e, InterventionEvent) and e.message and party.mentions(e.message):
            exposed.update(e.to if e.to is not None else everyone)
        elif isinstance(e, SurveyAnswerEvent) and e.survey == SURVEY_NAME and e.actor:
            if e.question == "heard":
                heard.setdefault(e.tick, {})[e.actor] = e.answer == "yes"
            elif e.question == "details":
                details.setdefault(e.tick, {})[e.actor] = str(e.answer or "")
        by_tick[e.tick] = len(exposed)
    rows = []
    for tick in range(_ticks_played(events)):
        row: dict[str, float] = {"tick": tick, "exposed": float(by_tick.get(tick, len(exposed)))}
        if tick in heard:
            yes = [a for a, said_yes in heard[tick].items() if said_yes]
            place = party.place.lower()
            row["aware"] = float(len(yes))
            row["aware_place"] = float(
                sum(place in details.get(tick, {}).get(a, "").lower() for a in yes)
            )
            row["surveyed"] = float(len(heard[tick]))
        rows.append(row)
    columns = ["tick", "exposed", "aware", "aware_place", "surveyed"]
    return pd.DataFrame(rows, columns=columns).set_index("tick")


def attendance(config: TownConfig, events: Sequence[Event]) -> dict[int, list[str]]:
    """For each tick overlapping the party window: residents at the party's place."""
    window = set(config.party_ticks())
    out: dict[int, list[str]] = {}
    for e in events:
        if isinstance(e, OutcomeEvent) and e.phase == "act" and e.tick in window:
            where = e.data.get("where", {})
            out[e.tick] = sorted(a for a, p in where.items() if p == config.party.place)
    return out


def talked_pairs(events: Sequence[Event]) -> set[tuple[str, str]]:
    """Unordered pairs where one spoke and the other was in the audience."""
    pairs: set[tuple[str, str]] = set()
    for e in events:
        if isinstance(e, MessageEvent) and e.actor and e.audience:
            for other in e.audience:
                if other != e.actor:
                    pairs.add((e.actor, other) if e.actor < other else (other, e.actor))
    return pairs


def call_table(config: TownConfig, events: Sequence[Event]) -> pd.DataFrame:
    """Per tick: model calls per resident-step and prompt/completion tokens per call
    (survey calls excluded)."""
    n = max(1, len(config.agents))
    rows: dict[int, dict[str, float]] = {}
    for e in events:
        if isinstance(e, LLMCall) and e.tick >= 0 and not _is_survey(e):
            row = rows.setdefault(e.tick, {"calls": 0.0, "prompt": 0.0, "completion": 0.0})
            row["calls"] += 1
            row["prompt"] += e.prompt_tokens
            row["completion"] += e.completion_tokens
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["calls", "prompt", "completion"])
    table.index.name = "tick"
    table = table.sort_index()
    table["calls_per_agent_step"] = table["calls"] / n
    table["prompt_tokens_per_call"] = table["prompt"] / table["calls"]
    table["completion_tokens_per_call"] = table["completion"] / table["calls"]
    return table


def town_metrics(config: TownConfig, events: Sequence[Event]) -> dict[str, float]:
    n = len(config.agents)
    played = _ticks_played(events)
    diffusion = diffusion_table(config, events)
    surveyed = diffusion.dropna(subset=["aware"]) if not diffusion.empty else diffusion

    present = attendance(config, events)
    attendees = sorted({a for ids in present.values() for a in ids})
    guests = [a for a in attendees if a != config.party.host]

    all_pairs = comb(n, 2)
    known = config.known_pairs()
    talked = talked_pairs(events)

    calls = [e for e in events if isinstance(e, LLMCall)]
    cognition_calls = [c for c in calls if not _is_survey(c)]
    hours = played * config.minutes_per_tick / 60.0
    per_tick = call_table(config, events)
    decisions = [e for e in events if isinstance(e, ActionEvent)]
    fallbacks = sum(1 for e in events if isinstance(e, DecisionFallback))
    plans = [e for e in events if isinstance(e, PlanEvent)]

    metrics: dict[str, float] = {
        "ticks_played": float(played),
        "exposed_final": float(diffusion["exposed"].iloc[-1]) if played else 1.0,
        "exposed_share_final": (float(diffusion["exposed"].iloc[-1]) if played else 1.0) / n,
        "party_attendance": float(len(attendees)),
        "party_guests": float(len(guests)),
        "density_before": len(known) / all_pairs if all_pairs else 0.0,
        "density_after": len(known | talked) / all_pairs if all_pairs else 0.0,
        "talked_pairs": float(len(talked)),
        "new_acquaintances": float(len(talked - known)),
        "messages": float(sum(1 for e in events if isinstance(e, MessageEvent))),
        "reflections": float(sum(1 for e in events if isinstance(e, ReflectionEvent))),
        "plans": float(len(plans)),
        "replans": float(sum(1 for p in plans if p.replan)),
        # An initiative is recorded when taken (accepted unknown) and again, as a child
        # event, once its target answered; count the initiatives, then the acceptances.
        "initiatives": float(
            sum(1 for e in events if isinstance(e, InitiativeEvent) and e.accepted is None)
        ),
        "initiatives_accepted": float(
            sum(1 for e in events if isinstance(e, InitiativeEvent) and e.accepted is True)
        ),
        "llm_calls": float(len(calls)),
        "calls_per_agent_hour": len(cognition_calls) / (n * hours) if hours else 0.0,
        "calls_per_agent_step": len(cognition_calls) / (n * played) if played else 0.0,
        "mean_prompt_tokens_per_call": (
            sum(c.prompt_tokens for c in cognition_calls) / len(cognition_calls)
            if cognition_calls
            else 0.0
        ),
        "prompt_tokens_per_call_first_tick": (
            float(per_tick["prompt_tokens_per_call"].iloc[0]) if not per_tick.empty else 0.0
        ),
        "prompt_tokens_per_call_last_tick": (
            float(per_tick["prompt_tokens_per_call"].iloc[-1]) if not per_tick.empty else 0.0
        ),
        "fallback_rate": fallbacks / len(decisions) if decisions else 0.0,
    }
    if not surveyed.empty:
        metrics["aware_final"] = float(surveyed["aware"].iloc[-1])
        metrics["aware_share_final"] = float(surveyed["aware"].iloc[-1]) / n
        metrics["aware_place_final"] = float(surveyed["aware_place"].iloc[-1])
    return metrics
