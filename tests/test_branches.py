"""Experiment files with ``branches:``: paired counterfactuals that share a parent per seed."""

from __future__ import annotations

import json
import math
import sqlite3
import statistics
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from societas.analysis.compare import first_difference
from societas.analysis.experiment_report import write_experiment_report
from societas.cli.main import app
from societas.engine import prepare_run, run_sync
from societas.experiments import SweepResult, load_experiment, run_sweep, t_critical_95
from societas.scenarios import load_spec
from societas.store import RunStore
from societas.typing import ConfigError, InterventionEvent
from societas.typing.events import PROCESS_EVENT_KINDS

AT = 2
EXPERIMENT = """
name: branched
scenario: commons
base:
  agents: 3
  months: 5
  dispositions: [cooperative, adaptive, cooperative]
  run: {model: scripted}
branches:
  at: 2
  control: control
  conditions:
    control: {}
    newcomer:
      add: [{id: fisher_4, name: Zoe, attributes: {disposition: greedy}}]
    slow: {set: {regen_factor: 1.5}}
seeds: 3
"""


@pytest.fixture(scope="module")
def branched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SweepResult]:
    tmp = tmp_path_factory.mktemp("branched")
    path = tmp / "exp.yaml"
    path.write_text(EXPERIMENT)
    return path, run_sweep(path, out=tmp / "exp")


def _store_metrics(run_dir: Path) -> dict[str, float]:
    conn = sqlite3.connect(run_dir / "run.db")
    try:
        rows = conn.execute("SELECT name, value FROM metrics WHERE tick = -1").fetchall()
    finally:
        conn.close()
    return {str(n): float(v) for n, v in rows if v is not None}


def _store_catches(run_dir: Path) -> dict[str, float]:
    """Per agent, the tons asked for in harvest actions from tick AT on (read as raw rows)."""
    conn = sqlite3.connect(run_dir / "run.db")
    try:
        rows = conn.execute(
            "SELECT actor, payload FROM events WHERE kind = 'action' AND tick >= ?", (AT,)
        ).fetchall()
    finally:
        conn.close()
    out: dict[str, float] = defaultdict(float)
    for actor, payload in rows:
        data = json.loads(payload)
        if data["action_type"] == "harvest":
            out[actor] += float(data["data"]["catch"])
    return dict(out)


def test_parents_stop_at_the_branch_point_and_branches_share_their_past(
    branched: tuple[Path, SweepResult],
) -> None:
    _, result = branched
    assert not result.failed
    assert result.started == 3 + 3 * 3
    exp = result.directory
    index = json.loads((exp / "experiment.json").read_text())
    assert [p["dir"] for p in index["parents"]] == [f"runs/parent-seed{s}" for s in range(3)]
    assert {r["condition"] for r in index["runs"]} == {"control", "newcomer", "slow"}
    for seed in range(3):
        parent = exp / "runs" / f"parent-seed{seed}"
        with RunStore.open(parent, readonly=True) as p:
            info = p.run_info()
            assert (info["status"], info["ticks_completed"]) == ("interrupted", AT)
            parent_events = p.events()
        for condition in ("control", "newcomer", "slow"):
            with RunStore.open(exp / "runs" / f"{condition}-seed{seed}", readonly=True) as b:
                assert b.run_info()["status"] == "completed"
                events = b.events()
            before = [e for e in events if e.tick < AT]
            assert first_difference(parent_events, before) is None
            # the same events at the same places (the branch adds only its run_resumed)
            kept = [e.seq for e in before if e.kind not in PROCESS_EVENT_KINDS]
            assert [e.seq for e in parent_events if e.kind not in PROCESS_EVENT_KINDS] == kept
            changes = [e for e in events if isinstance(e, InterventionEvent)]
            assert len(changes) == (0 if condition == "control" else 1)
            if condition != "control":
                assert changes[0].tick == AT
                assert first_difference(parent_events, events) is not None
    # the parents are not conditions: not in the tables
    assert "parent" not in set(pd.read_csv(exp / "runs.csv")["condition"])


def test_the_control_equals_a_run_that_was_never_branched(
    branched: tuple[Path, SweepResult], tmp_path: Path
) -> None:
    _, result = branched
    spec = load_spec(str(result.directory / "base.yaml"), [], seed=1)
    plain = tmp_path / "plain"
    run_sync(prepare_run(spec.scenario, spec.config, spec.options, plain))
    control = result.directory / "runs" / "control-seed1"
    with RunStore.open(plain, readonly=True) as a, RunStore.open(control, readonly=True) as b:
        assert first_difference(a.events(), b.events()) is None
        assert a.final_metrics() == b.final_metrics()


