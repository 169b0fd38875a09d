"""Paired differences of a branched experiment: each treatment minus the control, seed by seed.

A branched experiment (``branches:`` in the experiment file) runs, per seed, one parent run up
to tick ``at`` and every condition from there, so a treatment and the control of one seed
share their past. The paired difference of a metric is, per seed, the treatment's value minus
the control's; the table gives its mean over the seeds where both runs completed, the
standard deviation and Student's t 95 % interval (n - 1 degrees of freedom), beside both
conditions' means over the same seeds.

Per agent: for every agent present in both runs of a seed, the sum over the branch's ticks
(``at`` on) of each numeric field of the agent's ``action`` events, named
``ACTION_TYPE.FIELD`` (e.g. ``harvest.catch``: the tons a fisher asked for after the branch
point), paired in the same way. An agent that exists in one condition only (a newcomer added
by the treatment) has no pair and no row.

Everything is read from the run stores.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from societas.experiments.sweep import t_critical_95
from societas.store import RunStore
from societas.typing import ActionEvent

__all__ = ["PAIRED_COLUMNS", "PAIRED_NAME", "agent_figures", "paired_differences"]

PAIRED_NAME = "paired.csv"
PAIRED_COLUMNS = [
    "treatment",
    "control",
    "metric",
    "agent",
    "n",
    "mean_diff",
    "std",
    "ci95_low",
    "ci95_high",
    "treatment_mean",
    "control_mean",
]


def agent_figures(run_dir: Path, at: int) -> dict[tuple[str, str], float]:
    """(agent, ``ACTION_TYPE.FIELD``) -> the sum of that numeric action field over the run's
    ticks from ``at`` on, read from the run's store."""
    totals: dict[tuple[str, str], float] = defaultdict(float)
    with RunStore.open(run_dir, readonly=True) as store:
        events = store.events(kinds=["action"])
    for event in events:
        if not isinstance(event, ActionEvent) or event.tick < at or not event.actor:
            continue
        for field, value in event.data.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if not math.isfinite(float(value)):
                continue
            totals[(event.actor, f"{event.action_type}.{field}")] += float(value)
    return dict(totals)


def _row(
    treatment: str,
    control: str,
    metric: str,
    agent: str,
    pairs: list[tuple[float, float]],
) -> list[object]:
    n = len(pairs)
    diffs = [t - c for t, c in pairs]
    mean = sum(diffs) / n
    if n > 1:
        std = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
        half = t_critical_95(n - 1) * std / math.sqrt(n)
        low, high = mean - half, mean + half
    else:
        std = low = high = math.nan
    return [
        treatment,
        control,
        metric,
        agent,
        n,
        mean,
        std,
        low,
        high,
        sum(t for t, _ in pairs) / n,
        sum(c for _, c in pairs) / n,
    ]


def paired_differences(
    runs: pd.DataFrame,
    control: str,
    agents: Mapping[tuple[str, int], Mapping[tuple[str, str], float]] | None = None,
) -> pd.DataFrame:
    """The paired table: ``runs`` has one row per completed run and final metric (condition,
    seed, metric, value); ``agents`` maps (condition, seed) to ``agent_figures`` of its run.
    Run-level rows have agent ``""``."""
    rows: list[list[object]] = []
    if not runs.empty:
        values: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
        columns = (runs[c].tolist() for c in ("condition", "metric", "seed", "value"))
        for condition, metric, seed, value in zip(*columns, strict=True):
            values[(str(condition), str(metric))][int(seed)] = float(value)
        treatments = sorted({str(c) for c in runs["condition"]} - {control})
        metrics = sorted({str(m) for m in runs["metric"]})
        for treatment in treatments:
            for metric in metrics:
                t_vals = values.get((treatment, metric), {})
                c_vals = values.get((control, metric), {})
                pairs = [(t_vals[s], c_vals[s]) for s in sorted(t_vals) if s in c_vals]
                if pairs:
                    rows.append(_row(treatment, control, metric, "", pairs))
    if agents:
        rows.extend(_agent_rows(agents, control))
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)


def _agent_rows(
    agents: Mapping[tuple[str, int], Mapping[tuple[str, str], float]], control: str
) -> Iterable[list[object]]:
    treatments = sorted({c for c, _ in agents} - {control})
    for treatment in treatments:
        pairs: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
        seeds = sorted(s for c, s in agents if c == treatment and (control, s) in agents)
        for seed in seeds:
            t_figs, c_figs = agents[(treatment, seed)], agents[(control, seed)]
            # A figure an agent of both runs never produced in one of them counts as 0 there
            # (e.g. no harvest after the branch point); an agent of one run only is unpaired.
            t_agents = {a for a, _ in t_figs}
            c_agents = {a for a, _ in c_figs}
            names = {m for _, m in t_figs} | {m for _, m in c_figs}
            for agent in sorted(t_agents & c_agents):
                for metric in sorted(names):
                    key = (agent, metric)
                    if key in t_figs or key in c_figs:
                        pairs[key].append((t_figs.get(key, 0.0), c_figs.get(key, 0.0)))
        for (agent, metric), found in sorted(pairs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            yield _row(treatment, control, metric, agent, found)
