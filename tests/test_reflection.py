"""Importance rating and reflection through a scripted gateway."""

from __future__ import annotations

import asyncio
import json
import math
import re

import numpy as np
import pytest

from societas.llm import Gateway, ScriptedModel
from societas.llm.gateway import parse_action
from societas.memory import HashingEmbedder, MemoryStream
from societas.mind.importance import ImportanceRater, heuristic_importance, ratings_model
from societas.mind.reflection import insights_model, questions_model, reflect
from societas.mind.scripted import answer_cognition, with_cognition
from societas.typing import BackendError, LLMRequest, LLMResponse, Persona, Sampling

PERSONA = Persona(id="ada", name="Ada")
SAMPLING = Sampling(temperature=0.0, max_tokens=256)


class Recording:
    """A scripted cognition model that keeps every request it answered."""

    def __init__(self, override: dict[str, str] | None = None) -> None:
        self.requests: list[LLMRequest] = []
        self.override = override or {}

        def policy(request: LLMRequest, rng: np.random.Generator) -> str:
            self.requests.append(request)
            if request.purpose in self.override:
                return self.override[request.purpose]
            answer = answer_cognition(request, rng)
            assert answer is not None, request.purpose
            return answer

        self.gateway = Gateway(ScriptedModel(policy))

    def purposes(self) -> list[str]:
        return [r.purpose for r in self.requests]


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


# ------------------------------------------------------------------ importance


def test_importance_batches_and_caches() -> None:
    rec = Recording()
    rater = ImportanceRater(rec.gateway, batch_size=8)
    texts = [
        f"memory {i}: Bob argued about the quota" if i % 4 == 0 else f"ate bread {i}"
        for i in range(20)
    ]
    result = run(rater.rate(texts, actor="ada", seed=7))
    assert len(result.decisions) == math.ceil(20 / 8) == 3
    assert len(result.calls) == 3
    assert result.ratings == [float(heuristic_importance(t)) for t in texts]
    assert result.ratings[0] == 7.0
    assert result.ratings[1] == 2.0
    assert not any(result.fallback)
    assert all(r.purpose == "importance" and r.actor == "ada" for r in rec.requests)
    assert [r.context["n_items"] for r in rec.requests] == [8, 8, 4]
    # Repeat: every text is cached, no call.
    again = run(rater.rate(texts[:5], actor="ada", seed=8))
    assert again.decisions == []
    assert again.cache_hits == 5
    assert again.ratings == result.ratings[:5]
    assert len(rec.requests) == 3


def test_importance_dedupes_within_a_call_and_restores_cache() -> None:
    rec = Recording()
    rater = ImportanceRater(rec.gateway, batch_size=4)
    result = run(rater.rate(["same", "same", "other"], actor="ada", seed=1))
    assert len(result.decisions) == 1
    assert rec.requests[0].context["n_items"] == 2
    assert result.ratings[0] == result.ratings[1]
    fresh = ImportanceRater(rec.gateway, batch_size=4)
    fresh.restore(json.loads(json.dumps(rater.snapshot())))
    assert run(fresh.rate(["other", "same"], actor="ada", seed=2)).decisions == []


def test_importance_falls_back_to_heuristic_on_bad_answers() -> None:
    rec = Recording(override={"importance": "no idea", "importance:repair": "[3, 4]"})
    rater = ImportanceRater(rec.gateway, batch_size=8)
    texts = ["she died in the storm", "ate breakfast"]
    result = run(rater.rate(texts, actor="ada", seed=1))
    assert result.fallback == [True, True]
    assert result.ratings == [9.0, 2.0]
    assert [c.status for c in result.calls] == ["invalid", "invalid"]  # answer and repair
    # A fallback is not cached: the next call asks the model again.
    run(rater.rate(texts, actor="ada", seed=1))
    assert len(rec.requests) == 4


def test_importance_schema_fixes_the_count() -> None:
    model = ratings_model(3)
    assert parse_action(model, '{"ratings": [1, 5, 10]}')
    with pytest.raises(ValueError, match="ratings"):
        parse_action(model, '{"ratings": [1, 5]}')
    with pytest.raises(ValueError, match="ratings"):
        parse_action(model, '{"ratings": [1, 5, 11]}')


# ------------------------------------------------------------------ reflection


def _stream_with(n: int, importance: float = 10.0) -> MemoryStream:
    s = MemoryStream(HashingEmbedder(128))
    for i in range(n):
        s.add(
            f"Bob took {i + 3} fish from the lake; the stock fell",
            kind="observation",
            tick=i,
            sim_time=i * 3600.0,
            importance=importance,
        )
    return s


def _reflect(rec: Recording, stream: MemoryStream, **kw: object):  # type: ignore[no-untyped-def]
    return run(
        reflect(
            stream, rec.gateway, PERSONA, sim_time=1e5, tick=50, sampling=SAMPLING, seed=3, **kw
        )  # type: ignore[arg-type]
    )


