"""Every built-in action model: found through the scenarios' phases, plus the minds' calls."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from societas.engine import prepare_run
from societas.mind import calls
from societas.mind.importance import ratings_model
from societas.scenarios import load_spec
from societas.scenarios.registry import available_scenarios
from societas.typing import Action

# Settings that switch a scenario to another action model (donor punishment, social modes);
# every registered scenario is also visited with its defaults.
_VARIANTS: list[tuple[str, list[str]]] = [
    ("donor", ["punishment=true"]),
    ("social", ["mode=archetype"]),
]


def builtin_action_models() -> list[type[Action]]:
    """Action models of every built-in scenario's phases (first ticks, each variant), then the
    models of the minds' own calls (plans, reactions, importance ratings)."""
    found: dict[str, type[Action]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        defaults: list[tuple[str, list[str]]] = [(name, []) for name in available_scenarios()]
        for i, (name, sets) in enumerate(defaults + _VARIANTS):
            spec = load_spec(name, sets, model="scripted", seed=0)
            handle = prepare_run(spec.scenario, spec.config, spec.options, Path(tmp) / str(i))
            try:
                world = handle.simulation.world
                for tick in range(min(3, world.num_ticks())):
                    for phase in world.phases(tick):
                        key = repr(phase.action_model.json_schema())
                        found.setdefault(key, phase.action_model)
            finally:
                handle.close()
    minds: list[type[Action]] = [
        calls.HourPlan,
        calls.StepPlan,
        calls.ReactChoice,
        calls.Prediction,
        calls.Score,
        calls.RiskAssessment,
        ratings_model(5),
    ]
    for model in minds:
        found.setdefault(repr(model.json_schema()), model)
    return list(found.values())


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        schema = root["$defs"][name]
    return schema


def _longest(schema: dict[str, Any], root: dict[str, Any]) -> str:
    """The longest text ``societas.llm.gbnf``'s grammar for ``schema`` admits, written here
    from the grammar's documented shape (every optional space, every optional property,
    strings at ``maxLength`` of 6-byte ``\\uXXXX`` escapes, arrays at ``maxItems``)."""
    schema = _resolve(schema, root)
    if "const" in schema:
        return json.dumps(schema["const"])  # no space after constants and enums
    if "enum" in schema:
        return max((json.dumps(v) for v in schema["enum"]), key=_size)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return max((_longest(s, root) for s in schema[key]), key=_size)
    kind = schema.get("type")
    if kind == "object":
        props: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        keys = [k for k in props if k in required] + [k for k in props if k not in required]
        pairs = [f"{json.dumps(k)} : {_longest(props[k], root)}" for k in keys]
        return "{ " + ", ".join(pairs) + "} "
    if kind == "array":
        item = _longest(schema["items"], root)
        return "[ " + ", ".join([item] * int(schema["maxItems"])) + "] "
    if kind == "string":
        return '"' + "\\u00e9" * int(schema["maxLength"]) + '" '
    if kind == "integer":
        return max(str(schema["minimum"]), str(schema["maximum"]), key=len) + " "
    if kind == "number":
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if lo is not None and hi is not None and lo >= 0:
            top = math.floor(hi) - 1 if hi == math.floor(hi) else math.floor(hi)
            return max(f"{top}." + "9" * 15, f"{math.floor(hi)}." + "0" * 15, key=len) + " "
        sign = "" if lo is not None and lo >= 0 else "-"
        return sign + "9" * 15 + "." + "9" * 15 + " "
    if kind == "boolean":
        return "false "
    if kind == "null":
        return "null "
    raise AssertionError(f"no longest answer for {schema}")


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def longest_answer(schema: dict[str, Any]) -> str:
    """The longest answer the local backend's grammar admits for ``schema``."""
    return _longest(schema, schema)
