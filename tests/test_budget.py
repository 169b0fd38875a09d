"""``run.budget``: a run that reaches its budget pauses after its last completed tick and
resumes with a higher one; spend is read from the store, so it survives the resume."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from societas.analysis.compare import first_difference
from societas.engine import prepare_resume, prepare_run, run_sync
from societas.engine.health import BudgetPaused
from societas.engine.options import Budget
from societas.llm.budget import (
    BudgetedModel,
    BudgetLimits,
    BudgetMonitor,
    BudgetReached,
    Price,
    reserve_tokens,
)
from societas.scenarios import LoadedSpec, get_scenario, load_spec
from societas.store import RunStore
from societas.testing.schema_model import SchemaFiller, TestModel
from societas.typing import ChatMessage, ConfigError, LLMRequest, LLMResponse, Sampling

TEAMS = ["topology=debate", "tasks=4", "rounds=2"]  # 4 ticks of 9 calls (3 solve + 2 x 3)


def _spec(*sets: str) -> LoadedSpec:
    return load_spec("teams", [*TEAMS, *sets], model="test")


def _request(text: str = "x" * 40, max_tokens: int = 20) -> LLMRequest:
    return LLMRequest(
        messages=(ChatMessage(role="user", content=text),),
        sampling=Sampling(max_tokens=max_tokens),
    )


class _Slow:
    """Answers after a pause, so many calls are in flight at once."""

    model_id = "slow"

    def __init__(self) -> None:
        self.sent = 0

    async def generate(self, request: LLMRequest) -> LLMResponse:
        self.sent += 1
        await asyncio.sleep(0.01)
        return LLMResponse(text="{}", model="slow", prompt_tokens=10, completion_tokens=5)

    async def aclose(self) -> None:
        return None


def test_calls_in_flight_at_once_never_pass_a_calls_budget() -> None:
    inner = _Slow()
    monitor = BudgetMonitor(BudgetLimits(calls=7))
    model = BudgetedModel(inner, monitor)

    async def main() -> list[LLMResponse | BaseException]:
        return await asyncio.gather(
            *(model.generate(_request()) for _ in range(20)), return_exceptions=True
        )

    results = asyncio.run(main())
    refused = [r for r in results if isinstance(r, BudgetReached)]
    assert inner.sent == 7
    assert len(refused) == 13
    assert monitor.spent.calls == 7
    assert monitor.spent.tokens == 7 * 15
    assert monitor.reason is not None
    assert "run.budget.calls 7" in monitor.reason
    assert not refused[0].retryable


def test_token_and_cost_budgets_hold_each_call_at_its_most() -> None:
    prompt, completion = reserve_tokens(_request("y" * 40, max_tokens=20))
    assert (prompt, completion) == (20 + 8, 20)
    # 100 tokens allow two calls held at 48 each, not a third, before any answer.
    monitor = BudgetMonitor(BudgetLimits(tokens=100))
    monitor.reserve("m", _request("y" * 40))
    monitor.reserve("m", _request("y" * 40))
    with pytest.raises(BudgetReached, match=r"run\.budget\.tokens 100"):
        monitor.reserve("m", _request("y" * 40))
    # Cost: 48 tokens at 1,000 per 1M prompt and 2,000 per 1M completion = 0.068 a call.
    priced = BudgetMonitor(
        BudgetLimits(cost=0.1), price=lambda m: Price(prompt=1000.0, completion=2000.0)
    )
    held = priced.reserve("m", _request("y" * 40))
    assert held[2] == pytest.approx(0.068)
    with pytest.raises(BudgetReached, match=r"run\.budget\.cost 0\.1"):
        priced.reserve("m", _request("y" * 40))
    priced.release(held)
    priced.charge("m", 10, 5)  # what the model reported: 0.02
    assert priced.spent.cost == pytest.approx(0.02)
    priced.reserve("m", _request("y" * 40))  # 0.02 + 0.068 fits again


def test_cache_hits_are_free() -> None:
    class Cached(_Slow):
        async def generate(self, request: LLMRequest) -> LLMResponse:
            response = await super().generate(request)
            return response.model_copy(update={"cached": True})

    monitor = BudgetMonitor(BudgetLimits(calls=1))
    model = BudgetedModel(Cached(), monitor)
    for _ in range(3):
        asyncio.run(model.generate(_request()))
    assert monitor.spent.calls == 0


def test_a_budget_pauses_the_run_and_a_higher_one_completes_it(tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    spec = _spec()
    run_sync(prepare_run(spec.scenario, spec.config, spec.options, whole))

    out = tmp_path / "budget"
    spec = _spec("run.budget.calls=20")
    handle = prepare_run(spec.scenario, spec.config, spec.options, out)
    with pytest.raises(BudgetPaused) as paused:
        run_sync(handle)
    # Ticks 0 and 1 took 18 calls; tick 2 sent 2 more, then the third could pass 20: the tick
    # is dropped and the message says what was spent, counting the dropped tick's calls.
    assert paused.value.ticks_completed == 2
    assert paused.value.exit_code != 0
    assert "spent 20 of 20 calls" in str(paused.value)
    with RunStore.open(out, readonly=True) as store:
        info = store.run_info()
        assert info["status"] == "paused"
        assert info["ticks_completed"] == 2
        assert "budget reached" in str(info["error"])
        # The 2 calls of the dropped tick were paid: the store keeps them in run_paused.
        assert sum(r[1] for r in store.spend_by_model()) == 20
        assert store.events(["run_paused"])[0].model_dump()["dropped_spend"] == {
            "test": [2, *store.events(["run_paused"])[0].model_dump()["dropped_spend"]["test"][1:]]
        }
        with RunStore.open(whole, readonly=True) as ref:
            upto = [e for e in ref.events() if e.tick < 2]
        assert first_difference(upto, store.events()) is None

    # The same budget again: the spend comes from the store (20), the two calls of tick 2
    # already paid come from the response cache, and the run pauses without paying more.
    again = prepare_resume(out, get_scenario("teams"))
    assert again.simulation.budget is not None
    assert again.simulation.budget.spent.calls == 20
    with pytest.raises(BudgetPaused, match="spent 20 of 20 calls"):
        run_sync(again)

    resumed = prepare_resume(out, get_scenario("teams"), budget=Budget(calls=40))
    seen: list[int] = []
    resumed.simulation.on_progress = lambda p: seen.append(p.spent.calls if p.spent else -1)
    run_sync(resumed)
    with RunStore.open(out, readonly=True) as store, RunStore.open(whole, readonly=True) as ref:
        assert store.run_info()["status"] == "completed"
        assert store.run_info()["config"]["run"]["budget"]["calls"] == 40
        assert first_difference(ref.events(), store.events()) is None
        assert ref.final_metrics() == store.final_metrics()
        paid = sum(r[1] for r in store.spend_by_model())
    assert paid == 36  # each call paid once: 2 before the pause, served by the cache after it
    assert seen == [27, 36]  # the progress shows the spend since the start, not this process's


def test_a_cost_budget_needs_a_price_for_the_model(tmp_path: Path) -> None:
    spec = _spec("run.budget.cost=0.01")
    with pytest.raises(ConfigError, match=r"prices\.test"):
        prepare_run(spec.scenario, spec.config, spec.options, tmp_path / "r")
    assert not (tmp_path / "r").exists()
    spec = _spec(
        "run.budget.cost=0.002", "run.prices.test.prompt=1.0", "run.prices.test.completion=4.0"
    )
    with pytest.raises(BudgetPaused, match=r"run\.budget\.cost 0\.002"):
        run_sync(prepare_run(spec.scenario, spec.config, spec.options, tmp_path / "p"))
    # A resume with a cost budget and no price is refused, and the stored budget stays.
    spec = _spec("run.budget.calls=5")
    with pytest.raises(BudgetPaused):
        run_sync(prepare_run(spec.scenario, spec.config, spec.options, tmp_path / "c"))
    with pytest.raises(ConfigError, match=r"prices\.test"):
        prepare_resume(tmp_path / "c", get_scenario("teams"), budget=Budget(cost=1.0))
    with RunStore.open(tmp_path / "c", readonly=True) as store:
        assert store.run_info()["config"]["run"]["budget"] == Budget(calls=5).model_dump()


def _cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "societas", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def test_the_cli_pauses_says_what_was_spent_and_resumes(tmp_path: Path) -> None:
    sets = [a for s in TEAMS for a in ("--set", s)]
    out = tmp_path / "run"
    done = _cli(
        "run", "teams", "-m", "test", *sets, "--set", "run.budget.tokens=4000", "-o", str(out),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 75, done.stderr
    assert "budget reached (run.budget.tokens 4,000)" in done.stderr
    assert "of 4,000 tokens" in done.stderr
    assert f"societas resume {out} --set run.budget.tokens=8000" in done.stderr
    bad = _cli("resume", str(out), "--set", "run.seed=3", cwd=tmp_path)
    assert bad.returncode == 2
    assert "only the budget changes on resume" in bad.stderr
    done = _cli("resume", str(out), "--set", "run.budget.tokens=100000", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(_cli("summary", str(out), "--json", cwd=tmp_path).stdout)
    assert summary["status"] == "completed"


@pytest.mark.slow  # two sweeps of two runs, each in its own process
def test_a_sweep_gives_each_run_the_budget_and_resumes_under_a_higher_one(
    tmp_path: Path,
) -> None:
    experiment = tmp_path / "exp.yaml"
    text = (
        "name: budget\n"
        "scenario: teams\n"
        "base: {tasks: 2, rounds: 2, run: {model: test, budget: {calls: BUDGET}}}\n"
        "grid: {topology: [debate, independent]}\n"
        "seeds: 1\n"
    )
    experiment.write_text(text.replace("BUDGET", "10"))
    out = tmp_path / "sweep"
    first = _cli("sweep", str(experiment), "-o", str(out), cwd=tmp_path, timeout=600)
    assert first.returncode != 0
    assert "budget reached" in first.stderr
    experiment.write_text(text.replace("BUDGET", "1000"))
    second = _cli("sweep", str(experiment), "-o", str(out), cwd=tmp_path, timeout=600)
    assert second.returncode == 0, second.stderr
    statuses = []
    for store_dir in sorted(p.parent for p in out.rglob("run.db")):
        with RunStore.open(store_dir, readonly=True) as store:
            statuses.append(store.run_info()["status"])
    assert statuses
    assert set(statuses) == {"completed"}


def test_the_test_model_reports_tokens() -> None:
    # The budget tests above rely on the test model reporting token counts.
    response = asyncio.run(TestModel().generate(_request()))
    assert response.prompt_tokens > 0


def test_a_persons_answers_at_a_seat_cost_nothing(tmp_path: Path) -> None:
    # fisher_2's decisions are a person's (answered from a thread, as the dashboard would):
    # neither the run nor its resume charges them to the budget.
    from societas.engine.runner import budget_monitor
    from societas.engine.settings import Spending
    from societas.llm.human import answer_seat, pending_requests

    out = tmp_path / "seated"
    spec = load_spec(
        "commons",
        ["months=2", "protocol=societas", "run.budget.calls=100000", 'run.human=["fisher_2"]'],
        model="scripted",
        seed=3,
    )
    handle = prepare_run(spec.scenario, spec.config, spec.options, out)
    done = threading.Event()
    answered: list[str] = []

    def person() -> None:
        while not done.is_set():
            for request in pending_requests(out):
                if request.id not in answered and request.json_schema is not None:
                    text = json.dumps(SchemaFiller(request.json_schema, random.Random(1)).fill())
                    answer_seat(out, request.id, text)
                    answered.append(request.id)
            time.sleep(0.02)

    seat = threading.Thread(target=person, daemon=True)
    seat.start()
    try:
        run_sync(handle)
    finally:
        done.set()
        seat.join(timeout=10)
    assert answered
    with RunStore.open(out, readonly=True) as store:
        assert store.run_info()["status"] == "completed"
        calls = [e.payload() for e in store.events(["llm_call"])]
        rows = store.spend_by_model()
    by_model = [c for c in calls if c["model"] != "human" and not c["cache_hit"]]
    assert sum(c["model"] == "human" for c in calls) == len(answered)
    assert handle.simulation.budget is not None
    assert handle.simulation.budget.spent.calls == len(by_model)
    # What a resume reads from the store: the person's calls are there, and cost nothing.
    assert "human" in {row[0] for row in rows}
    assert budget_monitor(spec.options.part(Spending), rows).spent.calls == len(by_model)


def test_a_branched_sweep_runs_parent_and_branches_under_the_files_budget(
    tmp_path: Path,
) -> None:
    from societas.experiments import run_sweep

    # 10 calls a month: the parent reaches the branch point (2 months) within 25 calls, and a
    # branch, whose store holds the parent's 20, pauses in its first month of its own.
    experiment = tmp_path / "exp.yaml"
    text = (
        "name: branched-budget\n"
        "scenario: commons\n"
        "base: {agents: 3, months: 4, run: {model: scripted, budget: {calls: BUDGET}}}\n"
        "branches: {at: 2, control: control, conditions: {control: {}, slow: "
        "{set: {regen_factor: 1.5}}}}\n"
        "seeds: 1\n"
    )
    experiment.write_text(text.replace("BUDGET", "25"))
    out = tmp_path / "exp"
    first = run_sweep(experiment, out=out)
    assert first.failed
    for name in ("control", "slow"):
        with RunStore.open(out / "runs" / f"{name}-seed0", readonly=True) as store:
            info = store.run_info()
            assert info["status"] == "paused", name
            assert "run.budget.calls 25" in str(info["error"])
            assert info["ticks_completed"] == 2
    experiment.write_text(text.replace("BUDGET", "1000"))
    second = run_sweep(experiment, out=out)
    assert not second.failed, second.failed
    for name in ("control", "slow"):
        with RunStore.open(out / "runs" / f"{name}-seed0", readonly=True) as store:
            info = store.run_info()
            assert info["status"] == "completed"
            assert info["config"]["run"]["budget"]["calls"] == 1000
