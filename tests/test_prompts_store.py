"""Every prompt and answer in the store: llm_prompts + content-addressed blobs, the calls
export, and exactness across resume and replay."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from societas.cli.main import app
from societas.engine import prepare_resume, prepare_run, run_sync
from societas.engine.simulation import RunInterrupted
from societas.scenarios import get_scenario, load_spec
from societas.store import RunStore

SETS = ["months=3"]
SAME = ("tick", "actor", "purpose", "model", "status", "messages", "answer", "schema_name")


def _run(out: Path, *sets: str, model: str = "scripted", stop_after: int | None = None) -> None:
    spec = load_spec("commons", [*SETS, *sets], model=model, seed=4)
    handle = prepare_run(spec.scenario, spec.config, spec.options, out)
    if stop_after is not None:
        progress = handle.simulation.on_progress

        def stop(p: Any) -> None:
            if progress is not None:
                progress(p)
            if p.tick >= stop_after:
                handle.simulation.request_stop()

        handle.simulation.on_progress = stop
    with contextlib.suppress(RunInterrupted):
        run_sync(handle)


def _calls(out: Path) -> list[dict[str, Any]]:
    with RunStore.open(out, readonly=True) as store:
        return list(store.calls())


def test_every_call_keeps_its_messages_schema_sampling_and_answer(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _run(out)
    calls = _calls(out)
    assert calls
    for call in calls:
        assert call["messages"], call
        assert {m["role"] for m in call["messages"]} <= {"system", "user", "assistant"}
        assert call["answer"] is not None
        assert call["sampling"]["max_tokens"] > 0
        assert "seed" in call["sampling"]
    assert {c["schema_name"] for c in calls} - {None}
    with RunStore.open(out, readonly=True) as store:
        conn = store._conn
        blobs = conn.execute("SELECT COUNT(*) FROM blobs").fetchone()[0]
        rows = conn.execute("SELECT COUNT(*) FROM llm_prompts").fetchone()[0]
    texts = sum(len(c["messages"]) + 1 for c in calls)
    assert rows == len(calls)
    assert blobs < texts  # shared text (system prompts, rules) stored once


def test_export_calls_writes_one_line_per_call_with_messages(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _run(out)
    target = tmp_path / "calls.jsonl"
    result = CliRunner().invoke(app, ["export", str(out), "--format", "calls", "-o", str(target)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert lines == json.loads(json.dumps(_calls(out)))
    assert len(lines) == len(_calls(out))
    assert all(line["messages"][-1]["content"] for line in lines)


def test_a_resumed_run_stores_the_same_prompts_and_answers(tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    _run(whole)
    parts = tmp_path / "parts"
    _run(parts, stop_after=1)
    with RunStore.open(parts, readonly=True) as store:
        assert store.run_info()["status"] == "interrupted"
    handle = prepare_resume(parts, get_scenario("commons"))
    run_sync(handle)

    def same(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: c[k] for k in SAME} for c in calls]

    assert same(_calls(parts)) == same(_calls(whole))


def test_a_replayed_run_stores_the_same_prompts_and_answers(tmp_path: Path) -> None:
    recorded = tmp_path / "rec"
    _run(recorded)
    replayed = tmp_path / "replay"
    _run(replayed, f"run.cache={recorded / 'cache.db'}", model="replay")
    keys = ("tick", "actor", "purpose", "status", "messages", "answer", "schema_name")
    assert [{k: c[k] for k in keys} for c in _calls(replayed)] == [
        {k: c[k] for k in keys} for c in _calls(recorded)
    ]
