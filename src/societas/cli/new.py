"""``societas new scenario NAME``: write a plugin package to start a scenario from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from societas.scenarios.template import write_scenario_package

__all__ = ["app"]

app = typer.Typer(help="Start something new from a template.", no_args_is_help=True)
_err = Console(stderr=True, soft_wrap=True)


@app.command("scenario")
def new_scenario(
    name: Annotated[str, typer.Argument(help="Scenario name: a lowercase identifier.")],
    directory: Annotated[
        Path, typer.Option("--dir", "-d", help="Where to create the package folder.")
    ] = Path("."),
) -> None:
    """Write NAME/ (pyproject with the entry point, the game, a README, a conformance test)."""
    from societas.cli.main import errors

    with errors():
        root = write_scenario_package(name, directory)
        _err.print(
            Text(
                f"wrote {root}\nnext: pip install -e '{root}[test]' && "
                f"societas run {name} --model test && pytest {root}"
            ),
            highlight=False,
        )
