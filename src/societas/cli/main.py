"""``societas``: run, resume, summarise, export and report simulations.

Exit codes: 0 ok, 1 run failure (also: too many fallbacks), 2 bad input (config, arguments,
store) or a model server that cannot serve the run, 75 paused (model server unreachable
longer than run.max_outage_s, or run.budget reached; resumable), 130 interrupted (Ctrl-C or
SIGTERM; resumable).
Errors are one clear line on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from societas import __version__
from societas.cli.terminal import plain, safe
from societas.engine import Progress as SimProgress
from societas.engine import RunHandle, RunInterrupted, prepare_resume, prepare_run, run_sync
from societas.engine.health import BudgetPaused, RunPaused
from societas.engine.options import Budget
from societas.llm.budget import BudgetLimits, Spend
from societas.scenarios import available_scenarios, get_scenario, load_spec
from societas.store import RunStore
from societas.typing import ConfigError, SocietasError

__all__ = ["app", "main"]

app = typer.Typer(
    name="societas",
    help="A laboratory for societies of language-model agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out_console = Console()
err_console = Console(stderr=True, soft_wrap=True)

_DEBUG = {"on": False}
_PROCESS = {"entry": False}


@contextmanager
def errors() -> Iterator[None]:
    """Typed errors -> one line on stderr and their exit code; nothing else is swallowed."""
    try:
        yield
    except typer.Exit:
        raise
    except RunInterrupted as exc:
        _ignore_further_stops()
        err_console.print(Text.assemble(("interrupted", "yellow"), f": {safe(str(exc))}"))
        raise typer.Exit(exc.exit_code) from None
    except SocietasError as exc:
        if _DEBUG["on"]:
            traceback.print_exc()
        label = "error" if exc.exit_code == 2 else "run failed"
        # Plain Text: messages quote user input and servers, which must not be read as rich
        # markup or reach the terminal's control sequences.
        err_console.print(Text.assemble((label, "red"), f": {safe(str(exc))}"), highlight=False)
        raise typer.Exit(exc.exit_code) from None
    except sqlite3.DatabaseError as exc:
        if _DEBUG["on"]:
            traceback.print_exc()
        err_console.print(
            Text.assemble(
                ("error", "red"),
                f": the run store is damaged ({safe(str(exc))}); 'societas check DIR' lists the "
                "problems",
            ),
            highlight=False,
        )
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        raise typer.Exit(130) from None
    except Exception as exc:  # noqa: BLE001 - last resort: one clear line, exit 1
        if _DEBUG["on"]:
            traceback.print_exc()
        err_console.print(
            Text.assemble(
                ("internal error", "red"),
                f": {type(exc).__name__}: {safe(str(exc))} (rerun with --debug for the traceback)",
            ),
            highlight=False,
        )
        raise typer.Exit(1) from None


@contextmanager
def _writing(target: Path) -> Iterator[None]:
    """An output that cannot be written (full disk, read-only, too long a path) is a clear
    error; the output is written whole or not at all (``societas.store.atomic``)."""
    try:
        yield
    except OSError as exc:
        raise ConfigError(
            str(target),
            "",
            "a place where the output can be written (nothing was written)",
            f"{exc.strerror or exc}",
        ) from exc


def _version(value: bool) -> None:
    if value:
        out_console.print(f"societas {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    _DEBUG["on"] = debug


def _default_out(scenario: str, seed: int) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{scenario}-seed{seed}-{stamp}"


def _say(message: str, label: str = "", style: str = "yellow") -> None:
    """One line on stderr (above the progress bar); model and server text never as markup."""
    err_console.print(Text.assemble((label, style), message) if label else Text(message))


def _run_with_progress(handle: RunHandle, quiet: bool) -> dict[str, float]:
    sim = handle.simulation
    sim.gateway.on_error = lambda error: _say(
        f": {error}", "model error (first of its kind)", "red"
    )
    if quiet:
        return run_sync(handle, handle_sigint=True, notify=_say)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("ticks"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[stats]}"),
    )
    with Progress(*columns, console=err_console, transient=False) as bar:
        task = bar.add_task(
            sim.scenario.name, total=sim.num_ticks, completed=handle.start_tick, stats=""
        )

        def update(p: SimProgress) -> None:
            if p.spent is not None:
                stats = spend_line(p.spent, p.budget)
            else:
                stats = (
                    f"calls {p.llm_calls}  tokens {p.prompt_tokens}+{p.completion_tokens}"
                    f"  cost {p.cost:.4f}"
                )
            bar.update(task, completed=p.tick, stats=stats)

        sim.on_progress = update
        return run_sync(handle, handle_sigint=True, notify=_say)


def spend_line(spent: Spend, budget: BudgetLimits | None) -> str:
    """The progress bar's spend, each figure against its limit when the run has one:
    ``calls 12/40  tokens 3,456/10,000  cost 0.0012``."""
    lim = budget or BudgetLimits()

    def of(value: str, limit: str | None) -> str:
        return value if limit is None else f"{value}/{limit}"

    return (
        f"calls {of(f'{spent.calls:,}', f'{lim.calls:,}' if lim.calls is not None else None)}"
        f"  tokens {of(f'{spent.tokens:,}', f'{lim.tokens:,}' if lim.tokens is not None else None)}"
        f"  cost {of(f'{spent.cost:.4f}', f'{lim.cost:g}' if lim.cost is not None else None)}"
    )


def _higher_budget(budget: Budget) -> str:
    """``--set run.budget.calls=80`` (each limit set, doubled): a resume that goes on."""
    parts = []
    if budget.calls is not None:
        parts.append(f"--set run.budget.calls={max(1, budget.calls * 2)}")
    if budget.tokens is not None:
        parts.append(f"--set run.budget.tokens={max(1, budget.tokens * 2)}")
    if budget.cost is not None:
        parts.append(f"--set run.budget.cost={budget.cost * 2 if budget.cost else 1:g}")
    return " ".join(parts)


def _print_metrics(metrics: dict[str, float], out: Path) -> None:
    table = Table(title=Text(f"metrics ({out})"))
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in sorted(metrics.items()):
        table.add_row(plain(name), f"{value:.4g}")
    out_console.print(table)


def _print_preflight(handle: RunHandle) -> None:
    """What the probe before tick 0 found (always shown: it decides how answers are shaped)."""
    for result in handle.preflight.values():
        err_console.print(Text(result.line()), highlight=False)
        for warning in result.warnings:
            err_console.print(
                Text.assemble(("warning", "bold red"), f": {warning}"), highlight=False
            )


def _finish(handle: RunHandle, quiet: bool) -> None:
    _print_preflight(handle)
    try:
        metrics = _run_with_progress(handle, quiet)
    except RunInterrupted:
        err_console.print(Text(f"resume with: societas resume {handle.out}"), highlight=False)
        raise
    except BudgetPaused as exc:
        _say(f": {exc}", "paused", "bold yellow")
        with RunStore.open(handle.out, readonly=True) as store:
            budget = Budget.model_validate(store.run_info()["config"]["run"].get("budget") or {})
        err_console.print(
            Text(
                f"resume with a higher budget: societas resume {handle.out} "
                f"{_higher_budget(budget)}"
            ),
            highlight=False,
        )
        raise typer.Exit(exc.exit_code) from None
    except RunPaused as exc:
        _say(f": {exc}", "paused", "bold yellow")
        err_console.print(
            Text(f"when the server is back, resume with: societas resume {handle.out}"),
            highlight=False,
        )
        raise typer.Exit(exc.exit_code) from None
    _print_metrics(metrics, handle.out)


@app.command()
def run(
    target: Annotated[str, typer.Argument(help="Scenario name or scenario YAML file.")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="local | scripted | replay[:M] | openai:M")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="The run's seed.")] = None,
    sets: Annotated[
        list[str] | None, typer.Option("--set", help="Override a setting: key=value.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run directory.")] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="OpenAI-compatible URL.")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", help="API key (or SOCIETAS_API_KEY/OPENAI_API_KEY).")
    ] = None,
    cache: Annotated[Path | None, typer.Option("--cache", help="Response cache file.")] = None,
    runner: Annotated[
        str | None, typer.Option("--runner", help="Population runner: local | ray.")
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster (auto, ray://host:10001).")
    ] = None,
    shards: Annotated[int | None, typer.Option("--shards", help="Population shards.")] = None,
    human: Annotated[
        list[str] | None,
        typer.Option(
            "--human",
            help="A person plays this agent (repeatable); answer with 'societas seat DIR' "
            "or in the dashboard.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Run a scenario and print its metrics."""
    with errors():
        overrides = list(sets or [])
        if human:
            overrides.append(f"run.human={json.dumps(list(human))}")
        if base_url is not None:
            overrides.append(f"run.base_url={base_url}")
        if cache is not None:
            overrides.append(f"run.cache={cache}")
        for key, value in (("runner", runner), ("ray_address", address), ("shards", shards)):
            if value is not None:
                overrides.append(f"run.{key}={value}")
        spec = load_spec(target, overrides, model=model, seed=seed)
        out_dir = out or _default_out(spec.scenario.name, spec.options.seed)
        _hold_stops()
        handle = prepare_run(
            spec.scenario,
            spec.config,
            spec.options,
            out_dir,
            api_key=api_key,
            personas=spec.personas,
        )
        err_console.print(Text(f"run directory: {out_dir}"), highlight=False)
        if spec.options.human:
            err_console.print(
                Text(
                    f"seated: {', '.join(spec.options.human)} (a person answers: "
                    f"'societas seat {out_dir}' in another terminal, or "
                    f"'societas dashboard {out_dir}')"
                ),
                highlight=False,
            )
        _finish(handle, quiet)


