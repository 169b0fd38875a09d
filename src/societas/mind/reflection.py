"""Reflection: higher-level insights drawn from the memory stream (Park et al. 2023, 4.2).

When the importance of the records added since the last reflection sums to ``threshold``
(150 in the paper) or more, the agent reflects:

1. the ``n_recent`` (100 in the paper) most recent records are shown and the model is asked
   for the ``n_questions`` (3) most salient high-level questions that they can answer
   (purpose ``reflect:questions``);
2. for each question, relevant records are retrieved from the stream (the usual scoring);
3. for each question, the model is asked for up to ``insights_per_question`` (5 in the paper)
   insights, each citing the ids of the statements it rests on (purpose
   ``reflect:insights``). Citations of ids that were not shown are dropped.

Each insight is stored as a ``reflection`` record with its evidence, and the accumulated
importance is reset, also when the calls failed (so a failing model is not asked again
every tick). The insight calls go out concurrently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, create_model

from societas.llm.gateway import CallRecord, Decision, Gateway
from societas.memory import MemoryRecord, MemoryStream
from societas.mind.importance import ImportanceRater, numbered_lines, sub_seed
from societas.typing import Action, ChatMessage, LLMRequest, Persona, Sampling

__all__ = [
    "INSIGHTS_PURPOSE",
    "QUESTIONS_PURPOSE",
    "Insight",
    "InsightItem",
    "ReflectionResult",
    "insights_model",
    "questions_model",
    "reflect",
]

QUESTIONS_PURPOSE = "reflect:questions"
INSIGHTS_PURPOSE = "reflect:insights"

REFLECTION_INSTRUCTIONS = (
    "You are reflecting on your recent experiences to draw higher-level conclusions. "
    "Each statement below is a memory, shown as [id] text."
)
QUESTIONS_PROMPT = (
    "Given only the statements above, what are the {n} most salient high-level questions "
    "we can answer about the subjects in the statements?\n"
    'Answer with only a JSON object of this form: {{"questions": [{n} questions]}}'
)
INSIGHTS_PROMPT = (
    "What {k} high-level insights can you infer from the statements above that help answer "
    "the question? For each insight, cite the ids (the numbers in brackets) of the statements "
    "it rests on.\n"
    'Answer with only a JSON object of this form: {{"insights": [{{"insight": text, '
    '"evidence": [ids]}}, ...]}} with at most {k} insights'
)
# Questions and insight prompts after Park et al. 2023, section 4.2 ("Given only the
# information above, what are 3 most salient high-level questions ...", "What 5 high-level
# insights can you infer from the above statements? (example format: insight (because of
# 1, 5, 3))").


class InsightItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    insight: str = Field(min_length=1, max_length=400)
    evidence: list[int] = Field(default_factory=list, max_length=20)


Question = Annotated[str, Field(min_length=1, max_length=300)]


@lru_cache(maxsize=32)
def questions_model(n: int) -> type[Action]:
    """``{"questions": [1..n texts]}``."""
    return create_model(
        f"ReflectionQuestions{n}",
        __base__=Action,
        questions=(list[Question], Field(min_length=1, max_length=n)),
    )


@lru_cache(maxsize=32)
def insights_model(k: int) -> type[Action]:
    """``{"insights": [1..k {"insight": text, "evidence": [ids]}]}``."""
    return create_model(
        f"ReflectionInsights{k}",
        __base__=Action,
        insights=(list[InsightItem], Field(min_length=1, max_length=k)),
    )


@dataclass(frozen=True)
class Insight:
    """One stored reflection: its text, the ids it cites, its record and question."""

    text: str
    evidence: tuple[int, ...]
    record_id: int
    importance: float
    question: str
    dropped_citations: int = 0


@dataclass
class ReflectionResult:
    """What a call to ``reflect`` did. ``triggered`` is False below the threshold."""

    triggered: bool
    questions: list[str] = field(default_factory=list)
    insights: list[Insight] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    @property
    def calls(self) -> list[CallRecord]:
        return [call for d in self.decisions for call in d.calls]


def _request(
    persona: Persona,
    body: str,
    *,
    schema_model: type[Action],
    sampling: Sampling,
    seed: int,
    purpose: str,
    tick: int,
) -> LLMRequest:
    system = f"{persona.describe()}\n\n{REFLECTION_INSTRUCTIONS}"
    return LLMRequest(
        messages=(
            ChatMessage(role="system", content=system),
            ChatMessage(role="user", content=body),
        ),
        json_schema=schema_model.json_schema(),
        sampling=sampling,
        seed=seed,
        purpose=purpose,
        actor=persona.id,
        context={"phase": purpose, "tick": tick},
    )


def _statements(records: Sequence[MemoryRecord]) -> str:
    return "Statements:\n" + numbered_lines([r.id for r in records], [r.text for r in records])


async def reflect(
    stream: MemoryStream,
    gateway: Gateway,
    persona: Persona,
    *,
    sim_time: float,
    tick: int,
    sampling: Sampling,
    seed: int,
    threshold: float = 150.0,
    n_questions: int = 3,
    n_recent: int = 100,
    insights_per_question: int = 5,
    evidence_top_k: int | None = None,
    evidence_token_budget: int | None = None,
    importance: ImportanceRater | None = None,
    force: bool = False,
) -> ReflectionResult:
    """Reflect if ``stream.importance_since_reflection() >= threshold`` (or ``force``).

    Insights' importance comes from ``importance`` (a rater) when given, else it is the mean
    importance of the records they cite (5 when they cite none).
    """
    if not force and stream.importance_since_reflection() < threshold:
        return ReflectionResult(triggered=False)
    result = ReflectionResult(triggered=True)
    recent = stream.recent(n_recent)
    if not recent:
        stream.mark_reflected()
        return result

    q_request = _request(
        persona,
        _statements(recent) + "\n\n" + QUESTIONS_PROMPT.format(n=n_questions),
        schema_model=questions_model(n_questions),
        sampling=sampling,
        seed=sub_seed(seed, QUESTIONS_PURPOSE),
        purpose=QUESTIONS_PURPOSE,
        tick=tick,
    )
    q_decision = await gateway.decide(q_request, questions_model(n_questions))
    result.decisions.append(q_decision)
    questions: list[str] = []
    if q_decision.action is not None:
        for q in getattr(q_decision.action, "questions", []):
            text = " ".join(str(q).split())
            if text and text not in questions:
                questions.append(text)
    result.questions = questions[:n_questions]
    if not result.questions:
        stream.mark_reflected()
        return result

    # Retrieval is sequential (it updates access times, deterministically); the calls are not.
    shown: list[list[MemoryRecord]] = [
        stream.retrieve(
            q, sim_time=sim_time, top_k=evidence_top_k, token_budget=evidence_token_budget
        )
        for q in result.questions
    ]
    model = insights_model(insights_per_question)
    requests = [
        _request(
            persona,
            f"Question: {q}\n\n"
            + _statements(records)
            + "\n\n"
            + INSIGHTS_PROMPT.format(k=insights_per_question),
            schema_model=model,
            sampling=sampling,
            seed=sub_seed(seed, f"{INSIGHTS_PURPOSE}:{i}"),
            purpose=INSIGHTS_PURPOSE,
            tick=tick,
        )
        for i, (q, records) in enumerate(zip(result.questions, shown, strict=True))
    ]
    decisions = await asyncio.gather(*(gateway.decide(r, model) for r in requests))
    result.decisions.extend(decisions)

    drafts: list[tuple[str, tuple[int, ...], str, int]] = []
    seen_texts: set[str] = set()
    for q, records, decision in zip(result.questions, shown, decisions, strict=True):
        if decision.action is None:
            continue
        valid = {r.id for r in records}
        for item in getattr(decision.action, "insights", []):
            text = " ".join(item.insight.split())
            if not text or text in seen_texts:
                continue
            seen_texts.add(text)
            cited = tuple(dict.fromkeys(e for e in item.evidence if e in valid))
            dropped = len(item.evidence) - sum(1 for e in item.evidence if e in valid)
            drafts.append((text, cited, q, dropped))

    scores: list[float]
    if importance is not None and drafts:
        rated = await importance.rate(
            [d[0] for d in drafts], actor=persona.id, seed=sub_seed(seed, "reflect:importance")
        )
        result.decisions.extend(rated.decisions)
        scores = rated.ratings
    else:
        scores = []
        for _, cited, _, _ in drafts:
            values = [stream.get(e).importance for e in cited if e in stream]
            scores.append(sum(values) / len(values) if values else 5.0)

    added = stream.add_many(
        {
            "text": text,
            "kind": "reflection",
            "tick": tick,
            "sim_time": sim_time,
            "importance": min(10.0, max(1.0, score)),
            "evidence": cited,
        }
        for (text, cited, _, _), score in zip(drafts, scores, strict=True)
    )
    result.insights = [
        Insight(
            text=record.text,
            evidence=record.evidence,
            record_id=record.id,
            importance=record.importance,
            question=q,
            dropped_citations=dropped,
        )
        for record, (_, _, q, dropped) in zip(added, drafts, strict=True)
    ]
    stream.mark_reflected()
    return result
