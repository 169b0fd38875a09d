"""Every registered scenario passes the conformance suite (``societas.testing.conformance``).

Parametrised over ``available_scenarios()``: a newly registered scenario is checked the day it
appears, with its defaults until it gets a line in ``SMALL``. The suite runs the real command
line in subprocesses with the ``test`` model (offline, deterministic, no scripted policy).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from societas.testing.conformance import CHECKS, ConformanceError, check_scenario, conformance_cases

# Settings that make each built-in run in seconds, with enough ticks for a kill mid-run.
SMALL: dict[str, list[str]] = {
    # collapse_threshold=0: random catches would empty the lake in the first month.
    "commons": ["agents=3", "months=6", "discussion_rounds=1", "collapse_threshold=0"],
    "donor": ["agents=4", "generations=2", "rounds=3"],
    "town": [],  # one day (16 ticks) is its smallest run
    "social": ["agents=6", "ticks=4"],
    "wealth": ["agents=200", "steps=60"],
    "teams": ["agents=3", "tasks=10", "rounds=1"],
    "assistant": ["users=2", "days=1"],
}
# Measured with `pytest tests/test_conformance.py --durations=0` on a busy machine: the
# slowest (25-55 s each); the others take 10-30 s, mostly the start-up of ~10 processes.
SLOW = {"social", "teams", "town", "market", "epidemic", "assistant"}


@pytest.mark.parametrize(("name", "overrides"), conformance_cases(SMALL, slow=SLOW))
def test_scenario_conforms(name: str, overrides: list[str], tmp_path: Path) -> None:
    report = check_scenario(name, config_overrides=overrides, tmp_path=tmp_path)
    print(report.summary())
    report.raise_for_failures()
    assert [r.name for r in report.results] == list(CHECKS)


def _register_alias(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed distribution (a dist-info on the path) registering commons as ``alias``."""
    info = root / "conformance_alias-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: conformance-alias\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[societas.scenarios]\nalias = societas.scenarios.commons:CommonsScenario\n"
    )
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("PYTHONPATH", str(root))


def test_a_scenario_registered_under_another_name_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register_alias(tmp_path / "site", monkeypatch)
    report = check_scenario(
        "alias", config_overrides=SMALL["commons"], tmp_path=tmp_path / "runs", checks=["check"]
    )
    assert not report.ok
    failure = report.result("deterministic")
    # The registry refuses it at start (exit 2) or the run records the other name.
    assert "'alias'" in failure.detail
    assert "commons" in failure.detail
    with pytest.raises(ConformanceError, match="FAIL deterministic"):
        report.raise_for_failures()


def test_a_run_too_short_to_kill_mid_run_fails(tmp_path: Path) -> None:
    report = check_scenario(
        "wealth",
        config_overrides=["agents=50", "steps=1"],
        tmp_path=tmp_path,
        checks=["resume_after_sigkill"],
    )
    assert [r.name for r in report.results] == ["resume_after_sigkill"]
    assert not report.ok
    assert "completed before it could be killed mid-run" in report.results[0].detail


def test_unknown_checks_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown checks"):
        check_scenario("wealth", tmp_path=tmp_path, checks=["determinism"])
