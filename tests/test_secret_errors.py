"""An API key given where settings go (YAML ``run.api_key``, ``--set``, a route of
``run.models``) is refused, and the refusal never repeats it: not on stdout or stderr, not in
any file written, not in the error object.

Every byte each command writes is scanned: its output streams and every file under the test's
directory (``tests/test_security.py`` scans runs that use a key the right way).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from societas.cli.main import app
from societas.scenarios import load_spec
from societas.typing import ConfigError

KEY = "sk-live-TOPSECRET-0987654321"
NEEDLES = (KEY, "TOPSECRET", "0987654321")
PASSWORD_URL = "http://alice:hunter2hunter2@127.0.0.1:9/v1"


def _scan(tmp_path: Path, *streams: str) -> list[str]:
    blobs = {f"stream {i}": s.encode() for i, s in enumerate(streams)}
    blobs.update({str(p): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()})
    return [
        f"{name} holds {needle!r}"
        for name, data in blobs.items()
        for needle in (*NEEDLES, "hunter2")
        if needle.encode() in data
    ]


SETS = [
    [f"run.api_key={KEY}"],
    [f"run.API_KEY={KEY}"],
    [f"run.models=[{{agents: [fisher_1], model: 'openai:x', api_key: {KEY}}}]"],
    [f"run.models=[{{model: 'openai:x', api_key: {KEY}}}]"],  # another field fails first
    [f'run.models=[{{"model": "openai:x", "token": "{KEY}"}}]'],
    [f"run.base_url={PASSWORD_URL}", "run.max_attempts=many"],
    [f"run.base_url={PASSWORD_URL}", f"run.api_key={KEY}"],
]


@pytest.mark.parametrize("sets", SETS)
def test_a_key_in_set_is_refused_without_repeating_it(tmp_path: Path, sets: list[str]) -> None:
    args = ["run", "commons", "-m", "scripted", "-q", "-o", str(tmp_path / "run")]
    for item in sets:
        args += ["--set", item]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "error" in result.stderr
    assert _scan(tmp_path, result.stdout, result.stderr) == []
    with pytest.raises(ConfigError) as caught:
        load_spec("commons", sets, model="scripted")
    exc = caught.value
    assert _scan(tmp_path, str(exc), repr(exc.got), exc.source, exc.field) == []


def test_the_refusal_says_where_a_key_goes(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["run", "commons", "-m", "scripted", "--set", f"run.api_key={KEY}", "-q"]
    )
    assert "--api-key" in result.stderr
    assert "SOCIETAS_API_KEY" in result.stderr


@pytest.mark.parametrize(
    "run_block",
    [
        f"  api_key: {KEY}\n",
        f"  models:\n    - model: openai:x\n      agents: [fisher_1]\n      api_key: {KEY}\n",
        f"  models:\n    - model: openai:x\n      api_key: {KEY}\n",
    ],
)
def test_a_key_in_a_scenario_file_is_refused_without_repeating_it(
    tmp_path: Path, run_block: str
) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(f"scenario: commons\nrun:\n  model: scripted\n{run_block}")
    result = CliRunner().invoke(app, ["run", str(path), "-q", "-o", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    leaks = _scan(tmp_path, result.stdout, result.stderr)
    assert leaks == [f"{path} holds {n!r}" for n in NEEDLES]  # only the user's own file


def test_a_key_in_an_experiment_file_is_refused_without_repeating_it(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(
        "name: secret\nscenario: commons\nbase:\n  months: 1\n"
        f"  run: {{model: scripted, api_key: {KEY}}}\n"
        "grid:\n  allocation: [stochastic]\nseeds: 1\n"
    )
    result = CliRunner().invoke(app, ["sweep", str(path), "-o", str(tmp_path / "exp")])
    assert result.exit_code == 2, result.output
    leaks = _scan(tmp_path, result.stdout, result.stderr)
    assert leaks == [f"{path} holds {n!r}" for n in NEEDLES]
