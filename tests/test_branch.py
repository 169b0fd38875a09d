"""``societas branch``: paired counterfactuals that share their parent's past."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from societas.analysis.compare import first_difference
from societas.cli.main import app
from societas.experiments.branch import branch_run
from societas.store import RunStore
from societas.typing import ConfigError, InterventionEvent, LLMCall


def test_branch_copies_the_past_and_changes_the_future(
    run_commons: Callable[..., Path], tmp_path: Path
) -> None:
    parent = run_commons("protocol=govsim", "months=4", seed=3)
    child = tmp_path / "child"
    result = CliRunner().invoke(
        app,
        [
            "branch",
            str(parent),
            "--at",
            "2",
            "--set",
            "universalization=true",
            "--message",
            "The lake looks thin.",
            "--out",
            str(child),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    with RunStore.open(parent, readonly=True) as a, RunStore.open(child, readonly=True) as b:
        before_a = [e for e in a.events() if e.tick < 2]
        before_b = [e for e in b.events() if e.tick < 2]
        assert first_difference(before_a, before_b) is None
        assert a.run_info()["run_id"] != b.run_info()["run_id"]
        assert b.run_info()["status"] == "completed"
        (iv,) = [e for e in b.events() if isinstance(e, InterventionEvent)]
        assert iv.tick == 2
        assert iv.settings == {"universalization": True}
        assert iv.message == "The lake looks thin."
        # the copied ticks' calls are the parent's (none were made again)
        calls_a = [e.request_hash for e in a.events() if isinstance(e, LLMCall) and e.tick < 2]
        calls_b = [e.request_hash for e in b.events() if isinstance(e, LLMCall) and e.tick < 2]
        assert calls_a == calls_b
        # and the future differs: the universalization sentence is in the harvest prompts
        assert first_difference(a.events(), b.events()) is not None


def test_a_branch_without_a_real_change_replays_its_parent(
    run_commons: Callable[..., Path], tmp_path: Path
) -> None:
    parent = run_commons("protocol=govsim", "months=3", seed=5)
    child = branch_run(parent, at=1, out=tmp_path / "same", sets=["allocation=stochastic"])
    result = CliRunner().invoke(app, ["resume", str(child), "-q"])
    assert result.exit_code == 0, result.output
    with RunStore.open(parent, readonly=True) as a, RunStore.open(child, readonly=True) as b:
        events_b = [e for e in b.events() if not isinstance(e, InterventionEvent)]
        assert first_difference(a.events(), events_b) is None


def test_branch_rejects_bad_requests(run_commons: Callable[..., Path], tmp_path: Path) -> None:
    parent = run_commons("months=2")
    with pytest.raises(ConfigError, match="from 1 to 2"):
        branch_run(parent, at=3, out=tmp_path / "a", sets=["universalization=true"])
    with pytest.raises(ConfigError, match="a change"):
        branch_run(parent, at=1, out=tmp_path / "b")
    branch_run(parent, at=1, out=tmp_path / "c", sets=["universalization=true"])
    with pytest.raises(ConfigError, match="without a run"):
        branch_run(parent, at=1, out=tmp_path / "c", sets=["universalization=true"])
