"""World and Scenario contracts: what the engine needs of a scenario.

A tick is a list of phases. Each ``Phase`` carries its own rules: ``observe`` (what one agent
perceives), ``fallback`` (the action of an agent whose decision failed) and ``resolve`` (what
the phase's actions do). The engine asks every agent's observation, lets every agent that
observes something decide at once (through the Gateway), and hands all the decisions to the
phase's ``resolve`` with a ``PhaseContext``: the tick, the simulation's one RNG, an event sink
and a per-tick metric sink. ``resolve`` tells each agent what it learned (``Percept``s) so its
memory can keep it.

Scenario authors subclass the bases in ``societas.kit`` (``World``, ``State``, ``Scenario``),
which give every optional member below a default; the engine only ever calls these members.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from societas.typing.action import Action
from societas.typing.events import Event, EventBase
from societas.typing.llm import LLMRequest
from societas.typing.observation import Observation
from societas.typing.persona import Persona

__all__ = [
    "STEP_LABELS",
    "GroupQuery",
    "Observe",
    "Percept",
    "Percepts",
    "Phase",
    "PhaseContext",
    "PhaseSpec",
    "Recorder",
    "Resolve",
    "RunData",
    "Scenario",
    "ScriptedPolicy",
    "StepLabel",
    "World",
    "default_step_labels",
]

E = TypeVar("E", bound=EventBase)

# A scripted policy answers a request with the text a model would have produced.
# It gets a generator seeded from the request's seed, so it is deterministic and independent of
# the order in which concurrent requests are served.
ScriptedPolicy = Callable[[LLMRequest, np.random.Generator], str]

# How a decision (one agent's answer in one phase) served its task: AgentProcessBench's ternary
# step labels (+1 correct, 0 neutral, -1 erroneous; RUCBM/AgentProcessBench,
# annotation_platform/ANNOTATION_GUIDE_v1.md, section 2).
StepLabel = Literal["correct", "neutral", "erroneous"]
STEP_LABELS: tuple[StepLabel, ...] = ("correct", "neutral", "erroneous")


class Percept(BaseModel):
    """Something an agent learned in a phase, to be kept in its memory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    kind: str = "observation"
    importance: float = 5.0


class Recorder(Protocol):
    """The engine's event sink for the open tick. Returns the new event's ``seq``."""

    def emit(self, event_type: type[E], /, **fields: Any) -> int: ...


