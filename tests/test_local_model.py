"""End to end on the bundled SmolLM2-135M-Instruct (llama.cpp). Slow: marked ``slow``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from societas.analysis.compare import first_difference
from societas.llm.local import BUNDLED_MODEL_ID, LocalModel, bundled_model_path
from societas.scenarios.commons.actions import harvest_model
from societas.store import RunStore
from societas.typing import ChatMessage, LLMRequest, Sampling

pytestmark = pytest.mark.slow


def test_bundled_gguf_is_found_in_the_installed_package() -> None:
    path = bundled_model_path()
    assert path.suffix == ".gguf"
    assert path.stat().st_size > 50_000_000


def test_local_model_answers_within_the_json_schema() -> None:
    model = LocalModel()
    action = harvest_model(100)
    request = LLMRequest(
        messages=(
            ChatMessage(role="system", content="You are a fisher on a shared lake."),
            ChatMessage(role="user", content="The lake holds 100 tons. How many do you catch?"),
        ),
        json_schema=action.json_schema(),
        sampling=Sampling(temperature=0.7, max_tokens=96),
        seed=3,
    )

    async def go() -> list[str]:
        try:
            return [(await model.generate(request)).text for _ in range(2)]
        finally:
            await model.aclose()

    first, second = asyncio.run(go())
    parsed = action.model_validate_json(first)  # grammar-constrained: always valid
    assert 0 <= parsed.catch <= 100
    assert first == second  # same seed, same answer
    assert model.model_id == BUNDLED_MODEL_ID
    assert isinstance(json.loads(first), dict)


def test_commons_on_the_local_model_and_its_exact_replay(
    run_commons: Callable[..., Path],
) -> None:
    sets = ("agents=2", "months=2", "discussion_rounds=1", "collapse_threshold=0")
    recorded = run_commons(*sets, seed=0, model="local", name="local")
    replayed = run_commons(
        *sets, f"run.cache={recorded / 'cache.db'}", seed=0, model="replay", name="replay"
    )
    a = RunStore.open(recorded, readonly=True)
    b = RunStore.open(replayed, readonly=True)
    assert a.run_info()["status"] == "completed"
    assert first_difference(a.events(), b.events()) is None
    assert a.final_metrics() == b.final_metrics()
    calls = a.llm_calls_df()
    assert len(calls) >= 2 * 2 * 3
    assert set(calls["model"]) == {BUNDLED_MODEL_ID}
    assert int(calls["completion_tokens"].sum()) > 0
