"""Scenarios: registry, file loading, and the built-in scenarios."""

from __future__ import annotations

from societas.scenarios.loader import LoadedSpec, load_spec, parse_override
from societas.scenarios.registry import available_scenarios, get_scenario

__all__ = ["LoadedSpec", "available_scenarios", "get_scenario", "load_spec", "parse_override"]
