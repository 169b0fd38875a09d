"""Interventions and surveys: declared in run options, applied and recorded by the engine."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from societas.analysis.compare import first_difference
from societas.engine import prepare_resume, prepare_run, run_sync
from societas.scenarios import get_scenario, load_spec
from societas.store import RunStore
from societas.typing import ConfigError, LanguageModel, LLMRequest, LLMResponse

SURVEY = json.dumps(
    [
        {
            "tick": 1,
            "name": "wave1",
            "questions": [
                {"id": "trust", "type": "likert", "scale": 7, "text": "Do you trust the others?"},
                {"id": "plan", "type": "numeric", "min": 0, "max": 30, "text": "Tons next month?"},
                {
                    "id": "blame",
                    "type": "choice",
                    "options": ["nobody", "me", "others"],
                    "text": "Who is to blame?",
                },
                {"id": "feel", "type": "text", "text": "How do you feel?"},
            ],
        }
    ]
)


def start(tmp_path: Path, *sets: str, name: str = "run", seed: int = 0):  # type: ignore[no-untyped-def]
    spec = load_spec(
        "commons",
        ["protocol=societas", "months=4", "discussion_rounds=1", *sets],
        model="scripted",
        seed=seed,
    )
    return prepare_run(spec.scenario, spec.config, spec.options, tmp_path / name)


def outcomes(run_dir: Path) -> list[dict[str, object]]:
    with RunStore.open(run_dir, readonly=True) as store:
        return [e.data for e in store.events(["outcome"])]


def test_setting_intervention_changes_the_world_from_its_tick(tmp_path: Path) -> None:
    run_sync(start(tmp_path, "run.interventions=[{tick: 2, set: {regen_factor: 1.0}}]"))
    months = outcomes(tmp_path / "run")
    assert months[1]["stock_next"] == min(100, 2 * months[1]["stock_after"])  # before
    assert months[2]["stock_next"] == months[2]["stock_after"]  # factor 1 from tick 2 on
    assert months[3]["stock_next"] == months[3]["stock_after"]
    with RunStore.open(tmp_path / "run", readonly=True) as store:
        (event,) = store.events(["intervention"])
    assert event.tick == 2
    assert event.settings == {"regen_factor": 1.0}


def test_news_reaches_only_the_agents_told_and_enters_their_prompts(tmp_path: Path) -> None:
    handle = start(
        tmp_path, 'run.interventions=[{tick: 1, message: "A storm is coming", to: [fisher_2]}]'
    )
    seen: list[LLMRequest] = []
    inner = handle.simulation.gateway.model

    class Recording:
        model_id = inner.model_id

        async def generate(self, request: LLMRequest) -> LLMResponse:
            seen.append(request)
            return await inner.generate(request)

        async def aclose(self) -> None:
            await inner.aclose()

    recording: LanguageModel = Recording()
    handle.simulation.gateway.model = recording
    run_sync(handle)
    prompts = {(r.actor, r.context["tick"]): r.messages[-1].content for r in seen}
    assert "News: A storm is coming" in prompts[("fisher_2", 1)]
    assert "News: A storm is coming" not in prompts[("fisher_1", 1)]
    assert "News: A storm is coming" not in prompts[("fisher_2", 0)]


def test_survey_answers_are_typed_events(tmp_path: Path) -> None:
    run_sync(start(tmp_path, f"run.surveys={SURVEY}"))
    with RunStore.open(tmp_path / "run", readonly=True) as store:
        answers = store.events(["survey_answer"])
        calls = [e for e in store.events(["llm_call"]) if e.purpose.startswith("survey:")]
    assert len(answers) == 5 * 4
    assert {e.tick for e in answers} == {1}
    by_q = {q: [e.answer for e in answers if e.question == q] for q in ("trust", "plan", "blame")}
    assert all(isinstance(a, int) and 1 <= a <= 7 for a in by_q["trust"])
    assert all(0 <= a <= 30 for a in by_q["plan"])
    assert set(by_q["blame"]) <= {"nobody", "me", "others"}
    assert not any(e.fallback for e in answers)
    assert len(calls) == 20


def test_surveys_do_not_change_the_simulation(tmp_path: Path) -> None:
    run_sync(start(tmp_path, name="plain"))
    run_sync(start(tmp_path, f"run.surveys={SURVEY}", name="surveyed"))
    assert outcomes(tmp_path / "plain") == outcomes(tmp_path / "surveyed")


def test_a_setting_that_cannot_change_is_refused_before_the_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        start(tmp_path, "run.interventions=[{tick: 1, set: {agents: 9}}]")
    assert info.value.field == "set.agents"
    with pytest.raises(ConfigError) as info2:
        start(tmp_path, "run.interventions=[{tick: 1, set: {regen_factor: -3}}]", name="b")
    assert info2.value.field == "set.regen_factor"
    assert not (tmp_path / "run" / "run.db").exists()
    with pytest.raises(ConfigError):
        load_spec("commons", ["run.interventions=[{tick: 1}]"])  # does nothing
    with pytest.raises(ConfigError):
        load_spec(
            "commons", ["run.surveys=[{tick: 1, questions: [{id: q, type: choice, text: x}]}]"]
        )


def test_resume_keeps_the_intervened_world(tmp_path: Path) -> None:
    sets = ("run.interventions=[{tick: 1, set: {regen_factor: 1.5}}]",)
    run_sync(start(tmp_path, *sets, name="whole", seed=3))
    handle = start(tmp_path, *sets, name="cut", seed=3)
    for tick in range(3):
        asyncio.run(handle.simulation.step(tick))
    handle.close()
    resumed = prepare_resume(tmp_path / "cut", get_scenario("commons"))
    assert resumed.start_tick == 3
    run_sync(resumed)
    with (
        RunStore.open(tmp_path / "whole", readonly=True) as a,
        RunStore.open(tmp_path / "cut", readonly=True) as b,
    ):
        assert first_difference(a.events(), b.events()) is None
