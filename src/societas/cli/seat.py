"""``societas seat RUN_DIR``: play an agent of a running run from the terminal.

The run was started with ``--human AGENT_ID``; each of that agent's decisions waits in the run
directory's seat folder (``societas.llm.human``) until it is answered here or in the
dashboard. The prompt the model would have seen is shown, then each field of the action's
schema is asked for; the answer is checked against the schema before the run gets it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from societas.cli.terminal import safe

__all__ = ["seat_command"]

_out = Console(highlight=False)


def _field_prompt(name: str, spec: dict[str, Any], required: bool) -> Any:
    kind = spec.get("type")
    bounds = [
        f"{word} {spec[key]}"
        for key, word in (("minimum", "min"), ("maximum", "max"), ("maxLength", "at most"))
        if key in spec
    ]
    options = spec.get("enum")
    hint = ", ".join([str(kind or "value"), *bounds, *([f"one of {options}"] if options else [])])
    while True:
        raw = typer.prompt(f"{name} ({hint})", default="" if not required else None)
        if raw == "" and not required:
            return None
        try:
            if kind == "integer":
                return int(raw)
            if kind == "number":
                return float(raw)
            if kind == "boolean":
                return raw.strip().lower() in ("y", "yes", "true", "1")
            if kind in ("object", "array") or (kind is None and not options):
                return json.loads(raw)
        except ValueError:
            _out.print(Text(f"  {name}: expected {hint}, got {raw!r}", style="red"))
            continue
        return raw


def _ask(schema: dict[str, Any] | None) -> str:
    """The answer as JSON text: field by field for an object schema, else raw JSON."""
    properties = (schema or {}).get("properties")
    if schema is None or schema.get("type") != "object" or not isinstance(properties, dict):
        return str(typer.prompt("answer (JSON)"))
    required = set(schema.get("required", []))
    answer: dict[str, Any] = {}
    for name, spec in properties.items():
        spec = _resolve(schema, spec)
        value = _field_prompt(name, spec, name in required)
        if value is not None:
            answer[name] = value
    return json.dumps(answer, ensure_ascii=False)


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """A property's own schema, following one local ``$ref`` and a single ``anyOf`` member."""
    ref = spec.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        found = schema.get("$defs", {}).get(ref.rsplit("/", 1)[1])
        if isinstance(found, dict):
            return {**found, **{k: v for k, v in spec.items() if k != "$ref"}}
    return spec


def seat_command(
    run_dir: Annotated[Path, typer.Argument(help="Directory of a run started with --human.")],
    once: Annotated[
        bool, typer.Option("--once", help="Answer the waiting requests, then return.")
    ] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Show every message of the prompt, not the last.")
    ] = False,
) -> None:
    """Answer a seated agent's decisions from the terminal (the run waits for them)."""
    from societas.cli.main import errors
    from societas.llm.human import SeatAnswerError, answer_seat, pending_requests
    from societas.store import RunStore

    with errors():
        if not (run_dir / "run.db").is_file():
            raise typer.BadParameter(f"{run_dir} holds no run (no run.db)")
        answered: set[str] = set()
        while True:
            waiting = [r for r in pending_requests(run_dir) if r.id not in answered]
            if not waiting:
                with RunStore.open(run_dir, readonly=True) as store:
                    status = str(store.run_info()["status"])
                if once or status != "running":
                    _out.print(Text(f"nothing waiting; the run is {status}"))
                    return
                time.sleep(0.5)
                continue
            request = waiting[0]
            shown = request.messages if full else request.messages[-1:]
            _out.rule(Text(f"{request.actor or 'agent'}: {request.purpose}"))
            for message in shown:
                _out.print(Text(f"[{message['role']}]", style="bold"))
                _out.print(Text(safe(message["content"])))
            while True:
                text = _ask(request.json_schema)
                try:
                    answer_seat(run_dir, request.id, text)
                except SeatAnswerError as exc:
                    if all(r.id != request.id for r in pending_requests(run_dir)):
                        _out.print(Text("the run stopped waiting for this decision", style="red"))
                        break
                    _out.print(Text(safe(str(exc)), style="red"))
                    continue
                break
            answered.add(request.id)
            _out.print(Text("sent", style="green"))
