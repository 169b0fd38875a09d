"""The engine: concurrency, deadlines, determinism, replay, resume after a killed process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from societas.analysis.compare import comparable, first_difference
from societas.engine import RunOptions, Simulation, prepare_resume, run_sync
from societas.engine.health import FallbackRateExceeded
from societas.llm import Gateway, ResponseCache, build_stack
from societas.mind import Mind
from societas.scenarios import get_scenario
from societas.scenarios.commons import CommonsConfig, CommonsScenario
from societas.scenarios.commons.scripted import commons_policy
from societas.store import RunStore
from societas.typing import LanguageModel, LLMRequest, LLMResponse, Sampling, StoreError


class Probe:
    """Scripted answers with a delay; tracks how many requests are in flight at once."""

    model_id = "probe"

    def __init__(self, delay: float = 0.05, hang_for: str | None = None) -> None:
        self.delay = delay
        self.hang_for = hang_for
        self.in_flight = 0
        self.peak = 0

    async def generate(self, request: LLMRequest) -> LLMResponse:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if request.actor == self.hang_for and request.purpose == "harvest":
                await asyncio.sleep(3600)
            await asyncio.sleep(self.delay)
            text = commons_policy(request, np.random.default_rng(request.seed))
            return LLMResponse(text=text, model=self.model_id)
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        return None


def build_sim(
    tmp_path: Path, backend: LanguageModel, *, deadline_s: float = 60.0, **cfg: object
) -> Simulation:
    scenario = CommonsScenario()
    config = CommonsConfig.model_validate(cfg)
    rng = np.random.default_rng(0)
    world, personas = scenario.build(config, rng)
    store = RunStore.create(
        tmp_path / "run",
        run_id="test",
        scenario="commons",
        seed=0,
        model="probe",
        config={"scenario": config.model_dump(), "run": RunOptions().model_dump()},
        num_ticks=world.num_ticks(),
        version="test",
    )
    minds = {p.id: Mind(p, sampling=Sampling()) for p in personas}
    gateway = Gateway(
        build_stack(backend, cache=None, max_concurrency=64, timeout_s=None, max_attempts=1)
    )
    return Simulation(
        scenario=scenario,
        config=config,
        world=world,
        minds=minds,
        gateway=gateway,
        store=store,
        seed=0,
        rng=rng,
        deadline_s=deadline_s,
    )


def test_all_decisions_of_a_phase_are_in_flight_at_once(tmp_path: Path) -> None:
    probe = Probe(delay=0.05)
    sim = build_sim(tmp_path, probe, agents=20, months=1)
    asyncio.run(sim.step(0))
    assert probe.peak == 20


def test_deadline_replaces_a_stalled_decision_with_a_recorded_fallback(tmp_path: Path) -> None:
    probe = Probe(delay=0.0, hang_for="fisher_2")
    sim = build_sim(tmp_path, probe, deadline_s=0.3, months=2)
    metrics = asyncio.run(sim.run())
    events = sim.store.events()
    fallbacks = [e for e in events if e.kind == "decision_fallback"]
    assert [(e.actor, e.reason) for e in fallbacks] == [("fisher_2", "deadline")] * 2
    stalled = [
        e for e in events if e.kind == "action" and e.actor == "fisher_2" and e.phase == "harvest"
    ]
    assert all(e.fallback and e.data["catch"] == 0 for e in stalled)
    cancelled = [
        e for e in events if e.kind == "llm_call" and e.actor == "fisher_2" and e.status == "error"
    ]
    assert len(cancelled) == 2  # the call in flight at each deadline is recorded
    assert all("deadline" in (e.error or "") for e in cancelled)
    assert metrics["months_played"] == 2
    assert sim.store.run_info()["status"] == "completed"


def test_same_seed_same_events_and_different_seed_differs(
    run_commons: Callable[..., Path],
) -> None:
    a = RunStore.open(run_commons(seed=5), readonly=True).events()
    b = RunStore.open(run_commons(seed=5), readonly=True).events()
    c = RunStore.open(run_commons(seed=6), readonly=True).events()
    assert first_difference(a, b) is None
    assert first_difference(a, c) is not None
    assert len(comparable(a)) > 500


def test_replay_reproduces_a_recorded_run_without_the_policy(
    run_commons: Callable[..., Path], tmp_path: Path
) -> None:
    recorded = run_commons(seed=2, name="recorded")
    replayed = run_commons(
        f"run.cache={recorded / 'cache.db'}", seed=2, model="replay", name="replayed"
    )
    a = RunStore.open(recorded, readonly=True).events()
    b = RunStore.open(replayed, readonly=True).events()
    assert first_difference(a, b) is None
    calls = [e for e in b if e.kind == "llm_call"]
    assert calls
    assert all(e.cache_hit for e in calls)


def test_replay_with_another_seed_misses_and_falls_back(
    run_commons: Callable[..., Path],
) -> None:
    recorded = run_commons("months=1", seed=2, name="rec")
    other = run_commons(
        "months=1",
        f"run.cache={recorded / 'cache.db'}",
        "run.max_fallback_rate=1.0",  # every decision falls back, and that is the point here
        seed=3,
        model="replay",
        name="miss",
    )
    events = RunStore.open(other, readonly=True).events()
    errors = [e for e in events if e.kind == "llm_call" and e.status == "error"]
    assert errors
    assert "ReplayMissError" in (errors[0].error or "")
    assert errors[0].request_hash in (errors[0].error or "")
    assert all(e.reason == "backend_error" for e in events if e.kind == "decision_fallback")


def test_a_run_whose_decisions_all_fell_back_ends_failed(run_commons: Callable[..., Path]) -> None:
    recorded = run_commons("months=1", seed=2, name="rec")
    with pytest.raises(FallbackRateExceeded, match="no cached response") as info:
        run_commons(
            "months=1", f"run.cache={recorded / 'cache.db'}", seed=3, model="replay", name="miss"
        )
    assert "decisions fell back (rate 1.00 > run.max_fallback_rate 0.5)" in str(info.value)
    assert "most frequent error (20x)" in str(info.value)
    with RunStore.open(recorded.parent / "miss", readonly=True) as store:
        info_row = store.run_info()
        kinds = [e.kind for e in store.events(["run_failed", "run_completed", "metric"])]
    assert info_row["status"] == "failed"
    assert kinds == ["run_failed"]


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from societas.engine import prepare_run, run_sync
    from societas.scenarios import load_spec

    out, kill_after = Path(sys.argv[1]), int(sys.argv[2])
    spec = load_spec("commons", ["months=6"], model="scripted", seed=11)
    handle = prepare_run(spec.scenario, spec.config, spec.options, out)

    def progress(p):
        if p.tick == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    handle.simulation.on_progress = progress
    run_sync(handle)
    """
)


