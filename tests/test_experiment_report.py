"""``societas report EXPERIMENT_DIR``: one self-contained page from the sweep's files and stores."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from societas.analysis.experiment_report import sample_messages, write_experiment_report
from societas.analysis.report import write_report
from societas.cli.main import app
from societas.experiments import run_sweep
from societas.experiments.sweep import SUMMARY_COLUMNS
from societas.store import RunStore
from societas.typing import MessageEvent

EXPERIMENT = """
name: reported
scenario: commons
base:
  months: 2
  discussion_rounds: 1
  run: {model: scripted}
grid:
  dispositions:
    coop: [cooperative]
    mixed: [cooperative, greedy]
seeds: 2
reference:
  note: "made-up values <for the test>"
  values:
    coop:
      efficiency: {value: 0.5, source: "Table <9> & row X"}
      no_such_metric: {value: 1.0, source: "a typo shows as n = 0"}
"""


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("exp")
    spec = root / "exp.yaml"
    spec.write_text(EXPERIMENT)
    result = run_sweep(spec, out=root / "out")
    assert result.started == 4
    assert not result.failed
    return root / "out"


def test_report_of_an_experiment_directory(experiment: Path) -> None:
    write_report(experiment / "runs" / "coop-seed0")  # one run has its own report
    result = CliRunner().invoke(app, ["report", str(experiment)])
    assert result.exit_code == 0, result.output
    page = (experiment / "report.html").read_text(encoding="utf-8")

    # The table: every metric per condition, with the numbers of summary.csv.
    summary = pd.read_csv(experiment / "summary.csv")
    assert len(summary) > 10
    for row in summary.itertuples():
        assert f">{row.metric}<" in page or row.metric in page
        if row.n > 0:
            assert f'<td class="num">{row.mean:.4g}</td>' in page
    eff = summary[(summary.condition == "coop") & (summary.metric == "efficiency")].iloc[0]
    assert eff["reference"] == 0.5
    assert "Table &lt;9&gt; &amp; row X" in page
    assert "made-up values &lt;for the test&gt;" in page
    typo = summary[summary.metric == "no_such_metric"].iloc[0]
    assert typo["n"] == 0

    # Plots embedded, one per plot file of the sweep; nothing refers to files outside.
    pngs = sorted((experiment / "plots").glob("*.png"))
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(embedded) == len(pngs) > 3
    assert base64.b64decode(embedded[0]) == pngs[0].read_bytes()
    assert re.findall(r'src="(?!data:)', page) == []

    # Links: the run with a report is linked, the others say how to make one.
    assert '<a href="runs/coop-seed0/report/index.html">' in page
    assert page.count("(no report: societas report") == 3

    # Sampled messages come from the stores, per condition.
    for condition in ("coop", "mixed"):
        texts = []
        for seed in (0, 1):
            with RunStore.open(experiment / "runs" / f"{condition}-seed{seed}") as store:
                texts += [e.text for e in store.events(["message"]) if isinstance(e, MessageEvent)]
        assert texts
        runs = [(s, experiment / "runs" / f"{condition}-seed{s}") for s in (0, 1)]
        sample = sample_messages(condition, runs)
        assert len(sample) == min(6, len([t for t in texts if t.strip()]))
        assert all(m.text in texts for m in sample)
        assert all(m.text in page for m in sample)  # plain text: no markup in scripted texts
        assert sample == sample_messages(condition, runs[::-1])  # not the listing order

    # Deterministic: the same files give the same page.
    again = write_experiment_report(experiment).read_text(encoding="utf-8")
    assert again == page


def test_report_of_a_run_directory_is_unchanged(experiment: Path) -> None:
    run_dir = experiment / "runs" / "mixed-seed1"
    result = CliRunner().invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert (run_dir / "report" / "index.html").exists()


def test_neither_a_run_nor_an_experiment(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    (tmp_path / "experiment.json").write_text("{not json")
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "experiment.json" in result.output


def test_agent_text_and_labels_are_escaped(tmp_path: Path) -> None:
    """A hand-made experiment directory whose one run holds hostile text."""
    run_dir = tmp_path / "runs" / "c-seed0"
    with RunStore.create(
        run_dir,
        run_id="r1",
        scenario="commons",
        seed=0,
        model="scripted",
        config={},
        num_ticks=1,
        version="test",
    ) as store:
        hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
        store.commit_tick(
            [
                MessageEvent(
                    seq=0,
                    run_id="r1",
                    tick=0,
                    wall_time=time.time(),
                    actor="<b>agent</b>",
                    phase="discuss_1",
                    text=hostile,
                )
            ],
            status="completed",
        )
    index = {
        "name": "x<y",
        "scenario": "commons",
        "spec": {"base": {}, "grid": {}, "seeds": [0], "reference": None},
        "conditions": [{"id": "c", "overrides": {"note": "</td><script>"}}],
        "runs": [{"condition": "c", "seed": 0, "dir": "runs/c-seed0"}],
    }
    (tmp_path / "experiment.json").write_text(json.dumps(index))
    pd.DataFrame(
        [["c", "m", 1, 1.0, float("nan"), float("nan"), float("nan"), 2.0, "<i>src</i>"]],
        columns=SUMMARY_COLUMNS,
    ).to_csv(tmp_path / "summary.csv", index=False)
    page = write_experiment_report(tmp_path).read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "<img src=x" not in page
    assert "<b>agent" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&lt;b&gt;agent&lt;/b&gt;" in page
    assert "&lt;i&gt;src&lt;/i&gt;" in page
    assert "x&lt;y" in page
