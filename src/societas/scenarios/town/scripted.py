"""The town's scripted policy: rule-based residents for tests and baselines.

act        the persona's routine (in the observation's fields), except that a resident who
           knows of the party goes to it during its window;
talk       the host invites the people present (probability 0.9 a round, drawn from the
           request's generator); another resident who knows of the party passes it on
           (probability 0.4); otherwise small talk (probability 0.5) or silence;
surveys    "heard" is yes exactly when the resident knows of the party, "details" gives its
           place and time (used when the backend hands survey questions to the policy);
cognition  purposes of generative minds (importance, reflect:*, plan:*, ...) are answered by
           ``societas.mind.scripted.answer_cognition``.

"Knows of the party" is read from the prompt alone, as a model would: the persona (the host's
intention), the memories and the observation mention one of the party's keywords. The survey
question's own words are removed first, so asking about a party does not tell of one.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from societas.llm.scripted import survey_answer
from societas.mind.scripted import answer_cognition
from societas.scenarios.town.config import PartyConfig, TownConfig, parse_clock
from societas.typing import LLMRequest
from societas.typing.scenario import ScriptedPolicy

__all__ = ["TownPolicy", "knows_of_party", "town_policy"]

INVITE_PROBABILITY = 0.9
GOSSIP_PROBABILITY = 0.4
SMALL_TALK_PROBABILITY = 0.5
SMALL_TALK = (
    "Good to see you, {name}! How is your day going?",
    "Nice weather today, isn't it, {name}?",
    "{name}, have you been busy today?",
    "What are you up to today, {name}?",
)


def knows_of_party(request: LLMRequest, party: PartyConfig) -> bool:
    """Whether the prompt (persona, memories, observation) mentions the party."""
    text = "\n".join(m.content for m in request.messages)
    question = request.context.get("question")
    if isinstance(question, dict) and isinstance(question.get("text"), str):
        text = text.replace(question["text"], "")
    return party.mentions(text)


class TownPolicy:
    """The town's scripted policy (a ``ScriptedPolicy``). ``answers_surveys`` tells a scripted
    backend that survey questions may be handed to it rather than answered at random."""

    answers_surveys = True

    def __init__(self, config: TownConfig) -> None:
        self.config = config
        self.party = config.party
        self.host_name = config.agent(config.party.host).name
        self.start, self.end = parse_clock(config.party.start), parse_clock(config.party.end)

    def in_window(self, ctx: dict[str, Any]) -> bool:
        minute = int(ctx.get("minute", -1))
        return (
            int(ctx.get("day", 0)) == self.party.day
            and minute < self.end
            and minute + self.config.minutes_per_tick > self.start
        )

    def __call__(self, request: LLMRequest, rng: np.random.Generator) -> str:
        answer = answer_cognition(request, rng)
        if answer is not None:
            return answer
        party = self.party
        ctx = request.context
        phase = str(ctx.get("phase", request.purpose))
        aware = knows_of_party(request, party)
        is_host = request.actor == party.host
        if phase == "act":
            if aware and self.in_window(ctx):
                doing = "hosting the party" if is_host else "at the party"
                return json.dumps({"place": party.place, "activity": doing})
            return json.dumps(
                {"place": ctx.get("routine_place"), "activity": ctx.get("routine_activity", "")}
            )
        if phase.startswith("talk"):
            present = [str(n) for n in ctx.get("present", [])] or ["there"]
            tell = INVITE_PROBABILITY if is_host else GOSSIP_PROBABILITY
            if aware and rng.random() < tell:
                if is_host:
                    text = f"I'm throwing a party: {party.sentence()}. Please come!"
                else:
                    text = f"Have you heard? {self.host_name} is throwing {party.sentence()}."
                return json.dumps({"message": text})
            if rng.random() < SMALL_TALK_PROBABILITY:
                template = SMALL_TALK[int(rng.integers(len(SMALL_TALK)))]
                name = present[int(rng.integers(len(present)))].split()[0]
                return json.dumps({"message": template.format(name=name)})
            return json.dumps({"message": ""})
        if request.purpose.startswith("survey:"):
            question = ctx.get("question", {})
            qid = question.get("id") if isinstance(question, dict) else None
            if qid == "heard":
                return json.dumps({"answer": "yes" if aware else "no"})
            if qid == "details":
                if aware:
                    return json.dumps({"answer": f"{party.sentence()}."})
                return json.dumps({"answer": "I have not heard of one."})
            return survey_answer(request, rng)  # a question of another survey
        return json.dumps({})


def town_policy(config: TownConfig) -> ScriptedPolicy:
    return TownPolicy(config)