@app.command()
def resume(
    run_dir: Annotated[Path, typer.Argument(help="Run directory.")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Override the model.")] = None,
    api_key: Annotated[str | None, typer.Option("--api-key")] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help="A new budget: run.budget.calls|tokens|cost=VALUE."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Continue an interrupted or paused run from its last completed tick."""
    with errors():
        with RunStore.open(run_dir, readonly=True) as store:
            info = store.run_info()
        name = str(info["scenario"])
        budget = _budget_override(info["config"]["run"].get("budget") or {}, sets or [])
        _hold_stops()
        handle = prepare_resume(
            run_dir, get_scenario(name), model=model, api_key=api_key, budget=budget
        )
        err_console.print(Text(f"resuming {run_dir} at tick {handle.start_tick}"), highlight=False)
        _finish(handle, quiet)


def _budget_override(stored: dict[str, Any], sets: list[str]) -> Budget | None:
    """The stored ``run.budget`` with ``--set run.budget.X=V`` applied; None without --set.
    Nothing else of a run can change on resume."""
    from pydantic import ValidationError

    from societas.scenarios.loader import parse_override

    if not sets:
        return None
    data = dict(stored)
    for item in sets:
        path, value = parse_override(item)
        if len(path) != 3 or path[:2] != ["run", "budget"]:
            raise ConfigError(
                f"--set {item}",
                ".".join(path),
                "run.budget.calls, run.budget.tokens or run.budget.cost (only the budget "
                "changes on resume)",
                ".".join(path),
            )
        data[path[2]] = value
    try:
        return Budget.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = "run.budget." + ".".join(str(p) for p in err["loc"])
        raise ConfigError("--set", field, str(err["msg"]), err.get("input")) from exc


@app.command()
def branch(
    run_dir: Annotated[Path, typer.Argument(help="The parent run directory.")],
    at: Annotated[int, typer.Option("--at", help="First tick of the branch (1..done).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The branch's run directory.")],
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help="World setting changed at tick --at, KEY=VALUE."),
    ] = None,
    message: Annotated[
        str | None, typer.Option("--message", help="News told to every agent at tick --at.")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Override the model.")] = None,
    api_key: Annotated[str | None, typer.Option("--api-key")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """A paired counterfactual: ticks before --at copied from RUN, then the change."""
    from societas.experiments.branch import branch_run

    with errors():
        branch_run(run_dir, at=at, out=out, sets=sets or [], message=message)
        with RunStore.open(out, readonly=True) as store:
            name = str(store.run_info()["scenario"])
        _hold_stops()
        handle = prepare_resume(out, get_scenario(name), model=model, api_key=api_key)
        err_console.print(
            Text(f"branch of {run_dir} at tick {at} in {out}; running from tick {at}"),
            highlight=False,
        )
        _finish(handle, quiet)


def _summary(run_dir: Path) -> dict[str, Any]:
    with RunStore.open(run_dir, readonly=True) as store:
        info = store.run_info()
        counts = store.counts()
        metrics = store.final_metrics()
    return {
        "run_id": info["run_id"],
        "scenario": info["scenario"],
        "seed": info["seed"],
        "model": info["model"],
        "status": info["status"],
        "ticks_completed": info["ticks_completed"],
        "num_ticks": info["num_ticks"],
        "events": counts["events"],
        "llm_calls": counts["llm_calls"],
        "tokens": {"prompt": counts["prompt_tokens"], "completion": counts["completion_tokens"]},
        "metrics": metrics,
        "error": info["error"],
        "societas_version": info["societas_version"],
    }


@app.command()
def summary(
    run_dir: Annotated[Path, typer.Argument(help="Run directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Status, counts and metrics of a run."""
    with errors():
        data = _summary(run_dir)
        if as_json:
            sys.stdout.write(json.dumps(data, sort_keys=True) + "\n")
            return
        table = Table(title=plain(run_dir), show_header=False)
        for key, value in data.items():
            if key != "metrics":  # values quote the store (an error from a server, ...)
                table.add_row(key, plain(safe(str(value))))
        out_console.print(table)
        _print_metrics(data["metrics"], run_dir)


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="Run directory.")],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="jsonl or parquet (events), calls (prompts and answers), or training data "
            "for fine-tuning: sft (chat messages), preference (prompt/chosen/rejected), "
            "steps (labelled step traces); see docs/trajectories.md.",
        ),
    ] = "jsonl",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output file.")] = None,
) -> None:
    """Write a run's events, model calls or training trajectories to JSONL (or Parquet)."""
    with errors():
        from societas.analysis.trajectories import TRAJECTORY_FORMATS, export_trajectories

        writers: dict[str, Callable[[RunStore, Path], int]] = {
            "jsonl": lambda s, p: s.export_jsonl(p),
            "parquet": lambda s, p: s.export_parquet(p),
            "calls": lambda s, p: s.export_calls(p),
        }
        if fmt not in writers and fmt not in TRAJECTORY_FORMATS:
            raise ConfigError(
                "--format", "format", "jsonl, parquet, calls, sft, preference or steps", fmt
            )
        if fmt in TRAJECTORY_FORMATS:
            target = out or run_dir / f"{fmt}.jsonl"
            RunStore.open(run_dir, readonly=True).close()
            with _writing(target):
                n = export_trajectories(run_dir, fmt, target)
            what = {"sft": "examples", "preference": "pairs", "steps": "episodes"}[fmt]
            err_console.print(Text(f"wrote {n} {what} to {target}"), highlight=False)
            return
        default = "calls.jsonl" if fmt == "calls" else f"events.{fmt}"
        target = out or run_dir / default
        with RunStore.open(run_dir, readonly=True) as store, _writing(target):
            n = writers[fmt](store, target)
        what = "model calls" if fmt == "calls" else "events"
        err_console.print(Text(f"wrote {n} {what} to {target}"), highlight=False)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run directory or experiment directory.")],
) -> None:
    """Write a report: RUN_DIR/report/ (plots, index.html) for a run (it has run.db);
    DIR/report.html for an experiment directory made by 'societas sweep'."""
    with errors():
        from societas.analysis.experiment_report import is_experiment_dir, write_experiment_report
        from societas.analysis.report import write_report

        if not (run_dir / "run.db").exists() and is_experiment_dir(run_dir):
            with _writing(run_dir / "report.html"):
                page = write_experiment_report(run_dir)
        else:
            RunStore.open(run_dir, readonly=True).close()
            with _writing(run_dir / "report"):
                page = write_report(run_dir)
        err_console.print(plain(f"report: {page}"), highlight=False)


