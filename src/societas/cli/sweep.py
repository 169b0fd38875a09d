"""``societas sweep``: run an experiment file (conditions x seeds) and print its table."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from societas.cli.terminal import safe
from societas.experiments import run_sweep
from societas.experiments.sweep import Job, SweepResult

__all__ = ["paired_table", "summary_table", "sweep_command"]

_out = Console()
_err = Console(stderr=True, soft_wrap=True)


def _fmt(value: object) -> str:
    number = _float(value)
    return "-" if math.isnan(number) else f"{number:.4g}"


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def summary_table(result: SweepResult) -> tuple[Table, list[str]]:
    """The summary as a rich table, and the reference sources its ``[k]`` marks point to."""
    summary = result.summary
    has_ref = bool(summary["reference"].notna().any()) if "reference" in summary else False
    sources: list[str] = []
    table = Table(title=Text(f"{result.directory}: mean and 95% CI over seeds"))
    columns = ["metric", "condition", "n", "mean", "95% CI"] + (["reference"] if has_ref else [])
    for column in columns:
        table.add_column(column, justify="right" if column in ("n", "mean") else "left")
    for metric, group in summary.groupby("metric", sort=True):
        for i, r in enumerate(group.itertuples()):
            # Text, not markup: condition labels and sources come from the experiment file.
            cells = [
                Text(str(metric) if i == 0 else ""),
                Text(str(r.condition)),
                Text(str(r.n)),
                Text(_fmt(r.mean)),
                Text(f"[{_fmt(r.ci95_low)}, {_fmt(r.ci95_high)}]"),
            ]
            if has_ref:
                ref = ""
                if not math.isnan(_float(r.reference)):
                    source = str(r.reference_source)
                    if source not in sources:
                        sources.append(source)
                    ref = f"{_fmt(r.reference)} [{sources.index(source) + 1}]"
                cells.append(Text(ref))
            table.add_row(*cells, end_section=i == len(group) - 1)
    return table, sources


def paired_table(result: SweepResult) -> Table | None:
    """The run-level paired differences (treatment - control, per seed) as a rich table; the
    per-agent rows stay in ``paired.csv``."""
    paired = result.paired
    if paired is None or paired.empty:
        return None
    runs = paired[paired["agent"].fillna("") == ""]
    table = Table(
        title=Text(f"{result.directory}: paired differences, treatment - control (95% t CI)")
    )
    for column in ("metric", "treatment", "control", "n", "mean diff", "95% CI"):
        table.add_column(column, justify="right" if column in ("n", "mean diff") else "left")
    for metric, group in runs.groupby("metric", sort=True):
        for i, r in enumerate(group.itertuples()):
            table.add_row(
                Text(str(metric) if i == 0 else ""),
                Text(str(r.treatment)),
                Text(str(r.control)),
                Text(str(r.n)),
                Text(_fmt(r.mean_diff)),
                Text(f"[{_fmt(r.ci95_low)}, {_fmt(r.ci95_high)}]"),
                end_section=i == len(group) - 1,
            )
    return table


def sweep_command(
    experiment: Annotated[Path, typer.Argument(help="Experiment YAML file.")],
    parallel: Annotated[
        int, typer.Option("--parallel", "-j", help="Runs at once (ray: CPUs of a local Ray).")
    ] = 1,
    runner: Annotated[str, typer.Option("--runner", help="local or ray.")] = "local",
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster address (with --runner ray).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Experiment directory.")] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model of every run (run.model).")
    ] = None,
    sets: Annotated[
        list[str] | None, typer.Option("--set", help="Override a setting of every run: key=value.")
    ] = None,
    replay_from: Annotated[
        Path | None,
        typer.Option("--replay-from", help="Replay a finished sweep's runs from their caches."),
    ] = None,
) -> None:
    """Run every condition x seed of an experiment (resuming what is there) and summarise."""
    from societas.cli.main import errors

    with errors():

        def done(job: Job, what: str) -> None:
            _err.print(Text(f"{what:8s} {job.condition} seed {job.seed}"), highlight=False)

        result = run_sweep(
            experiment,
            out=out,
            parallel=parallel,
            runner=runner,
            address=address,
            model=model,
            sets=list(sets or []),
            replay_from=replay_from,
            on_done=done,
        )
        table, sources = summary_table(result)
        _out.print(table)
        for k, source in enumerate(sources, start=1):
            _out.print(Text(f"[{k}] {source}"), highlight=False, soft_wrap=True)
        if result.note:
            _out.print(Text(f"reference note: {result.note}"), highlight=False, soft_wrap=True)
        paired = paired_table(result)
        if paired is not None:
            _out.print(paired)
        tables = f"{result.directory}/summary.csv" + (
            f", {result.directory}/paired.csv" if result.paired is not None else ""
        )
        _err.print(
            Text(
                f"started {result.started}, resumed {result.resumed}, skipped {result.skipped}, "
                f"failed {len(result.failed)}; tables: {tables}, plots: "
                f"{result.directory}/plots/, report: societas report {result.directory}"
            ),
            highlight=False,
        )
        for job, message in result.failed:
            _err.print(
                Text.assemble(
                    ("failed", "red"), f": {job.condition} seed {job.seed}: {safe(message)}"
                ),
                highlight=False,
            )
        if result.failed:
            raise typer.Exit(1)
