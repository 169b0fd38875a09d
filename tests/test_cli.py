"""The ``societas`` command line: run, summary, export, report, resume, and its exit codes."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from societas import __version__
from societas.cli.main import app
from societas.engine import prepare_run
from societas.scenarios import load_spec
from societas.store import DB_NAME, RunStore
from societas.typing import ActionEvent, EventAdapter

SEED = 5
MONTHS = 3
GOVSIM_METRICS = {"survival_time", "efficiency", "equality", "over_usage", "mean_gain"}


def _invoke(*args: str) -> Result:
    # typer's CliRunner (click >= 8.2) always keeps stderr apart from stdout.
    return CliRunner().invoke(app, list(args))


def _run(out: Path, *extra: str) -> Result:
    return _invoke(
        "run", "commons", "--model", "scripted", "--set", f"months={MONTHS}", "--out", str(out),
        "-q", *extra,
    )  # fmt: skip


def _one_error_line(result: Result) -> str:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    result = _run(out, "--seed", str(SEED))
    assert result.exit_code == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def run_result(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    out = tmp_path_factory.mktemp("cli-out") / "run"
    return out, _run(out)


# -- run and summary ----------------------------------------------------------------------


def test_run_prints_a_metrics_table(run_result: tuple[Path, Result]) -> None:
    out, result = run_result
    assert result.exit_code == 0, result.stderr
    assert (out / DB_NAME).is_file()
    assert "metric" in result.stdout
    for name in GOVSIM_METRICS:
        assert name in result.stdout
    assert "Traceback" not in result.stderr
    with RunStore.open(out, readonly=True) as store:
        final = store.final_metrics()
    # The table shows the stored values (4 significant digits).
    assert f"{final['efficiency']:.4g}" in result.stdout
    assert f"{final['survival_time']:.4g}" in result.stdout


def test_summary_json_is_one_object_matching_the_store(run_dir: Path) -> None:
    result = _invoke("summary", str(run_dir), "--json")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert isinstance(data, dict)
    assert {
        "run_id",
        "scenario",
        "seed",
        "model",
        "status",
        "ticks_completed",
        "events",
        "llm_calls",
        "tokens",
        "metrics",
    } <= set(data)
    assert data["scenario"] == "commons"
    assert data["seed"] == SEED
    assert data["model"] == "scripted"
    assert data["status"] == "completed"
    assert data["ticks_completed"] == MONTHS
    assert set(data["tokens"]) == {"prompt", "completion"}
    assert data["tokens"]["prompt"] > 0
    assert data["tokens"]["completion"] > 0
    assert set(data["metrics"]) >= GOVSIM_METRICS

    with RunStore.open(run_dir, readonly=True) as store:
        info = store.run_info()
        events = store.events()
        mdf = store.metrics_df()
        calls = store.llm_calls_df()
    final = mdf[mdf["tick"] == -1]
    assert data["metrics"] == dict(zip(final["name"], final["value"], strict=True))
    assert data["run_id"] == info["run_id"]
    assert data["events"] == len(events)
    assert data["llm_calls"] == sum(1 for e in events if e.kind == "llm_call") > 0
    assert data["tokens"]["prompt"] == int(calls["prompt_tokens"].sum())
    assert data["tokens"]["completion"] == int(calls["completion_tokens"].sum())


def test_summary_table(run_dir: Path) -> None:
    result = _invoke("summary", str(run_dir))
    assert result.exit_code == 0, result.stderr
    assert "completed" in result.stdout
    assert "survival_time" in result.stdout


def test_run_with_a_bad_set_exits_2_with_one_line(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = _invoke(
        "run", "commons", "--model", "scripted", "--set", "agents=0", "--out", str(out), "-q"
    )
    line = _one_error_line(result)
    assert "agents" in line
    assert "--set agents=0" in line
    assert result.stdout == ""
    assert not out.exists()


def test_run_with_a_bad_scenario_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("scenario: commons\nmonths: [1\n", encoding="utf-8")
    line = _one_error_line(_invoke("run", str(path), "--model", "scripted", "-q"))
    assert str(path) in line
    assert "line" in line


def test_run_into_an_existing_run_exits_2(run_dir: Path) -> None:
    before = _sha(run_dir / DB_NAME)
    line = _one_error_line(_run(run_dir))
    assert "resume" in line
    assert _sha(run_dir / DB_NAME) == before


def test_summary_of_a_missing_dir_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    line = _one_error_line(_invoke("summary", str(missing), "--json"))
    assert str(missing) in line
    assert "no run store" in line
    assert not missing.exists()


def test_summary_of_a_corrupted_store_exits_2(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"\xde\xad\xbe\xef garbage " * 512)
    result = _invoke("summary", str(tmp_path), "--json")
    line = _one_error_line(result)
    assert str(tmp_path / DB_NAME) in line
    assert "not a readable run store" in line
    assert result.stdout == ""


# -- export and report --------------------------------------------------------------------


def test_export_jsonl(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    result = _invoke("export", str(run_dir), "--format", "jsonl", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    with RunStore.open(run_dir, readonly=True) as store:
        events = store.events()
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [EventAdapter.validate_json(line) for line in lines] == events
    assert f"wrote {len(events)} events" in result.stderr


def test_export_parquet(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "events.parquet"
    result = _invoke("export", str(run_dir), "--format", "parquet", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    df = pd.read_parquet(out)
    with RunStore.open(run_dir, readonly=True) as store:
        events = store.events()
    assert len(df) == len(events)
    assert df["seq"].tolist() == [e.seq for e in events]
    assert df["kind"].tolist() == [e.kind for e in events]


def test_export_unknown_format_exits_2(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "events.xml"
    line = _one_error_line(_invoke("export", str(run_dir), "--format", "xml", "--out", str(out)))
    assert "xml" in line
    assert "jsonl" in line
    assert not out.exists()


def test_report_writes_an_html_page(run_dir: Path) -> None:
    before = _sha(run_dir / DB_NAME)
    result = _invoke("report", str(run_dir))
    assert result.exit_code == 0, result.stderr
    page = run_dir / "report" / "index.html"
    assert page.is_file()
    assert "commons" in page.read_text(encoding="utf-8")
    assert _sha(run_dir / DB_NAME) == before


# -- resume -------------------------------------------------------------------------------


def test_resume_of_a_completed_run_exits_2(run_dir: Path) -> None:
    before = _sha(run_dir / DB_NAME)
    line = _one_error_line(_invoke("resume", str(run_dir), "-q"))
    assert "completed" in line
    assert _sha(run_dir / DB_NAME) == before


def test_resume_of_a_missing_run_exits_2(tmp_path: Path) -> None:
    line = _one_error_line(_invoke("resume", str(tmp_path / "nothing"), "-q"))
    assert "no run store" in line


def _interrupted_run(out: Path, ticks: int) -> None:
    """Start a run and stop it after ``ticks`` committed ticks, as a crash would."""
    spec = load_spec("commons", [f"months={MONTHS}"], model="scripted", seed=SEED)
    handle = prepare_run(spec.scenario, spec.config, spec.options, out)
    for tick in range(ticks):
        asyncio.run(handle.simulation.step(tick))
    handle.close()
    del handle
    gc.collect()


def _actions(run: Path) -> list[tuple[int, str | None, str, dict[str, object]]]:
    with RunStore.open(run, readonly=True) as store:
        return [
            (e.tick, e.actor, e.action_type, e.data)
            for e in store.events(["action"])
            if isinstance(e, ActionEvent)
        ]


def test_resume_finishes_an_interrupted_run_like_an_uninterrupted_one(
    run_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "interrupted"
    _interrupted_run(out, ticks=2)
    with RunStore.open(out, readonly=True) as store:
        assert store.run_info()["ticks_completed"] == 2
        assert store.run_info()["status"] != "completed"
        assert store.final_metrics() == {}

    result = _invoke("resume", str(out), "-q")
    assert result.exit_code == 0, result.stderr
    assert "resuming" in result.stderr
    assert "at tick 2" in result.stderr
    assert "survival_time" in result.stdout

    resumed = json.loads(_invoke("summary", str(out), "--json").stdout)
    fresh = json.loads(_invoke("summary", str(run_dir), "--json").stdout)
    assert resumed["status"] == "completed"
    assert resumed["ticks_completed"] == MONTHS
    assert resumed["seed"] == fresh["seed"] == SEED
    assert resumed["metrics"] == fresh["metrics"]
    assert set(resumed["metrics"]) >= GOVSIM_METRICS
    assert resumed["llm_calls"] == fresh["llm_calls"]
    assert _actions(out) == _actions(run_dir)
    with RunStore.open(out, readonly=True) as store:
        kinds = [e.kind for e in store.events(["run_started", "run_resumed", "run_completed"])]
    assert kinds == ["run_started", "run_resumed", "run_completed"]

    # Finished now: a second resume is refused.
    _one_error_line(_invoke("resume", str(out), "-q"))


# -- misc ---------------------------------------------------------------------------------


def test_version() -> None:
    result = _invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"societas {__version__}"


def test_scenarios_lists_commons() -> None:
    result = _invoke("scenarios")
    assert result.exit_code == 0
    assert "commons" in result.stdout.split()


def test_no_arguments_shows_help() -> None:
    result = _invoke()
    assert result.exit_code in (0, 2)
    assert "run" in result.output
    assert "summary" in result.output


def _console_script() -> str:
    found = shutil.which("societas") or shutil.which(
        "societas", path=str(Path(sys.executable).parent)
    )
    assert found, "the societas console script is not installed"
    return found


def test_console_script_error_path_has_no_traceback(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.run(
        [_console_script(), "run", "commons", "--model", "scripted", "--set", "months=-3",
         "--out", str(out), "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "months" in lines[0]
    assert proc.stdout == ""
    assert not out.exists()


def test_resume_on_an_empty_store_says_start_again(tmp_path: Path) -> None:
    run_dir = tmp_path / "killed"
    run_dir.mkdir()
    (run_dir / DB_NAME).write_bytes(b"")
    result = _invoke("resume", str(run_dir))
    assert result.exit_code == 2
    assert "start the run again" in result.stderr
    assert "societas resume" not in result.stderr


def test_paths_with_brackets_are_printed_verbatim(tmp_path: Path) -> None:
    out = tmp_path / "runs[bold]x"
    result = _invoke("run", "commons", "--model", "scripted", "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.stderr
    assert f"run directory: {out}" in result.stderr.replace("\n", "")
