"""The dashboard in a real browser: Playwright for Python driving Debian's chromium.

CI installs chromium (``.ci/run``); without /usr/bin/chromium these tests skip and say so.
Screenshots of the commons, town and social views go to /work/notes/screenshots when that
folder exists (our machines), else to the test's temporary folder.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from societas.experiments.sweep import run_sweep
from societas.store import RunStore
from societas.typing import StoreError
from test_dashboard_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    HOSTILE_LONG,
    HOSTILE_MESSAGE,
    HOSTILE_REASON,
    SCREENSHOTS,
    commons_answer,
    dashboard,
    fake_model,
    in_thread,
    make_run,
)

if not CHROMIUM.is_file():
    pytest.skip(
        f"{CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium) to run "
        "the dashboard's browser tests",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

READY = "body[data-ready]"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors
    yield page
    context.close()
    assert errors == [], f"the page reported errors: {errors}"


def shot(page: Any, name: str, tmp_path: Path) -> Path:
    folder = SCREENSHOTS if SCREENSHOTS.is_dir() else tmp_path
    path = folder / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def open_hash(page: Any, url: str, fragment: str) -> None:
    page.goto(f"{url}/#/{fragment}")
    page.wait_for_selector(READY, state="attached", timeout=30_000)


def test_open_a_finished_run_scrub_and_see_an_agents_action(page: Any, tmp_path: Path) -> None:
    make_run(tmp_path / "runs" / "commons", "commons", "months=4", "protocol=societas")
    make_run(tmp_path / "runs" / "wealth", "wealth", "agents=100", "steps=3")
    with dashboard(tmp_path / "runs") as url:
        open_hash(page, url, "")
        assert page.locator("#runs tbody tr").count() == 2
        page.fill("#run-filter", "commons")
        assert page.locator("#runs tbody tr").count() == 1
        page.click("#runs tbody tr[data-run='commons']")
        page.wait_for_selector("body[data-ready='run']", state="attached")
        assert page.inner_text("#ticklabel") == "tick 3 of 3"
        page.click("button[title='previous tick']")
        page.click("button[title='previous tick']")
        assert page.inner_text("#ticklabel") == "tick 1 of 3"
        assert page.inner_text("#story").startswith("month 2: the fishers asked for")
        assert "tick=1" in page.url
        assert page.locator("[data-view='commons']").count() == 1
        page.click("#agents .chip[data-agent='fisher_1']")
        panel = page.locator(".agentpanel[data-agent='fisher_1']")
        panel.wait_for()
        actions = panel.locator("[data-section='action'] .msg").all_inner_texts()
        assert any("harvest" in a and "reason:" in a for a in actions)
        assert all("tick 2" not in a and "tick 3" not in a for a in actions)  # as of tick 1
        calls = panel.locator("details.call")
        assert calls.count() == 8  # 4 phases x ticks 0 and 1
        calls.first.click()
        text = calls.first.inner_text()
        assert "harvest" in text or "reflect" in text
        # Every prompt and answer is stored: the call shows the messages the agent was shown
        # and the raw answer it gave.
        texts = calls.first.locator(".texts")
        assert texts.count() == 1, text
        shown = texts.inner_text()
        assert "system:" in shown
        assert "user:" in shown
        assert "fisher" in shown or "lake" in shown
        assert 'answer\n{"' in shown  # the raw JSON answer
        # the interview box asks the agent as of the selected tick
        page.fill("#interview-question", "How is the lake?")
        page.click("#interview-ask")
        page.wait_for_selector("#interview-answer .msg")
        answer = page.inner_text("#interview-answer")
        assert answer.startswith("fisher_1 at tick 1:")
        assert "Month 2" in answer
        assert "Month 3" not in answer
        # the event log pages on the server and filters by agent
        page.select_option("#log-actor", "fisher_2")
        page.wait_for_function(
            "() => [...document.querySelectorAll('#log-rows tr')].length > 0 && "
            "[...document.querySelectorAll('#log-rows tr td:nth-child(3)')]"
            ".every(td => td.innerText === 'fisher_2')"
        )
        shot(page, "commons", tmp_path)


def test_hostile_agent_text_is_shown_as_text(page: Any, tmp_path: Path) -> None:
    answer = commons_answer(HOSTILE_REASON, HOSTILE_MESSAGE, HOSTILE_LONG)
    with fake_model(answer) as base_url:
        make_run(
            tmp_path / "runs" / "hostile",
            "commons",
            "months=2",
            "protocol=societas",
            f"run.base_url={base_url}",
            model="openai:fake-model",
        )
    with dashboard(tmp_path / "runs") as url:
        open_hash(page, url, "run?id=hostile&tick=0&agent=fisher_1")
        page.wait_for_selector(".agentpanel [data-section='action']")
        page.wait_for_selector(".agentpanel [data-section='decision_fallback']")
        page.wait_for_selector("#log-rows tr")
        body = page.inner_text("body")
        assert page.evaluate("() => window.__pwned") is None
        assert page.locator("script").count() == 2  # charts.js and app.js only
        assert page.locator("img").count() == 0
        assert "<script>window.__pwned = 1</script>" in body
        assert "\u241b[31mRED\u241b[0m" in body  # ESC shown as the control picture
        assert "\x1b" not in body
        assert '<img src=x onerror="window.__pwned = 2">' in body
        assert "W" * 300 in body
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 1400, "a 10,000-character line must wrap, not widen the page"


def test_a_live_run_gains_ticks_without_reload(page: Any, tmp_path: Path) -> None:
    out = tmp_path / "runs" / "live"
    answer = commons_answer("steady", "let us keep it steady")
    failure: list[BaseException] = []
    with fake_model(answer, latency_s=0.15) as base_url:

        def run() -> None:
            try:
                make_run(
                    out,
                    "commons",
                    "months=8",
                    "protocol=societas",
                    f"run.base_url={base_url}",
                    model="openai:fake-model",
                )
            except BaseException as exc:
                failure.append(exc)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with RunStore.open(out, readonly=True) as store:
                    if store.run_info()["ticks_completed"] >= 1:
                        break
            except StoreError:  # not created yet, or created but not written yet
                pass
            time.sleep(0.05)
        with dashboard(tmp_path / "runs", poll_s=0.2) as url:
            navigations: list[str] = []
            page.on("framenavigated", lambda frame: navigations.append(frame.url))
            open_hash(page, url, "run?id=live")
            assert page.locator(".badge.live").count() >= 1
            first = len(page.evaluate("() => [...document.querySelectorAll('#storylist div')]"))
            page.wait_for_function(
                f"() => document.querySelectorAll('#storylist div').length > {first}",
                timeout=60_000,
            )
            page.wait_for_function(
                "() => document.querySelector('#ticklabel').innerText === 'tick 7 of 7'",
                timeout=60_000,
            )
            page.wait_for_selector("#runhead .badge.completed", timeout=30_000)
            assert len(navigations) == 1, "the page must update in place, not reload"
        worker.join(60)
    assert failure == []


def test_open_an_experiment_and_the_runs_behind_a_cell(page: Any, tmp_path: Path) -> None:
    spec = {
        "name": "tiny",
        "scenario": "commons",
        "base": {"months": 2, "run": {"model": "scripted"}},
        "grid": {"regen_factor": {"slow": 1.5, "fast": 2.0}},
        "seeds": 2,
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    in_thread(lambda: run_sweep(path, out=tmp_path / "exp"))
    with dashboard(tmp_path) as url:
        open_hash(page, url, "")
        page.click("#experiments a")
        page.wait_for_selector("body[data-ready='experiment']", state="attached")
        assert page.locator("#exp-table tbody tr").count() == 2
        page.wait_for_selector("#exp-series-chart svg polygon.band", state="attached")
        page.click("#exp-table td[data-condition='fast'][data-metric='efficiency']")
        rows = page.locator("#cell-runs tbody tr")
        assert rows.count() == 2
        assert {rows.nth(i).get_attribute("data-run") for i in range(2)} == {
            "exp/runs/fast-seed0",
            "exp/runs/fast-seed1",
        }
        rows.first.locator("a").click()
        page.wait_for_selector("body[data-ready='run']", state="attached")
        assert page.inner_text("#story").startswith("month 2:")
        shot(page, "experiment", tmp_path)


def test_a_branched_experiment_shows_its_paired_differences(page: Any, tmp_path: Path) -> None:
    spec = {
        "name": "paired",
        "scenario": "commons",
        "base": {
            "agents": 3,
            "months": 3,
            "dispositions": ["cooperative", "adaptive", "cooperative"],
            "run": {"model": "scripted"},
        },
        "branches": {
            "at": 1,
            "conditions": {
                "control": {},
                "newcomer": {
                    "add": [
                        {"id": "fisher_4", "name": "Zoe", "attributes": {"disposition": "greedy"}}
                    ]
                },
                "slow": {"set": {"regen_factor": 1.5}},
            },
        },
        "seeds": 2,
    }
    path = tmp_path / "paired.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = in_thread(lambda: run_sweep(path, out=tmp_path / "exp"))
    assert result.paired is not None
    expected = result.paired[
        (result.paired["treatment"] == "newcomer")
        & (result.paired["metric"] == "total_catch")
        & (result.paired["agent"] == "")
    ]
    (mean_diff,) = expected["mean_diff"].to_numpy(dtype=float)
    with dashboard(tmp_path) as url:
        open_hash(page, url, "")
        page.click("#experiments a")
        page.wait_for_selector("body[data-ready='experiment']", state="attached")
        page.wait_for_selector("#paired-table", timeout=30_000)
        headers = page.locator("#paired-table thead th").all_inner_texts()
        assert headers == ["metric", "newcomer − control", "slow − control"]
        cell = page.locator(
            "#paired-table tr[data-metric='total_catch'] td[data-treatment='newcomer']"
        )
        text = cell.inner_text()
        shown = f"{float(f'{mean_diff:.4g}'):g}"  # the page's fmt(): 4 significant digits
        assert text.startswith(f"{shown} ["), text
        assert text.endswith("n=2")
        # per agent: the three locals are paired, the newcomer (treatment only) is not
        page.select_option("#paired-agent-metric", "harvest.catch")
        agents = page.locator("#paired-agents tbody tr")
        assert [agents.nth(i).get_attribute("data-agent") for i in range(agents.count())] == [
            "fisher_1",
            "fisher_2",
            "fisher_3",
        ]
        page.wait_for_selector("#paired-agents svg circle", state="attached")
        shot(page, "experiment-paired", tmp_path)
        page.click("#paired summary")
        page.click("#paired-parents a >> nth=0")
        page.wait_for_selector("body[data-ready='run']", state="attached")
        assert page.inner_text("#story").startswith("month 1:")


@pytest.mark.parametrize(
    ("scenario", "sets", "view"),
    [
        ("town", (), "town"),
        ("social", ("agents=300", "mode=archetype"), "social"),
        ("donor", ("generations=2",), "donor"),
    ],
)
def test_world_views(
    page: Any, tmp_path: Path, scenario: str, sets: tuple[str, ...], view: str
) -> None:
    make_run(tmp_path / "runs" / scenario, scenario, *sets)
    with dashboard(tmp_path / "runs") as url:
        open_hash(page, url, f"run?id={scenario}&tick=5")
        world = page.locator(f"[data-view='{view}']")
        assert world.count() == 1
        assert world.locator("svg, .place").count() >= 1
        if view == "social":
            page.wait_for_selector("#groups tr")
            # the rumour's cascades as trees, as of tick 5 (later posts grey)
            page.wait_for_selector("#cascades svg.tree circle")
            assert page.locator("#cascades .tree-box").count() >= 1
            page.wait_for_selector("#follows svg.graph circle")
        world.scroll_into_view_if_needed()
        shot(page, view, tmp_path)
        if view == "town":
            assert "heard of the party" in page.inner_text("#heard")
            assert page.locator(".place .chip.heard").count() >= 1
            assert page.locator(".place .chip").count() >= 1
            page.locator(".place .chip").first.click()
            page.wait_for_selector(".agentpanel [data-section='plan']")
            assert page.locator(".agentpanel [data-section='memories'] tbody tr").count() >= 1
