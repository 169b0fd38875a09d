"""The wealth scenario gives identical arrays and metrics in 1 shard, 3 local shards, and 2 Ray
actors (a local Ray instance with 2 CPUs), through the runner (``run.runner``/``run.shards``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from societas.engine import RunOptions, prepare_run, run_sync
from societas.population import PopulationState, RayExecutor
from societas.scenarios.wealth import WealthConfig, WealthScenario
from societas.store import RunStore

pytest.importorskip("ray")

CONFIG = WealthConfig(agents=20_001, steps=8, activation_rounds=3)


def _run(tmp_path: Path, name: str, **options: object) -> tuple[dict[str, float], np.ndarray]:
    out = tmp_path / name
    handle = prepare_run(
        WealthScenario(), CONFIG, RunOptions(model="scripted", seed=11, **options), out
    )
    if options.get("runner") == "ray":
        assert isinstance(handle.executor, RayExecutor)
        assert handle.executor.n_shards == 2
    metrics = run_sync(handle)
    with RunStore.open(out, readonly=True) as store:
        snap = store.latest_snapshot()
    assert snap is not None
    wealth = PopulationState.from_snapshot(snap[2]["world"]["population"])["wealth"]
    return metrics, wealth


def test_local_one_shard_three_shards_and_ray_give_identical_results(tmp_path: Path) -> None:
    one, w1 = _run(tmp_path, "one")
    three, w3 = _run(tmp_path, "three", shards=3)
    ray_metrics, w_ray = _run(tmp_path, "ray", runner="ray", shards=2)
    assert w1.sum() == CONFIG.agents
    assert not np.array_equal(w1, np.ones(CONFIG.agents))
    assert np.array_equal(w1, w3)
    assert np.array_equal(w1, w_ray)
    assert one == three == ray_metrics
    assert one["steps"] == CONFIG.steps
    assert one["gini"] > 0.2

    import ray

    assert not ray.is_initialized()


def test_social_gives_the_same_metrics_locally_and_on_ray(tmp_path: Path) -> None:
    from societas.scenarios import load_spec

    def run(name: str, *sets: str) -> dict[str, float]:
        spec = load_spec(
            "social",
            ["agents=3000", "ticks=4", "mode=archetype", "focal_agents=0", *sets],
            model="scripted",
            seed=5,
        )
        return run_sync(prepare_run(spec.scenario, spec.config, spec.options, tmp_path / name))

    local = run("local")
    on_ray = run("ray", "run.runner=ray", "run.shards=2")
    assert local == on_ray
    assert local["seed0_size"] > 1  # the rumour spread, so there was something to compare
