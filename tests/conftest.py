"""Shared fixtures. Tests never touch the network or a paid API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from societas.engine import prepare_run, run_sync
from societas.scenarios import load_spec


@pytest.fixture
def run_commons(tmp_path: Path) -> Callable[..., Path]:
    """Run the commons scenario with the scripted model; returns the run directory.

    The tests written before 0.2 pin ``protocol=societas`` (the scenario's protocol then);
    pass ``protocol=govsim`` to run GovSim's."""
    counter = {"n": 0}

    def _run(*sets: str, seed: int = 0, model: str = "scripted", name: str | None = None) -> Path:
        if not any(s.startswith("protocol=") for s in sets):
            sets = ("protocol=societas", *sets)
        counter["n"] += 1
        out = tmp_path / (name or f"run{counter['n']}")
        spec = load_spec("commons", list(sets), model=model, seed=seed)
        handle = prepare_run(spec.scenario, spec.config, spec.options, out)
        run_sync(handle)
        return out

    return _run
