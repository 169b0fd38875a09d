"""Replaying a whole sweep from its runs' response caches reproduces its table exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from societas.analysis.compare import first_difference
from societas.cli.main import app
from societas.experiments import run_sweep
from societas.store import RunStore
from societas.typing import ConfigError, LLMCall

EXPERIMENT = """
name: replayed
scenario: commons
base:
  months: {months}
  discussion_rounds: 1
  run: {{model: scripted}}
grid:
  dispositions:
    coop: [cooperative]
    mixed: [cooperative, adaptive, greedy]
seeds: {seeds}
"""


def write(tmp_path: Path, months: int = 2, seeds: int = 2, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(EXPERIMENT.format(months=months, seeds=seeds))
    return path


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame]:
    spec = write(tmp_path)
    result = run_sweep(spec, out=tmp_path / "old")
    assert result.started == 4
    assert not result.failed
    return spec, tmp_path / "old", result.summary


def test_replayed_sweep_has_the_same_table_and_calls_no_model(
    recorded: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    spec, old, summary = recorded
    result = CliRunner().invoke(
        app, ["sweep", str(spec), "--replay-from", str(old), "--out", str(tmp_path / "new")]
    )
    assert result.exit_code == 0, result.output
    new = tmp_path / "new"
    replayed = pd.read_parquet(new / "summary.parquet")
    pd.testing.assert_frame_equal(summary, replayed)
    assert (old / "summary.csv").read_text() == (new / "summary.csv").read_text()
    index = json.loads((new / "experiment.json").read_text())
    assert index["replay_from"] == str(old)
    for entry in index["runs"]:
        with RunStore.open(new / entry["dir"], readonly=True) as store:
            info = store.run_info()
            events = store.events()
        assert info["model"] == "replay"
        assert (new / entry["dir"] / "cache.db").exists()  # a copy: the old one is untouched
        calls = [e for e in events if isinstance(e, LLMCall)]
        assert calls
        assert all(c.cache_hit and c.status == "ok" for c in calls)
        with RunStore.open(old / entry["dir"], readonly=True) as store:
            assert first_difference(store.events(), events) is None


def test_a_replay_can_be_replayed_and_resumed(
    recorded: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    spec, old, summary = recorded
    first = run_sweep(spec, out=tmp_path / "r1", replay_from=old)
    again = run_sweep(spec, out=tmp_path / "r1", replay_from=old)  # resumes: all finished
    assert (first.started, again.skipped) == (4, 4)
    second = run_sweep(spec, out=tmp_path / "r2", replay_from=tmp_path / "r1")
    assert second.started == 4
    assert not second.failed
    pd.testing.assert_frame_equal(summary, second.summary)


def test_replay_refuses_what_it_cannot_reproduce(
    recorded: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    spec, old, _ = recorded
    with pytest.raises(ConfigError, match="new directory"):
        run_sweep(spec, out=old, replay_from=old)
    with pytest.raises(ConfigError, match=r"experiment\.json"):
        run_sweep(spec, out=tmp_path / "x", replay_from=tmp_path)
    more_seeds = write(tmp_path, seeds=3, name="more.yaml")
    with pytest.raises(ConfigError, match="seed 2"):
        run_sweep(more_seeds, out=tmp_path / "y", replay_from=old)
    with pytest.raises(ConfigError, match="no --model"):
        run_sweep(spec, out=tmp_path / "z", replay_from=old, model="scripted")
    # A run that did not finish cannot be reproduced beyond its last tick.
    with RunStore.open(old / "runs" / "coop-seed1") as store:
        store.set_status("running")
    with pytest.raises(ConfigError, match="finished sweep"):
        run_sweep(spec, out=tmp_path / "w", replay_from=old)
    # The recorded directory itself cannot be reused with other settings either.
    with pytest.raises(ConfigError, match="other settings"):
        run_sweep(spec, out=old, model="scripted:other")
