"""An experiment's report: one self-contained ``report.html`` in the experiment directory.

It is built from what ``societas sweep`` wrote and from the run stores, never from live
objects: the index (``experiment.json``), the summary table (``summary.csv``: per condition
and metric n, mean, std, 95 % CI and the reference value with its source), the per-metric
plots (``plots/*.png``, embedded as base64), and per condition a few agent messages sampled
deterministically from the runs' ``message`` events, and for a branched experiment the paired
differences (``paired.csv``: treatment minus control per seed, mean and 95 % t CI, run-level
and per agent). Agent text is untrusted data: every
string that reaches the page is HTML-escaped. Each run links to its own report when one has
been written (``societas report RUN_DIR``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from societas.store import DB_NAME, RunStore
from societas.store.atomic import atomic_file
from societas.typing import ConfigError, MessageEvent

__all__ = [
    "EXPERIMENT_INDEX",
    "REPORT_NAME",
    "is_experiment_dir",
    "sample_messages",
    "write_experiment_report",
]

EXPERIMENT_INDEX = "experiment.json"
REPORT_NAME = "report.html"
SUMMARY_NAME = "summary.csv"
PAIRED_NAME = "paired.csv"
PAIRED_AGENT_ROWS = 200  # per-agent rows shown in the page (all are in paired.csv)
MESSAGES_PER_CONDITION = 6
MAX_MESSAGE_CHARS = 1000

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 80em; color: #222; }
h1, h2, h3 { font-weight: 600; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.text { white-space: pre-wrap; max-width: 50em; }
tr.first td { border-top: 2px solid #999; }
figure { margin: 1em 0; display: inline-block; } img { max-width: 100%; border: 1px solid #eee; }
.muted { color: #777; }
"""


@dataclass(frozen=True)
class _Run:
    condition: str
    seed: int
    directory: Path
    rel: str


@dataclass(frozen=True)
class SampledMessage:
    seed: int
    tick: int
    phase: str
    speaker: str
    text: str


def is_experiment_dir(directory: Path) -> bool:
    """True for a directory made by ``societas sweep`` (it holds the sweep's index)."""
    return (Path(directory) / EXPERIMENT_INDEX).is_file()


def _read_index(directory: Path) -> dict[str, Any]:
    path = directory / EXPERIMENT_INDEX
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(str(path), "", "a readable experiment index (JSON)", str(exc)) from exc
    if not isinstance(index, dict) or not isinstance(index.get("runs"), list):
        raise ConfigError(str(path), "runs", "the index written by 'societas sweep'")
    return index


def _runs(directory: Path, index: dict[str, Any]) -> list[_Run]:
    out = []
    for entry in index["runs"]:
        try:
            rel = str(entry["dir"])
            out.append(_Run(str(entry["condition"]), int(entry["seed"]), directory / rel, rel))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                str(directory / EXPERIMENT_INDEX), "runs", "entries with condition, seed, dir"
            ) from exc
    return out


def _read_summary(directory: Path) -> pd.DataFrame:
    path = directory / SUMMARY_NAME
    if not path.is_file():
        raise ConfigError(
            str(path), "", f"the sweep's summary table (run 'societas sweep' into {directory})"
        )
    table = pd.read_csv(path, keep_default_na=True)
    for column in ("reference", "reference_source"):
        if column not in table:  # written by an older sweep
            table[column] = math.nan if column == "reference" else ""
    # Read back from CSV, a column with no source at all is float NaN: no fillna("") on it.
    table["reference_source"] = ["" if pd.isna(v) else str(v) for v in table["reference_source"]]
    return table


# -- messages ---------------------------------------------------------------------------


def _order_key(condition: str, seed: int, seq: int) -> str:
    return hashlib.sha256(f"{condition}\x00{seed}\x00{seq}".encode()).hexdigest()


def sample_messages(
    condition: str, runs: list[tuple[int, Path]], k: int = MESSAGES_PER_CONDITION
) -> list[SampledMessage]:
    """Up to ``k`` non-empty messages of a condition's runs (seed, run directory), chosen by
    a hash of (condition, seed, event seq): the same stores give the same sample, and the
    sample does not depend on the order the runs are listed in. Shown in (seed, tick) order.
    """
    keyed: list[tuple[str, SampledMessage]] = []
    for seed, run_dir in runs:
        if not (run_dir / DB_NAME).exists():
            continue
        with RunStore.open(run_dir, readonly=True) as store:
            events = store.events(kinds=["message"])
        for event in events:
            if not isinstance(event, MessageEvent) or not event.text.strip():
                continue
            text = event.text
            if len(text) > MAX_MESSAGE_CHARS:
                text = text[:MAX_MESSAGE_CHARS] + " [...]"
            message = SampledMessage(seed, event.tick, event.phase, event.actor or "-", text)
            keyed.append((_order_key(condition, seed, event.seq), message))
    keyed.sort(key=lambda item: item[0])
    chosen = [m for _, m in keyed[:k]]
    return sorted(chosen, key=lambda m: (m.seed, m.tick, m.phase, m.speaker))


