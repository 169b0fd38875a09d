"""Per-agent model routing (heterogeneous populations) and its replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from societas.analysis.compare import first_difference
from societas.engine import prepare_run, run_sync
from societas.scenarios import load_spec
from societas.store import RunStore
from societas.typing import ConfigError

SPEC = """
scenario: commons
run:
  model: {model}
  seed: 3
  models:
    - agents: ["{pattern}"]
      model: scripted:rulebook
"""


def _run(tmp_path: Path, name: str, model: str = "scripted", pattern: str = "*1") -> Path:
    spec_file = tmp_path / f"{name}.yaml"
    spec_file.write_text(SPEC.format(model=model, pattern=pattern))
    spec = load_spec(str(spec_file), [])
    out = tmp_path / name
    if model.startswith("replay"):
        spec.options.cache = str(tmp_path / "first" / "cache.db")
    run_sync(prepare_run(spec.scenario, spec.config, spec.options, out))
    return out


def test_each_agent_calls_its_own_model(tmp_path: Path) -> None:
    out = _run(tmp_path, "first")
    with RunStore.open(out, readonly=True) as store:
        calls = [e for e in store.events() if e.kind == "llm_call"]
    by_actor: dict[str, set[str]] = {}
    for call in calls:
        by_actor.setdefault(call.actor or "", set()).add(call.model)
    routed = {a for a in by_actor if a.endswith("1")}
    assert routed, by_actor
    for actor, models in by_actor.items():
        assert models == ({"rulebook"} if actor in routed else {"scripted"}), (actor, models)


def test_a_heterogeneous_run_replays_exactly(tmp_path: Path) -> None:
    first = _run(tmp_path, "first")
    again = _run(tmp_path, "again", model="replay")
    with RunStore.open(first, readonly=True) as a, RunStore.open(again, readonly=True) as b:
        assert first_difference(a.events(), b.events()) is None


def test_route_patterns_must_not_be_empty(tmp_path: Path) -> None:
    spec_file = tmp_path / "bad.yaml"
    spec_file.write_text("scenario: commons\nrun:\n  models:\n    - agents: []\n      model: x\n")
    with pytest.raises(ConfigError, match="agents"):
        load_spec(str(spec_file), [])
