"""The scenario kit: bases that give a world and a scenario every platform feature.

A world subclasses ``World[Config, State]``: it declares its phases (each with its own
``observe``, ``resolve`` and ``fallback``), keeps its mutable state in a pydantic ``State``
(which snapshots and restores itself), and gets membership, setting changes and added or
removed agents from the base. A scenario subclasses ``Scenario[Config]``: it names the world
class and the agents; every other member has a default. See ``docs/writing-a-scenario.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, get_args, get_origin

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from societas.typing import ConfigError, Event, Persona
from societas.typing.scenario import (
    Phase,
    RunData,
    ScriptedPolicy,
    StepLabel,
    default_step_labels,
)

__all__ = ["Scenario", "State", "World", "merge_personas", "numbered_personas"]

C = TypeVar("C", bound=BaseModel)
S = TypeVar("S", bound="State")


class State(BaseModel):
    """A world's mutable state. Everything in it is snapshotted after every tick and restored
    on resume, so keep here whatever the rules change (and nothing derived)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)


def _generic_args(cls: type, base: type) -> tuple[Any, ...]:
    """The type arguments ``cls`` (or an ancestor) gave ``base``: ``World[Cfg, St]`` ->
    ``(Cfg, St)``."""
    for klass in cls.__mro__:
        for orig in getattr(klass, "__orig_bases__", ()):
            if get_origin(orig) is base:
                return get_args(orig)
    return ()


