"""The assistant scenario: ProactiveBench's scores, the hidden-needs ground truth, the modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from societas.engine import RunOptions, prepare_run, run_sync
from societas.scenarios.assistant import AssistantConfig, AssistantScenario
from societas.scenarios.assistant.day import CATALOGUE, KINDS, draw_day
from societas.scenarios.assistant.metrics import predicts_acceptance, proactivebench_scores
from societas.scenarios.assistant.scripted import keyword_offer
from societas.store import RunStore
from societas.typing import LLMCall, OutcomeEvent, PredictionEvent


def run(tmp_path: Path, **settings: object) -> tuple[dict[str, float], RunStore]:
    config = AssistantConfig.model_validate(settings)
    out = tmp_path / ("_".join(f"{k}-{v}" for k, v in settings.items()) or "default")
    metrics = run_sync(prepare_run(AssistantScenario(), config, RunOptions(model="scripted"), out))
    return metrics, RunStore.open(out, readonly=True)


# Published rows of ProactiveBench (thunlp/ProactiveAgent, eval/results/<model>.csv,
# real_average, 227 events) and the confusion counts they imply (solved from the rows).
PUBLISHED = {
    # model: ((TP, FP, TN, FN), Recall, Precision, Accuracy, False-Alarm, F1)
    "gpt-4o": (
        (112, 114, 1, 0),
        0.9999999999107143,
        0.4955752212170099,
        0.4977973568062644,
        0.5044247787387423,
        0.6627218890206926,
    ),
    "claude-3-5-sonnet": (
        (86, 119, 19, 3),
        0.9662921347228886,
        0.4195121951014872,
        0.4625550660589183,
        0.5804878048497323,
        0.5850340093440234,
    ),
}


@pytest.mark.parametrize("model", sorted(PUBLISHED))
def test_scores_reproduce_published_proactivebench_rows(model: str) -> None:
    counts, recall, precision, accuracy, false_alarm, f1 = PUBLISHED[model]
    assert sum(counts) == 227
    scores = proactivebench_scores(*counts)
    assert scores["recall"] == pytest.approx(recall, abs=1e-12)
    assert scores["precision"] == pytest.approx(precision, abs=1e-12)
    assert scores["accuracy"] == pytest.approx(accuracy, abs=1e-12)
    assert scores["false_alarm"] == pytest.approx(false_alarm, abs=1e-12)
    assert scores["f1"] == pytest.approx(f1, abs=1e-9)


def test_a_day_is_a_function_of_the_seed_with_distinct_cue_ticks() -> None:
    for kind in KINDS:
        one = draw_day(kind, 12, 3, 0.5, 24, np.random.default_rng(5))
        assert one == draw_day(kind, 12, 3, 0.5, 24, np.random.default_rng(5))
        activities, needs = one
        assert len(activities) == 12
        assert len(needs) == 3
        cues = {c.text: c.need for c in CATALOGUE[kind][0]}
        for i, need in enumerate(needs):
            assert 24 <= need.tick < 36
            assert activities[need.tick - 24].need == i
            assert cues[activities[need.tick - 24].text] == need.kind
        assert sum(a.need is not None for a in activities) == 3


def test_the_keyword_assistant_is_fooled_by_decoys() -> None:
    for kind in KINDS:
        _cues, neutral = CATALOGUE[kind]
        assert any(keyword_offer(text) is not None for text in neutral), kind
    assert keyword_offer("runs the test suite; three tests fail with a KeyError") == "debugging"
    assert keyword_offer("makes a coffee in the kitchen") is None


def test_scripted_day_is_judged_every_tick_against_the_hidden_needs(tmp_path: Path) -> None:
    metrics, store = run(tmp_path, users=4, days=2)
    events = store.events()
    judged = [e.data for e in events if isinstance(e, OutcomeEvent) and e.phase == "judge"]
    days = [e.data for e in events if isinstance(e, OutcomeEvent) and e.phase == "day"]
    assert len(judged) == 4 * 2 * 12
    assert len(days) == 4 * 2
    assert all(len(d["needs"]) == 3 for d in days)
    labels = [d["label"] for d in judged]
    assert metrics["tp"] == labels.count("tp") > 0
    assert metrics["fp"] == labels.count("fp") > 0  # the decoys
    assert metrics["fn"] == labels.count("fn") > 0
    # A need is active at its cue's tick: silence then is a false negative.
    for d in judged:
        if d["offered"] is None:
            assert d["label"] == ("fn" if d["active"] else "tn")
        else:
            assert d["label"] == ("tp" if d["offered"] in d["active"] else "fp")
    # The rule-based user accepts exactly the offers that meet a need.
    assert metrics["user_agreement"] == 1.0
    assert metrics["accept_rate"] == pytest.approx(metrics["precision"], abs=1e-6)
    tp, fp, fn = metrics["tp"], metrics["fp"], metrics["fn"]
    assert metrics["recall"] == pytest.approx(tp / (tp + fn))
    assert metrics["false_alarms_per_day"] == fp / 8
    assert 0.0 < metrics["needs_met_share"] <= 1.0


def test_reactive_assistants_act_only_when_spoken_to(tmp_path: Path) -> None:
    metrics, store = run(tmp_path, users=4, assistant_mode="reactive", ask_share=0.5)
    events = store.events()
    days = [e.data for e in events if isinstance(e, OutcomeEvent) and e.phase == "day"]
    asked = sum(n["asked"] for d in days for n in d["needs"])
    decisions = [
        e for e in events if isinstance(e, LLMCall) and (e.actor or "").startswith("assistant_")
    ]
    assert 0 < len(decisions) == asked
    judged = [e.data for e in events if isinstance(e, OutcomeEvent) and e.phase == "judge"]
    assert all(d["asked"] for d in judged if d["offered"] is not None)
    # Help on request only: every need said aloud is met, the rest are missed.
    assert metrics["false_alarms_per_day"] == 0.0
    assert metrics["needs_met_share"] == pytest.approx(asked / (4 * 3))


def test_proactive_beats_reactive_on_recall_and_pays_in_false_alarms(tmp_path: Path) -> None:
    reactive, _ = run(tmp_path, users=4, days=2, assistant_mode="reactive")
    proactive, _ = run(tmp_path, users=4, days=2, assistant_mode="proactive")
    assert proactive["recall"] > reactive["recall"]
    assert proactive["needs_met_share"] > reactive["needs_met_share"]
    assert proactive["false_alarms_per_day"] > reactive["false_alarms_per_day"]


def test_lookahead_imagines_every_offer(tmp_path: Path) -> None:
    metrics, store = run(tmp_path, users=1, hours=3, assistant_mode="lookahead")
    predictions = [e for e in store.events() if isinstance(e, PredictionEvent)]
    assert len(predictions) == 3 * 8  # every tick: none and the seven kinds of help
    assert sum(p.chosen for p in predictions) == 3
    assert metrics["judged"] == 3.0
    # The scripted world model's outcomes say nothing of acceptance: none can be read.
    assert metrics["predictions_read"] == 0.0


def test_imagined_outcomes_are_read_for_acceptance() -> None:
    assert predicts_acceptance("Ana accepts the reminder gratefully.") is True
    assert predicts_acceptance("Ana declines; she does not need it.") is False
    assert predicts_acceptance("Ana will not accept the offer.") is False
    assert predicts_acceptance("Things go on much as they are.") is None


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(ValueError, match="assistant_mode"):
        AssistantConfig.model_validate({"assistant_mode": "psychic"})
    with pytest.raises(ValueError, match="needs"):
        AssistantConfig.model_validate({"needs": 9})
