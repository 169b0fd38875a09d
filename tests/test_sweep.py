"""Sweeps: conditions x seeds as ordinary runs, a table with CIs, resume after a kill."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from societas.cli.main import app
from societas.experiments import load_experiment, run_sweep, summarise, t_critical_95
from societas.store import RunStore
from societas.typing import ConfigError

EXPERIMENT = """
name: small
scenario: commons
base:
  months: {months}
  discussion_rounds: 1
  run: {{model: scripted}}
grid:
  dispositions:
    coop: [cooperative]
    greedy: [greedy, cooperative]
  allocation: [stochastic, proportional]
seeds: {seeds}
"""


def write(tmp_path: Path, months: int = 3, seeds: int = 2) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT.format(months=months, seeds=seeds))
    return path


def test_grid_and_labels(tmp_path: Path) -> None:
    spec = load_experiment(write(tmp_path))
    ids = [c.id for c in spec.conditions()]
    assert ids == [
        "coop_allocation-stochastic",
        "coop_allocation-proportional",
        "greedy_allocation-stochastic",
        "greedy_allocation-proportional",
    ]
    assert spec.seeds == [0, 1]


def test_summary_is_computed_from_the_stores(tmp_path: Path) -> None:
    result = run_sweep(write(tmp_path), out=tmp_path / "exp")
    assert result.started == 8
    assert not result.failed
    runs = pd.read_csv(tmp_path / "exp" / "runs.csv")
    one = runs[(runs.condition == "greedy_allocation-stochastic") & (runs.metric == "efficiency")]
    stored = []
    for seed in (0, 1):
        run_dir = tmp_path / "exp" / "runs" / f"greedy_allocation-stochastic-seed{seed}"
        with RunStore.open(run_dir, readonly=True) as store:
            stored.append(store.final_metrics()["efficiency"])
    assert sorted(one["value"]) == sorted(stored)
    row = result.summary[
        (result.summary.condition == "greedy_allocation-stochastic")
        & (result.summary.metric == "efficiency")
    ].iloc[0]
    mean = sum(stored) / 2
    assert row["mean"] == pytest.approx(mean)
    std = math.sqrt(sum((x - mean) ** 2 for x in stored))  # n-1 = 1
    assert row["ci95_high"] == pytest.approx(mean + 12.706 * std / math.sqrt(2))
    assert (tmp_path / "exp" / "summary.parquet").exists()
    assert (tmp_path / "exp" / "plots" / "efficiency.png").stat().st_size > 1000


def test_a_second_sweep_skips_finished_runs(tmp_path: Path) -> None:
    first = run_sweep(write(tmp_path, months=2, seeds=1), out=tmp_path / "exp")
    again = run_sweep(write(tmp_path, months=2, seeds=1), out=tmp_path / "exp")
    assert again.skipped == 4
    assert again.started == 0
    pd.testing.assert_frame_equal(first.summary, again.summary)


def test_sweep_killed_midway_resumes_to_the_same_table(tmp_path: Path) -> None:
    spec = write(tmp_path, months=12, seeds=2)
    reference = run_sweep(spec, out=tmp_path / "ref", parallel=1).summary
    victim = tmp_path / "victim"
    cmd = [
        sys.executable,
        "-m",
        "societas",
        "sweep",
        str(spec),
        "--out",
        str(victim),
        "--parallel",
        "2",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        done = list((victim / "runs").glob("*/run.db")) if (victim / "runs").exists() else []
        if len(done) >= 4:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    resumed = run_sweep(spec, out=victim, parallel=2)
    assert resumed.started + resumed.resumed > 0  # the kill left work to do
    pd.testing.assert_frame_equal(reference, resumed.summary)


def test_bad_experiment_files_are_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nscenario: commons\ngrid: {agents: []}\n")
    with pytest.raises(ConfigError) as info:
        load_experiment(bad)
    assert info.value.field == "grid"
    bad.write_text("name: x\nscenario: commons\ngrid: {agentz: [1]}\n")
    with pytest.raises(ConfigError) as info2:
        run_sweep(bad, out=tmp_path / "o")
    assert "agentz" in str(info2.value)
    result = CliRunner().invoke(app, ["sweep", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_summarise_single_seed_and_t_values() -> None:
    runs = pd.DataFrame(
        {
            "condition": ["a", "a", "b"],
            "seed": [0, 1, 0],
            "metric": ["m"] * 3,
            "value": [1.0, 3.0, 5.0],
        }
    )
    table = summarise(runs).set_index("condition")
    assert table.loc["a", "mean"] == 2.0
    assert table.loc["a", "ci95_low"] == pytest.approx(2.0 - 12.706 * math.sqrt(2) / math.sqrt(2))
    assert math.isnan(table.loc["b", "std"])
    assert t_critical_95(4) == 2.776
    assert t_critical_95(100) == 1.96


def test_model_and_set_apply_to_every_run_but_not_to_grid_keys(tmp_path: Path) -> None:
    spec = write(tmp_path, months=1, seeds=1)
    result = CliRunner().invoke(
        app,
        [
            "sweep",
            str(spec),
            "--out",
            str(tmp_path / "o"),
            "--model",
            "scripted:named",
            "--set",
            "capacity=80",
            "--set",
            "initial_stock=80",
        ],
    )
    assert result.exit_code == 0, result.output
    for run_db in (tmp_path / "o" / "runs").glob("*/run.db"):
        with RunStore.open(run_db.parent, readonly=True) as store:
            info = store.run_info()
        assert info["model"] == "scripted:named"
        assert info["config"]["scenario"]["capacity"] == 80
    with pytest.raises(ConfigError) as info2:
        run_sweep(spec, out=tmp_path / "p", sets=["allocation=stochastic"])
    assert info2.value.field == "allocation"
    # Rerunning into the same directory with another model would mix two experiments.
    with pytest.raises(ConfigError, match="other settings"):
        run_sweep(spec, out=tmp_path / "o", model="scripted:other")


def test_reference_values_sit_beside_the_means(tmp_path: Path) -> None:
    path = tmp_path / "ref.yaml"
    path.write_text(
        EXPERIMENT.format(months=1, seeds=1)
        + "reference:\n  note: test\n  values:\n"
        + "    coop_allocation-stochastic:\n"
        + "      efficiency: {value: 0.25, source: 'Paper, Table 1, row A'}\n"
    )
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "0.25 [1]" in result.output
    assert "[1] Paper, Table 1, row A" in result.output
    assert "reference note: test" in result.output
    for table in (
        pd.read_csv(tmp_path / "o" / "summary.csv"),
        pd.read_parquet(tmp_path / "o" / "summary.parquet"),
    ):
        hit = table[
            (table.condition == "coop_allocation-stochastic") & (table.metric == "efficiency")
        ]
        assert hit["reference"].tolist() == [0.25]
        assert hit["reference_source"].tolist() == ["Paper, Table 1, row A"]
        assert table["reference"].notna().sum() == 1
    path.write_text(
        EXPERIMENT.format(months=1, seeds=1)
        + "reference:\n  values:\n    nosuch:\n      efficiency: {value: 1, source: s}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert info.value.field == "reference.values"
    assert "nosuch" in str(info.value)


def test_the_validation_experiment_file(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[1]
    spec = load_experiment(repo / "experiments" / "commons-validation.yaml")
    assert [c.id for c in spec.conditions()] == ["default", "universalization"]
    assert spec.seeds == [0, 1, 2, 3, 4]
    assert spec.reference is not None
    for condition in ("default", "universalization"):
        metrics = spec.reference.values[condition]
        assert set(metrics) >= {"survival_time", "efficiency", "equality", "over_usage"}
        assert all("Qwen-110B" in v.source for v in metrics.values())
    # It runs (shortened here): every referenced metric is one the commons reports.
    result = run_sweep(
        repo / "experiments" / "commons-validation.yaml",
        out=tmp_path / "v",
        sets=["months=1", "discussion_rounds=0"],
        parallel=2,
    )
    assert not result.failed
    assert (result.summary["n"] == 5).all()
    assert result.summary["reference"].notna().sum() == 12


def test_a_run_killed_before_its_first_write_is_started_again(tmp_path: Path) -> None:
    spec = write(tmp_path, months=1, seeds=1)
    first = run_sweep(spec, out=tmp_path / "o")
    runs = sorted((tmp_path / "o" / "runs").iterdir())
    empty, no_row, no_event = runs[0], runs[1], runs[2]
    for run in (empty, no_row, no_event):
        for suffix in ("", "-wal", "-shm"):
            (run / f"run.db{suffix}").unlink(missing_ok=True)
    (empty / "run.db").write_bytes(b"")  # killed before the store's first write
    RunStore.create(
        no_row,
        run_id="x",
        scenario="commons",
        seed=0,
        model="scripted",
        config={},
        num_ticks=1,
        version="t",
    ).close()
    with sqlite3.connect(no_row / "run.db") as conn:  # killed after the schema, before the row
        conn.execute("DELETE FROM runs")
    conn.close()
    RunStore.create(  # killed after the run's row, before run_started and its snapshot
        no_event,
        run_id="y",
        scenario="commons",
        seed=0,
        model="scripted",
        config={},
        num_ticks=1,
        version="t",
    ).close()
    again = run_sweep(spec, out=tmp_path / "o")
    assert (again.started, again.skipped) == (3, 1)
    assert not again.failed
    pd.testing.assert_frame_equal(first.summary, again.summary)
