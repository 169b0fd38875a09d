"""Experiment files: a scenario, base settings, a grid of overrides, and seeds.

```yaml
name: universalization
scenario: commons
base:                       # scenario settings and a run: block, as in a scenario file
  months: 12
  run: {model: scripted}
grid:                       # every combination is one condition
  universalization: [false, true]
  run.temperature: {cold: 0.2, warm: 0.7}   # a mapping names the values
seeds: [0, 1, 2, 3, 4]      # or a count: seeds: 5  (0..4)
reference:                  # optional: published values shown beside our means
  note: "GovSim, Qwen-110B"
  values:
    universalization-false:            # a condition id
      survival_time: {value: 6.6, source: "Piatti et al. 2024, Table 4, row Qwen-110B"}
```

Paired counterfactuals take ``branches:`` instead of a grid: per seed one parent run of the
base settings plays ticks ``0..at-1``; every condition continues from the parent's snapshot
after tick ``at - 1`` with its change (an intervention at tick ``at``: ``set``, ``message``,
``to``, ``add``, ``remove``), so treatment and control share their past exactly:

```yaml
branches:
  at: 4                       # the first tick that differs
  control: control            # the condition the others are compared with
  conditions:
    control: {}               # no change: the parent continued
    no-talk: {set: {communication: false}}
    newcomer: {add: [{id: fisher_6, name: Zoe, attributes: {disposition: greedy}}]}
```
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from societas.typing import ConfigError, Persona

__all__ = [
    "BranchChange",
    "Branches",
    "Condition",
    "ExperimentSpec",
    "Reference",
    "ReferenceValue",
    "load_experiment",
]


class Condition(BaseModel):
    """One cell of the grid: an id and the ``--set`` overrides that make it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    overrides: dict[str, Any]

    def sets(self) -> list[str]:
        return [f"{k}={json.dumps(v)}" for k, v in self.overrides.items()]


class ReferenceValue(BaseModel):
    """A published value of one metric in one condition, and where it comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float = Field(allow_inf_nan=False)
    source: str = Field(min_length=1, max_length=500)


class Reference(BaseModel):
    """Reference values per condition id and metric name; ``note`` says what they are (or
    why there are none)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000)
    values: dict[str, dict[str, ReferenceValue]] = Field(default_factory=dict)


class BranchChange(BaseModel):
    """What one branch changes at tick ``at``: an intervention without its tick (see
    ``societas.engine.protocol.Intervention``). Empty for a control that just continues."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    set: dict[str, Any] = Field(default_factory=dict)
    message: str | None = Field(default=None, max_length=2000)
    to: list[str] | None = None
    add: list[Persona] = Field(default_factory=list, max_length=10_000)
    remove: list[str] = Field(default_factory=list, max_length=10_000)

    def is_empty(self) -> bool:
        return not self.set and self.message is None and not self.add and not self.remove

    def intervention(self, at: int) -> dict[str, Any] | None:
        """The run's intervention at tick ``at`` (None for no change), as stored in the run's
        ``run.interventions``."""
        if self.is_empty():
            return None
        return {"tick": at, **self.model_dump(mode="json", exclude_defaults=True)}


class Branches(BaseModel):
    """Conditions that share a parent run per seed up to tick ``at`` (paired counterfactuals)."""

    model_config = ConfigDict(extra="forbid")

    at: int = Field(ge=1, description="the first tick of the branches (the parent plays 0..at-1)")
    control: str = Field(default="control", description="the condition compared with")
    conditions: dict[str, BranchChange] = Field(min_length=2)

    @field_validator("conditions")
    @classmethod
    def _names(cls, value: dict[str, BranchChange]) -> dict[str, BranchChange]:
        for name in value:
            if name == "parent" or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}", name):
                raise ValueError(
                    f"branch name '{name}' must be 1-40 letters, digits, '_', '.', '-' "
                    "(and not 'parent')"
                )
        return value

    @model_validator(mode="after")
    def _control(self) -> Branches:
        if self.control not in self.conditions:
            raise ValueError(
                f"the control '{self.control}' is not one of the branches: "
                + ", ".join(self.conditions)
            )
        return self


class ExperimentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
    scenario: str
    base: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any] | dict[str, Any]] = Field(default_factory=dict)
    seeds: list[int] = Field(default_factory=lambda: [0])
    reference: Reference | None = None
    branches: Branches | None = None

    @field_validator("seeds", mode="before")
    @classmethod
    def _count(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            if not 1 <= value <= 10_000:
                raise ValueError("a count from 1 to 10000, or a list of seeds")
            return list(range(value))
        return value

    @field_validator("grid")
    @classmethod
    def _non_empty(
        cls, value: dict[str, list[Any] | dict[str, Any]]
    ) -> dict[str, list[Any] | dict[str, Any]]:
        for key, values in value.items():
            if not values:
                raise ValueError(f"grid key '{key}' needs at least one value")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", key):
                raise ValueError(f"grid key '{key}' must be a dotted setting name")
        return value

    @model_validator(mode="after")
    def _reference_conditions(self) -> ExperimentSpec:
        if self.branches is not None and self.grid:
            raise ValueError(
                "an experiment takes a grid or branches, not both (run one experiment per "
                "grid cell, each with its branches)"
            )
        if self.reference is not None:
            ids = [c.id for c in self.conditions()]
            for condition in self.reference.values:
                if condition not in ids:
                    raise ValueError(
                        f"reference.values names condition '{condition}', which is not one of "
                        f"the grid's conditions: {', '.join(ids)}"
                    )
        return self

    def conditions(self) -> list[Condition]:
        """The grid's cartesian product. A grid entry given as a mapping names its values.
        With ``branches``, one condition per branch (its change is not a setting)."""
        if self.branches is not None:
            return [Condition(id=name, overrides={}) for name in self.branches.conditions]
        keys = list(self.grid)
        options: list[list[tuple[str, Any]]] = []
        for key in keys:
            values = self.grid[key]
            short = key.split(".")[-1]
            if isinstance(values, dict):
                options.append([(_slug(label), v) for label, v in values.items()])
            else:
                options.append([(f"{short}-{_slug(v)}", v) for v in values])
        cells = []
        for combo in itertools.product(*options):
            overrides = {k: v for k, (_, v) in zip(keys, combo, strict=True)}
            label = "_".join(name for name, _ in combo)
            cells.append(Condition(id=label or "base", overrides=overrides))
        return cells


def _slug(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return re.sub(r"[^A-Za-z0-9.]+", "", text.replace(":", "."))[:40] or "x"


def load_experiment(path: Path) -> ExperimentSpec:
    src = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(src, "", "a readable UTF-8 experiment file", type(exc).__name__) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(src, "", "valid YAML", str(getattr(exc, "problem", exc))) from exc
    if not isinstance(data, Mapping):
        raise ConfigError(src, "", "a mapping with name, scenario, grid and seeds", data)
    try:
        return ExperimentSpec.model_validate(dict(data))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if not field and msg.startswith("reference.values"):  # the model-level check
            field, got = "reference.values", None
        elif not field and msg.startswith("an experiment takes"):
            field, got = "branches", None
        else:
            got = err.get("input")
        raise ConfigError(src, field, msg, got) from exc
