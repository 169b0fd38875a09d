"""The scenario guide's game and ``societas new scenario``'s package, built and installed as
outside plugins would be (a real ``pip install``), then run through the conformance suite."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from guide import GUIDE, guide_code
from societas.scenarios.template import write_scenario_package
from societas.testing.conformance import check_scenario
from societas.typing import ConfigError


def test_the_guides_game_is_complete_in_at_most_80_lines() -> None:
    code = guide_code()
    lines = code.splitlines()
    assert len(lines) <= 80
    assert f"in {len(lines)} lines" in GUIDE.read_text(encoding="utf-8")
    compile(code, "public_goods/__init__.py", "exec")
    for needed in ("class PublicGoodsConfig", "ctx.metric(", "def metrics", "class Pot(State)"):
        assert needed in code
    assert "scripted" not in code  # no scripted policy: the test model plays it


def pip_install(package: Path, target: Path) -> None:
    """Install a plugin package the way a user would (no network: the build backend comes
    from this environment)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-build-isolation",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(package),
        ],
        check=True,
        timeout=300,
    )


@pytest.fixture
def plugin_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on this process's and every child process's import path."""
    target = tmp_path / "site"
    target.mkdir()
    monkeypatch.syspath_prepend(str(target))
    current = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", str(target) + (os.pathsep + current if current else ""))
    return target


@pytest.mark.slow
def test_the_guides_game_installs_as_a_plugin_and_passes_conformance(
    tmp_path: Path, plugin_path: Path
) -> None:
    package = tmp_path / "public-goods"
    (package / "public_goods").mkdir(parents=True)
    (package / "public_goods" / "__init__.py").write_text(guide_code(), encoding="utf-8")
    toml = re.search(r"```toml\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    assert toml is not None
    (package / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        '[project]\nname = "public-goods"\nversion = "0.1.0"\n\n'
        + toml.group(1)
        + '\n[tool.hatch.build.targets.wheel]\npackages = ["public_goods"]\n',
        encoding="utf-8",
    )
    pip_install(package, plugin_path)
    importlib.invalidate_caches()
    report = check_scenario("public_goods", tmp_path=tmp_path / "conformance")
    assert report.ok, report.summary()


@pytest.mark.slow
def test_a_new_scenario_package_installs_and_passes_its_own_test(
    tmp_path: Path, plugin_path: Path
) -> None:
    package = write_scenario_package("beauty_contest", tmp_path)
    pip_install(package, plugin_path)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 passed" in done.stdout


def test_new_scenario_refuses_bad_names_and_existing_folders(tmp_path: Path) -> None:
    for bad in ("My-Game", "class", "1st", ""):
        with pytest.raises(ConfigError, match="lowercase Python identifier"):
            write_scenario_package(bad, tmp_path)
    write_scenario_package("ok_game", tmp_path)
    with pytest.raises(ConfigError, match="does not exist yet"):
        write_scenario_package("ok_game", tmp_path)
