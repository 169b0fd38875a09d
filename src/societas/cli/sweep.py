"""``societas sweep``: run an experiment file (conditions x seeds) and print its table."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from societas.experiments import run_sweep
from societas.experiments.sweep import Job

__all__ = ["sweep_command"]

_out = Console()
_err = Console(stderr=True, soft_wrap=True)


def _fmt(value: object) -> str:
    number = float(value) if isinstance(value, int | float) else math.nan
    return "-" if math.isnan(number) else f"{number:.4g}"


def sweep_command(
    experiment: Annotated[Path, typer.Argument(help="Experiment YAML file.")],
    parallel: Annotated[int, typer.Option("--parallel", "-j", help="Runs at once.")] = 1,
    runner: Annotated[str, typer.Option("--runner", help="local (ray: not built yet).")] = "local",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Experiment directory.")] = None,
) -> None:
    """Run every condition x seed of an experiment (resuming what is there) and summarise."""
    from societas.cli.main import errors

    with errors():

        def done(job: Job, what: str) -> None:
            _err.print(f"{what:8s} {job.condition} seed {job.seed}")

        result = run_sweep(experiment, out=out, parallel=parallel, runner=runner, on_done=done)
        table = Table(title=f"{result.directory}: mean and 95% CI over seeds")
        for column in ("metric", "condition", "n", "mean", "95% CI"):
            table.add_column(column, justify="right" if column in ("n", "mean") else "left")
        for metric, group in result.summary.groupby("metric", sort=True):
            for i, r in enumerate(group.itertuples()):
                table.add_row(
                    str(metric) if i == 0 else "",
                    str(r.condition),
                    str(r.n),
                    _fmt(r.mean),
                    f"[{_fmt(r.ci95_low)}, {_fmt(r.ci95_high)}]",
                    end_section=i == len(group) - 1,
                )
        _out.print(table)
        _err.print(
            f"started {result.started}, resumed {result.resumed}, skipped {result.skipped}, "
            f"failed {len(result.failed)}; tables: {result.directory}/summary.csv, plots: "
            f"{result.directory}/plots/"
        )
        for job, message in result.failed:
            _err.print(f"[red]failed[/]: {job.condition} seed {job.seed}: {message}")
        if result.failed:
            raise typer.Exit(1)
