"""Deterministic fault injection for the fake OpenAI server, and answers that fit the schema.

``FaultPlan`` is a ``FaultHook`` for ``FakeOpenAIServer(faults=...)``: chat request ``i`` gets
a fault when a hash of ``(seed, i)`` falls under ``rate``, and the same hash picks its kind by
weight, so one seed always puts the same faults at the same request indices. The plan counts
what it injected per kind in ``injected``.

Kinds, and how the client side sees them:

=================  =====================================================  ======================
kind               what the server does                                   recorded as
=================  =====================================================  ======================
rate_limit         429 with ``Retry-After: 0`` or ``1`` (seconds)         ``llm_call.faults``
server_error       500                                                    ``llm_call.faults``
reset              closes the connection with a TCP reset, no reply       ``llm_call.faults``
hang               no reply until the client gives up (at most            ``llm_call.faults``
                   ``hang_s``), then closes
malformed          200 with a body that is not JSON                       ``llm_call.faults``
truncated          200, Content-Length larger than the bytes sent, close  ``llm_call.faults``
schema_violation   200, a valid completion whose content breaks the       ``status="invalid"``
                   request's JSON schema (wrong types, missing fields)
huge               200, a valid completion with ``huge_bytes`` of prose   ``status="invalid"``
=================  =====================================================  ======================

The first six are transport faults: the backend raises a retryable ``BackendError``, so each
becomes one line of the ``llm_call``'s ``faults`` (``classify_fault`` names the kind back). The
last two reach the Gateway, which rejects the answer and asks for a repair.

``valid_answer`` is a schema-aware ``Answer``: a JSON object that satisfies the request's
``response_format`` schema, so scenario runs work against the fake server.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from societas.testing.fake_openai import Fault, completion_body
from societas.typing import ConfigError

__all__ = [
    "CONTENT_KINDS",
    "FAULT_KINDS",
    "TRANSPORT_KINDS",
    "FaultKind",
    "FaultPlan",
    "classify_fault",
    "huge_answer",
    "request_schema",
    "valid_answer",
    "violating_answer",
]

FaultKind = Literal[
    "rate_limit",
    "server_error",
    "reset",
    "hang",
    "malformed",
    "truncated",
    "schema_violation",
    "huge",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
TRANSPORT_KINDS: frozenset[FaultKind] = frozenset(FAULT_KINDS[:6])
"""Faults the backend sees as a failed attempt (retried, one line each in ``llm_call.faults``)."""
CONTENT_KINDS: frozenset[FaultKind] = frozenset(FAULT_KINDS[6:])
"""Well-formed replies whose content the Gateway rejects (``status="invalid"``, then repair)."""

_TEXT = "ok"
_MAX_DEPTH = 16
_MALFORMED = '{"id": "chatcmpl-fake", "choices": [{"message": {"role": "assistant", "content": "'
_PROSE = "I have thought about the lake, the other fishers and the months ahead at length. "


def _unit(digest: bytes, at: int) -> float:
    """Eight bytes of ``digest`` from ``at`` as a number in [0, 1)."""
    return int.from_bytes(digest[at : at + 8], "big") / 2**64


@dataclass
class FaultPlan:
    """Which chat requests fail, and how; callable as the fake server's ``faults`` hook.

    ``rate`` is the share of eligible requests that fail; only request indices in
    ``[start, stop)`` are eligible (``stop=None``: no end), so ``FaultPlan(1.0, stop=8)`` fails
    the first eight requests and then lets every request through. ``kinds`` weighs the kinds
    (default: all equally); ``retry_after_s`` are the Retry-After values a 429 picks from;
    ``hang_s`` caps a hang when the client never gives up; ``huge_bytes`` is the size of a
    ``huge`` answer.
    """

    rate: float
    seed: int = 0
    kinds: Mapping[FaultKind, float] = field(
        default_factory=lambda: dict.fromkeys(FAULT_KINDS, 1.0)
    )
    start: int = 0
    stop: int | None = None
    retry_after_s: tuple[int, ...] = (0, 1)
    hang_s: float = 30.0
    huge_bytes: int = 2_000_000
    injected: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ConfigError("FaultPlan", "rate", "a share from 0 to 1", self.rate)
        unknown = sorted(set(self.kinds) - set(FAULT_KINDS))
        if unknown:
            raise ConfigError(
                "FaultPlan", "kinds", f"kinds among {', '.join(FAULT_KINDS)}", unknown
            )
        if any(w < 0 for w in self.kinds.values()) or sum(self.kinds.values()) <= 0:
            raise ConfigError(
                "FaultPlan", "kinds", "weights of 0 or more, at least one above 0", self.kinds
            )
        if not self.retry_after_s or any(s < 0 for s in self.retry_after_s):
            raise ConfigError(
                "FaultPlan", "retry_after_s", "one or more whole seconds >= 0", self.retry_after_s
            )
        if self.hang_s <= 0:
            raise ConfigError("FaultPlan", "hang_s", "seconds > 0", self.hang_s)
        if self.huge_bytes < 1:
            raise ConfigError(
                "FaultPlan", "huge_bytes", "a size of 1 byte or more", self.huge_bytes
            )
        self.retry_after_s = tuple(self.retry_after_s)
        self.injected = dict.fromkeys(FAULT_KINDS, 0)

    # -- deciding ------------------------------------------------------------------------

    def _digest(self, index: int) -> bytes:
        return hashlib.sha256(f"societas-fault|{self.seed}|{index}".encode()).digest()

    def kind_for(self, index: int) -> FaultKind | None:
        """The fault request ``index`` gets, or ``None``; depends on ``seed`` and ``index`` only."""
        if index < self.start or (self.stop is not None and index >= self.stop):
            return None
        digest = self._digest(index)
        if _unit(digest, 0) >= self.rate:
            return None
        weighted = [(kind, self.kinds.get(kind, 0.0)) for kind in FAULT_KINDS]
        point = _unit(digest, 8) * sum(weight for _, weight in weighted)
        chosen: FaultKind | None = None
        for kind, weight in weighted:
            if weight > 0:
                chosen = kind
                if point < weight:
                    break
                point -= weight
        return chosen

    def __call__(self, index: int, request: dict[str, Any]) -> Fault | None:
        kind = self.kind_for(index)
        if kind is None:
            return None
        self.injected[kind] += 1
        return self.fault(kind, index, request)

    def fault(self, kind: FaultKind, index: int, request: dict[str, Any]) -> Fault:
        """The ``Fault`` that stands for ``kind`` in reply to ``request``."""
        digest = self._digest(index)
        if kind == "rate_limit":
            wait = self.retry_after_s[digest[16] % len(self.retry_after_s)]
            return Fault(
                status=429,
                body=_error_body("rate limit reached (injected)", "rate_limit_exceeded"),
                headers={"Retry-After": str(wait)},
            )
        if kind == "server_error":
            return Fault(status=500, body=_error_body("internal error (injected)", "server_error"))
        if kind == "reset":
            return Fault(send="nothing")
        if kind == "hang":
            return Fault(delay_s=self.hang_s, send="nothing")
        if kind == "malformed":
            return Fault(status=200, body=_MALFORMED)
        if kind == "truncated":
            return Fault(
                status=200,
                body=completion_body(index, request, valid_answer(request)),
                send="truncated",
            )
        if kind == "schema_violation":
            content = violating_answer(request, variant=digest[17])
            return Fault(status=200, body=completion_body(index, request, content))
        return Fault(status=200, body=completion_body(index, request, huge_answer(self.huge_bytes)))

    # -- crossing a process boundary -----------------------------------------------------

    def to_json(self) -> str:
        """The plan's settings (not its counts), for ``from_json`` in another process."""
        return json.dumps(
            {
                "rate": self.rate,
                "seed": self.seed,
                "kinds": dict(self.kinds),
                "start": self.start,
                "stop": self.stop,
                "retry_after_s": list(self.retry_after_s),
                "hang_s": self.hang_s,
                "huge_bytes": self.huge_bytes,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> FaultPlan:
        """A plan from ``to_json``'s output; only ``rate`` is required."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError("--fault-plan", "", "a JSON object", text) from exc
        if not isinstance(data, dict) or "rate" not in data:
            raise ConfigError("--fault-plan", "rate", "a JSON object with 'rate'", text)
        known = {"rate", "seed", "kinds", "start", "stop", "retry_after_s", "hang_s", "huge_bytes"}
        extra = sorted(set(data) - known)
        if extra:
            raise ConfigError("--fault-plan", extra[0], f"only {', '.join(sorted(known))}")
        if "retry_after_s" in data:
            data["retry_after_s"] = tuple(data["retry_after_s"])
        return cls(**data)


def classify_fault(line: str) -> FaultKind | None:
    """The transport fault kind behind one line of ``llm_call.faults`` (``None``: unknown).

    Reads the ``BackendError`` texts of the ``openai`` backend and the timeout wrapper.
    """
    if "HTTP 429" in line:
        return "rate_limit"
    if "HTTP 5" in line:
        return "server_error"
    if "no answer" in line:
        return "hang"
    if "unreadable answer" in line:
        return "malformed"
    if "ClientPayloadError" in line or "ContentLengthError" in line:
        return "truncated"
    if any(
        name in line
        for name in ("ServerDisconnectedError", "ClientOSError", "Connection reset", "reset by")
    ):
        return "reset"
    return None


# -- answers -----------------------------------------------------------------------------


def request_schema(request: Mapping[str, Any]) -> dict[str, Any] | None:
    """The JSON schema in a chat request's ``response_format`` (``json_schema`` type only)."""
    fmt = request.get("response_format")
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    spec = fmt.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    return schema if isinstance(schema, dict) else None


def valid_answer(request: dict[str, Any]) -> str:
    """A JSON object that satisfies the request's schema (``{}`` when it sends none).

    Every property is filled: integers and numbers with the smallest value allowed, strings
    with short text within ``minLength``/``maxLength``, the first of an ``enum`` or ``anyOf``,
    arrays with ``minItems`` items; ``$ref`` into ``$defs`` is followed. ``pattern`` and
    ``format`` are not honoured.
    """
    schema = request_schema(request)
    if schema is None:
        return "{}"
    return json.dumps(_example(schema, schema, 0))


def violating_answer(request: dict[str, Any], variant: int = 0) -> str:
    """A JSON answer that breaks the request's schema.

    Even ``variant``: every typed property gets a value of a wrong type. Odd ``variant``: the
    required properties are left out (wrong types when nothing is required). Without a schema,
    or without properties to break, a JSON array instead of an object.
    """
    schema = request_schema(request)
    not_an_object = '["not", "an", "object"]'
    if schema is None:
        return not_an_object
    root = _resolve(schema, schema)
    properties = root.get("properties")
    if not isinstance(properties, dict) or not properties:
        return not_an_object
    valid = _example(root, schema, 0)
    required = [name for name in root.get("required", []) if name in properties]
    if variant % 2 == 1 and required and isinstance(valid, dict):
        return json.dumps({k: v for k, v in valid.items() if k not in required})
    broken: dict[str, Any] = {}
    for name, prop in properties.items():
        wrong = _wrong_value(prop, schema) if isinstance(prop, dict) else None
        if wrong is not None:
            broken[name] = wrong
    return json.dumps(broken) if broken else not_an_object


def huge_answer(size: int) -> str:
    """``size`` bytes of prose with no JSON object in it (a model rambling to its limit)."""
    return (_PROSE * (size // len(_PROSE) + 1))[:size]


def _error_body(message: str, code: str) -> str:
    return json.dumps({"error": {"message": message, "type": code, "code": code}})


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow local ``$ref``s (``#/$defs/X``, ``#/definitions/X``), a bounded number of times."""
    for _ in range(_MAX_DEPTH):
        ref = node.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return node
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            return {}
        node = target
    return node


def _types(node: dict[str, Any], root: dict[str, Any], depth: int = 0) -> set[str]:
    """The JSON types a (sub)schema allows; empty when it does not say."""
    node = _resolve(node, root)
    kind = node.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {k for k in kind if isinstance(k, str)}
    found: set[str] = set()
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and depth < _MAX_DEPTH:
            for option in options:
                if isinstance(option, dict):
                    found |= _types(option, root, depth + 1)
    if not found and "properties" in node:
        found.add("object")
    return found


def _wrong_value(node: dict[str, Any], root: dict[str, Any]) -> Any:
    """A value of a type ``node`` does not allow; ``None`` if it allows anything."""
    allowed = _types(node, root)
    if not allowed:
        return None
    if "number" in allowed:
        allowed.add("integer")
    candidates: list[tuple[str, Any]] = [
        ("string", "wrong"),
        ("integer", 7),
        ("array", [7]),
        ("object", {"wrong": 7}),
    ]
    for kind, value in candidates:
        if kind not in allowed:
            return value
    return None


def _example(node: dict[str, Any], root: dict[str, Any], depth: int) -> Any:
    """A value valid under ``node`` (see ``valid_answer`` for what is honoured)."""
    node = _resolve(node, root)
    if depth > _MAX_DEPTH:
        return None
    if "const" in node:
        return node["const"]
    enum = node.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf"):
        options = [o for o in node.get(key, []) if isinstance(o, dict)]
        if options:
            typed = [o for o in options if _types(o, root) != {"null"}]
            return _example((typed or options)[0], root, depth + 1)
    parts = [p for p in node.get("allOf", []) if isinstance(p, dict)]
    if parts:
        merged: dict[str, Any] = {}
        for part in parts:
            merged.update(_resolve(part, root))
        merged.update({k: v for k, v in node.items() if k != "allOf"})
        return _example(merged, root, depth + 1)
    kinds = _types(node, root)
    kind = next(
        (k for k in ("object", "integer", "number", "string", "boolean", "array") if k in kinds),
        "null" if kinds == {"null"} else None,
    )
    if kind == "object":
        props = node.get("properties", {})
        return {
            name: _example(prop, root, depth + 1)
            for name, prop in props.items()
            if isinstance(prop, dict)
        }
    if kind in ("integer", "number"):
        return _smallest(node, integer=kind == "integer")
    if kind == "string":
        low = int(node.get("minLength", 0))
        high = node.get("maxLength")
        text = (_TEXT * (low // len(_TEXT) + 1))[: max(low, len(_TEXT))]
        return text[: int(high)] if isinstance(high, int) else text
    if kind == "boolean":
        return True
    if kind == "array":
        items = node.get("items")
        count = int(node.get("minItems", 0))
        item = _example(items, root, depth + 1) if isinstance(items, dict) else None
        return [item] * count
    return None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _smallest(node: dict[str, Any], *, integer: bool) -> int | float:
    """The smallest value within the bounds (0 when that is allowed and nothing lower is)."""
    low = _number(node.get("minimum"))
    high = _number(node.get("maximum"))
    above = _number(node.get("exclusiveMinimum"))
    below = _number(node.get("exclusiveMaximum"))
    if above is not None:
        bound = math.floor(above) + 1 if integer else above + 1e-6
        low = bound if low is None else max(low, bound)
    if below is not None:
        bound = math.ceil(below) - 1 if integer else below - 1
        high = bound if high is None else min(high, bound)
    value = low if low is not None else (0.0 if high is None or high >= 0 else high)
    return math.ceil(value) if integer else value
