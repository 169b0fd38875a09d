"""A stop request that arrives while a run is being prepared (its store just made, its signal
handlers not yet installed) is a stop request, not a kill: exit 130, status interrupted,
resumable. Before this was handled, SIGTERM at that moment left the store 'running' (5 of 5
trials with the store polled as below)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from societas.store import RunStore
from societas.store.check import check_store


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_as_the_store_appears_interrupts_the_run(tmp_path: Path, sig: int) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "societas", "run", "commons", "--model", "scripted",
         "--set", "months=50", "-q", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (out / "run.db").exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    with RunStore.open(out, readonly=True) as store:
        assert store.run_info()["status"] == "interrupted"
    assert check_store(out) == []
    again = subprocess.run(
        [sys.executable, "-m", "societas", "resume", str(out), "-q"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
