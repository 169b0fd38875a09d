"""``societas validate NAME``: the published set-ups as sweeps, and the comparison table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from societas.cli.main import app
from societas.experiments.sweep import t_critical_95
from societas.experiments.validation import (
    bootstrap_ci,
    compare,
    load_published,
    mean_ci,
    wilson_ci,
)
from societas.typing import ConfigError

OASIS = Path("/work/shared/data/oasis")


def test_wilson_interval_of_a_proportion() -> None:
    lo, hi = wilson_ci(0, 3)
    assert lo == 0.0
    assert hi == pytest.approx(0.5615, abs=1e-4)
    lo, hi = wilson_ci(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))


def test_intervals_of_shares_stay_inside_zero_one() -> None:
    rng = np.random.default_rng(1)
    shares = np.clip(rng.normal(0.97, 0.05, size=4), 0, 1)
    lo, hi = bootstrap_ci(shares)
    assert 0.0 <= lo <= shares.mean() <= hi <= 1.0
    mean, lo, hi = mean_ci(np.array([0.0, 1.0, 1.0]), bounded=True)  # binary: Wilson
    assert (lo, hi) == wilson_ci(2, 3)
    mean, lo, hi = mean_ci(np.array([6.0, 7.0, 8.0]), bounded=False)  # t interval
    assert mean == 7.0
    assert lo == pytest.approx(7.0 - t_critical_95(2) * 1.0 / np.sqrt(3))


def test_every_published_value_names_its_source() -> None:
    for name in ("govsim", "donor", "oasis", "wealth", "market"):
        published = load_published(name)
        assert published.rows
        assert all(r["source"] and "value" in r for r in published.rows)
    with pytest.raises(ConfigError, match="govsim"):
        load_published("nosuch")


def test_compare_gives_a_verdict_per_published_value() -> None:
    runs = pd.DataFrame(
        {
            "condition": ["default"] * 3,
            "seed": [0, 1, 2],
            "metric": ["survival_time"] * 3,
            "value": [6.0, 7.0, 8.0],
        }
    )
    table = compare(runs, load_published("govsim"))
    row = table[(table["condition"] == "default") & (table["metric"] == "survival_time")].iloc[0]
    assert row["published"] == 6.60
    assert row["verdict"] == "inside the CI"
    missing = table[table["metric"] == "over_usage"].iloc[0]
    assert missing["n"] == 0
    assert missing["verdict"] == "no data"


def test_validate_govsim_runs_resumes_and_replays(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "v"
    args = ["validate", "govsim", "--model", "scripted", "--seeds", "1", "--out", str(out)]
    first = runner.invoke(app, [*args, "--set", "months=3"])
    assert first.exit_code == 0, first.output
    assert "Qwen-110B" in first.stdout
    assert "Table 4" in first.stdout
    table = pd.read_csv(out / "validation.csv")
    assert set(table["condition"]) == {"default", "universalization"}
    again = runner.invoke(app, [*args, "--set", "months=3"])
    assert again.exit_code == 0, again.output
    assert "skipped 2" in again.output
    replay = runner.invoke(
        app,
        [
            "validate",
            "govsim",
            "--seeds",
            "1",
            "--out",
            str(tmp_path / "r"),
            "--replay-from",
            str(out),
            "--set",
            "months=3",
        ],
    )
    assert replay.exit_code == 0, replay.output
    replayed = pd.read_csv(tmp_path / "r" / "validation.csv")
    assert replayed["mean"].tolist() == pytest.approx(table["mean"].tolist(), nan_ok=True)


def test_validate_market_sets_welfare_beside_the_original_baselines(tmp_path: Path) -> None:
    # The published set-up is mexican_100_300; the small market keeps the test fast.
    out = tmp_path / "m"
    result = CliRunner().invoke(
        app,
        [
            "validate",
            "market",
            "--model",
            "scripted",
            "--seeds",
            "1",
            "--out",
            str(out),
            "--set",
            "dataset=mexican_3_9",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "baseline_utilities.json" in result.stdout
    table = pd.read_csv(out / "validation.csv")
    assert set(table["condition"]) == {"k3", "k10", "k100"}
    assert set(table.loc[table["condition"] == "k10", "published"]) == {
        2109.85,
        1912.89,
        1090.41,
        649.395,
    }
    assert (table["n"] == 1).all()
    assert table["mean"].notna().all()


@pytest.mark.skipif(not OASIS.is_dir(), reason="the shared OASIS data is not on this machine")
def test_validate_oasis_prints_nrmse_on_the_real_graph(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["validate", "oasis", "--seeds", "1", "--ticks", "10", "--out", str(tmp_path / "o")],
    )
    assert result.exit_code == 0, result.output
    assert "nrmse_scale" in result.stdout
    nrmse = pd.read_csv(tmp_path / "o" / "nrmse.csv")
    assert set(nrmse["metric"]) == {"nrmse_scale", "nrmse_depth", "nrmse_max_breadth", "reposts"}
    scale = float(nrmse.loc[nrmse["metric"] == "nrmse_scale", "value"].iloc[0])
    assert 0.0 < scale <= 1.0  # the scripted crowd reaches fewer users than the real cascade
