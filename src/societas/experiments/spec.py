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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from societas.typing import ConfigError

__all__ = ["Condition", "ExperimentSpec", "load_experiment"]


class Condition(BaseModel):
    """One cell of the grid: an id and the ``--set`` overrides that make it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    overrides: dict[str, Any]

    def sets(self) -> list[str]:
        return [f"{k}={json.dumps(v)}" for k, v in self.overrides.items()]


class ExperimentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
    scenario: str
    base: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any] | dict[str, Any]] = Field(default_factory=dict)
    seeds: list[int] = Field(default_factory=lambda: [0])

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

    def conditions(self) -> list[Condition]:
        """The grid's cartesian product. A grid entry given as a mapping names its values."""
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
        raise ConfigError(src, field, str(err["msg"]), err.get("input")) from exc
