"""Population mode against Mesa: the Boltzmann wealth model with 100k agents.

Mesa (3.x, as installed) runs the non-spatial BoltzmannWealth model exactly as its tutorial
writes it with mesa.Agent / mesa.Model (``agents.shuffle_do``: each agent in random order gives
one unit to a random other agent). Mesa ships only the spatial example
(``mesa.examples.basic.boltzmann_wealth_model``, agents move on a grid and give to cellmates),
which is a different model, so it is not timed here. societas runs its ``wealth`` scenario
with the same parameters (N agents, one unit each): once through the whole engine (events,
a Gini per tick, a durable snapshot of every agent's wealth per tick in SQLite), once as the
bare vectorised step loop, and once through the engine with 16 activation rounds per step
(the variant whose Gini matches Mesa's sequential activation). The passes alternate
(Mesa, societas, Mesa, societas) since these machines are noisy; the best pass of each counts.
Prints agent-steps per second and the ratios (target: societas >= 50 x Mesa).

    python benchmarks/population_wealth.py [--agents 100000] [--mesa-steps 5] [--steps 100]
    python benchmarks/population_wealth.py --gini   # stationary Gini of each rule (N=2,000)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import mesa
import numpy as np

from societas.engine import RunOptions, prepare_run, run_sync
from societas.population import LocalExecutor
from societas.scenarios.wealth import (
    WealthConfig,
    WealthScenario,
    WealthWorld,
    gini,
    gini_from_counts,
)


class MoneyAgent(mesa.Agent):  # type: ignore[misc]
    """Mesa tutorial's agent: starts with one unit."""

    def __init__(self, model: mesa.Model) -> None:
        super().__init__(model)
        self.wealth = 1

    def exchange(self) -> None:
        if self.wealth > 0:
            other = self.random.choice(self.model.agent_list)
            while other is self:  # a random *other* agent, as in societas
                other = self.random.choice(self.model.agent_list)
            other.wealth += 1
            self.wealth -= 1


class MoneyModel(mesa.Model):  # type: ignore[misc]
    """Mesa tutorial's non-spatial BoltzmannWealth model."""

    def __init__(self, n: int, seed: int) -> None:
        super().__init__(seed=seed)
        MoneyAgent.create_agents(model=self, n=n)
        self.agent_list = list(self.agents)

    def step(self) -> None:
        self.agents.shuffle_do("exchange")


def mesa_pass(agents: int, steps: int) -> tuple[float, float]:
    model = MoneyModel(agents, seed=1)
    t0 = time.perf_counter()
    for _ in range(steps):
        model.step()
    elapsed = time.perf_counter() - t0
    wealth = np.asarray([a.wealth for a in model.agents])
    return agents * steps / elapsed, gini(wealth)


def engine_pass(agents: int, steps: int, rounds: int) -> tuple[float, float]:
    config = WealthConfig(agents=agents, steps=steps, activation_rounds=rounds)
    with tempfile.TemporaryDirectory() as tmp:
        handle = prepare_run(
            WealthScenario(), config, RunOptions(model="scripted", seed=1), Path(tmp) / "run"
        )
        t0 = time.perf_counter()
        metrics = run_sync(handle)
        elapsed = time.perf_counter() - t0
    return agents * steps / elapsed, metrics["gini"]


def step_pass(agents: int, steps: int) -> float:
    world = WealthWorld.with_seed(WealthConfig(agents=agents, steps=steps), seed=1)
    world.use_executor(LocalExecutor(1))
    t0 = time.perf_counter()
    for t in range(steps):
        world.step(t)
    return agents * steps / (time.perf_counter() - t0)


def gini_check(agents: int = 2000, steps: int = 1000) -> None:
    """Mean Gini over the second half of a long run: societas per rounds, and Mesa."""
    for rounds in (1, 4, 16):
        world = WealthWorld.with_seed(WealthConfig(agents=agents, activation_rounds=rounds), seed=3)
        world.use_executor(LocalExecutor(1))
        ginis = [gini_from_counts(world.step(t)[0]) for t in range(steps)]
        print(f"societas wealth, {rounds:>2} round(s): mean Gini of steps "
              f"{steps // 2}-{steps - 1} = {np.mean(ginis[steps // 2 :]):.3f}")  # fmt: skip
    model = MoneyModel(agents, seed=1)
    ginis = []
    for _ in range(steps):
        model.step()
        ginis.append(gini(np.asarray([a.wealth for a in model.agents])))
    print(f"mesa tutorial model:          mean Gini of steps "
          f"{steps // 2}-{steps - 1} = {np.mean(ginis[steps // 2 :]):.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=100_000)
    parser.add_argument("--mesa-steps", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--gini", action="store_true", help="only the stationary Gini check")
    args = parser.parse_args()
    if args.gini:
        gini_check()
        return

    best = {"mesa": 0.0, "engine": 0.0, "step": 0.0, "engine16": 0.0}
    gini_of = {"mesa": 0.0, "engine": 0.0, "engine16": 0.0}
    for p in range(args.passes):
        rate, g = mesa_pass(args.agents, args.mesa_steps)
        best["mesa"], gini_of["mesa"] = max(best["mesa"], rate), g
        print(f"pass {p + 1}: mesa      {rate:>14,.0f} agent-steps/s  (gini {g:.3f})")
        rate, g = engine_pass(args.agents, args.steps, 1)
        best["engine"], gini_of["engine"] = max(best["engine"], rate), g
        print(f"pass {p + 1}: societas  {rate:>14,.0f} agent-steps/s  (engine; gini {g:.3f})")
        rate = step_pass(args.agents, args.steps)
        best["step"] = max(best["step"], rate)
        print(f"pass {p + 1}: societas  {rate:>14,.0f} agent-steps/s  (step loop only)")
        rate, g = engine_pass(args.agents, args.steps, 16)
        best["engine16"], gini_of["engine16"] = max(best["engine16"], rate), g
        print(f"pass {p + 1}: societas  {rate:>14,.0f} agent-steps/s  (engine, 16 rounds)")

    mesa_rate = best["mesa"]
    print()
    print(f"agents {args.agents:,}; mesa {args.mesa_steps} steps; societas {args.steps} steps")
    print(f"mesa (tutorial model, non-spatial)   {mesa_rate:>14,.0f} agent-steps/s")
    for key, label in (
        ("engine", "societas engine run, 1 round"),
        ("step", "societas step loop, 1 round"),
        ("engine16", "societas engine run, 16 rounds"),
    ):
        print(f"{label:<36} {best[key]:>14,.0f} agent-steps/s  x{best[key] / mesa_rate:,.1f}")


if __name__ == "__main__":
    main()