def test_paired_differences_equal_a_hand_computation_from_the_stores(
    branched: tuple[Path, SweepResult],
) -> None:
    _, result = branched
    exp = result.directory
    paired = pd.read_csv(exp / "paired.csv", keep_default_na=False, na_values=[""])
    paired["agent"] = paired["agent"].fillna("")
    runs = exp / "runs"
    for treatment in ("newcomer", "slow"):
        for metric in ("mean_gain", "final_stock", "survival_time", "over_usage"):
            diffs = [
                _store_metrics(runs / f"{treatment}-seed{s}")[metric]
                - _store_metrics(runs / f"control-seed{s}")[metric]
                for s in range(3)
            ]
            mean = sum(diffs) / 3
            sd = statistics.stdev(diffs)
            half = 4.303 * sd / math.sqrt(3)  # Student's t, 2 degrees of freedom, 95 %
            (row,) = paired[
                (paired["treatment"] == treatment)
                & (paired["metric"] == metric)
                & (paired["agent"] == "")
            ].itertuples()
            assert row.control == "control"
            assert row.n == 3
            assert row.mean_diff == pytest.approx(mean, abs=1e-9)
            assert row.std == pytest.approx(sd, abs=1e-9)
            if sd > 0:
                assert row.ci95_low == pytest.approx(mean - half, abs=1e-9)
                assert row.ci95_high == pytest.approx(mean + half, abs=1e-9)
    # the newcomer takes fish from the others: the three locals' catch after the branch point
    for agent in ("fisher_1", "fisher_2", "fisher_3"):
        diffs = [
            _store_catches(runs / f"newcomer-seed{s}").get(agent, 0.0)
            - _store_catches(runs / f"control-seed{s}").get(agent, 0.0)
            for s in range(3)
        ]
        (row,) = paired[
            (paired["treatment"] == "newcomer")
            & (paired["metric"] == "harvest.catch")
            & (paired["agent"] == agent)
        ].itertuples()
        assert row.mean_diff == pytest.approx(sum(diffs) / 3, abs=1e-9)
        assert row.n == 3
    # an agent of the treatment only has no pair
    assert "fisher_4" not in set(paired["agent"])
    # something did change: the greedy newcomer lowers the final stock in every seed
    stock = paired[
        (paired["treatment"] == "newcomer")
        & (paired["metric"] == "final_stock")
        & (paired["agent"] == "")
    ]
    (high,) = stock["ci95_high"].to_numpy(dtype=float)
    assert high < 0


def test_a_second_sweep_skips_everything_and_keeps_the_table(
    branched: tuple[Path, SweepResult],
) -> None:
    path, first = branched
    again = run_sweep(path, out=first.directory)
    assert (again.started, again.resumed, again.skipped) == (0, 0, 12)
    assert again.paired is not None
    assert first.paired is not None
    pd.testing.assert_frame_equal(again.paired, first.paired)


def test_the_sweep_command_prints_the_paired_table(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT.replace("seeds: 3", "seeds: 2").replace("months: 5", "months: 3"))
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "exp")])
    assert result.exit_code == 0, result.output
    assert "paired" in result.output
    assert "treatment" in result.output
    assert "paired.csv" in result.output


def test_a_parent_whose_world_ends_before_the_branch_point_fails_its_seed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(
        EXPERIMENT.replace("[cooperative, adaptive, cooperative]", "[greedy, greedy, greedy]")
        .replace("at: 2", "at: 4")
        .replace("seeds: 3", "seeds: 1")
    )
    result = run_sweep(path, out=tmp_path / "exp")
    assert len(result.failed) == 3
    assert all("before the branch point" in message for _, message in result.failed)


@pytest.mark.parametrize(
    ("edit", "field", "words"),
    [
        (("seeds: 3", "seeds: 3\ngrid: {allocation: [stochastic]}"), "branches", "not both"),
        (("control: control", "control: nobody"), "branches", "not one of the branches"),
        (("slow: {set: {regen_factor: 1.5}}", "slow: {set: {months: 9}}"), "", "slow"),
        (("slow: {set", "parent: {set"), "branches.conditions", "not 'parent'"),
    ],
)
def test_bad_branches_are_refused_before_anything_runs(
    tmp_path: Path, edit: tuple[str, str], field: str, words: str
) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT.replace(*edit))
    with pytest.raises(ConfigError, match=words) as info:
        run_sweep(path, out=tmp_path / "exp")
    if field:
        assert info.value.field.startswith(field)
    assert not (tmp_path / "exp" / "runs").exists()


def test_t_table_used_for_three_seeds() -> None:
    assert t_critical_95(2) == pytest.approx(4.303)


def test_the_experiment_report_shows_the_paired_differences(
    branched: tuple[Path, SweepResult],
) -> None:
    _, result = branched
    page = write_experiment_report(result.directory).read_text()
    assert "Paired differences (treatment - control" in page
    assert "Per agent" in page
    assert '<td class="text">harvest.catch</td>' in page
    assert "parent runs" in page


SHIPPED = Path(__file__).resolve().parents[1] / "experiments" / "commons-branches-scripted.yaml"


def test_the_shipped_example_loads() -> None:
    spec = load_experiment(SHIPPED)
    assert spec.branches is not None
    assert spec.branches.at == 3
    assert [c.id for c in spec.conditions()] == ["control", "newcomer", "no-talk", "slow-regrowth"]


@pytest.mark.slow
def test_the_shipped_example_runs_and_the_newcomer_costs_the_locals(tmp_path: Path) -> None:
    result = run_sweep(SHIPPED, out=tmp_path / "exp", sets=["months=6"], parallel=2)
    assert not result.failed
    assert result.paired is not None
    rows = result.paired[
        (result.paired["treatment"] == "newcomer") & (result.paired["metric"] == "harvest.catch")
    ]
    assert set(rows["agent"]) == {"fisher_1", "fisher_2", "fisher_3", "fisher_4"}
    assert (rows["ci95_high"].to_numpy(dtype=float) < 0).all()
    # the scripted harvest rule never reads the discussion: the outcomes pair to zero (the
    # model calls and tokens do not: no discussion, fewer calls)
    outcomes = ["total_catch", "final_stock", "mean_gain", "survival_time", "equality"]
    no_talk = result.paired[
        (result.paired["treatment"] == "no-talk") & result.paired["metric"].isin(outcomes)
    ]
    assert len(no_talk) == len(outcomes)
    assert (no_talk["mean_diff"].to_numpy(dtype=float) == 0).all()
    calls = result.paired[
        (result.paired["treatment"] == "no-talk") & (result.paired["metric"] == "llm_calls")
    ]
    assert (calls["ci95_high"].to_numpy(dtype=float) < 0).all()
