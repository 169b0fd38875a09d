"""``societas estimate``: calls, tokens and cost of a run, predicted before anything is spent."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["estimate_command"]

_out = Console()


def estimate_command(
    target: Annotated[str, typer.Argument(help="Scenario name or scenario YAML file.")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="The model the run will use.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="The run's seed.")] = None,
    sets: Annotated[
        list[str] | None, typer.Option("--set", help="Override a setting: key=value.")
    ] = None,
    ticks: Annotated[
        int | None,
        typer.Option("--ticks", help="Dry-run only the first N ticks and scale to the run."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Predict a run's model calls and tokens per tick and in total, from a dry run with the
    test model (no model server, nothing spent) and the model's own tokenizer."""
    from societas.analysis.estimate import estimate
    from societas.cli.main import errors
    from societas.scenarios import load_spec

    with errors():
        spec = load_spec(target, list(sets or []), model=model, seed=seed)
        result = estimate(spec, ticks=ticks)
        totals = result.totals()
        calls = [t.calls for t in result.ticks]
        prompt = [t.prompt_tokens for t in result.ticks]
        completion = [t.completion_tokens for t in result.ticks]
        data = {
            "scenario": result.scenario,
            "model": result.model,
            "ticks": result.num_ticks,
            "ticks_dry_run": result.ticks_run,
            "tokens_counted_with": "the model's tokenizer"
            if result.exact_tokens
            else "4 characters a token",
            "per_tick": [t.__dict__ for t in result.ticks],
            "total": totals,
        }
        if as_json:
            sys.stdout.write(json.dumps(data, sort_keys=True) + "\n")
            return
        table = Table(title=Text(f"estimate: {result.scenario} on {result.model}"))
        for column in ("", "calls", "prompt tokens", "completion tokens"):
            table.add_column(column, justify="right" if column else "left")
        n = max(1, len(result.ticks))
        table.add_row(
            "per tick (mean)",
            f"{sum(calls) / n:.1f}",
            f"{sum(prompt) / n:.0f}",
            f"{sum(completion) / n:.0f}",
        )
        table.add_row(
            "per tick (max)",
            str(max(calls, default=0)),
            str(max(prompt, default=0)),
            str(max(completion, default=0)),
        )
        table.add_row(
            f"whole run ({result.num_ticks} ticks)",
            f"{totals['calls']:.0f}",
            f"{totals['prompt_tokens']:.0f}",
            f"{totals['completion_tokens']:.0f}",
        )
        _out.print(table)
        note = f"tokens counted with {data['tokens_counted_with']}"
        if result.price_per_1k_tokens:
            note += f"; cost ${totals['cost']:.4f} at ${result.price_per_1k_tokens}/1k tokens"
        if result.ticks_run < result.num_ticks:
            note += f"; scaled from the {result.ticks_run} tick(s) of the dry run"
        if result.ended_early:
            note += (
                " (the world ended the dry run early under the test model's answers; the "
                "whole-run figures assume every tick is played)"
            )
        _out.print(Text(note), highlight=False)
