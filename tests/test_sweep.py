"""Sweeps: conditions x seeds as ordinary runs, a table with CIs, resume after a kill."""

from __future__ import annotations

import math
import os
import signal
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