def test_reflection_fires_exactly_at_threshold() -> None:
    rec = Recording()
    stream = _stream_with(4)  # 40 < 50
    result = _reflect(rec, stream, threshold=50)
    assert not result.triggered
    assert result.calls == []
    assert rec.requests == []
    stream.add(
        "Ada counted the nets", kind="observation", tick=5, sim_time=5 * 3600.0, importance=10
    )  # 50 >= 50
    result = _reflect(rec, stream, threshold=50, n_questions=3)
    assert result.triggered
    assert rec.purposes() == ["reflect:questions"] + ["reflect:insights"] * len(result.questions)
    assert 1 <= len(result.questions) <= 3
    assert len(result.calls) == 1 + len(result.questions)
    assert all(r.actor == "ada" for r in rec.requests)
    assert result.insights
    assert stream.importance_since_reflection() == 0.0
    stored = [r for r in stream if r.kind == "reflection"]
    assert [r.id for r in stored] == [i.record_id for i in result.insights]
    # Below the threshold again: nothing happens.
    assert not _reflect(rec, stream, threshold=50).triggered


def test_insights_cite_only_shown_existing_ids() -> None:
    rec = Recording()
    stream = _stream_with(30)
    result = _reflect(rec, stream, threshold=100)
    shown = {
        int(i)
        for r in rec.requests
        if r.purpose == "reflect:insights"
        for i in re.findall(r"^\[(\d+)\]", r.messages[-1].content, re.MULTILINE)
    }
    assert result.insights
    for insight in result.insights:
        assert insight.evidence, "the scripted answerer cites what it saw"
        assert set(insight.evidence) <= shown
        assert all(e in stream for e in insight.evidence)
        record = stream.get(insight.record_id)
        assert record.evidence == insight.evidence
        assert record.kind == "reflection"
        assert 1.0 <= record.importance <= 10.0


def test_invalid_citations_are_dropped() -> None:
    answer = json.dumps(
        {"insights": [{"insight": "Bob overfishes", "evidence": [2, 99999, -1, 2]}]}
    )
    rec = Recording(override={"reflect:insights": answer})
    stream = _stream_with(20)
    # Everything shown (large top_k and budget), so id 2 is valid; 99999 and -1 are not.
    result = _reflect(
        rec, stream, threshold=10, n_questions=1, evidence_top_k=50, evidence_token_budget=10**5
    )
    assert len(result.insights) == 1
    shown = re.findall(r"^\[(\d+)\]", rec.requests[-1].messages[-1].content, re.MULTILINE)
    assert len(shown) == 20
    insight = result.insights[0]
    assert insight.evidence == (2,)
    assert insight.dropped_citations == 2
    assert stream.get(insight.record_id).evidence == (2,)


def test_reflection_with_importance_rater_and_failed_calls() -> None:
    rec = Recording()
    stream = _stream_with(20)
    rater = ImportanceRater(rec.gateway)
    result = _reflect(rec, stream, threshold=10, importance=rater)
    assert rec.purposes()[-1] == "importance"
    assert [i.importance for i in result.insights] == [
        float(heuristic_importance(i.text)) for i in result.insights
    ]

    class Down:
        model_id = "down"

        async def generate(self, request: LLMRequest) -> LLMResponse:
            raise BackendError("server down", retryable=False)

        async def aclose(self) -> None:
            return None

    stream = _stream_with(20)
    before = len(stream)
    result = run(
        reflect(
            stream,
            Gateway(Down()),
            PERSONA,
            sim_time=1e5,
            tick=50,
            sampling=SAMPLING,
            seed=3,
            threshold=10,
        )
    )
    assert result.triggered
    assert result.insights == []
    assert [c.status for c in result.calls] == ["error"]
    assert len(stream) == before
    assert stream.importance_since_reflection() == 0.0  # not asked again next tick


# ------------------------------------------------------------------ scripted answers


def test_scripted_answers_validate_and_other_purposes_pass_through() -> None:
    rec = Recording()
    stream = _stream_with(12)
    _reflect(rec, stream, threshold=10, n_questions=2, insights_per_question=3)
    run(ImportanceRater(rec.gateway, batch_size=5).rate(["a", "b", "c"], actor="ada", seed=0))
    rng = np.random.default_rng(0)
    models = {
        "reflect:questions": questions_model(2),
        "reflect:insights": insights_model(3),
        "importance": ratings_model(3),
    }
    for request in rec.requests:
        answer = answer_cognition(request, rng)
        assert answer is not None
        assert parse_action(models[request.purpose], answer)
    other = rec.requests[0].model_copy(update={"purpose": "harvest"})
    assert answer_cognition(other, rng) is None
    policy = with_cognition(lambda r, g: '{"catch": 1}')
    assert policy(other, rng) == '{"catch": 1}'
    assert policy(rec.requests[0], rng) == answer_cognition(rec.requests[0], rng)
