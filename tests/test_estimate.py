"""``societas estimate``: a dry run with the test model, tokens counted by the run's model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from societas.analysis.estimate import estimate, token_counter
from societas.engine import prepare_run, run_sync
from societas.scenarios import load_spec
from societas.store import RunStore
from societas.typing import ChatMessage


def test_calls_per_tick_match_the_run_and_totals_scale(tmp_path: Path) -> None:
    sets = ["topology=debate", "tasks=4", "rounds=2"]
    spec = load_spec("teams", sets, model="scripted")
    result = estimate(spec)
    assert [t.calls for t in result.ticks] == [9, 9, 9, 9]  # 3 solve + 2 debate rounds of 3
    handle = prepare_run(spec.scenario, spec.config, spec.options, tmp_path / "real")
    run_sync(handle)
    with RunStore.open(tmp_path / "real", readonly=True) as store:
        assert store.counts()["llm_calls"] == result.totals()["calls"] == 36
    half = estimate(spec, ticks=2)
    assert half.ticks_run == 2
    assert half.totals()["calls"] == 36  # scaled from 2 ticks to 4


def test_tokens_are_counted_with_the_bundled_models_tokenizer() -> None:
    count, exact = token_counter("local")
    assert exact
    messages = [
        ChatMessage(role="system", content="Rules."),
        ChatMessage(role="user", content="Hi"),
    ]
    # SmolLM2's chat template wraps each message in <|im_start|>role ... <|im_end|>
    assert 8 <= count(messages) <= 20
    approx, exact_openai = token_counter("openai:some-model")
    assert not exact_openai
    assert approx(messages) == 3  # (6 + 3) // 4 + (2 + 3) // 4: 4 characters a token


def test_the_cli_prints_the_table_and_json(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "societas", "estimate", "teams", "--set", "tasks=3", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["total"]["calls"] == 9  # independent: 3 members x 3 tasks
    assert data["tokens_counted_with"] == "the model's tokenizer"
