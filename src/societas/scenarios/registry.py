"""Scenarios by name, through the ``societas.scenarios`` entry-point group (built-ins too)."""

from __future__ import annotations

from importlib import metadata

from societas.typing import ConfigError
from societas.typing.scenario import Scenario

__all__ = ["available_scenarios", "get_scenario"]

_GROUP = "societas.scenarios"


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=_GROUP)}


def available_scenarios() -> list[str]:
    return sorted(_entry_points())


def get_scenario(name: str, source: str = "SCENARIO") -> Scenario:
    eps = _entry_points()
    if name not in eps:
        raise ConfigError(
            source, "scenario", f"a registered scenario ({', '.join(sorted(eps)) or 'none'})", name
        )
    scenario = eps[name].load()()
    if not isinstance(scenario, Scenario):
        raise ConfigError(
            f"entry point {eps[name].value}",
            "scenario",
            "a scenario written on the scenario kit (a societas.kit.Scenario subclass; see "
            "docs/writing-a-scenario.md)",
            type(scenario).__name__,
        )
    if scenario.name != name:
        raise ConfigError(
            f"entry point {eps[name].value}",
            "name",
            f"the scenario's name equal to its entry-point name {name!r} (resume, report and "
            "interview find a run's scenario by that name)",
            scenario.name,
        )
    return scenario
