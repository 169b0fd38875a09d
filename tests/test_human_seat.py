"""A person takes an agent's seat (``--human``): the run waits for that agent's decisions,
checks the person's answers against the same schema a model gets, records them as the
``human`` model's calls, and replays them exactly from the cache."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from societas.analysis.compare import first_difference
from societas.cli.main import app
from societas.llm.human import SeatAnswerError, SeatRequest, answer_seat, pending_requests
from societas.store import RunStore
from societas.testing.schema_model import SchemaFiller
from societas.typing.events import ActionEvent
from test_dashboard_support import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, dashboard

RUN = ["run", "commons", "--model", "scripted", "--seed", "3", "-q"]
SETS = ["--set", "months=2", "--set", "protocol=societas"]


def commons_person(catch: int) -> Callable[[SeatRequest], str]:
    """A person who catches ``catch`` tons and says something valid everywhere else."""

    def answer(request: SeatRequest) -> str:
        assert request.json_schema is not None
        if request.purpose == "harvest":
            return json.dumps({"catch": catch, "reason": "I was asked to"})
        return json.dumps(SchemaFiller(request.json_schema, random.Random(request.id)).fill())

    return answer


@contextmanager
def seated_run(out: Path, *extra: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "societas", *RUN, *SETS, "--out", str(out), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def wait_for_seat(out: Path, proc: subprocess.Popen[str], timeout_s: float = 60) -> None:
    """Wait until the seated run asks its first question (fails if the run ends first)."""
    deadline = time.monotonic() + timeout_s
    while not pending_requests(out):
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "no decision waited for a person"
        time.sleep(0.05)


def pending_ids_answered(run_dir: Path) -> set[str]:
    """Ids of requests answered (their answer file written) but not yet read by the run."""
    folder = run_dir / "seat" / "answers"
    return {p.stem for p in folder.glob("*.json")} if folder.is_dir() else set()


def play(
    out: Path,
    proc: subprocess.Popen[str],
    person: Callable[[SeatRequest], str],
    answered: set[str] | None = None,
) -> int:
    """Answer every waiting decision until the run ends; returns how many were answered
    (``answered``: ids answered already, not to be answered twice)."""
    answered = set() if answered is None else answered
    deadline = time.monotonic() + 120
    while proc.poll() is None:
        assert time.monotonic() < deadline, "the seated run did not finish"
        for request in pending_requests(out):
            if request.id not in answered:
                try:
                    answer_seat(out, request.id, person(request))
                except SeatAnswerError:
                    if any(r.id == request.id for r in pending_requests(out)):
                        raise
                    continue  # the run stopped waiting for it in the meantime
                answered.add(request.id)
        time.sleep(0.05)
    return len(answered)


def test_a_persons_answers_are_the_agents_decisions_and_replay_exactly(tmp_path: Path) -> None:
    out = tmp_path / "seated"
    with seated_run(out, "--human", "fisher_2") as proc:
        answered = play(out, proc, commons_person(catch=7))
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "seated: fisher_2" in stderr
    assert answered >= 2  # a harvest each month at least
    with RunStore.open(out, readonly=True) as store:
        events = store.events()
        assert store.run_info()["status"] == "completed"
    calls = [e for e in events if e.kind == "llm_call"]
    assert {c.payload()["model"] for c in calls if c.actor == "fisher_2"} == {"human"}
    assert "human" not in {c.payload()["model"] for c in calls if c.actor != "fisher_2"}
    harvests = [
        e
        for e in events
        if isinstance(e, ActionEvent) and e.actor == "fisher_2" and e.phase == "harvest"
    ]
    assert [h.data["catch"] for h in harvests] == [7, 7]
    assert not any(e.kind == "decision_fallback" and e.actor == "fisher_2" for e in events)
    assert not (out / "seat" / "pending").exists() or not list((out / "seat/pending").iterdir())

    # The cache answers for the person on replay: no seat request is ever written.
    replay = tmp_path / "replayed"
    done = subprocess.run(
        [
            sys.executable, "-m", "societas", "run", "commons", "--model", "replay",
            "--seed", "3", "-q", *SETS, "--human", "fisher_2",
            "--cache", str(out / "cache.db"), "--out", str(replay),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with RunStore.open(replay, readonly=True) as store:
        assert first_difference(store.events(), events) is None


def test_an_answer_outside_the_schema_is_refused_with_the_field_named(tmp_path: Path) -> None:
    out = tmp_path / "seated"
    with seated_run(out, "--human", "fisher_1") as proc:
        wait_for_seat(out, proc)
        request = pending_requests(out)[0]
        assert request.actor == "fisher_1"
        with pytest.raises(SeatAnswerError, match=r"catch.*100"):
            answer_seat(out, request.id, json.dumps({"catch": 1000, "reason": "all of it"}))
        with pytest.raises(SeatAnswerError, match="JSON"):
            answer_seat(out, request.id, "lots")
        with pytest.raises(SeatAnswerError, match="request"):
            answer_seat(out, "0" * 24, json.dumps({"catch": 1, "reason": "x"}))
        with pytest.raises(SeatAnswerError, match="request id"):
            answer_seat(out, "../../run", "{}")
        # The first answer wins: a second one to the same request is refused.
        answer_seat(out, request.id, json.dumps({"catch": 3, "reason": "first"}))
        with pytest.raises(SeatAnswerError, match="not answered yet"):
            answer_seat(out, request.id, json.dumps({"catch": 4, "reason": "second"}))
        answered = play(out, proc, commons_person(catch=0), {request.id})
        assert answered >= 1
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_a_seat_for_an_agent_the_run_does_not_have_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, [*RUN, *SETS, "--out", str(tmp_path / "r"), "--human", "fisher_9"]
    )
    assert result.exit_code == 2
    assert "run.human" in result.output
    assert "fisher_9" in result.output
    assert not (tmp_path / "r" / "run.db").exists()


def test_the_terminal_seat_asks_each_field_and_sends_the_answer(tmp_path: Path) -> None:
    out = tmp_path / "seated"
    with seated_run(out, "--human", "fisher_1") as proc:
        wait_for_seat(out, proc)
        # A number outside the range is refused and asked again; then a valid answer.
        result = CliRunner().invoke(
            app, ["seat", str(out), "--once"], input="250\nno\n5\nsmall catch\n"
        )
        assert result.exit_code == 0, result.output
        assert "catch" in result.output
        assert "sent" in result.output
        assert "100" in result.output  # the refusal names the bound
        first_id = pending_ids_answered(out)
        play(out, proc, commons_person(catch=5), first_id)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    with RunStore.open(out, readonly=True) as store:
        first = next(
            e
            for e in store.events()
            if isinstance(e, ActionEvent) and e.actor == "fisher_1" and e.phase == "harvest"
        )
    assert first.data["catch"] == 5
    assert first.data["reason"] == "small catch"


def _post(url: str, body: bytes, content_type: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


def test_the_dashboard_lists_and_answers_a_seat_and_nothing_else_is_written(
    tmp_path: Path,
) -> None:
    out = tmp_path / "runs" / "seated"
    with seated_run(out, "--human", "fisher_3") as proc:
        wait_for_seat(out, proc)
        with dashboard(tmp_path / "runs") as url:
            with urllib.request.urlopen(f"{url}/api/seat?run=seated", timeout=20) as response:
                waiting = json.loads(response.read())["pending"]
            assert [w["actor"] for w in waiting] == ["fisher_3"]
            seat_url = f"{url}/api/seat?run=seated"
            good = json.dumps({"id": waiting[0]["id"], "answer": {"catch": 4, "reason": "r"}})
            # A cross-site form cannot send JSON: anything else is refused.
            status, _ = _post(seat_url, good.encode(), "application/x-www-form-urlencoded")
            assert status == 415
            bad = json.dumps({"id": waiting[0]["id"], "answer": {"catch": -1, "reason": "r"}})
            status, data = _post(seat_url, bad.encode(), "application/json")
            assert status == 422
            assert "catch" in data["error"]
            status, _ = _post(f"{url}/api/events?run=seated", good.encode(), "application/json")
            assert status == 405
            status, data = _post(seat_url, good.encode(), "application/json")
            assert status == 200, data
            first = {waiting[0]["id"]}
            person = threading.Thread(
                target=play, args=(out, proc, commons_person(9), first), daemon=True
            )
            person.start()
            proc.communicate(timeout=120)
    assert proc.returncode == 0
    with RunStore.open(out, readonly=True) as store:
        harvest = [
            e
            for e in store.events()
            if isinstance(e, ActionEvent) and e.actor == "fisher_3" and e.phase == "harvest"
        ]
    assert [(h.data["catch"], h.data["reason"]) for h in harvest] == [
        (4, "r"),
        (9, "I was asked to"),
    ]


@pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} is absent (apt install chromium)")
def test_a_person_plays_from_the_dashboard_in_a_browser(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    out = tmp_path / "runs" / "seated"
    with seated_run(out, "--human", "fisher_4") as proc:
        wait_for_seat(out, proc)
        first = pending_requests(out)[0].id
        with dashboard(tmp_path / "runs") as url, sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/#/run?id=seated")
            seat = page.locator(".seat[data-seat='fisher_4']")
            seat.wait_for(timeout=30_000)
            assert "Your seat: fisher_4 (harvest)" in seat.inner_text()
            assert "The lake holds 100 tons now" in seat.inner_text()
            catch = seat.locator("input[name='catch']")
            assert catch.get_attribute("max") == "100"
            catch.fill("500")  # outside the schema: the server says which field
            seat.locator("input[name='reason']").fill("from the browser")
            # The browser's own range check would stop the form; the server's is what counts.
            seat.locator("form").evaluate("f => f.setAttribute('novalidate', '')")
            seat.locator(".seat-send").click()
            page.wait_for_selector(".seat-result .error")
            assert "catch" in seat.locator(".seat-result").inner_text()
            catch.fill("6")
            seat.locator(".seat-send").click()
            page.wait_for_selector(".seat-result .muted")
            shot = SCREENSHOTS if SCREENSHOTS.is_dir() else tmp_path
            page.screenshot(path=str(shot / "dashboard-seat.png"))
            browser.close()
        play(out, proc, commons_person(catch=8), {first})
        proc.communicate(timeout=120)
    assert proc.returncode == 0
    with RunStore.open(out, readonly=True) as store:
        harvest = [
            e
            for e in store.events()
            if isinstance(e, ActionEvent) and e.actor == "fisher_4" and e.phase == "harvest"
        ]
    assert [(h.data["catch"], h.data["reason"]) for h in harvest] == [
        (6, "from the browser"),
        (8, "I was asked to"),
    ]
