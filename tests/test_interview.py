"""Interviews: an agent answers from its memories as of a tick; the run is left unchanged."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mind_world import VillageConfig, VillageScenario
from societas.analysis.interview import interview, prepare_interview
from societas.cli.interview import interview_command
from societas.engine import RunOptions, prepare_run, run_sync
from societas.scenarios.commons import CommonsScenario
from societas.typing import ConfigError

FACT = "The miller hid the gold under the old oak."
QUESTION = "Where is the miller's gold hidden?"


@pytest.fixture(scope="module")
def village_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("interview") / "run"
    config = VillageConfig(ticks=6, facts={3: FACT})
    run_sync(prepare_run(VillageScenario(), config, RunOptions(model="scripted"), out))
    return out


def fingerprint(run_dir: Path) -> dict[str, object]:
    """Hashes of the run directory's files and the store's row counts. A read-only SQLite
    reader of a WAL database leaves SQLite's shared-memory index (``-shm``) and an empty
    ``-wal``: neither holds data, so they are left out."""
    files = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.iterdir())
        if p.is_file()
        and not p.name.endswith("-shm")
        and not (p.name.endswith("-wal") and p.stat().st_size == 0)
    }
    conn = sqlite3.connect(f"file:{run_dir / 'run.db'}?mode=ro", uri=True)
    try:
        rows = {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("events", "llm_calls", "snapshots", "metrics")
        }
    finally:
        conn.close()
    return {"files": files, "rows": rows}


def user_prompt(run_dir: Path, tick: int | None) -> str:
    setup = prepare_interview(run_dir, "a0", QUESTION, tick=tick, scenario=VillageScenario())
    return setup.request.messages[1].content


def test_the_answer_depends_on_the_memories_as_of_the_tick(village_run: Path) -> None:
    before = fingerprint(village_run)
    assert FACT in user_prompt(village_run, 4)
    assert FACT in user_prompt(village_run, 3)  # learned in tick 3's first phase
    assert FACT not in user_prompt(village_run, 2)
    assert FACT in user_prompt(village_run, None)  # default: the last completed tick (5)
    later = interview(village_run, "a0", QUESTION, tick=4, scenario=VillageScenario())
    earlier = interview(village_run, "a0", QUESTION, tick=2, scenario=VillageScenario())
    assert "old oak" in later
    assert "Ada" in later
    assert "old oak" not in earlier
    # Only a0 was told: a1 cannot know.
    other = prepare_interview(village_run, "a1", QUESTION, tick=5, scenario=VillageScenario())
    assert FACT not in other.request.messages[1].content
    assert fingerprint(village_run) == before


def test_interview_request_is_in_character_and_marked(village_run: Path) -> None:
    setup = prepare_interview(village_run, "a0", QUESTION, tick=4, scenario=VillageScenario())
    assert setup.tick == 4
    assert setup.request.purpose == "interview"
    assert setup.request.actor == "a0"
    system = setup.request.messages[0].content
    assert "You are Ada" in system
    assert "village" in system
    assert setup.request.messages[1].content.endswith(f"Question: {QUESTION}")


def test_bad_interviews_say_what_is_wrong(village_run: Path) -> None:
    with pytest.raises(ConfigError, match="agent"):
        prepare_interview(village_run, "zed", QUESTION, scenario=VillageScenario())
    with pytest.raises(ConfigError, match="completed tick from 0 to 5"):
        prepare_interview(village_run, "a0", QUESTION, tick=9, scenario=VillageScenario())
    with pytest.raises(ConfigError, match="question"):
        prepare_interview(village_run, "a0", "  ", scenario=VillageScenario())
    with pytest.raises(ConfigError, match="replay"):
        interview(village_run, "a0", QUESTION, model="replay", scenario=VillageScenario())


def test_commons_fishers_can_be_interviewed(tmp_path: Path) -> None:
    from societas.scenarios import load_spec

    spec = load_spec("commons", ["months=2"], model="scripted", seed=0)
    out = tmp_path / "commons"
    run_sync(prepare_run(spec.scenario, spec.config, spec.options, out))
    before = fingerprint(out)
    setup = prepare_interview(out, "fisher_1", "How many tons did you catch?")
    assert "What you remember:" in setup.request.messages[1].content
    answer = interview(out, "fisher_1", "How many tons did you catch?", tick=0)
    assert answer.startswith("I am ")
    assert fingerprint(out) == before
    assert spec.scenario.name == CommonsScenario.name


def test_cli_interview_prints_the_answer(tmp_path: Path) -> None:
    from societas.scenarios import load_spec

    spec = load_spec("commons", ["months=1"], model="scripted", seed=0)
    out = tmp_path / "commons"
    run_sync(prepare_run(spec.scenario, spec.config, spec.options, out))
    app = typer.Typer()
    app.command(name="interview")(interview_command)
    app.command(name="noop")(lambda: None)  # two commands: typer keeps the subcommand name
    runner = CliRunner()
    ok = runner.invoke(app, ["interview", str(out), "fisher_1", "What did you catch?"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("I am ")
    bad = runner.invoke(app, ["interview", str(out), "nobody", "Hello?"])
    assert bad.exit_code == 2
    late = runner.invoke(app, ["interview", str(out), "fisher_1", "Hi?", "--tick", "7"])
    assert late.exit_code == 2
