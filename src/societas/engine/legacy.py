"""Adapter for scenarios written before the scenario kit (phase rules on the world, optional
hooks found by name). The engine only speaks the kit's contract (``societas.typing.scenario``);
``adapt`` wraps an old-style scenario so that it does. It is the one place that still looks
hooks up by name, and goes away once every scenario is written on the kit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel

from societas.typing import Action, ConfigError, Event, Observation, Persona
from societas.typing.scenario import (
    GroupQuery,
    Percepts,
    Phase,
    PhaseContext,
    RunData,
    Scenario,
    ScriptedPolicy,
    World,
)
from societas.world import Scenario as KitScenario
from societas.world import World as KitWorld

__all__ = ["LegacyWorld", "adapt", "adapt_world"]


class LegacyWorld:
    """An old-style world seen through the kit's ``World`` contract."""

    def __init__(self, world: Any) -> None:
        self.inner = world
        self._phases: dict[Phase, Phase] = {}

    @property
    def rules_text(self) -> str:
        return str(self.inner.rules_text)

    @property
    def keep_snapshots(self) -> int | None:
        keep = getattr(self.inner, "keep_snapshots", None)
        return int(keep) if keep is not None else None

    def agent_ids(self) -> Sequence[str]:
        ids: Sequence[str] = self.inner.agent_ids()
        return ids

    def num_ticks(self) -> int:
        return int(self.inner.num_ticks())

    def sim_time(self, tick: int) -> float:
        return float(self.inner.sim_time(tick))

    def is_over(self) -> bool:
        return bool(self.inner.is_over())

    def snapshot(self) -> dict[str, Any]:
        state: dict[str, Any] = self.inner.snapshot()
        return state

    def restore(self, state: Mapping[str, Any]) -> None:
        self.inner.restore(state)

    def phases(self, tick: int) -> Sequence[Phase]:
        return [self._with_rules(spec) for spec in self.inner.phases(tick)]

    def _with_rules(self, spec: Phase) -> Phase:
        """The old spec with the world's rules bound to it (built once per distinct spec)."""
        cached = self._phases.get(spec)
        if cached is not None:
            return cached
        w = self.inner

        def observe(agent_id: str, tick: int) -> Observation | None:
            obs: Observation | None = w.observe(agent_id, tick, spec)
            return obs

        def fallback(observation: Observation) -> Action:
            action: Action = w.fallback(observation, spec)
            return action

        def resolve(actions: Mapping[str, Any], ctx: PhaseContext) -> Percepts:
            if spec.mode == "groups":
                hook = _hook(w, "resolve_groups", f"phases.{spec.name}.mode", _GROUPS)
                out: Percepts = hook(ctx.tick, spec, actions, ctx.rng, ctx)
                return out
            result: Percepts = w.resolve(ctx.tick, spec, actions, ctx.rng, ctx)
            return result

        def groups(tick: int) -> Sequence[GroupQuery]:
            hook = _hook(w, "groups", f"phases.{spec.name}.mode", _GROUPS)
            queries: Sequence[GroupQuery] = hook(tick, spec)
            return queries

        phase = spec.model_copy(
            update={
                "observe": observe,
                "fallback": fallback,
                "resolve": resolve,
                "groups": groups if spec.mode == "groups" else None,
            }
        )
        self._phases[spec] = phase
        return phase

    def apply_settings(self, settings: Mapping[str, Any]) -> None:
        _hook(self.inner, "apply_settings", "set", "a world that accepts setting changes")(settings)

    def add_agents(self, personas: Sequence[Persona]) -> None:
        _hook(self.inner, "add_agents", "add", "a world that accepts new agents")(list(personas))

    def remove_agents(self, ids: Sequence[str]) -> None:
        _hook(self.inner, "remove_agents", "remove", "a world that lets agents leave")(list(ids))

    @property
    def uses_executor(self) -> bool:
        return hasattr(self.inner, "use_executor")

    def use_executor(self, executor: Any) -> None:
        self.inner.use_executor(executor)


_GROUPS = "a world with groups() and resolve_groups() for a 'groups' phase"


def _hook(world: Any, name: str, field: str, expected: str) -> Any:
    hook = getattr(world, name, None)
    if hook is None:
        where = "run.interventions" if field in ("set", "add", "remove") else "scenario"
        raise ConfigError(where, field, expected, type(world).__name__)
    return hook


class _LegacyScenario:
    """An old-style scenario seen through the kit's ``Scenario`` contract."""

    name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def build(
        self, config: Any, rng: np.random.Generator, personas: Sequence[Persona] = ()
    ) -> tuple[World, list[Persona]]:
        if personas:
            raise ConfigError(
                "personas",
                "personas",
                "a scenario written on the scenario kit (this one builds its own agents)",
                self.name,
            )
        world, agents = self.inner.build(config, rng)
        wrapped: World = LegacyWorld(world)
        return wrapped, list(agents)

    def scripted_policy(self, config: Any) -> ScriptedPolicy | None:
        hook = getattr(self.inner, "scripted_policy", None)
        return hook(config) if hook is not None else None

    def metrics(self, config: Any, run: RunData) -> dict[str, float]:
        out: dict[str, float] = self.inner.metrics(config, list(run.events))
        return out

    def mind_config(self, config: Any) -> Any:
        hook = getattr(self.inner, "mind_config", None)
        return hook(config) if hook is not None else None

    def report_plots(self, events: Sequence[Event], out_dir: Path) -> list[tuple[str, str]]:
        hook = getattr(self.inner, "report_plots", None)
        return list(hook(events, out_dir)) if hook is not None else []


_ADAPTERS: dict[type, type[_LegacyScenario]] = {}


def adapt(scenario: Any) -> Scenario:
    """A kit scenario as it is; an old-style one wrapped (the same adapter class per type)."""
    if isinstance(scenario, KitScenario | _LegacyScenario):
        return scenario
    cls = type(scenario)
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = type(
            f"Legacy{cls.__name__}",
            (_LegacyScenario,),
            {"name": cls.name, "config_model": cls.config_model},
        )
    wrapped: Scenario = adapter(scenario)
    return wrapped


def adapt_world(world: Any) -> World:
    """A kit world (or an adapted one) as it is; an old-style world wrapped."""
    if isinstance(world, KitWorld | LegacyWorld):
        adapted: World = world
        return adapted
    return LegacyWorld(world)
