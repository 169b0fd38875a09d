"""Scenario files and ``--set`` overrides -> a validated scenario config and run options.

A scenario file is YAML: ``scenario: NAME``, an optional ``run:`` block (``RunOptions``), an
optional ``personas:`` block (a list of personas, or the path of a CSV, JSON or YAML file of
them, relative to the scenario file) that overrides the scenario's agents by id and adds
agents, and the scenario's own settings at the top level. ``--set key=value`` sets a
top-level setting, ``--set run.key=value`` a run option; values are parsed as YAML scalars or
lists. Every problem becomes a ``ConfigError`` naming the file (or the ``--set``), the field
and what was expected.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from societas.engine import RunOptions
from societas.scenarios.registry import get_scenario
from societas.typing import ConfigError, Persona
from societas.typing.scenario import Scenario

__all__ = ["LoadedSpec", "load_spec", "parse_override"]

MAX_FILE_BYTES = 5_000_000
# PyYAML's scanner takes time quadratic in the nesting of flow collections ("[[[[..." of 1,200
# levels: a second; of 10,000: over a minute), so deeper input is refused before parsing.
MAX_FLOW_DEPTH = 100
_FLOW_BRACKETS = re.compile(r"[\[\]{}]")


@dataclass
class LoadedSpec:
    scenario: Scenario
    config: BaseModel
    options: RunOptions
    source: str
    personas: list[Persona] = field(default_factory=list)


def _read_yaml(path: Path) -> dict[str, Any]:
    src = str(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ConfigError(src, "", "a readable scenario file", exc.strerror) from exc
    if size > MAX_FILE_BYTES:
        raise ConfigError(src, "", f"a scenario file under {MAX_FILE_BYTES} bytes", size)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(src, "", "a UTF-8 text (YAML) file", "binary data") from exc
    except OSError as exc:
        raise ConfigError(src, "", "a readable scenario file", exc.strerror) from exc
    if "\x00" in text:
        raise ConfigError(src, "", "a UTF-8 text (YAML) file", "binary data")
    depth = _flow_depth(text)
    if depth > MAX_FLOW_DEPTH:
        raise ConfigError(src, "", _TOO_DEEP, f"{depth} levels")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(src, "", f"valid YAML{where}", _yaml_problem(exc)) from exc
    except RecursionError as exc:
        raise ConfigError(src, "", "YAML nested less deeply", "too deep") from exc
    except ValueError as exc:  # a value Python cannot hold: an int of > 4300 digits, a bad date
        raise ConfigError(src, "", "YAML values Python can read", str(exc)) from exc
    if data is None:
        raise ConfigError(src, "", "a mapping with at least 'scenario: NAME'", "an empty file")
    if not isinstance(data, dict):
        raise ConfigError(src, "", "a mapping of settings", type(data).__name__)
    for key in data:
        if not isinstance(key, str):
            raise ConfigError(src, str(key), "string keys", key)
    return data


_TOO_DEEP = f"YAML nested less deeply (at most {MAX_FLOW_DEPTH} levels of [...] and {{...}})"


def _flow_depth(text: str) -> int:
    """The deepest nesting of brackets; brackets inside quoted strings count too (harmless)."""
    depth = deepest = 0
    for match in _FLOW_BRACKETS.finditer(text):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(0, depth - 1)
    return deepest


def _yaml_problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    return str(problem) if problem else type(exc).__name__


def parse_override(item: str) -> tuple[list[str], Any]:
    """``a.b=value`` -> (["a", "b"], parsed value)."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {item}", "", "KEY=VALUE (e.g. --set agents=10)", item)
    path = key.split(".")
    if any(not part.isidentifier() for part in path):
        raise ConfigError(f"--set {item}", key, "a dotted name of identifiers", key)
    depth = _flow_depth(raw)
    if depth > MAX_FLOW_DEPTH:
        raise ConfigError(f"--set {item}", key, _TOO_DEEP, f"{depth} levels")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except (yaml.YAMLError, ValueError):  # not YAML, or a value Python cannot hold: a string
        value = raw
    except RecursionError as exc:
        raise ConfigError(f"--set {item}", key, "a value nested less deeply", "too deep") from exc
    return path, value


def _set(data: dict[str, Any], path: Sequence[str], value: Any, source: str) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if child is None:
            child = {}
            node[part] = child
        if not isinstance(child, dict):
            raise ConfigError(source, ".".join(path), f"'{part}' to be a mapping", child)
        node = child
    node[path[-1]] = value


def _validate(
    model: type[BaseModel], data: Mapping[str, Any], prefix: str, origin: Mapping[str, str]
) -> BaseModel:
    try:
        validated = model.model_validate(dict(data))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) if p != "" else '""' for p in err["loc"])  # an empty key shows
        field = f"{prefix}{loc}" if loc else prefix.rstrip(".")
        source = _source_of(field, origin)
        expected = _expected(err)
        if err["type"] == "extra_forbidden" and str(err["loc"][-1]).lower() == "api_key":
            expected = (
                "no API key among the settings (it would be stored with the run): pass "
                "--api-key or set SOCIETAS_API_KEY"
            )
        got = err.get("input") if err["type"] != "missing" else None
        raise ConfigError(source, field, expected, got) from exc
    # Unknown settings are refused even when a (plugin's) model ignores them: a typo must not
    # run silently with the default.
    known = {
        key
        for name, info in model.model_fields.items()
        for key in (name, info.alias, info.validation_alias)
        if isinstance(key, str)
    }
    unknown = sorted(str(key) for key in data if key not in known)
    if unknown and model.model_config.get("extra") != "allow":
        field = prefix + (unknown[0] or '""')
        raise ConfigError(_source_of(field, origin), field, _expected({"type": "extra_forbidden"}))
    return validated


