"""One writer per run directory: ``run``, ``resume`` and sweeps take an OS file lock.

Real concurrent processes (the console script): the second writer is refused at once with
exit 2 and the holder's PID, the first goes on undisturbed, and the kernel hands the lock on
when its holder is killed (SIGKILL).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from societas.store.check import check_store

LONG = ["--set", "months=300", "--set", "collapse_threshold=0"]
SOCIETAS = [sys.executable, "-m", "societas"]


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*SOCIETAS, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ticks(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=0.5)
        try:
            row = conn.execute("SELECT ticks_completed FROM runs").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return -1
    return -1 if row is None else int(row[0])


def _wait_for(what: str, condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _writing(directory: Path, proc: subprocess.Popen[str], after: int) -> bool:
    """``proc`` is alive and has committed a tick past ``after`` (a writer holds the lock from
    before its first tick). Told by progress, not by the lock file, so that the tests show the
    behaviour on code without a lock too (5c4716e)."""
    assert proc.poll() is None, proc.communicate()
    return _ticks(directory / "run.db") > after


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)


def _second(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """A second writer, expected to be refused at once; one still writing after ``timeout`` s
    is killed and fails the test (5c4716e let it run beside the first)."""
    proc = _start(*args)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise AssertionError(
            f"a second writer was not refused: still running after {timeout} s"
        ) from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _killed_run(tmp_path: Path) -> Path:
    """A long scripted run killed (SIGKILL) after a few committed ticks."""
    out = tmp_path / "run"
    first = _start("run", "commons", "-m", "scripted", *LONG, "-q", "-o", str(out))
    try:
        _wait_for("a few ticks", lambda: _ticks(out / "run.db") >= 3)
    finally:
        _kill(first)
    return out


@pytest.mark.slow
def test_two_resumes_of_one_directory_do_not_race(tmp_path: Path) -> None:
    out = _killed_run(tmp_path)
    killed_at = _ticks(out / "run.db")
    first = _start("resume", str(out), "-q")
    try:
        _wait_for("the first resume to write", lambda: _writing(out, first, killed_at))
        start = _ticks(out / "run.db")
        second = _second("resume", str(out), "-q")
        assert second.returncode == 2, second.stderr
        assert f"PID {first.pid}" in second.stderr
        assert "in use by another societas process" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.poll() is None  # the holder goes on
        _wait_for("the holder to go on", lambda: _ticks(out / "run.db") > start + 2)
    finally:
        _kill(first)
    # The kernel released the killed holder's lock: the next resume takes it.
    stopped_at = _ticks(out / "run.db")
    third = _start("resume", str(out), "-q")
    try:
        _wait_for("the third resume to write", lambda: _writing(out, third, stopped_at))
    finally:
        _kill(third)
    assert check_store(out) == []


@pytest.mark.slow
def test_a_second_run_into_a_live_directory_names_the_holder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = _start("run", "commons", "-m", "scripted", *LONG, "-q", "-o", str(out))
    try:
        _wait_for("the run to write", lambda: _writing(out, first, 0))
        second = _second("run", "commons", "-m", "scripted", "-q", "-o", str(out))
        assert second.returncode == 2, second.stderr
        assert f"PID {first.pid}" in second.stderr
        # Not the advice to resume: that would start a second writer on a live run.
        assert "resume" not in second.stderr
        assert first.poll() is None
    finally:
        _kill(first)
    assert check_store(out) == []


EXPERIMENT = """
name: locked
scenario: commons
base:
  months: 300
  collapse_threshold: 0
  run: {model: scripted}
grid:
  allocation: [stochastic, proportional]
seeds: 1
"""


def _sweep_writing(out: Path, proc: subprocess.Popen[str]) -> bool:
    assert proc.poll() is None, proc.communicate()
    return any(_ticks(db) >= 1 for db in out.glob("runs/*/run.db"))


@pytest.mark.slow
def test_two_sweeps_on_one_out_the_second_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "exp.yaml"
    spec.write_text(EXPERIMENT)
    out = tmp_path / "exp"
    first = _start("sweep", str(spec), "-o", str(out))
    try:
        _wait_for("the sweep to write", lambda: _sweep_writing(out, first))
        second = _second("sweep", str(spec), "-o", str(out), timeout=60)
        assert second.returncode == 2, second.stderr
        assert f"PID {first.pid}" in second.stderr
        assert first.poll() is None
    finally:
        _kill(first)


def test_the_lock_is_reentrant_in_one_process_and_released(tmp_path: Path) -> None:
    from societas.store import DirectoryLocked, lock_directory

    outer = lock_directory(tmp_path, "test")
    inner = lock_directory(tmp_path, "test again")
    assert inner is outer
    inner.release()
    # Still held: another process is refused.
    probe = [
        sys.executable,
        "-c",
        "import sys; from pathlib import Path; from societas.store import lock_directory; "
        "lock_directory(Path(sys.argv[1]), 'probe')",
        str(tmp_path),
    ]
    refused = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert f"PID {os.getpid()}, test" in refused.stderr
    assert DirectoryLocked.__name__ in refused.stderr
    outer.release()
    assert subprocess.run(probe, capture_output=True, text=True, timeout=60).returncode == 0