class World(Generic[C, S]):
    """Base of a kit world. Override ``num_ticks`` and ``phases``; set ``rules_text``.

    ``self.config`` is the validated config, ``self.state`` the ``State``, ``self.members``
    the ids of the agents taking part (in order), ``self.personas`` every agent by id.
    Hooks with defaults: ``setup`` (after construction), ``reconfigured`` (after a setting
    change), ``joined`` and ``left`` (membership changes), ``is_over``, ``sim_time``,
    ``rules_for`` (rules that differ per agent, with ``persona_in_rules``).
    """

    rules_text: str = ""
    # True when ``rules_for(agent)`` already introduces the agent: minds add no persona text.
    persona_in_rules: bool = False
    # Keep only the latest N tick snapshots (large population worlds); None keeps all.
    keep_snapshots: int | None = None
    # Population worlds set this and override ``use_executor``.
    uses_executor: ClassVar[bool] = False
    # Settings an intervention may not change (``run.interventions[].set``).
    fixed_settings: ClassVar[frozenset[str]] = frozenset()
    config_model: ClassVar[type[BaseModel]]
    state_model: ClassVar[type[State]] = State

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        args = _generic_args(cls, World)
        if len(args) == 2:
            if isinstance(args[0], type) and issubclass(args[0], BaseModel):
                cls.config_model = args[0]
            if isinstance(args[1], type) and issubclass(args[1], State):
                cls.state_model = args[1]

    def __init__(self, config: C, personas: Sequence[Persona], rng: np.random.Generator) -> None:
        self.config = config
        self.personas: dict[str, Persona] = {p.id: p for p in personas}
        self.members: list[str] = [p.id for p in personas]
        self.added: list[Persona] = []
        self.state: S = self.state_model()  # type: ignore[assignment]
        self.setup(rng)

    # -- what every world declares ------------------------------------------------------

    def num_ticks(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define num_ticks()")

    def phases(self, tick: int) -> Sequence[Phase]:
        raise NotImplementedError(f"{type(self).__name__} must define phases(tick)")

    # -- hooks with defaults --------------------------------------------------------------

    def setup(self, rng: np.random.Generator) -> None:
        """Initialise ``self.state`` (and ``rules_text``) from the config; the RNG is the
        run's, at its start."""

    def reconfigured(self) -> None:
        """Called after an intervention changed ``self.config``."""

    def joined(self, persona: Persona) -> None:
        """Called when an agent joins mid-run (an ``add`` intervention)."""

    def left(self, agent_id: str) -> None:
        """Called when an agent leaves mid-run (a ``remove`` intervention)."""

    def is_over(self) -> bool:
        return False

    def sim_time(self, tick: int) -> float:
        return float(tick)

    def token_budget(self, tick: int) -> int | None:
        """Tokens all model calls of a tick may use together (the Gateway enforces it); None:
        no limit. ``teams`` fixes one per task for matched-budget comparisons."""
        return None

    def use_executor(self, executor: Any) -> None:
        """Population worlds (``uses_executor = True``) keep their arrays in the run's
        executor (``societas.population.Executor``), handed over before tick 0."""
        raise NotImplementedError(f"{type(self).__name__} sets uses_executor but no use_executor")

    def rules_for(self, agent_id: str) -> str:
        """The rules one agent is told (its decisions, surveys and interviews); the shared
        ``rules_text`` unless a world's rules differ per agent."""
        return self.rules_text

    def name_of(self, agent_id: str) -> str:
        return self.personas[agent_id].name

    # -- what the engine calls ------------------------------------------------------------

    def agent_ids(self) -> Sequence[str]:
        return self.members

    def snapshot(self) -> dict[str, Any]:
        return {
            "state": self.state.model_dump(mode="json"),
            "config": self.config.model_dump(mode="json"),
            "members": list(self.members),
            "added": [p.model_dump(mode="json") for p in self.added],
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        self.config = self.config_model.model_validate(state["config"])  # type: ignore[assignment]
        self.added = [Persona.model_validate(p) for p in state.get("added", [])]
        for persona in self.added:
            self.personas[persona.id] = persona
        self.members = [str(a) for a in state["members"]]
        self.state = self.state_model.model_validate(state["state"])  # type: ignore[assignment]
        self.reconfigured()

    def apply_settings(self, settings: Mapping[str, Any]) -> None:
        fixed = sorted(self.fixed_settings & set(settings))
        if fixed:
            raise ConfigError(
                "run.interventions",
                f"set.{fixed[0]}",
                "a setting that can change during a run (not "
                + ", ".join(sorted(self.fixed_settings))
                + ")",
            )
        try:
            config = type(self.config).model_validate({**self.config.model_dump(), **settings})
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in err["loc"])
            raise ConfigError(
                "run.interventions", f"set.{field}", str(err["msg"]), err.get("input")
            ) from exc
        self.config = config
        self.reconfigured()

    def add_agents(self, personas: Sequence[Persona]) -> None:
        for persona in personas:
            if persona.id in self.personas:
                raise ConfigError(
                    "run.interventions", "add.id", "an id not already in the world", persona.id
                )
        for persona in personas:
            self.personas[persona.id] = persona
            self.members.append(persona.id)
            self.added.append(persona)
            self.joined(persona)

    def remove_agents(self, ids: Sequence[str]) -> None:
        for agent_id in ids:
            if agent_id not in self.members:
                raise ConfigError(
                    "run.interventions", "remove", "ids of agents in the world", agent_id
                )
        if not set(self.members) - set(ids):
            raise ConfigError(
                "run.interventions", "remove", "at least one agent left in the world", list(ids)
            )
        for agent_id in ids:
            self.members.remove(agent_id)
            self.left(agent_id)


def numbered_personas(
    prefix: str, count: int, names: Sequence[str] = (), **fields: Any
) -> list[Persona]:
    """``count`` personas ``prefix_1..prefix_N``, named from ``names`` (else "Prefix N")."""
    out = []
    for i in range(count):
        name = names[i] if i < len(names) else f"{prefix.replace('_', ' ').title()} {i + 1}"
        out.append(Persona(id=f"{prefix}_{i + 1}", name=name, **fields))
    return out


def merge_personas(base: Sequence[Persona], overrides: Sequence[Persona]) -> list[Persona]:
    """``overrides`` replace the personas with their ids and add the others (at the end)."""
    by_id = {p.id: p for p in overrides}
    merged = [by_id.pop(p.id, p) for p in base]
    return merged + [p for p in overrides if p.id in by_id]


class Scenario(Generic[C]):
    """Base of a kit scenario: ``Scenario[Config]`` with ``name`` and ``world`` (the world
    class) set. Override ``personas`` (the agents); ``metrics`` (final scalars read from the
    run's store: ``run.series(name)`` gives a per-tick metric, ``run.events`` the events);
    optionally ``scripted_policy``, ``mind_config``, ``report_plots``, ``step_labels`` (how
    each decision served its task, for the trajectory exports)."""

    name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]
    world: ClassVar[type[World[Any, Any]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        args = _generic_args(cls, Scenario)
        if args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            cls.config_model = args[0]

    def personas(self, config: C, rng: np.random.Generator) -> list[Persona]:
        raise NotImplementedError(f"{type(self).__name__} must define personas(config, rng)")

    def build(
        self, config: C, rng: np.random.Generator, personas: Sequence[Persona] = ()
    ) -> tuple[World[Any, Any], list[Persona]]:
        agents = merge_personas(self.personas(config, rng), personas)
        return self.world(config, agents, rng), agents

    def scripted_policy(self, config: C) -> ScriptedPolicy | None:
        return None

    def metrics(self, config: C, run: RunData) -> dict[str, float]:
        return {}

    def mind_config(self, config: C) -> Any:
        return None

    def report_plots(self, events: Sequence[Event], out_dir: Path) -> list[tuple[str, str]]:
        return []

    def step_labels(self, config: C, run: RunData) -> dict[int, StepLabel]:
        return default_step_labels(run.events)
