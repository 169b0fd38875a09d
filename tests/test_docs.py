"""The docs name every setting there is (so they stay true when settings change)."""

from __future__ import annotations

from pathlib import Path

from societas.engine import RunOptions
from societas.scenarios.commons import CommonsConfig

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_run_option_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = [name for name in RunOptions.model_fields if f"`{name}`" not in text]
    assert missing == []


def test_every_commons_setting_is_documented() -> None:
    text = (DOCS / "scenarios" / "commons.md").read_text()
    missing = [name for name in CommonsConfig.model_fields if f"`{name}`" not in text]
    assert missing == []


def test_readme_quick_start_has_the_two_commands() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    assert "./scripts/install.sh && .venv/bin/societas run commons" in readme
    assert "./scripts/check.sh" in readme
    ci = (DOCS.parent / ".ci" / "run").read_text()
    assert "./scripts/install.sh" in ci
    assert "./scripts/check.sh" in ci


def test_relative_links_in_the_readme_and_docs_point_at_files() -> None:
    import re

    root = DOCS.parent
    pages = [root / "README.md", root / "CHANGELOG.md", *DOCS.rglob("*.md")]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(root)} -> {target}")
    assert broken == []