# -- html -------------------------------------------------------------------------------


def _num(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return '<td class="num">-</td>'
    return '<td class="num">-</td>' if math.isnan(number) else f'<td class="num">{number:.4g}</td>'


def _text(value: Any) -> str:
    return f'<td class="text">{escape(str(value))}</td>'


def _summary_html(summary: pd.DataFrame) -> str:
    if summary.empty:
        return '<p class="muted">No completed runs yet.</p>'
    head = "".join(
        f"<th>{escape(h)}</th>"
        for h in ("metric", "condition", "n", "mean", "std", "95% CI", "reference", "source")
    )
    rows = []
    for metric, group in summary.groupby("metric", sort=True):
        for i, r in enumerate(group.itertuples()):
            ci = f"[{_plain(r.ci95_low)}, {_plain(r.ci95_high)}]"
            rows.append(
                f'<tr class="{"first" if i == 0 else ""}">'
                + _text(metric if i == 0 else "")
                + _text(r.condition)
                + _num(r.n)
                + _num(r.mean)
                + _num(r.std)
                + f'<td class="num">{escape(ci)}</td>'
                + _num(r.reference)
                + _text(r.reference_source)
                + "</tr>"
            )
    return f"<table>\n<tr>{head}</tr>\n" + "\n".join(rows) + "\n</table>"


def _read_paired(directory: Path) -> pd.DataFrame | None:
    path = directory / PAIRED_NAME
    if not path.is_file():
        return None
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    table["agent"] = ["" if pd.isna(v) else str(v) for v in table["agent"]]
    return table


def _paired_rows(table: pd.DataFrame, with_agent: bool) -> list[str]:
    rows = []
    for metric, group in table.groupby("metric", sort=True):
        for i, r in enumerate(group.itertuples()):
            ci = f"[{_plain(r.ci95_low)}, {_plain(r.ci95_high)}]"
            rows.append(
                f'<tr class="{"first" if i == 0 else ""}">'
                + _text(metric if i == 0 else "")
                + (_text(r.agent) if with_agent else "")
                + _text(r.treatment)
                + _text(r.control)
                + _num(r.n)
                + _num(r.mean_diff)
                + f'<td class="num">{escape(ci)}</td>'
                + _num(r.treatment_mean)
                + _num(r.control_mean)
                + "</tr>"
            )
    return rows


def _paired_html(table: pd.DataFrame, at: Any) -> str:
    """The paired differences: run-level metrics, then per agent."""
    if table.empty:
        return '<p class="muted">No completed pairs yet.</p>'
    columns = ["treatment", "control", "n", "mean diff", "95% CI", "treatment", "control"]
    head = "".join(f"<th>{escape(h)}</th>" for h in ["metric", *columns[:5]])
    head += "<th>treatment mean</th><th>control mean</th>"
    runs = table[table["agent"] == ""]
    agents = table[table["agent"] != ""]
    parts = [
        f"<p>Per seed, a treatment's value minus the control's; the runs share ticks before "
        f"{escape(str(at))} (copied from one parent run per seed).</p>",
        f"<table>\n<tr>{head}</tr>\n" + "\n".join(_paired_rows(runs, False)) + "\n</table>",
    ]
    if not agents.empty:
        shown = agents.head(PAIRED_AGENT_ROWS)
        agent_head = "<th>metric</th><th>agent</th>" + head.removeprefix("<th>metric</th>")
        parts.append(
            "<h3>Per agent (sums of numeric action fields from the branch point on)</h3>\n"
            f"<table>\n<tr>{agent_head}</tr>\n"
            + "\n".join(_paired_rows(shown, True))
            + "\n</table>"
        )
        if len(agents) > len(shown):
            parts.append(
                f'<p class="muted">{len(shown)} of {len(agents)} per-agent rows shown; all are '
                f"in {PAIRED_NAME}.</p>"
            )
    return "\n".join(parts)


def _plain(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "-"
    return "-" if math.isnan(number) else f"{number:.4g}"


def _plots_html(directory: Path) -> str:
    plots = sorted((directory / "plots").glob("*.png"))
    if not plots:
        return '<p class="muted">No plots (the sweep writes plots/ when runs complete).</p>'
    figures = []
    for path in plots:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        caption = f"{path.stem}: mean by condition, 95 % CI over seeds"
        figures.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{escape(caption)}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>"
        )
    return "\n".join(figures)


def _conditions_html(index: dict[str, Any], runs: list[_Run], directory: Path) -> str:
    parts = []
    by_condition: dict[str, list[_Run]] = {}
    for run in runs:
        by_condition.setdefault(run.condition, []).append(run)
    overrides = {
        str(c.get("id")): c.get("overrides", {})
        for c in index.get("conditions", [])
        if isinstance(c, dict)
    }
    for condition, members in by_condition.items():
        members = sorted(members, key=lambda r: r.seed)
        sets = overrides.get(condition, {})
        settings = ", ".join(f"{k} = {json.dumps(v)}" for k, v in sets.items()) or "(base)"
        run_rows = []
        for run in members:
            status = "not started"
            if (run.directory / DB_NAME).exists():
                with RunStore.open(run.directory, readonly=True) as store:
                    status = str(store.run_info()["status"])
            page = run.directory / "report" / "index.html"
            if page.is_file():
                href = escape(f"{run.rel}/report/index.html", quote=True)
                link = f'<a href="{href}">{escape(run.rel)}</a>'
            else:
                link = (
                    f"{escape(run.rel)} "
                    f'<span class="muted">(no report: societas report '
                    f"{escape(str(run.directory))})</span>"
                )
            run_rows.append(
                f'<tr><td class="num">{run.seed}</td>{_text(status)}<td>{link}</td></tr>'
            )
        sample = sample_messages(condition, [(r.seed, r.directory) for r in members])
        if sample:
            msg_rows = "\n".join(
                f'<tr><td class="num">{m.seed}</td><td class="num">{m.tick}</td>'
                f"{_text(m.phase)}{_text(m.speaker)}{_text(m.text)}</tr>"
                for m in sample
            )
            messages = (
                "<table>\n<tr><th>seed</th><th>tick</th><th>phase</th><th>speaker</th>"
                f"<th>text</th></tr>\n{msg_rows}\n</table>"
            )
        else:
            messages = '<p class="muted">No messages in these runs.</p>'
        parts.append(
            f"<h3>{escape(condition)}</h3>\n<p>settings: {escape(settings)}</p>\n"
            "<table>\n<tr><th>seed</th><th>status</th><th>run (report)</th></tr>\n"
            + "\n".join(run_rows)
            + f"\n</table>\n<p>Sampled messages ({len(sample)}):</p>\n{messages}"
        )
    return "\n".join(parts) or '<p class="muted">No runs in the index.</p>'


def _header_html(index: dict[str, Any], directory: Path) -> str:
    spec = index.get("spec") if isinstance(index.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    seeds = spec.get("seeds", [])
    rows = [
        ("experiment", index.get("name", "")),
        ("scenario", index.get("scenario", "")),
        ("directory", str(directory)),
        ("base settings", json.dumps(spec.get("base", {}), sort_keys=True)),
        ("grid", json.dumps(spec.get("grid", {}), sort_keys=True)),
        ("seeds", ", ".join(str(s) for s in seeds) if isinstance(seeds, list) else seeds),
        ("--set / --model", ", ".join(str(s) for s in index.get("overrides") or []) or "none"),
        ("runner", index.get("runner", "local")),
    ]
    if index.get("replay_from"):
        rows.append(("replayed from", index["replay_from"]))
    branches = index.get("branches")
    if isinstance(branches, dict):
        rows.append(("branches", json.dumps(branches, sort_keys=True)))
        parents = index.get("parents") or []
        rows.append(("parent runs", ", ".join(str(p.get("dir", "")) for p in parents)))
    reference = spec.get("reference")
    if isinstance(reference, dict) and reference.get("note"):
        rows.append(("reference note", reference["note"]))
    body = "\n".join(f"<tr><th>{escape(k)}</th>{_text(v)}</tr>" for k, v in rows)
    return f"<table>\n{body}\n</table>"


def write_experiment_report(directory: Path) -> Path:
    """Write ``directory/report.html`` and return its path."""
    directory = Path(directory)
    index = _read_index(directory)
    runs = _runs(directory, index)
    summary = _read_summary(directory)
    title = f"societas experiment {index.get('name', directory.name)}"
    sections = [
        ("Experiment", _header_html(index, directory)),
        ("Summary (mean, std, 95 % t CI over seeds; reference values)", _summary_html(summary)),
    ]
    paired = _read_paired(directory)
    if paired is not None:
        at = (index.get("branches") or {}).get("at", "?")
        sections.append(
            (
                "Paired differences (treatment - control, 95 % t CI over seeds)",
                _paired_html(paired, at),
            )
        )
    sections += [
        ("Plots", _plots_html(directory)),
        ("Conditions: runs and sampled messages", _conditions_html(index, runs, directory)),
    ]
    body = "\n".join(f"<h2>{escape(name)}</h2>\n{content}" for name, content in sections)
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n{body}\n</body>\n</html>\n"
    )
    out = directory / REPORT_NAME
    with atomic_file(out) as fh:  # a killed or failed write leaves no half page
        fh.write(page)
    return out
