"""``societas interview``: ask an agent of a run a question; it answers from its memories."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from societas.analysis.interview import interview
from societas.cli.terminal import safe

__all__ = ["interview_command"]

_err = Console(stderr=True, soft_wrap=True)


def interview_command(
    run_dir: Annotated[Path, typer.Argument(help="Run directory.")],
    agent: Annotated[str, typer.Argument(help="Agent id, e.g. fisher_1.")],
    question: Annotated[str, typer.Argument(help="The question, in quotes.")],
    tick: Annotated[
        int | None,
        typer.Option("--tick", "-t", help="Memories as of this tick (default: the last one)."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model spec (default: the run's model).")
    ] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", help="API key.")] = None,
) -> None:
    """Interview an agent in character, from its memories as of a tick; the run is unchanged."""
    from societas.cli.main import errors

    with errors():
        answer = interview(run_dir, agent, question, tick=tick, model=model, api_key=api_key)
        sys.stdout.write(safe(answer) + "\n")  # model text: no escape codes reach the terminal
