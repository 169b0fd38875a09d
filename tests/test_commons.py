"""The commons scenario: GovSim's rules, allocation and metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from societas.engine.figures import run_figures
from societas.scenarios.commons import CommonsConfig, CommonsScenario
from societas.scenarios.commons.actions import Harvest, Reflect, Speak
from societas.scenarios.commons.metrics import commons_metrics
from societas.scenarios.commons.world import allocate
from societas.store import RunStore
from societas.testing.context import RecordingContext
from societas.typing import ActionEvent, Event, OutcomeEvent
from societas.typing.scenario import PhaseSpec


def test_threshold_is_govsims_f() -> None:
    c = CommonsConfig()
    assert c.threshold(100) == 10  # floor(floor(100/2)/5)
    assert c.threshold(99) == 9
    assert c.threshold(7) == 0


def test_stochastic_allocation_respects_stock_and_requests() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        wanted = rng.integers(0, 40, size=5).tolist()
        stock = int(rng.integers(0, 100))
        got = allocate(wanted, stock, "stochastic", rng)
        assert sum(got) == min(stock, sum(wanted))
        assert all(0 <= g <= w for g, w in zip(got, wanted, strict=True))


def test_stochastic_allocation_is_random_but_fair_in_expectation() -> None:
    rng = np.random.default_rng(1)
    totals = np.zeros(2)
    for _ in range(500):
        totals += allocate([60, 60], 60, "stochastic", rng)
    share = totals[0] / totals.sum()
    assert 0.45 < share < 0.55
    draws = {
        tuple(allocate([60, 60], 60, "stochastic", np.random.default_rng(s))) for s in range(5)
    }
    assert len(draws) > 1  # random, not a fixed split


def test_proportional_allocation() -> None:
    rng = np.random.default_rng(0)
    assert allocate([30, 10], 20, "proportional", rng) == [15, 5]
    got = allocate([10, 10, 10], 10, "proportional", rng)
    assert sum(got) == 10
    assert sorted(got) == [3, 3, 4]
    assert allocate([5, 5], 100, "proportional", rng) == [5, 5]


def lake_and_phases(**cfg: Any) -> tuple[Any, list[PhaseSpec]]:
    cfg.setdefault("protocol", "societas")
    config = CommonsConfig.model_validate(cfg)
    lake, _ = CommonsScenario().build(config, np.random.default_rng(0))
    return lake, list(lake.phases(0))


def test_month_follows_govsims_order_and_regrowth() -> None:
    lake, phases = lake_and_phases(agents=2, discussion_rounds=1, initial_stock=60)
    assert [p.name for p in phases] == ["harvest", "discuss_1", "reflect"]
    rec = RecordingContext()
    rng = np.random.default_rng(0)
    ids = list(lake.agent_ids())
    phases[0].resolve_actions(
        {ids[0]: Harvest(catch=10), ids[1]: Harvest(catch=20)}, rec.at(0, rng)
    )
    assert lake.state.stock == 30
    obs = phases[1].observation(ids[0], 0)
    assert "10" in obs.text
    assert "20" in obs.text  # everyone's catch is public in the discussion
    phases[1].resolve_actions(
        {ids[0]: Speak(message="hold back"), ids[1]: Speak(message="")}, rec.at(0, rng)
    )
    # what was said is quoted in the next phase's observation
    assert '"hold back"' in phases[2].observation(ids[1], 0).text
    phases[2].resolve_actions({i: Reflect(reflection="ok") for i in ids}, rec.at(0, rng))
    assert lake.state.stock == 60  # 30 left, doubled
    kinds = [k for k, _ in rec.events]
    assert kinds == [
        "WorldState",
        "OutcomeEvent",
        "MessageEvent",
        "ReflectionEvent",
        "ReflectionEvent",
        "WorldState",
    ]


def test_collapse_and_capacity() -> None:
    lake, phases = lake_and_phases(agents=2, communication=False)
    assert [p.name for p in phases] == ["harvest", "reflect"]
    ids = list(lake.agent_ids())
    rec = RecordingContext()
    phases[0].resolve_actions(
        {ids[0]: Harvest(catch=48), ids[1]: Harvest(catch=48)}, rec.at(0, np.random.default_rng(0))
    )
    assert lake.is_over()  # 4 tons < 5
    lake2, phases2 = lake_and_phases(agents=2, communication=False)
    phases2[0].resolve_actions(
        {i: Harvest(catch=1) for i in ids}, rec.at(0, np.random.default_rng(0))
    )
    phases2[1].resolve_actions(
        {i: Reflect(reflection="") for i in ids}, rec.at(0, np.random.default_rng(0))
    )
    assert lake2.state.stock == 100  # 98 doubled, capped at capacity


def test_universalization_hint_only_when_enabled() -> None:
    _, phases = lake_and_phases(universalization=True)
    text = phases[0].observation("fisher_1", 0).text
    assert "if everyone catches more than 10 tons" in text
    _, phases = lake_and_phases()
    assert "if everyone" not in phases[0].observation("fisher_1", 0).text


def test_harvest_schema_bounded_by_capacity() -> None:
    _, phases = lake_and_phases(capacity=70, initial_stock=70)
    schema = phases[0].action_model.json_schema()
    assert schema["properties"]["catch"]["maximum"] == 70


def outcome(
    month: int, before: int, wanted: dict[str, int], caught: dict[str, int], collapsed: bool = False
) -> Event:
    after = before - sum(caught.values())
    return OutcomeEvent(
        seq=month,
        run_id="r",
        tick=month - 1,
        wall_time=time.time(),
        phase="harvest",
        data={
            "month": month,
            "stock_before": before,
            "wanted": wanted,
            "caught": caught,
            "stock_after": after,
            "stock_next": 0 if collapsed else min(100, 2 * after),
            "collapsed": collapsed,
        },
    )


def test_metrics_match_hand_computed_values() -> None:
    config = CommonsConfig(agents=2, months=3)
    events: list[Event] = [
        outcome(
            1, 100, {"a": 10, "b": 30}, {"a": 10, "b": 30}
        ),  # f(100)=25 for 2 fishers: b is over
        outcome(2, 100, {"a": 20, "b": 20}, {"a": 20, "b": 20}),  # none over 25
        outcome(3, 100, {"a": 50, "b": 48}, {"a": 50, "b": 48}, collapsed=True),
    ]
    m = commons_metrics(config, events)
    assert m["survival_time"] == 3  # collapsed in month 3: GovSim's round 2, plus one
    assert m["collapsed"] == 1
    gains = {"a": 80, "b": 98}
    total = sum(gains.values())
    assert m["mean_gain"] == total / 2
    assert m["efficiency"] == pytest.approx(1 - max(0, 3 * 50 - total) / (3 * 50))
    assert m["equality"] == pytest.approx(1 - (2 * 18) / (2 * 2 * total))
    # the paper's reading: every month played, the collapse month included (b; a and b)
    assert m["over_usage"] == pytest.approx(3 / 6)
    # this scenario's reading before 0.2: the 2 months before the collapse
    assert m["over_usage_surviving"] == pytest.approx(1 / 4)


def test_metrics_survival_never_collapsed_and_optimum() -> None:
    config = CommonsConfig(agents=5, months=2)
    caught = {f"f{i}": 10 for i in range(5)}
    events: list[Event] = [outcome(1, 100, caught, caught), outcome(2, 100, caught, caught)]
    m = commons_metrics(config, events)
    assert m["survival_time"] == 2
    assert m["efficiency"] == 1.0
    assert m["equality"] == 1.0
    assert m["over_usage"] == 0.0


def test_metrics_count_fallbacks() -> None:
    config = CommonsConfig(agents=1, months=1)
    ev = ActionEvent(
        seq=0,
        run_id="r",
        tick=0,
        wall_time=0.0,
        phase="harvest",
        action_type="harvest",
        data={"catch": 0},
        fallback=True,
    )
    m = commons_metrics(config, [ev])
    assert m["months_played"] == 0


def test_scripted_run_end_to_end_metrics_come_from_the_store(
    run_commons: Callable[..., Path],
) -> None:
    out = run_commons(seed=0)
    store = RunStore.open(out, readonly=True)
    info = store.run_info()
    assert info["status"] == "completed"
    assert info["ticks_completed"] == 12
    stored = store.final_metrics()
    recomputed = {**run_figures(store.events()), **commons_metrics(CommonsConfig(), store.events())}
    assert stored == pytest.approx(recomputed)
    # greedy fisher_5 asks for 2 f(t) every month under the scripted policy
    harvest = [e for e in store.events(["action"]) if e.phase == "harvest"]
    greedy = [e.data["catch"] for e in harvest if e.actor == "fisher_5"]
    assert greedy[0] == 20
    assert 0 < stored["over_usage"] < 1
    assert stored["llm_calls"] == 12 * 5 * 4  # harvest + 2 rounds + reflect
