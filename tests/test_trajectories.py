"""Training data from runs: sft, preference and steps exports, each checked against its JSON
schema in docs/schemas/ and against the store it came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from societas.analysis.trajectories import propagate, read_steps
from societas.cli.main import app
from societas.engine import RunOptions, prepare_run, run_sync
from societas.scenarios import get_scenario
from societas.scenarios.teams import TeamsConfig, TeamsScenario
from societas.scenarios.teams.scripted import teams_policy
from societas.scenarios.teams.tasks import normalise
from societas.store import RunStore
from societas.typing import LLMRequest
from societas.typing.scenario import ScriptedPolicy, StepLabel

SCHEMAS = Path(__file__).resolve().parents[1] / "docs" / "schemas"
FORMATS = ("sft", "preference", "steps")


def validator(fmt: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"trajectory-{fmt}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def export(run_dir: Path, fmt: str) -> list[dict[str, Any]]:
    target = run_dir.parent / f"{run_dir.name}-{fmt}.jsonl"
    result = CliRunner().invoke(app, ["export", str(run_dir), "--format", fmt, "-o", str(target)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    check = validator(fmt)
    for line in lines:
        errors = [e.message for e in check.iter_errors(line)]
        assert not errors, (fmt, errors, line)
    return lines


class FlakyTeams(TeamsScenario):
    """The teams scenario whose scripted members first answer in prose a third of the time
    (invalid for the schema) and answer properly when asked to repair."""

    def scripted_policy(self, config: TeamsConfig) -> ScriptedPolicy:
        def policy(request: LLMRequest, rng: np.random.Generator) -> str:
            if not request.purpose.endswith(":repair") and rng.random() < 1 / 3:
                return "I would say it is probably the first one."
            return teams_policy(request, rng)

        return policy


def teams_run(tmp_path: Path, scenario: TeamsScenario, **settings: object) -> Path:
    config = TeamsConfig.model_validate({"tasks": 8, "difficulty": 4, **settings})
    out = tmp_path / "run"
    run_sync(prepare_run(scenario, config, RunOptions(model="scripted", seed=3), out))
    return out


@pytest.fixture(scope="module")
def debate_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return teams_run(tmp_path_factory.mktemp("debate"), FlakyTeams(), topology="debate")


def _store_facts(run_dir: Path) -> tuple[dict[int, Any], dict[int, Any], dict[int, Any]]:
    with RunStore.open(run_dir, readonly=True) as store:
        calls = {int(c["seq"]): c for c in store.calls()}
        actions = {e.seq: e for e in store.events(["action"])}
        outcomes = {e.tick: e.data for e in store.events(["outcome"]) if e.phase == "team"}
    return calls, actions, outcomes


def _check_cite(
    cite: dict[str, Any], tick: int, calls: dict[int, Any], actions: dict[int, Any]
) -> None:
    action = actions[cite["action_id"]]
    assert (action.actor, action.tick) == (cite["agent"], tick)
    for seq in cite["call_ids"]:
        assert calls[seq]["actor"] == cite["agent"]
        assert calls[seq]["tick"] == tick
        assert calls[seq]["purpose"].split(":")[0] == action.phase


def test_sft_examples_are_the_correct_answers_with_their_prompts(debate_run: Path) -> None:
    calls, actions, outcomes = _store_facts(debate_run)
    lines = export(debate_run, "sft")
    assert lines
    for line in lines:
        meta = line["metadata"]
        _check_cite(meta, meta["tick"], calls, actions)
        *prompt, answer = line["messages"]
        assert answer["role"] == "assistant"
        assert [m["role"] for m in prompt] == ["system", "user"]
        first = calls[meta["call_ids"][0]]
        assert prompt == first["messages"]  # the original prompt, not the repair's
        task = TeamsConfig().task(0, 0)  # an arithmetic task: normalise reads the integer
        given = normalise(task, json.loads(answer["content"])["answer"])
        assert given == outcomes[meta["tick"]]["expected"]
    # Every correct decision that has a valid answer is there, and nothing else.
    _, steps = read_steps(debate_run)
    assert len(lines) == sum(s.label == "correct" and s.answer is not None for s in steps)


def test_preference_pairs_repairs_and_peers(debate_run: Path) -> None:
    calls, actions, outcomes = _store_facts(debate_run)
    lines = export(debate_run, "preference")
    sources = {line["metadata"]["source"] for line in lines}
    assert sources == {"repair", "peers"}
    for line in lines:
        meta = line["metadata"]
        _check_cite(meta["chosen"], meta["tick"], calls, actions)
        _check_cite(meta["rejected"], meta["tick"], calls, actions)
        chosen, rejected = line["chosen"][0]["content"], line["rejected"][0]["content"]
        assert chosen != rejected
        if meta["source"] == "repair":
            first, *rest = (calls[s] for s in meta["chosen"]["call_ids"])
            assert first["status"] == "invalid"
            assert first["answer"] == rejected
            assert rest[-1]["repair"]
            assert rest[-1]["answer"] == chosen
            assert line["prompt"] == first["messages"]
        else:
            assert meta["chosen"]["label"] == "correct"
            assert meta["rejected"]["label"] == "erroneous"
            assert meta["chosen"]["agent"] != meta["rejected"]["agent"]
            assert actions[meta["chosen"]["action_id"]].phase == meta["phase"]
            expected = outcomes[meta["tick"]]["expected"]
            assert str(expected) in chosen


def test_step_traces_label_every_assistant_turn(debate_run: Path) -> None:
    calls, actions, outcomes = _store_facts(debate_run)
    lines = export(debate_run, "steps")
    config = TeamsConfig(topology="debate")
    assert len(lines) == 8 * config.agents  # one per task and member
    for line in lines:
        meta = line["metadata"]
        turns = [m for m in line["messages"] if m["role"] == "assistant"]
        assert len(turns) == len(line["labels"]) == len(meta["steps"]) == 1 + config.rounds
        assert [m["role"] for m in line["messages"][:2]] == ["system", "user"]
        assert line["labels"] == propagate([s["scenario_label"] for s in meta["steps"]])
        rounds = outcomes[meta["tick"]]["rounds"]
        for step in meta["steps"]:
            action = actions[step["action_id"]]
            assert (action.actor, action.tick) == (meta["agent"], meta["tick"])
            right = rounds[action.phase][meta["agent"]] == outcomes[meta["tick"]]["expected"]
            assert step["scenario_label"] == ("correct" if right else "erroneous")
            for seq in step["call_ids"]:
                assert calls[seq]["actor"] == meta["agent"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["correct", "neutral", "correct"], ["correct", "neutral", "correct"]),
        (["erroneous", "neutral", "neutral"], ["erroneous", "erroneous", "erroneous"]),
        (
            ["neutral", "erroneous", "correct", "neutral"],
            ["neutral", "erroneous", "correct", "neutral"],
        ),
        (
            ["correct", "erroneous", "neutral", "correct", "erroneous"],
            ["correct", "erroneous", "erroneous", "correct", "erroneous"],
        ),
        ([], []),
    ],
)
def test_error_propagation_rule(given: list[StepLabel], expected: list[StepLabel]) -> None:
    assert propagate(given) == expected


def test_selforg_trust_steps_are_labelled_by_the_trusted_answer(tmp_path: Path) -> None:
    run_dir = teams_run(tmp_path, TeamsScenario(), topology="selforg", agents=4)
    _, steps = read_steps(run_dir)
    _, _, outcomes = _store_facts(run_dir)
    scored = [s for s in steps if s.phase == "score"]
    assert len(scored) == 8 * 4
    for step in scored:
        outcome = outcomes[step.tick]
        trusted = outcome["trusted"][step.agent]
        right = outcome["first_answers"][trusted] == outcome["expected"]
        assert step.label == ("correct" if right else "erroneous")
    assert {s.label for s in scored} == {"correct", "erroneous"}


def test_default_labels_serve_any_scenario(tmp_path: Path) -> None:
    """A scenario without a verifier of its own (commons): valid answers are correct steps,
    so every decision the model answered is an SFT example."""
    from societas.scenarios import load_spec

    spec = load_spec("commons", ["months=2"], model="scripted", seed=1)
    out = tmp_path / "commons"
    run_sync(prepare_run(spec.scenario, spec.config, spec.options, out))
    lines = export(out, "sft")
    with RunStore.open(out, readonly=True) as store:
        answered = [e for e in store.events(["action"]) if not e.fallback]
    assert lines
    assert len(lines) == len(answered)
    assert len(export(out, "steps")) > 0
    scenario = get_scenario("commons")
    assert type(scenario).step_labels is not TeamsScenario.step_labels


def test_unknown_format_is_a_clear_error(debate_run: Path) -> None:
    result = CliRunner().invoke(app, ["export", str(debate_run), "--format", "dpo"])
    assert result.exit_code == 2
    assert "sft, preference or steps" in result.stderr


@pytest.mark.slow
def test_each_format_from_a_bundled_model_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The three formats from a short run of the bundled model (SmolLM2-135M): each line
    valid against its schema. Run under the model lock. One call at a time and generous
    timeouts: on a 2-core machine under a load of 18 a call took 45-150 s (8 calls here)."""
    monkeypatch.setenv("SOCIETAS_LOCAL_THREADS", "2")
    config = TeamsConfig(
        topology="debate", agents=2, tasks=2, difficulty=1, kind="ordering", rounds=1
    )
    options = RunOptions(
        model="local",
        seed=2,
        max_tokens=64,
        max_concurrency=1,
        request_timeout_s=900,
        max_outage_s=1800,
    )
    out = tmp_path / "local"
    run_sync(prepare_run(TeamsScenario(), config, options, out))
    counts = {fmt: len(export(out, fmt)) for fmt in FORMATS}
    assert counts["steps"] == 2 * 2  # one episode per task and member
    with RunStore.open(out, readonly=True) as store:
        labels = {s.label for s in read_steps(out)[1]}
        assert store.run_info()["status"] == "completed"
    # Whatever the small model got right is an SFT example; what it got wrong beside a right
    # teammate, or repaired, is a pair.
    assert counts["sft"] == (
        sum(s.label == "correct" and s.answer is not None for s in read_steps(out)[1])
    )
    assert labels <= {"correct", "erroneous"}