@app.command()
def check(run_dir: Annotated[Path, typer.Argument(help="Run directory (or its run.db).")]) -> None:
    """Verify a run store: integrity, schema, events, ticks, snapshot, llm_calls.

    Exit 0 if sound, 1 if problems were found, 2 if the store cannot be opened.
    """
    with errors():
        from societas.store.check import run_checks

        results = run_checks(run_dir)
        table = Table(title=plain(f"check {run_dir}"))
        table.add_column("check")
        table.add_column("result")
        table.add_column("verifies")
        for result in results:
            if result.ok:
                status = Text("ok", style="green")
            elif result.skipped is not None:
                status = Text(f"skipped ({result.skipped})", style="yellow")
            else:
                status = Text(f"{len(result.problems)} problem(s)", style="red")
            table.add_row(result.name, status, result.description)
        out_console.print(table)
        problems = [p for result in results for p in result.problems]
        for problem in problems:  # plain Text: messages quote data from the store
            out_console.print(Text(f"- {safe(str(problem))}"), soft_wrap=True)
        if problems:
            err_console.print(
                Text(f"{len(problems)} problem(s) found in {run_dir}", style="red"),
                highlight=False,
            )
            raise typer.Exit(1)
        out_console.print(Text(f"ok: {run_dir} is a sound run store"), highlight=False)


