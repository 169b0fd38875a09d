"""The Ray runner: same run directories and table as the local runner; resume after a kill.

Ray's start-up costs about ten seconds here, so the file starts it three times at most.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from societas.experiments import run_sweep
from societas.typing import ConfigError

EXPERIMENT = """
name: raysmall
scenario: commons
base:
  months: {months}
  discussion_rounds: 1
  run: {{model: scripted}}
grid:
  dispositions:
    coop: [cooperative]
    greedy: [greedy, adaptive, cooperative]
seeds: 2
"""


def write(tmp_path: Path, months: int) -> Path:
    path = tmp_path / f"exp{months}.yaml"
    path.write_text(EXPERIMENT.format(months=months))
    return path


def _descendants(pid: int) -> list[int]:
    """Processes below ``pid`` (from /proc), so the ones Ray started can be ended by id."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def test_without_ray_the_error_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'societas\[ray\]'"):
        run_sweep(write(tmp_path, 1), out=tmp_path / "o", runner="ray")
    assert not (tmp_path / "o").exists()  # refused before anything was planned
    with pytest.raises(ConfigError, match="--runner ray"):
        run_sweep(write(tmp_path, 1), out=tmp_path / "o", address="auto")


def test_ray_sweep_equals_local_sweep(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="ray is not installed (pip install 'societas[ray]')")
    spec = write(tmp_path, 2)
    local = run_sweep(spec, out=tmp_path / "local", parallel=1)
    ray_result = run_sweep(spec, out=tmp_path / "ray", parallel=2, runner="ray")
    assert ray_result.started == 4
    assert not ray_result.failed
    pd.testing.assert_frame_equal(local.summary, ray_result.summary)
    pd.testing.assert_frame_equal(local.runs, ray_result.runs)
    names = sorted(p.name for p in (tmp_path / "ray" / "runs").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "local" / "runs").iterdir())


def test_ray_sweep_killed_midway_resumes_to_the_local_table(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="ray is not installed (pip install 'societas[ray]')")
    spec = write(tmp_path, 10)
    reference = run_sweep(spec, out=tmp_path / "ref", parallel=1).summary
    victim = tmp_path / "victim"
    cmd = [sys.executable, "-m", "societas", "sweep", str(spec), "--out", str(victim)]
    proc = subprocess.Popen(
        [*cmd, "--runner", "ray", "--parallel", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    started: set[int] = set()
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        started.update(_descendants(proc.pid))
        runs = victim / "runs"
        if runs.exists() and len(list(runs.glob("*/run.db"))) >= 2:
            break
        time.sleep(0.05)
    started.update(_descendants(proc.pid))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for pid in started:  # Ray's own processes may run in sessions of their own
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    resumed = run_sweep(spec, out=victim, parallel=2, runner="ray")
    assert resumed.started + resumed.resumed > 0  # the kill left work to do
    assert not resumed.failed
    pd.testing.assert_frame_equal(reference, resumed.summary)
