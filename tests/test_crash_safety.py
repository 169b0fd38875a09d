"""A run killed (SIGKILL) again and again, resumed each time, ends as if never interrupted.

The model answers come from a recorded cache (``--model replay``), so the victim and an
uninterrupted reference run see the same answers. Each victim process is killed at a random
point: mostly after it committed a random 1..3 more ticks plus a random part of a tick (so
kills land mid-tick, mid-commit or between ticks), sometimes after a random delay from its
start (during start-up, while reopening the store, or in its first ticks). After every kill
the store must pass ``check_store``; at the end it must match the reference event for event.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from societas.analysis.compare import first_difference
from societas.engine import prepare_run, run_sync
from societas.scenarios import load_spec
from societas.store import DB_NAME, RunStore
from societas.store.check import check_store

SEED = 7
MONTHS = 100
# Cooperative and adaptive fishers; with no collapse threshold the stock wanders (the adaptive
# catches are drawn per request) instead of ending the run early.
SETS = [
    f"months={MONTHS}",
    "agents=3",
    "discussion_rounds=1",
    "collapse_threshold=0",
    "dispositions=[cooperative, adaptive]",
]
TARGET_KILLS = 22
BLIND_KILL_SHARE = 0.15
PROCESS_TIMEOUT_S = 60.0


def _run_in_process(out: Path, model: str, extra: list[str]) -> float:
    spec = load_spec("commons", [*SETS, *extra], model=model, seed=SEED)
    t0 = time.perf_counter()
    run_sync(prepare_run(spec.scenario, spec.config, spec.options, out))
    return time.perf_counter() - t0


def _ticks_completed(db: Path) -> int | None:
    """The victim's committed progress, or None while there is nothing to read yet."""
    if not db.exists():
        return None
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=0.5)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute("SELECT ticks_completed FROM runs").fetchone()
    except sqlite3.Error:  # not created yet, or busy recovering after a kill
        return None
    finally:
        conn.close()
    return None if row is None else int(row[0])


class Victim:
    def __init__(self, out: Path, cache: Path, logs: Path, rng: random.Random, tick_s: float):
        self.out = out
        self.db = out / DB_NAME
        self.cache = cache
        self.logs = logs
        self.rng = rng
        self.tick_s = tick_s
        self.kills = {"after_progress": 0, "blind": 0}
        self.ticks_at_kill: list[int] = []
        self.problems_after_kills: list[str] = []
        self.processes = 0

    @property
    def total_kills(self) -> int:
        return sum(self.kills.values())

    def _spawn(self, first: bool) -> tuple[subprocess.Popen[bytes], Path]:
        if first:
            args = ["run", "commons", "--model", "replay", "--cache", str(self.cache),
                    "--seed", str(SEED), "--out", str(self.out), "-q"]  # fmt: skip
            for item in SETS:
                args += ["--set", item]
        else:
            args = ["resume", str(self.out), "-q"]
        self.processes += 1
        log = self.logs / f"process-{self.processes:03d}.err"
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "societas", *args], stdout=subprocess.DEVNULL, stderr=err
            )
        return proc, log

    def _kill(self, proc: subprocess.Popen[bytes], kind: str) -> bool:
        """SIGKILL unless it already exited; True if it was killed."""
        if proc.poll() is not None:
            return False
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=PROCESS_TIMEOUT_S)
        if proc.returncode != -signal.SIGKILL:
            return False
        self.kills[kind] += 1
        self.ticks_at_kill.append(_ticks_completed(self.db) or 0)
        self.problems_after_kills += [
            f"kill {self.total_kills}: {p}" for p in check_store(self.out)
        ]
        return True

    def _drive(self, proc: subprocess.Popen[bytes], first: bool) -> bool:
        """Let one process run until its random kill point; True if it was killed."""
        deadline = time.monotonic() + PROCESS_TIMEOUT_S
        if self.total_kills >= TARGET_KILLS:  # enough: let this one finish
            proc.wait(timeout=PROCESS_TIMEOUT_S * 3)
            return False
        if not first and self.rng.random() < BLIND_KILL_SHARE:
            time.sleep(self.rng.uniform(0.05, 1.5))
            return self._kill(proc, "blind")
        base = _ticks_completed(self.db) or 0
        target = base + self.rng.randint(1, 3)
        while (_ticks_completed(self.db) or 0) < target:
            if proc.poll() is not None:
                return False
            assert time.monotonic() < deadline, "the victim made no progress"
            time.sleep(0.005)
        time.sleep(self.rng.uniform(0.0, 1.5 * self.tick_s))
        return self._kill(proc, "after_progress")

    def run_to_completion(self) -> None:
        first = True
        while True:
            proc, log = self._spawn(first)
            try:
                killed = self._drive(proc, first)
            except BaseException:
                proc.kill()  # a failed assertion must not leave it running
                proc.wait()
                raise
            if not killed:
                assert proc.wait(timeout=PROCESS_TIMEOUT_S) == 0, log.read_text(errors="replace")
                return
            assert self.processes < 500
            first = False


def test_sigkill_at_random_points_then_resume_matches_an_uninterrupted_run(
    tmp_path: Path,
) -> None:
    recorded = tmp_path / "recorded"
    _run_in_process(recorded, "scripted", [])
    cache = recorded / "cache.db"
    reference = tmp_path / "reference"
    reference_s = _run_in_process(reference, "replay", [f"run.cache={cache}"])
    with RunStore.open(reference, readonly=True) as store:
        ref_events = store.events()
        ref_metrics = store.final_metrics()
        ref_info = store.run_info()
    assert ref_info["status"] == "completed"
    assert ref_info["ticks_completed"] == MONTHS  # the lake never collapses: a long run
    tick_s = reference_s / MONTHS

    logs = tmp_path / "logs"
    logs.mkdir()
    victim = Victim(tmp_path / "victim", cache, logs, random.Random(20261123), tick_s)
    t0 = time.perf_counter()
    victim.run_to_completion()
    victim_s = time.perf_counter() - t0
    print(
        f"\n{victim.total_kills} SIGKILLs ({victim.kills}), {victim.processes} processes, "
        f"{victim_s:.1f} s; reference run {reference_s:.2f} s ({tick_s * 1000:.1f} ms/tick); "
        f"ticks completed at each kill: {victim.ticks_at_kill}"
    )
    assert victim.total_kills >= 20
    assert victim.kills["after_progress"] >= 15
    assert max(victim.ticks_at_kill) < MONTHS  # every kill landed mid-run
    assert victim.problems_after_kills == []  # the store was sound after every single kill

    with RunStore.open(victim.out, readonly=True) as store:
        info = store.run_info()
        events = store.events()
        metrics = store.final_metrics()
    assert info["status"] == "completed"
    assert info["ticks_completed"] == MONTHS
    assert first_difference(events, ref_events) is None
    seqs = [e.seq for e in events]
    assert seqs == list(range(len(seqs)))  # no gaps, no duplicates
    assert metrics == ref_metrics
    assert check_store(victim.out) == []
    kinds = [e.kind for e in events]
    assert kinds.count("run_started") == 1
    assert kinds.count("run_completed") == 1
    assert 1 <= kinds.count("run_resumed") <= victim.total_kills
    ticks = [e.tick for e in events if e.kind == "tick_completed"]
    assert ticks == list(range(MONTHS))