@app.command()
def scenarios() -> None:
    """List the registered scenarios."""
    for name in available_scenarios():
        out_console.print(plain(name))


def _register_sweep() -> None:
    from societas.cli.sweep import sweep_command

    app.command(name="sweep")(sweep_command)


def _register_interview() -> None:
    from societas.cli.interview import interview_command

    app.command(name="interview")(interview_command)


_register_interview()


def _register_validate() -> None:
    from societas.cli.validate import app as validate_app

    app.add_typer(validate_app, name="validate")


_register_validate()


_register_sweep()


def _register_estimate() -> None:
    from societas.cli.estimate import estimate_command

    app.command(name="estimate")(estimate_command)


_register_estimate()


def _register_new() -> None:
    from societas.cli.new import app as new_app

    app.add_typer(new_app, name="new")


_register_new()


def _register_seat() -> None:
    from societas.cli.seat import seat_command

    app.command(name="seat")(seat_command)


_register_seat()


def _register_dashboard() -> None:
    from societas.cli.dashboard import dashboard_command

    app.command(name="dashboard")(dashboard_command)


_register_dashboard()


def _register_calibrate() -> None:
    from societas.cli.calibrate import calibrate_command

    app.command(name="calibrate")(calibrate_command)


_register_calibrate()


def _hold_stops() -> None:
    """A stop request while a run is prepared (preflight, store) is acted on when it starts."""
    if _PROCESS["entry"]:
        from societas.engine.runner import hold_stop_signals

        hold_stop_signals()


def _ignore_further_stops() -> None:
    """The command is already stopping with exit 130: another Ctrl-C or SIGTERM arriving
    while it prints its last line must not turn that exit into a KeyboardInterrupt."""
    if _PROCESS["entry"] and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)


def main() -> None:
    _PROCESS["entry"] = True  # the command owns this process (not a test's CliRunner)
    try:
        app()
    except KeyboardInterrupt:
        # A stop request that arrived between two handlers (e.g. after a sweep restored the
        # default ones): still the documented exit, without a traceback.
        sys.stderr.write("interrupted\n")
        sys.exit(130)
