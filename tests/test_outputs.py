"""Where outputs go: clear errors for places that cannot take them, and outputs (exports,
reports) that appear whole or not at all.

A full disk is a real file-size limit (``RLIMIT_FSIZE``) on the exporting process: with
SIGXFSZ ignored a write fails (EFBIG, as on a full disk); with its default action the kernel
kills the process in the middle of the write.
"""

from __future__ import annotations

import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from societas.cli.main import app
from societas.engine import prepare_run, run_sync
from societas.scenarios import load_spec

LIMIT = 96 * 1024  # bytes a limited process may write into one file


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("outputs") / "run"
    spec = load_spec("commons", ["months=40", "collapse_threshold=0"], model="scripted", seed=2)
    run_sync(prepare_run(spec.scenario, spec.config, spec.options, out))
    return out


def test_out_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    for out in (blocker, blocker / "below"):
        result = _invoke("run", "commons", "-m", "scripted", "-q", "-o", str(out))
        assert result.exit_code == 2, result.output
        assert "expected a directory (this is a file)" in result.stderr
        assert "internal error" not in result.stderr
    assert blocker.read_text() == "not a directory"


def test_out_with_too_long_a_name_is_a_clear_error(tmp_path: Path) -> None:
    out = tmp_path / ("x" * 300)
    result = _invoke("run", "commons", "-m", "scripted", "-q", "-o", str(out))
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.stderr


def test_cache_advice_says_delete_only_for_a_damaged_file(tmp_path: Path) -> None:
    def run(cache: Path, name: str) -> str:
        out = tmp_path / name
        result = _invoke(
            "run", "commons", "-m", "scripted", "-q", "-o", str(out), "--cache", str(cache)
        )
        assert result.exit_code == 2, result.output
        assert "internal error" not in result.stderr
        return result.stderr.replace("\n", "")

    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"this is not SQLite" * 100)
    assert "delete it" in run(damaged, "a")

    locked = tmp_path / "locked.db"
    holder = sqlite3.connect(locked, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        message = run(locked, "b")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "locked" in message
    assert "delete it" not in message

    for cache in (tmp_path / ("y" * 300) / "cache.db", Path("/proc/self/cache.db")):
        message = run(cache, cache.parent.name[:8])
        assert "delete it" not in message


def _limit(limit: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


# Python ignores SIGXFSZ; with its default action back, the kernel kills the process at the
# write that crosses the limit.
_KILLABLE = (
    "import signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_DFL); "
    "sys.argv[0] = 'societas'; from societas.cli.main import main; main()"
)


def _societas(*args: str, killed: bool, limit: int = LIMIT) -> subprocess.CompletedProcess[str]:
    entry = ["-c", _KILLABLE] if killed else ["-m", "societas"]
    return subprocess.run(
        [sys.executable, *entry, *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit(limit),
    )


def test_a_cache_on_a_full_disk_is_named_and_the_run_resumes(tmp_path: Path) -> None:
    """Issue 12, finding 4: a cache write that fails (here EFBIG under a 200 KiB file-size
    limit: the cache's write-ahead log crosses it first) was reported as "the run store is
    damaged" while ``check`` found the store sound."""
    out, cache = tmp_path / "run", tmp_path / "cache.db"
    args = ["run", "commons", "-m", "scripted", "--set", "months=20", "--set",
            "collapse_threshold=0", "-q", "-o", str(out), "--cache", str(cache)]  # fmt: skip
    result = _societas(*args, killed=False, limit=200 * 1024)
    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())
    assert f"{cache}: could not write to the response cache" in message
    assert "is its disk full?" in message
    assert "damaged" not in message
    assert "Traceback" not in result.stderr
    assert _invoke("check", str(out)).exit_code == 0  # the run store is sound
    assert _invoke("resume", str(out), "-q").exit_code == 0  # with room again, it finishes


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
@pytest.mark.parametrize("ignore_sigxfsz", [True, False], ids=["disk-full", "killed"])
def test_an_export_cut_short_leaves_no_partial_file(
    run_dir: Path, tmp_path: Path, fmt: str, ignore_sigxfsz: bool
) -> None:
    whole = tmp_path / f"whole.{fmt}"
    assert _invoke("export", str(run_dir), "-f", fmt, "-o", str(whole)).exit_code == 0
    assert whole.stat().st_size > LIMIT  # the limit cuts the export short
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / f"events.{fmt}"
    target.write_text("the previous export")
    result = _societas(
        "export", str(run_dir), "-f", fmt, "-o", str(target), killed=not ignore_sigxfsz
    )
    if ignore_sigxfsz:
        assert result.returncode == 2, result.stderr
        assert "nothing was written" in result.stderr
        assert "Traceback" not in result.stderr
    else:
        assert result.returncode == -signal.SIGXFSZ, result.stderr
    assert target.read_text() == "the previous export"
    assert sorted(p.name for p in folder.iterdir()) == [target.name]


def test_a_report_cut_short_leaves_the_previous_one(run_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    assert _invoke("report", str(run)).exit_code == 0
    before = {p.name: p.read_bytes() for p in (run / "report").iterdir()}
    # The limit lies just below the largest file (and above SQLite's 32 KiB shared memory).
    largest = max(len(data) for data in before.values())
    assert largest > 40_000
    result = _societas("report", str(run), killed=True, limit=largest - 1)
    assert result.returncode == -signal.SIGXFSZ, result.stderr
    assert {p.name: p.read_bytes() for p in (run / "report").iterdir()} == before
    # The killed writer's staging folder goes with the next report.
    assert _invoke("report", str(run)).exit_code == 0
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".report")) == []