class GroupQuery(BaseModel):
    """One archetype's question for a phase: who the group is and what it sees."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(min_length=1, description="archetype key, unique within the phase")
    size: int = Field(ge=0, description="number of agents in the group")
    persona_text: str = Field(description="the group's representative description")
    observation: Observation


class PhaseContext(Protocol):
    """What ``Phase.resolve`` gets besides the actions: the tick, the simulation's one RNG (the
    only randomness a world may use), the event sink and the per-tick metric sink."""

    @property
    def tick(self) -> int: ...

    @property
    def rng(self) -> np.random.Generator: ...

    def emit(self, event_type: type[E], /, **fields: Any) -> int: ...

    def metric(self, name: str, value: float) -> None:
        """Record a named metric for this tick (``metrics`` table row and ``metric`` event);
        once per name and tick."""
        ...


# What ``resolve`` returns: for each agent, what it learned (text, a Percept, or several).
Percepts = Mapping[str, "str | Percept | Sequence[str | Percept]"] | None
# observe(agent_id, tick) -> the observation (or just its text), or None: does not act.
Observe = Callable[[str, int], "Observation | str | None"]
# resolve(actions by agent id (or by group key in a groups phase), context) -> percepts.
Resolve = Callable[[Mapping[str, Any], PhaseContext], Percepts]


class Phase(BaseModel):
    """One step of a tick: the action it asks for and its own rules.

    ``observe``, ``resolve`` and ``fallback`` are the phase's rules (usually bound methods of
    the world). ``fallback`` is an action, or a function of the failed agent's observation.
    A ``"groups"`` phase (population mode) has ``groups(tick)`` instead of ``observe``: one
    ``GroupQuery`` per archetype, one model call each; ``resolve`` then gets the answers by
    group key and draws each member's action from its group's answer.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str
    action_model: type[Action]
    instruction: str = ""
    # "agents": every agent that observes something decides (one call each).
    # "groups": population mode; one call per group (``groups``).
    mode: Literal["agents", "groups"] = "agents"
    observe: Observe | None = Field(default=None, exclude=True, repr=False)
    resolve: Resolve | None = Field(default=None, exclude=True, repr=False)
    fallback: Action | Callable[[Observation], Action] | None = Field(
        default=None, exclude=True, repr=False
    )
    # Time pressure: each decision of this phase must finish within this many milliseconds
    # (or the run's ``deadline_s`` if that is shorter); one that does not takes ``fallback``.
    deadline_ms: int | None = Field(default=None, ge=1)
    groups: Callable[[int], Sequence[GroupQuery]] | None = Field(
        default=None, exclude=True, repr=False
    )

    def observation(self, agent_id: str, tick: int) -> Observation | None:
        """The agent's observation (text answers become an ``Observation``)."""
        if self.observe is None:
            raise TypeError(f"phase {self.name!r} has no observe rule")
        seen = self.observe(agent_id, tick)
        if seen is None or isinstance(seen, Observation):
            return seen
        return Observation(agent_id=agent_id, tick=tick, phase=self.name, text=seen)

    def fallback_for(self, observation: Observation) -> Action:
        """The action of an agent (or group) whose decision failed."""
        fallback = self.fallback
        if fallback is None:
            raise TypeError(f"phase {self.name!r} has no fallback")
        if isinstance(fallback, Action):
            return fallback.model_copy()
        return fallback(observation)

    def resolve_actions(
        self, actions: Mapping[str, Action], ctx: PhaseContext
    ) -> dict[str, list[Percept]]:
        """Apply the phase's rule; percepts normalised to lists of ``Percept``."""
        if self.resolve is None:
            raise TypeError(f"phase {self.name!r} has no resolve rule")
        return normalise_percepts(self.resolve(actions, ctx))


# The phase's former name (phases were plain descriptions; the rules lived on the world).
PhaseSpec = Phase


def normalise_percepts(percepts: Percepts) -> dict[str, list[Percept]]:
    out: dict[str, list[Percept]] = {}
    for agent_id, items in (percepts or {}).items():
        seq = [items] if isinstance(items, str | Percept) else list(items)
        out[agent_id] = [Percept(text=p) if isinstance(p, str) else p for p in seq]
    return out


