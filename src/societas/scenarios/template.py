"""``societas new scenario NAME``: a plugin package to start a scenario from.

The package holds a complete, small game on the scenario kit (Keynes's beauty contest: every
round each player guesses a number, and whoever is closest to two thirds of the mean wins),
registered by entry point, with a README and a test that runs the conformance suite. It installs
and passes its test as generated.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from societas import __version__
from societas.typing import ConfigError

__all__ = ["write_scenario_package"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_") if part)


def write_scenario_package(name: str, directory: Path) -> Path:
    """Write the package ``directory/name/``; returns its path. Refuses to overwrite."""
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise ConfigError(
            "NAME", "name", "a lowercase Python identifier (letters, digits, _), e.g. my_game", name
        )
    root = directory / name
    if root.exists():
        raise ConfigError(str(root), "", "a path that does not exist yet (nothing is overwritten)")
    cls = _class_name(name)
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"{name}/__init__.py": _MODULE,
        f"tests/test_{name}.py": _TEST,
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            text.replace("__NAME__", name)
            .replace("__CLASS__", cls)
            .replace("__VERSION__", __version__),
            encoding="utf-8",
        )
    return root


_PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.24"]
build-backend = "hatchling.build"

[project]
name = "__NAME__"
version = "0.1.0"
description = "A societas scenario."
requires-python = ">=3.11"
dependencies = ["societas>=__VERSION__"]

[project.optional-dependencies]
test = ["pytest>=8"]

# The entry point's name must equal the scenario's ``name``.
[project.entry-points."societas.scenarios"]
__NAME__ = "__NAME__:__CLASS__Scenario"

[tool.hatch.build.targets.wheel]
packages = ["__NAME__"]
"""

_README = """\
# __NAME__

A scenario for [societas](https://pypi.org/project/societas/), started from
`societas new scenario __NAME__`: Keynes's beauty contest. Every round each player guesses a
whole number from 0 to 100; whoever is closest to two thirds of the mean guess wins the round.
The per-round mean guess and winning target are recorded every tick; the final metrics are the
last round's mean guess and its distance from the game's equilibrium (0).

```bash
pip install -e '.[test]'
societas run __NAME__ --model test --out runs/try     # offline, any schema answered validly
societas run __NAME__ --model local --set rounds=3    # the bundled model
societas report runs/try
pytest                                                # the conformance suite
```

Change the rules in `__NAME__/__init__.py`; the guide is societas's
`docs/writing-a-scenario.md`.
"""

_MODULE = '''\
"""__CLASS__: Keynes's beauty contest on the societas scenario kit."""

from __future__ import annotations

from collections.abc import Mapping
from statistics import mean

import numpy as np
from pydantic import BaseModel, Field

from societas.kit import Action, Persona, Phase, PhaseContext, RunData, Scenario, State, World
from societas.kit import numbered_personas


class __CLASS__Config(BaseModel):
    agents: int = Field(default=4, ge=2, le=1000, description="number of players")
    rounds: int = Field(default=5, ge=1, le=1000, description="rounds to play")
    factor: float = Field(default=2 / 3, gt=0, le=1, description="target = factor x mean")


class Guess(Action):
    guess: int = Field(ge=0, le=100, description="your guess, a whole number from 0 to 100")


class Contest(State):
    wins: dict[str, int] = {}
    news: str = "This is the first round."


class __CLASS__World(World[__CLASS__Config, Contest]):
    def setup(self, rng: np.random.Generator) -> None:
        c = self.config
        self.rules_text = (
            f"You play {c.rounds} rounds of a guessing game with {c.agents - 1} others. Every "
            "round each player guesses a whole number from 0 to 100. Whoever is closest to "
            f"{c.factor:.3g} times the mean of all guesses wins the round."
        )

    def num_ticks(self) -> int:
        return self.config.rounds

    def phases(self, tick: int) -> list[Phase]:
        return [Phase(name="guess", action_model=Guess, observe=self.observe,
                      resolve=self.resolve, fallback=Guess(guess=50))]

    def observe(self, agent_id: str, tick: int) -> str:
        won = self.state.wins.get(agent_id, 0)
        return f"Round {tick + 1}. {self.state.news} You have won {won} rounds so far."

    def resolve(self, actions: Mapping[str, Guess], ctx: PhaseContext) -> dict[str, str]:
        guesses = {agent: action.guess for agent, action in actions.items()}
        target = self.config.factor * mean(guesses.values())
        best = min(abs(g - target) for g in guesses.values())
        winners = sorted(a for a, g in guesses.items() if abs(g - target) == best)
        for agent in winners:
            self.state.wins[agent] = self.state.wins.get(agent, 0) + 1
        ctx.metric("mean_guess", mean(guesses.values()))
        ctx.metric("target", target)
        self.state.news = f"Last round the target was {target:.1f}."
        return {a: f"Round {ctx.tick + 1}: you guessed {g}; the target was {target:.1f}."
                for a, g in guesses.items()}


class __CLASS__Scenario(Scenario[__CLASS__Config]):
    name = "__NAME__"
    world = __CLASS__World

    def personas(self, config: __CLASS__Config, rng: np.random.Generator) -> list[Persona]:
        return numbered_personas("player", config.agents)

    def metrics(self, config: __CLASS__Config, run: RunData) -> dict[str, float]:
        last = run.last("mean_guess")
        return {"final_mean_guess": last, "distance_from_equilibrium": abs(last)}
'''

_TEST = '''\
"""The societas conformance suite on this scenario: reproducible, resumable after a kill,
replayable, checkable, reportable, and strict about bad settings."""

from __future__ import annotations

from pathlib import Path

from societas.testing.conformance import check_scenario


def test_conformance(tmp_path: Path) -> None:
    report = check_scenario("__NAME__", tmp_path=tmp_path, config_overrides=["rounds=4"])
    assert report.ok, report.summary()
'''
