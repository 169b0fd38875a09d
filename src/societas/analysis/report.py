"""A run's report: PNG plots and a self-contained ``index.html``, from the run store alone.

Everything is derived from event kinds and fields, so any scenario gets a report: numeric
fields of ``world_state`` events over ticks, numeric fields of ``action`` events per agent,
LLM calls and tokens per tick, prompt sizes per call, the final metrics, the messages, the
reflections and the decision fallbacks. Agent text is data: it is always HTML-escaped.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter, defaultdict
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from societas.store import RunStore
from societas.store.atomic import atomic_directory
from societas.typing import (
    ActionEvent,
    ConfigError,
    DecisionFallback,
    Event,
    MessageEvent,
    ReflectionEvent,
    WorldState,
)

__all__ = ["REPORT_DIR", "write_report"]

REPORT_DIR = "report"

# label -> [(tick, value)], in event order
Lines = dict[str, list[tuple[int, float]]]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
h1, h2 { font-weight: 600; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.text { white-space: pre-wrap; max-width: 50em; }
figure { margin: 1em 0; } img { max-width: 100%; border: 1px solid #eee; }
.muted { color: #777; }
"""


def write_report(run_dir: Path) -> Path:
    """Write ``run_dir/report/`` (plots and ``index.html``); returns the path of the HTML."""
    run_dir = Path(run_dir)
    with RunStore.open(run_dir, readonly=True) as store:
        info = store.run_info()
        events = store.events()
        calls = store.llm_calls_df()
        final = store.final_metrics()
        counts = store.counts()
        series = store.metrics_df()
    # Written into a staging folder that replaces report/ when complete: a killed or failed
    # report leaves the previous one (or none), never a partial one.
    with atomic_directory(run_dir / REPORT_DIR) as out:
        plots = [
            *_metric_plots(series, out),
            *_world_plots(events, out),
            *_action_plots(events, out),
            *_llm_plots(calls, out),
        ]
        # A scenario may add figures of its own: ``report_plots(events, out) -> [(file, caption)]``.
        from societas.scenarios.registry import get_scenario

        try:
            scenario = get_scenario(str(info.get("scenario")))
        except (ConfigError, ImportError):  # not installed here: the generic report only
            scenario = None
        if scenario is not None:
            plots += scenario.report_plots(events, out)
        index = out / "index.html"
        index.write_text(_html(info, counts, final, plots, events), encoding="utf-8")
    return run_dir / REPORT_DIR / "index.html"


# -- data -------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A finite int or float (not a bool) as a float, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _is_clock(points: list[tuple[int, float]]) -> bool:
    """True when the values are the tick plus a constant (e.g. a month counter)."""
    if len({t for t, _ in points}) < 2:
        return False
    return len({v - t for t, v in points}) == 1


def _collect(rows: list[tuple[str, str, int, dict[str, Any]]]) -> dict[tuple[str, str], Lines]:
    """(phase, label, tick, fields) rows -> {(phase, field): {label: points}}, clocks dropped."""
    series: dict[tuple[str, str], Lines] = defaultdict(lambda: defaultdict(list))
    for phase, label, tick, fields in rows:
        for name, value in fields.items():
            number = _number(value)
            if number is not None:
                series[(phase, name)][label].append((tick, number))
    return {
        key: dict(lines)
        for key, lines in series.items()
        if not _is_clock([p for points in lines.values() for p in points])
    }


def _slug(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9-]+", "-", p).strip("-") or "x" for p in parts)


# -- plots ------------------------------------------------------------------------------


def _save(fig: Figure, path: Path) -> None:
    try:
        with warnings.catch_warnings(action="ignore"):  # layout warnings are cosmetic
            fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)