@runtime_checkable
class World(Protocol):
    """Scenario state and rules. Must be deterministic given the RNG it is handed.

    The members after ``restore`` are optional for authors (``societas.kit.World`` gives them
    defaults) but always present for the engine.
    """

    @property
    def rules_text(self) -> str:
        """The rules every agent is told (first in every prompt); archetype groups get this
        shared text, an agent's own decisions get ``rules_for(agent_id)``."""
        ...

    @property
    def persona_in_rules(self) -> bool:
        """True when ``rules_for(agent_id)`` already says who the agent is (its name, and
        whatever of its persona the world puts there): minds then put no persona description
        of their own after it. GovSim's system prompt opens with the agent's name and ends
        with its goals; a world that reproduces it says so here."""
        ...

    def rules_for(self, agent_id: str) -> str:
        """The rules one agent is told, first in the prompts of its own decisions, surveys and
        interviews (``rules_text`` unless the rules differ per agent)."""
        ...

    @property
    def keep_snapshots(self) -> int | None:
        """Keep only the latest N tick snapshots (None: all)."""
        ...

    @property
    def uses_executor(self) -> bool:
        """True for population worlds that keep their arrays in the run's executor
        (``use_executor``); the engine refuses ``run.runner: ray`` for the others."""
        ...

    def agent_ids(self) -> Sequence[str]: ...

    def num_ticks(self) -> int: ...

    def sim_time(self, tick: int) -> float: ...

    def phases(self, tick: int) -> Sequence[Phase]: ...

    def is_over(self) -> bool: ...

    def snapshot(self) -> dict[str, Any]: ...

    def restore(self, state: Mapping[str, Any]) -> None: ...

    def apply_settings(self, settings: Mapping[str, Any]) -> None:
        """Change settings mid-run (an intervention); ``ConfigError`` if not allowed."""
        ...

    def add_agents(self, personas: Sequence[Persona]) -> None:
        """New agents take part from the current tick on; ``ConfigError`` if not allowed."""
        ...

    def remove_agents(self, ids: Sequence[str]) -> None:
        """Agents stop taking part from the current tick on; ``ConfigError`` if not allowed."""
        ...

    def use_executor(self, executor: Any) -> None:
        """Take the population executor (``run.runner``); called iff ``uses_executor``."""
        ...

    def token_budget(self, tick: int) -> int | None:
        """Tokens (prompt + completion) that all model calls of this tick may use together,
        enforced by the Gateway (calls past it are not sent; their decisions fall back with
        reason ``budget``); None: no limit."""
        ...


class RunData(Protocol):
    """A finished run as the final metrics read it (from the store, never live objects)."""

    @property
    def events(self) -> Sequence[Event]: ...

    def series(self, name: str) -> dict[int, float]:
        """A per-tick metric: value by tick."""
        ...

    def last(self, name: str) -> float:
        """A per-tick metric's value at the last tick that recorded it."""
        ...


@runtime_checkable
class Scenario(Protocol):
    """A registered scenario: config model, world builder, metrics.

    ``societas.kit.Scenario`` gives the optional members defaults."""

    name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]

    def build(
        self,
        config: Any,
        rng: np.random.Generator,
        personas: Sequence[Persona] = (),
    ) -> tuple[World, list[Persona]]:
        """The world and its agents; ``personas`` (from the scenario file's ``personas:``)
        override the scenario's own by id and add agents."""
        ...

    def scripted_policy(self, config: Any) -> ScriptedPolicy | None:
        """A rule-based answerer for ``--model scripted``; None if the scenario has none."""
        ...

    def metrics(self, config: Any, run: RunData) -> dict[str, float]:
        """Final scalar metrics from the finished run's store."""
        ...

    def mind_config(self, config: Any) -> Any:
        """A ``societas.mind.MindConfig`` for generative minds, or None (plain minds)."""
        ...

    def report_plots(self, events: Sequence[Event], out_dir: Path) -> list[tuple[str, str]]:
        """Scenario-specific report figures: (file name in ``out_dir``, caption); [] for none."""
        ...

    def step_labels(self, config: Any, run: RunData) -> dict[int, StepLabel]:
        """How each decision of the finished run served its task, read from the store: a label
        by the ``seq`` of the decision's ``action`` event. Trajectory exports (``societas
        export --format sft | preference | steps``) read it; ``default_step_labels`` is the
        default (an answer the model gave and the gateway accepted is correct, a fallback
        erroneous) for scenarios that have no verifier of their own."""
        ...


def default_step_labels(events: Sequence[Event]) -> dict[int, StepLabel]:
    """The default ``Scenario.step_labels``: a decision whose answer was valid (the action the
    model gave, first time or after a repair) is ``correct``, one that fell back (invalid
    answer, backend error, deadline, veto) is ``erroneous``. Without a verifier, the schema
    is the only check a scenario has."""
    out: dict[int, StepLabel] = {}
    for event in events:
        if event.kind == "action":
            fallback = bool(getattr(event, "fallback", False))
            out[event.seq] = "erroneous" if fallback else "correct"
    return out