def test_resume_after_sigkill_matches_an_uninterrupted_run(
    run_commons: Callable[..., Path], tmp_path: Path
) -> None:
    out = tmp_path / "killed"
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(out), "3"], check=False, capture_output=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL
    store = RunStore.open(out, readonly=True)
    assert store.run_info()["status"] == "running"
    assert store.run_info()["ticks_completed"] == 3
    store.close()
    handle = prepare_resume(out, get_scenario("commons"))
    assert handle.start_tick == 3
    run_sync(handle)
    resumed = RunStore.open(out, readonly=True)
    reference = RunStore.open(run_commons("protocol=govsim", "months=6", seed=11), readonly=True)
    assert first_difference(resumed.events(), reference.events()) is None
    assert resumed.final_metrics() == reference.final_metrics()
    seqs = [e.seq for e in resumed.events()]
    assert seqs == list(range(len(seqs)))  # no gaps, no duplicates
    kinds = [e.kind for e in resumed.events()]
    assert kinds.count("run_resumed") == 1


def test_cache_makes_a_rerun_free(run_commons: Callable[..., Path], tmp_path: Path) -> None:
    first = run_commons("months=2", seed=4, name="first")
    second = run_commons("months=2", f"run.cache={first / 'cache.db'}", seed=4, name="second")
    calls = RunStore.open(second, readonly=True).llm_calls_df()
    assert bool(calls["cache_hit"].all())
    size = len(ResponseCache(first / "cache.db"))
    assert size == len(calls)


def test_snapshot_holds_world_minds_and_rng(run_commons: Callable[..., Path]) -> None:
    out = run_commons("months=2", seed=1)
    snap = RunStore.open(out, readonly=True).latest_snapshot()
    assert snap is not None
    tick, _next_seq, state = snap
    assert tick == 1
    assert set(state) == {"world", "minds", "rng"}
    assert state["minds"]["fisher_1"]["memory"]
    json.dumps(state)  # JSON-serialisable
    assert os.path.exists(out / "run.db")


def test_ctrl_c_stops_after_the_current_tick_and_says_how_to_resume(tmp_path: Path) -> None:
    out = tmp_path / "long"
    cmd = [
        sys.executable,
        "-m",
        "societas",
        "run",
        "commons",
        "--model",
        "scripted",
        "--set",
        "months=1200",
        "--set",
        "discussion_rounds=0",
        "--out",
        str(out),
        "-q",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:  # until some ticks are committed
        try:
            with RunStore.open(out, readonly=True) as store:
                if store.run_info()["ticks_completed"] >= 3:
                    break
        except StoreError:  # not created yet, or created and not yet written
            pass
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert f"resume with: societas resume {out}" in err
    assert "Traceback" not in err
    with RunStore.open(out, readonly=True) as store:
        info = store.run_info()
        assert info["status"] == "interrupted"
        ticks = {e.tick for e in store.events(["tick_completed"])}
        assert ticks == set(range(info["ticks_completed"]))  # whole ticks only
        snap = store.latest_snapshot()
        assert snap is not None
        assert snap[0] == info["ticks_completed"] - 1


class SurveyStaller(Probe):
    """Answers a survey question with nonsense at once, then hangs on the repair."""

    async def generate(self, request: LLMRequest) -> LLMResponse:
        if request.purpose.startswith("survey:") and request.actor == "fisher_1":
            if request.purpose.endswith(":repair"):
                await asyncio.sleep(3600)
            return LLMResponse(text="no idea", model=self.model_id)
        return await super().generate(request)


def test_a_survey_cut_by_the_deadline_keeps_the_calls_it_made(tmp_path: Path) -> None:
    from societas.engine.protocol import Survey

    survey = Survey.model_validate(
        {
            "tick": 0,
            "name": "mood",
            "questions": [{"id": "trust", "type": "likert", "text": "Trust the others?"}],
        }
    )
    sim = build_sim(tmp_path, SurveyStaller(delay=0.0), deadline_s=0.3, months=1)
    sim.surveys = [survey]
    asyncio.run(sim.run())
    events = sim.store.events()
    answers = {e.actor: e for e in events if e.kind == "survey_answer"}
    assert answers["fisher_1"].fallback
    assert answers["fisher_1"].error == "deadline"
    assert answers["fisher_2"].error != "deadline"
    calls = [
        e
        for e in events
        if e.kind == "llm_call" and e.actor == "fisher_1" and e.purpose.startswith("survey:")
    ]
    assert [c.status for c in calls] == ["invalid"]  # the first answer, made before the cut