def _source_of(field: str, origin: Mapping[str, str]) -> str:
    """Which input set ``field``: the --set that wrote it, above or below it, else the file."""
    related = [
        key
        for key in origin
        if key and (key == field or key.startswith(field + ".") or field.startswith(key + "."))
    ]
    if related:
        return origin[max(related, key=len)]
    return origin.get("", "config")


def _expected(err: Mapping[str, Any]) -> str:
    kind = str(err["type"])
    if kind == "extra_forbidden":
        return "a known setting (this key is not one; check the spelling)"
    if kind == "missing":
        return "a value (this field is required)"
    msg = str(err["msg"])
    prefix = "Value error, "
    if msg.startswith(prefix):
        return msg[len(prefix) :]
    return f"a valid value ({msg[0].lower()}{msg[1:]})" if msg else "a valid value"


def load_spec(
    target: str,
    overrides: Sequence[str] = (),
    *,
    model: str | None = None,
    seed: int | None = None,
) -> LoadedSpec:
    """``target`` is a scenario name or a YAML file path."""
    path = Path(target)
    origin: dict[str, str] = {}
    if target.endswith((".yaml", ".yml")) or path.is_file():
        if not path.exists():
            raise ConfigError(target, "", "an existing scenario file or a scenario name")
        data = _read_yaml(path)
        origin[""] = str(path)
        name = data.pop("scenario", None)
        if not isinstance(name, str):
            raise ConfigError(str(path), "scenario", "the name of a registered scenario", name)
        scenario = get_scenario(name, str(path))
    else:
        data = {}
        origin[""] = f"defaults of scenario '{target}'"
        scenario = get_scenario(target, "SCENARIO")
    for item in overrides:
        keys, value = parse_override(item)
        _set(data, keys, value, f"--set {item}")
        origin[".".join(keys)] = f"--set {item}"
    run_block = data.pop("run", {})
    if not isinstance(run_block, dict):
        raise ConfigError(
            origin.get("run", origin[""]), "run", "a mapping of run options", run_block
        )
    if model is not None:
        run_block["model"] = model
        origin["run.model"] = "--model"
    if seed is not None:
        run_block["seed"] = seed
        origin["run.seed"] = "--seed"
    personas = _personas(data.pop("personas", None), path.parent, origin)
    options = _validate(RunOptions, run_block, "run.", origin)
    config = _validate(scenario.config_model, data, "", origin)
    assert isinstance(options, RunOptions)
    return LoadedSpec(
        scenario=scenario, config=config, options=options, source=origin[""], personas=personas
    )


def _personas(block: Any, base: Path, origin: Mapping[str, str]) -> list[Persona]:
    """The ``personas:`` block: a list of personas, or a CSV/JSON/YAML file of them."""
    if block is None:
        return []
    source = _source_of("personas", origin)
    if isinstance(block, str):
        file = base / block
        source = str(file)
        rows = _persona_rows(file)
    elif isinstance(block, list):
        rows = block
    else:
        raise ConfigError(source, "personas", "a list of personas or a file name", block)
    out: list[Persona] = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ConfigError(source, f"personas[{i}]", "a mapping of persona fields", row)
        try:
            out.append(Persona.model_validate(dict(row)))
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise ConfigError(
                source, f"personas[{i}].{loc}", _expected(err), err.get("input")
            ) from exc
    ids = [p.id for p in out]
    dup = next((i for i in ids if ids.count(i) > 1), None)
    if dup is not None:
        raise ConfigError(source, "personas.id", "each id once", dup)
    return out


_LIST_COLUMNS = ("traits", "goals")
_PERSONA_COLUMNS = ("id", "name", "age", "backstory", *_LIST_COLUMNS)


def _persona_rows(file: Path) -> list[Any]:
    """Rows of a persona file. CSV: columns id, name, age, traits and goals (separated by
    ';'), backstory; any other column becomes an attribute."""
    src = str(file)
    if not file.is_file():
        raise ConfigError(src, "personas", "an existing CSV, JSON or YAML file of personas")
    if file.stat().st_size > MAX_FILE_BYTES:
        raise ConfigError(src, "personas", f"a file under {MAX_FILE_BYTES} bytes")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(src, "personas", "a readable UTF-8 text file", str(exc)) from exc
    suffix = file.suffix.lower()
    if suffix == ".csv":
        rows: list[Any] = []
        for record in csv.DictReader(text.splitlines()):
            row: dict[str, Any] = {"attributes": {}}
            for key, value in record.items():
                if key is None or value is None or value == "":
                    continue
                if key in _LIST_COLUMNS:
                    row[key] = [v.strip() for v in value.split(";") if v.strip()]
                elif key in _PERSONA_COLUMNS:
                    row[key] = value
                else:
                    row["attributes"][key] = value
            rows.append(row)
        return rows
    try:
        data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(src, "personas", "valid JSON or YAML", type(exc).__name__) from exc
    if not isinstance(data, list):
        raise ConfigError(src, "personas", "a list of personas", type(data).__name__)
    return data