def _line_panels(path: Path, title: str, panels: dict[str, Lines]) -> None:
    """One subplot per panel (y label = its name), one line per label, ticks on x."""
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(8, 2.2 + 2.0 * len(panels)), sharex=True, squeeze=False
    )
    for ax, (name, lines) in zip(axes[:, 0], panels.items(), strict=True):
        for label, points in sorted(lines.items()):
            ax.plot([t for t, _ in points], [v for _, v in points], marker="o", ms=3, label=label)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        if len(lines) > 1:
            ax.legend(fontsize="small", ncol=max(1, len(lines) // 8))
    axes[-1, 0].set_xlabel("tick")
    axes[-1, 0].xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title)
    _save(fig, path)


def _metric_plots(frame: pd.DataFrame, out: Path) -> list[tuple[str, str]]:
    """The world's per-tick metrics: one panel per metric, a line over ticks."""
    per_tick = frame[frame["tick"] >= 0]
    if per_tick.empty:
        return []
    panels: dict[str, Lines] = {
        str(name): {"": [(int(t), float(v)) for t, v in zip(g["tick"], g["value"], strict=True)]}
        for name, g in per_tick.groupby("name", sort=True)
    }
    _line_panels(out / "metrics.png", "Metrics per tick", panels)
    return [("metrics.png", "The scenario's metrics, recorded every tick")]


def _world_plots(events: list[Event], out: Path) -> list[tuple[str, str]]:
    rows = [(e.phase, e.phase, e.tick, e.state) for e in events if isinstance(e, WorldState)]
    series = _collect(rows)
    if not series:
        return []
    panels: dict[str, Lines] = defaultdict(dict)
    for (_phase, name), lines in series.items():
        panels[name].update(lines)  # label == phase
    _line_panels(out / "world_state.png", "World state (lines: phase of the event)", panels)
    return [("world_state.png", "Numeric world-state fields over ticks")]


def _action_plots(events: list[Event], out: Path) -> list[tuple[str, str]]:
    rows = [(e.phase, e.actor or "-", e.tick, e.data) for e in events if isinstance(e, ActionEvent)]
    plots = []
    for (phase, name), lines in sorted(_collect(rows).items()):
        file = f"action_{_slug(phase, name)}.png"
        _line_panels(out / file, f"Action '{phase}': {name} per agent", {name: lines})
        plots.append((file, f"'{name}' of '{phase}' actions, one line per agent"))
    return plots


def _llm_plots(calls: pd.DataFrame, out: Path) -> list[tuple[str, str]]:
    if calls.empty:
        return []
    per_tick = calls.groupby("tick").agg(
        calls=("seq", "size"),
        prompt=("prompt_tokens", "sum"),
        completion=("completion_tokens", "sum"),
    )
    ticks = per_tick.index.to_numpy()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    top.bar(ticks, per_tick["calls"], color="tab:blue")
    top.set_ylabel("LLM calls")
    bottom.bar(ticks, per_tick["prompt"], label="prompt", color="tab:orange")
    bottom.bar(
        ticks,
        per_tick["completion"],
        bottom=per_tick["prompt"],
        label="completion",
        color="tab:green",
    )
    bottom.set_ylabel("tokens")
    bottom.set_xlabel("tick")
    bottom.legend(fontsize="small")
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (top, bottom):
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle("LLM calls and tokens per tick")
    _save(fig, out / "llm_per_tick.png")

    fig, ax = plt.subplots(figsize=(8, 4))
    for purpose, group in calls.groupby("purpose", sort=True):
        ax.scatter(group["tick"], group["prompt_tokens"], s=10, alpha=0.5, label=str(purpose))
    mean = calls.groupby("tick")["prompt_tokens"].mean()
    ax.plot(mean.index.to_numpy(), mean.to_numpy(), color="black", lw=1.5, label="mean")
    ax.set_xlabel("tick")
    ax.set_ylabel("prompt tokens per call")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", title="purpose")
    fig.suptitle("Prompt size per call over ticks")
    _save(fig, out / "prompt_tokens.png")
    return [
        ("llm_per_tick.png", "LLM calls and tokens per tick"),
        ("prompt_tokens.png", "Prompt tokens of each call (dots) and their mean per tick"),
    ]


# -- html -------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f'<td class="num">{value:.4g}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num">{value}</td>'
    return f'<td class="text">{escape(str(value))}</td>'


def _table(header: list[str], rows: list[list[Any]], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table>\n<tr>{head}</tr>\n{body}\n</table>"


def _when(stamp: Any) -> str:
    number = _number(stamp)
    if number is None:
        return ""
    return datetime.fromtimestamp(number, tz=UTC).isoformat(timespec="seconds")


def _html(
    info: dict[str, Any],
    counts: dict[str, int],
    final: dict[str, float],
    plots: list[tuple[str, str]],
    events: list[Event],
) -> str:
    ticks = f"{info.get('ticks_completed', '?')} of {info.get('num_ticks', '?')}"
    run_rows: list[list[Any]] = [
        ["scenario", str(info.get("scenario"))],
        ["run id", str(info.get("run_id"))],
        ["seed", str(info.get("seed"))],
        ["model", str(info.get("model"))],
        ["status", str(info.get("status"))],
        ["ticks completed", ticks],
        ["created (UTC)", _when(info.get("created"))],
        ["societas version", str(info.get("societas_version"))],
    ]
    if info.get("error"):
        run_rows.append(["error", str(info["error"])])
    run_rows += [[name.replace("_", " "), value] for name, value in counts.items()]
    figures = "\n".join(
        f'<figure><img src="{escape(file)}" alt="{escape(caption)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
        for file, caption in plots
    )
    messages = [
        [
            e.tick,
            e.phase,
            e.actor or "-",
            "all" if e.audience is None else ", ".join(e.audience),
            e.text,
        ]
        for e in events
        if isinstance(e, MessageEvent)
    ]
    reflections = [
        [e.tick, e.actor or "-", e.text] for e in events if isinstance(e, ReflectionEvent)
    ]
    fallbacks = Counter((e.reason, e.phase) for e in events if isinstance(e, DecisionFallback))
    title = f"societas run {info.get('run_id')} ({info.get('scenario')})"
    sections = [
        ("Run", _table(["field", "value"], run_rows, "")),
        (
            "Final metrics",
            _table(
                ["metric", "value"],
                [[k, v] for k, v in final.items()],
                "No final metrics recorded.",
            ),
        ),
        ("Plots", figures or '<p class="muted">Nothing to plot.</p>'),
        ("Messages", _table(["tick", "phase", "speaker", "to", "text"], messages, "No messages.")),
        ("Reflections", _table(["tick", "agent", "text"], reflections, "No reflections.")),
        (
            "Decision fallbacks",
            _table(
                ["reason", "phase", "count"],
                [[r, p, n] for (r, p), n in sorted(fallbacks.items())],
                "No fallbacks: every decision was valid.",
            ),
        ),
    ]
    body = "\n".join(f"<h2>{escape(name)}</h2>\n{content}" for name, content in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n{body}\n</body>\n</html>\n"
    )
