"""The run report: written from the store alone, text escaped, plots valid."""

from __future__ import annotations

import gc
import hashlib
import shutil
import time
from pathlib import Path

import matplotlib.image
import pytest

from societas.analysis import write_report
from societas.engine import prepare_run, run_sync
from societas.scenarios import load_spec
from societas.store import DB_NAME, RunStore
from societas.typing import MessageEvent

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EVIL = '<script>alert("x")</script> & <b>bold</b>'


def _commons_run(out: Path) -> dict[str, float]:
    """Run a short scripted commons game; no run object survives this call."""
    spec = load_spec("commons", ["months=4"], model="scripted", seed=1)
    handle = prepare_run(spec.scenario, spec.config, spec.options, out)
    metrics = run_sync(handle)
    del handle
    gc.collect()
    return metrics


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "run"
    _commons_run(out)
    # A hostile message, written through the store API as a later tick's event.
    with RunStore.open(out) as store:
        store.commit_tick(
            [
                MessageEvent(
                    seq=store.next_seq(),
                    run_id=store.run_id(),
                    tick=3,
                    wall_time=time.time(),
                    actor="fisher_<1>",
                    phase="discuss_1",
                    text=EVIL,
                )
            ]
        )
    return out


@pytest.fixture(scope="module")
def report(run_dir: Path) -> Path:
    return write_report(run_dir)


def test_report_files_exist(run_dir: Path, report: Path) -> None:
    assert report == run_dir / "report" / "index.html"
    names = {p.name for p in report.parent.iterdir()}
    assert {
        "index.html",
        "world_state.png",
        "action_harvest_catch.png",
        "llm_per_tick.png",
        "prompt_tokens.png",
    } <= names


def test_pngs_are_valid_and_referenced(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    pngs = sorted(report.parent.glob("*.png"))
    assert pngs
    for png in pngs:
        data = png.read_bytes()
        assert data.startswith(PNG_MAGIC), png
        image = matplotlib.image.imread(png)
        assert image.shape[0] > 100
        assert image.shape[1] > 100
        assert f'src="{png.name}"' in html


def test_html_has_run_info_metrics_and_messages(run_dir: Path, report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    with RunStore.open(run_dir, readonly=True) as store:
        final = store.final_metrics()
        messages = [e for e in store.events(["message"]) if isinstance(e, MessageEvent)]
        reflections = store.events(["reflection"])
    assert "commons" in html
    assert "scripted" in html
    assert "completed" in html
    assert final
    for name in final:
        assert name in html
    assert len(messages) > 1
    for message in messages[:-1]:  # the last one is the hostile message
        assert message.text in html
    assert reflections
    assert "Reflections" in html
    assert "No fallbacks" in html


def test_agent_text_is_escaped(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html
    assert "<b>bold" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert "fisher_&lt;1&gt;" in html


def test_html_is_self_contained(report: Path) -> None:
    html = report.read_text(encoding="utf-8").lower()
    for needle in ("http://", "https://", "<script", "<link", "@import"):
        assert needle not in html


def test_report_needs_only_the_store_and_leaves_it_untouched(
    run_dir: Path, report: Path, tmp_path: Path
) -> None:
    # Only run.db, copied elsewhere: no cache, no live objects.
    alone = tmp_path / "copy"
    alone.mkdir()
    shutil.copy(run_dir / DB_NAME, alone / DB_NAME)
    before = hashlib.sha256((alone / DB_NAME).read_bytes()).hexdigest()
    (alone / DB_NAME).chmod(0o444)
    index = write_report(alone)
    assert hashlib.sha256((alone / DB_NAME).read_bytes()).hexdigest() == before
    assert sorted(p.name for p in index.parent.iterdir()) == sorted(
        p.name for p in report.parent.iterdir()
    )
    assert EVIL not in index.read_text(encoding="utf-8")


def test_report_of_a_run_without_events(tmp_path: Path) -> None:
    RunStore.create(
        tmp_path,
        run_id="empty",
        scenario="nothing",
        seed=0,
        model="none",
        config={},
        num_ticks=0,
        version="0",
    ).close()
    html = write_report(tmp_path).read_text(encoding="utf-8")
    assert "Nothing to plot." in html
    assert "No messages." in html
    assert not list((tmp_path / "report").glob("*.png"))
