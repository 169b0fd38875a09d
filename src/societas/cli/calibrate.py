"""``societas calibrate epidemic``: fit the epidemic's borough transmission to observed weekly
cases, forecast a held-out window and print the errors. Every trial is a recorded run under
``OUT/trials``; running the same command again reads the finished trials back and resumes an
interrupted one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from societas.typing import ConfigError

__all__ = ["calibrate_command"]

_out = Console()
_err = Console(stderr=True, soft_wrap=True)


def calibrate_command(
    scenario: Annotated[str, typer.Argument(help="Scenario to calibrate (epidemic).")],
    data: Annotated[
        Path, typer.Option("--data", help="Folder with county_data.csv and the *-Table.csv files.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Calibration folder (trials, result).")],
    behaviour: Annotated[
        str, typer.Option("--behaviour", help="off, heuristic, archetypes or clusters.")
    ] = "heuristic",
    model: Annotated[str, typer.Option("--model", help="Model of the archetypes.")] = "scripted",
    agents: Annotated[int, typer.Option("--agents", help="People in the city.")] = 200_000,
    keys: Annotated[
        str | None, typer.Option("--keys", help="Archetype keys, comma-separated.")
    ] = None,
    clusters: Annotated[
        int | None,
        typer.Option("--clusters", help="Behaviour clusters (with --behaviour clusters)."),
    ] = None,
    grid: Annotated[
        str, typer.Option("--grid", help="Common multipliers tried first, comma-separated.")
    ] = "1,1.5,2,2.5,3,3.5,4",
    refine: Annotated[
        str, typer.Option("--refine", help="Factors around each borough's best.")
    ] = "0.85,0.93,1.07,1.15",
    start: Annotated[int, typer.Option("--start", help="First data week.")] = 8,
    train: Annotated[int, typer.Option("--train", help="Training weeks.")] = 12,
    test: Annotated[int, typer.Option("--test", help="Held-out weeks.")] = 8,
    seed: Annotated[int, typer.Option("--seed")] = 1,
) -> None:
    """Fit transmission per neighbourhood to weekly cases, then forecast held-out weeks."""
    from societas.cli.main import errors

    with errors():
        if scenario != "epidemic":
            raise ConfigError("calibrate", "scenario", "epidemic", scenario)
        from societas.scenarios.epidemic.calibrate import CalibrationSpec, calibrate

        if clusters is not None and behaviour != "clusters":
            raise ConfigError("calibrate", "--clusters", "--behaviour clusters", behaviour)

        def numbers(text: str, name: str) -> list[float]:
            try:
                return [float(x) for x in text.split(",") if x.strip()]
            except ValueError:
                raise ConfigError("calibrate", name, "comma-separated numbers", text) from None

        spec = CalibrationSpec(
            start=start,
            train=train,
            test=test,
            agents=agents,
            behaviour=behaviour,
            model=model,
            seed=seed,
            archetype_keys=[k.strip() for k in keys.split(",")] if keys else None,
            clusters=clusters,
            grid=numbers(grid, "--grid"),
            refine=numbers(refine, "--refine"),
        )
        result = calibrate(spec, data, out, log=lambda line: _err.print(Text(line)))
        table = Table(title=f"calibration {out} ({behaviour}, {len(result.trials)} trials)")
        columns = ("neighbourhood", "multiplier", "train RMSE", "test RMSE", "test MAE")
        for column in (*columns, "unemployment RMSE (pp)", "unemployment MAE (pp)"):
            table.add_column(column)
        for hood, borough in result.borough_of.items():
            table.add_row(
                hood,
                f"{result.transmission[borough]:.3g}",
                f"{result.train_rmse[hood]:.1f}",
                f"{result.test_rmse[hood]:.1f}",
                f"{result.test_mae[hood]:.1f}",
                f"{result.unemployment_test_rmse[borough]:.2f}",
                f"{result.unemployment_test_mae[borough]:.2f}",
            )
        _out.print(table)
        calls = sum(t.llm_calls for t in result.trials)
        _out.print(
            Text(f"model calls: {calls:.0f} in all, {result.llm_calls:.0f} in the final run")
        )
        _out.print(Text(f"result: {out / 'calibration.json'}"))
