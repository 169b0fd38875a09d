"""The dashboard's server over real HTTP: what each endpoint reads, that nothing is written,
and that only runs under the served folder can be named."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from societas.cli.main import app
from societas.experiments.sweep import run_sweep
from societas.store import RunStore
from test_dashboard_support import dashboard, make_run


def get(url: str, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


def status_of(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    make_run(root / "commons", "commons", "months=4", "protocol=societas")
    make_run(root / "nested" / "donor", "donor", "generations=2")
    make_run(root / "wealth", "wealth", "agents=200", "steps=5")
    return root


def test_runs_list_has_every_run_with_its_figures(runs: Path) -> None:
    with dashboard(runs) as url:
        listing = get(f"{url}/api/runs")
    rows = {r["id"]: r for r in listing["runs"]}
    assert set(rows) == {"commons", "nested/donor", "wealth"}
    commons = rows["commons"]
    assert commons["scenario"] == "commons"
    assert commons["status"] == "completed"
    assert commons["live"] is False
    assert commons["ticks_completed"] == commons["num_ticks"] == 4
    assert commons["calls"] == 80  # 5 fishers x 4 phases x 4 months
    assert commons["tokens"] == commons["prompt_tokens"] + commons["completion_tokens"] > 0
    assert commons["fallback_rate"] == 0.0
    assert rows["wealth"]["calls"] == 0


def test_run_overview_has_series_story_world_and_model_panel(runs: Path) -> None:
    with dashboard(runs) as url:
        data = get(f"{url}/api/run?run=commons")
    assert data["ticks"] == [0, 1, 2, 3]
    names = {s["name"] for s in data["series"]}
    assert "harvest: stock" in names
    assert "harvest: caught.fisher_1" in names
    assert data["story"][0]["text"].startswith("month 1: the fishers asked for ")
    assert data["world"]["view"] == "commons"
    assert [m["month"] for m in data["world"]["months"]] == [1, 2, 3, 4]
    assert [row["calls"] for row in data["llm"]] == [20, 20, 20, 20]
    assert "fisher_1" in data["actors"]
    assert {"action", "llm_call", "message", "world_state"} <= set(data["kinds"])
    assert data["final_metrics"]["llm_calls"] == 80


def test_generic_scenarios_get_series_and_a_generic_story(runs: Path) -> None:
    with dashboard(runs) as url:
        wealth = get(f"{url}/api/run?run=wealth")
        donor = get(f"{url}/api/run?run=nested/donor")
    assert wealth["world"] == {"view": "generic"}
    assert "exchange: gini" in {s["name"] for s in wealth["series"]}
    assert wealth["story"][0]["text"].startswith("tick 0: ")
    assert donor["world"]["view"] == "donor"
    assert [g["generation"] for g in donor["world"]["generations"]] == [1, 2]


def test_event_log_pages_and_filters_on_the_server(runs: Path) -> None:
    with dashboard(runs) as url:
        everything = get(f"{url}/api/events?run=commons&limit=500")["events"]
        seqs: list[int] = []
        after = -1
        while True:
            page = get(f"{url}/api/events?run=commons&limit=37&after={after}")
            seqs += [e["seq"] for e in page["events"]]
            if page["next"] is None:
                break
            after = page["next"]
        actions = get(f"{url}/api/events?run=commons&kind=action&actor=fisher_2&tick=1")
        discuss = get(f"{url}/api/events?run=commons&phase=discuss_1&kind=message")
    with RunStore.open(runs / "commons", readonly=True) as store:
        total = store.counts()["events"]
    assert seqs == [e["seq"] for e in everything] == list(range(total))
    assert {(e["kind"], e["actor"], e["tick"]) for e in actions["events"]} == {
        ("action", "fisher_2", 1)
    }
    assert len(actions["events"]) == 4  # harvest, two discussion rounds, reflect
    assert discuss["events"]
    assert all(e["phase"] == "discuss_1" for e in discuss["events"])


def test_agent_view_has_persona_actions_with_reasons_and_calls(runs: Path) -> None:
    with dashboard(runs) as url:
        agent = get(f"{url}/api/agent?run=commons&agent=fisher_1")
        early = get(f"{url}/api/agent?run=commons&agent=fisher_1&tick=0")
        call = get(f"{url}/api/event?run=commons&seq={agent['calls'][0]['seq']}")
    harvests = [a for a in agent["events"]["action"] if a["phase"] == "harvest"]
    assert len(harvests) == 4
    assert all(a["data"]["reason"] for a in harvests)
    assert len(agent["calls"]) == 16
    assert {c["tick"] for c in early["calls"]} == {0}
    memories = early["memories"]  # the snapshot after tick 0: month 1's observation, reflection
    assert memories["tick"] == 0
    assert {r["kind"] for r in memories["records"]} == {"observation", "reflection"}
    assert memories["records"][0]["text"].startswith("My reflection after month 1")  # importance
    assert agent["memories"]["count"] == 8  # the last snapshot: four months
    assert agent["events"]["message"]
    assert call["kind"] == "llm_call"
    assert call["payload"]["purpose"] == "harvest"


def test_experiment_view_has_cells_and_the_runs_behind_them(tmp_path: Path) -> None:
    spec = {
        "name": "tiny",
        "scenario": "commons",
        "base": {"months": 2, "run": {"model": "scripted"}},
        "grid": {"regen_factor": {"slow": 1.5, "fast": 2.0}},
        "seeds": 2,
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    run_sweep(path, out=tmp_path / "exp")
    with dashboard(tmp_path / "exp") as url:
        listing = get(f"{url}/api/runs")
        data = get(f"{url}/api/experiment?exp=")
    assert listing["experiments"] == [""]
    assert len(listing["runs"]) == 4
    assert {c["id"] for c in data["conditions"]} == {"slow", "fast"}
    cell = next(
        r for r in data["summary"] if r["condition"] == "fast" and r["metric"] == "efficiency"
    )
    assert cell["n"] == 2
    behind = [r for r in data["runs"] if r["condition"] == "fast"]
    assert {r["run"] for r in behind} == {"runs/fast-seed0", "runs/fast-seed1"}
    mean = sum(r["metrics"]["efficiency"] for r in behind) / 2
    assert cell["mean"] == pytest.approx(mean)
    stock = data["series"]["harvest: stock"]["fast"]
    assert [row[0] for row in stock] == [0, 1]
    _, middle, low, high, n = stock[1]
    assert n == 2
    assert low <= middle <= high
    stocks = []
    for seed in (0, 1):
        with RunStore.open(tmp_path / "exp" / "runs" / f"fast-seed{seed}", readonly=True) as store:
            frame = store.events_df(["world_state"])
        rows = frame[(frame["tick"] == 1) & frame["payload"].map(lambda p: p["phase"] == "harvest")]
        stocks.append(rows["payload"].iloc[-1]["state"]["stock"])
    assert middle == pytest.approx(sum(stocks) / 2)


def test_nothing_is_written_and_only_reads_are_served(runs: Path) -> None:
    before = digest(runs)
    with dashboard(runs) as url:
        get(f"{url}/api/runs")
        get(f"{url}/api/run?run=commons")
        get(f"{url}/api/events?run=commons")
        get(f"{url}/api/agent?run=commons&agent=fisher_1")
        assert status_of(f"{url}/api/run?run=commons", method="POST") == 405
        assert status_of(f"{url}/api/run?run=commons", method="DELETE") == 405
    assert digest(runs) == before


@pytest.mark.parametrize(
    "query",
    ["run=..", "run=../..", "run=/etc", "run=commons/../..", "run=nested", "run=missing"],
)
def test_only_runs_under_the_folder_can_be_named(runs: Path, query: str) -> None:
    with dashboard(runs / "nested") as url:
        assert status_of(f"{url}/api/run?{query}") == 404


def test_other_host_names_are_refused(runs: Path) -> None:
    with dashboard(runs) as url:
        assert status_of(f"{url}/api/runs", headers={"Host": "evil.example:80"}) == 421
        assert status_of(f"{url}/api/runs", headers={"Host": "localhost"}) == 200


def test_pages_forbid_foreign_scripts(runs: Path) -> None:
    with dashboard(runs) as url, urllib.request.urlopen(f"{url}/", timeout=20) as response:
        policy = response.headers["Content-Security-Policy"]
        page = response.read().decode()
    assert "script-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert "http" not in page.replace('href="#/"', "")  # nothing fetched from elsewhere


def test_static_assets_reference_no_network() -> None:
    static = Path(__file__).resolve().parents[1] / "src" / "societas" / "web" / "static"
    for path in static.iterdir():
        text = path.read_text(encoding="utf-8")
        for needle in ("http://", "https://", "//cdn", "@import", "fonts.g"):
            if needle == "http://" and "www.w3.org/2000/svg" in text:
                text = text.replace("http://www.w3.org/2000/svg", "")
            assert needle not in text, f"{path.name} mentions {needle}"


def test_live_stream_reports_the_store_state(runs: Path) -> None:
    with (
        dashboard(runs) as url,
        urllib.request.urlopen(f"{url}/api/live?run=commons", timeout=20) as response,
    ):
        assert response.headers["Content-Type"].startswith("text/event-stream")
        line = response.readline().decode()
    state = json.loads(line.removeprefix("data: "))
    assert state["status"] == "completed"
    assert state["ticks_completed"] == 4
    assert state["live"] is False


def test_cli_refuses_a_missing_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["dashboard", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "a run directory, a folder of runs or an experiment directory" in result.stderr


def test_interview_answers_as_of_a_tick_and_changes_nothing(runs: Path) -> None:
    before = digest(runs)
    question = "How%20is%20the%20lake%3F"
    with dashboard(runs) as url:
        target = f"{url}/api/interview?run=commons&agent=fisher_1&tick=1&question={question}"
        assert status_of(target) == 403  # a page elsewhere cannot send the header
        answer = get(target, headers={"X-Societas-Interview": "1"})
        missing = status_of(
            f"{url}/api/interview?run=commons&agent=nobody&question=hi",
            headers={"X-Societas-Interview": "1"},
        )
    assert answer["tick"] == 1
    assert "Month 2" in answer["answer"]  # memories as of tick 1: months 1 and 2
    assert "Month 3" not in answer["answer"]
    assert missing == 422
    assert digest(runs) == before
