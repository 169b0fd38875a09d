"""The ``test`` backend: a model that answers any request's JSON schema validly.

In the spirit of pydantic-ai's ``TestModel`` (pydantic/pydantic-ai,
``pydantic_ai_slim/pydantic_ai/models/test.py``: generate data from the request's schema
instead of calling a model), written for our requests: the answer is drawn from a generator
seeded with the request's seed, so it is deterministic, independent of the order in which
concurrent requests arrive, and the same after a resume or a replay. A new scenario runs
offline with it and no scripted policy: ``societas run NAME --model test``.

What it fills: objects (required properties always, optional ones half of the time, typed
``additionalProperties``), integers and numbers within ``minimum``/``maximum``/``exclusive*``
and ``multipleOf``, strings within ``minLength``/``maxLength`` (and a ``pattern`` through
Python's own regular-expression parser), ``enum``/``const`` (``Literal``), booleans, ``null``,
arrays within ``minItems``/``maxItems`` (``uniqueItems``, ``prefixItems``), ``$ref`` into
``$defs``, ``anyOf``/``oneOf``/``allOf`` and type lists. A schema it cannot satisfy raises
``SchemaFillError`` naming the place in the schema, never an answer that fails validation.
Requests without a schema get a short deterministic sentence.
"""

from __future__ import annotations

import importlib
import json
import math
import random
import string
from datetime import UTC, date, datetime, timedelta
from typing import Any

from societas.typing import LLMRequest, LLMResponse, SocietasError
from societas.typing.llm import estimated_usage

__all__ = ["SchemaFillError", "SchemaFiller", "TestModel", "fill_schema"]

_WORDS = (
    *("river", "stone", "field", "market", "bread", "lantern", "harbor", "orchard", "meadow"),
    *("bridge", "quiet", "steady", "fair", "share", "careful", "plenty", "modest", "bright"),
    *("together", "later", "morning", "evening", "garden"),
)
# Past this depth a recursive schema gets its smallest value (no optional parts, null branch).
_MAX_DEPTH = 8
_PATTERN_TRIES = 20
_UNIQUE_TRIES = 20


class SchemaFillError(SocietasError):
    """The test model met a JSON schema it cannot answer validly."""

    exit_code = 1

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"test model: cannot fill the schema at {where or '#'}: {problem}")


class SchemaFiller:
    """Draws one valid instance of a JSON schema (as pydantic emits them) from ``rng``."""

    def __init__(self, root: dict[str, Any], rng: random.Random) -> None:
        self.root = root
        self.rng = rng

    def fill(self) -> Any:
        return self._any(self.root, "#", 0)

    # -- dispatch ----------------------------------------------------------------------------

    def _any(self, schema: Any, where: str, depth: int) -> Any:
        if schema is True or schema == {}:
            return self._words(1, 12)
        if not isinstance(schema, dict):
            raise SchemaFillError(where, f"expected a schema object, got {schema!r}")
        if "$ref" in schema:
            target = self._resolve(str(schema["$ref"]), where)
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            merged = {**target, **rest} if _constrains(rest) else target
            return self._any(merged, f"{where}/$ref", depth + 1)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            options = list(schema["enum"])
            if not options:
                raise SchemaFillError(where, "an empty enum")
            return options[self.rng.randrange(len(options))]
        if "allOf" in schema:
            return self._any(self._merge_all_of(schema, where), f"{where}/allOf", depth)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self._union(schema, key, where, depth)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"] if depth >= _MAX_DEPTH else list(kind)
            kind = (kinds or ["null"])[self.rng.randrange(len(kinds or ["null"]))]
        if kind is None:
            kind = "object" if "properties" in schema else "string"
        filler = {
            "object": self._object,
            "array": self._array,
            "string": self._string,
            "integer": self._integer,
            "number": self._number,
            "boolean": self._boolean,
            "null": self._null,
        }.get(str(kind))
        if filler is None:
            raise SchemaFillError(where, f"unknown type {kind!r}")
        return filler(schema, where, depth)

    def _resolve(self, ref: str, where: str) -> dict[str, Any]:
        if not ref.startswith("#"):
            raise SchemaFillError(where, f"only local references are supported, got {ref!r}")
        node: Any = self.root
        for part in [p for p in ref[1:].split("/") if p]:
            key = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or key not in node:
                raise SchemaFillError(where, f"the reference {ref!r} points nowhere")
            node = node[key]
        if not isinstance(node, dict):
            raise SchemaFillError(where, f"the reference {ref!r} is not a schema")
        return node

    def _merge_all_of(self, schema: dict[str, Any], where: str) -> dict[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            sub = self._resolve(str(part["$ref"]), where) if "$ref" in part else part
            for key, value in sub.items():
                if key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required":
                    merged["required"] = sorted({*merged.get("required", []), *value})
                else:
                    merged.setdefault(key, value)
        return merged

    def _union(self, schema: dict[str, Any], key: str, where: str, depth: int) -> Any:
        options = list(schema[key])
        if not options:
            raise SchemaFillError(where, f"an empty {key}")
        if depth >= _MAX_DEPTH:  # stop recursion: prefer a branch that needs no nesting
            nulls = [o for o in options if isinstance(o, dict) and o.get("type") == "null"]
            options = nulls or options
        i = self.rng.randrange(len(options))
        return self._any(options[i], f"{where}/{key}/{i}", depth)

    # -- containers --------------------------------------------------------------------------

    def _object(self, schema: dict[str, Any], where: str, depth: int) -> dict[str, Any]:
        props: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        out: dict[str, Any] = {}
        for name, sub in props.items():
            optional_draw = self.rng.random() < 0.5 and depth < _MAX_DEPTH
            if name in required or optional_draw:
                out[name] = self._any(sub, f"{where}/properties/{name}", depth + 1)
        missing = required - set(props)
        extra = schema.get("additionalProperties")
        for name in sorted(missing):
            out[name] = self._any(
                extra if isinstance(extra, dict) else {}, f"{where}/required/{name}", depth + 1
            )
        if isinstance(extra, dict) and extra and depth < _MAX_DEPTH:
            low = int(schema.get("minProperties", 0))
            for i in range(max(0, low - len(out)) + self.rng.randrange(3)):
                key = f"key_{i}"
                while key in out:
                    key += "_"
                out[key] = self._any(extra, f"{where}/additionalProperties", depth + 1)
        return out

    def _array(self, schema: dict[str, Any], where: str, depth: int) -> list[Any]:
        prefix: list[Any] = list(schema.get("prefixItems", []))
        low = int(schema.get("minItems", 0))
        high_default = max(low, len(prefix)) + (0 if depth >= _MAX_DEPTH else 3)
        high = int(schema.get("maxItems", high_default))
        if high < low:
            raise SchemaFillError(where, f"minItems {low} > maxItems {high}")
        items = schema.get("items", {} if not prefix else False)
        if items is False:
            high = min(high, len(prefix))
        n = self.rng.randint(max(low, min(len(prefix), high)), high)
        unique = bool(schema.get("uniqueItems"))
        out: list[Any] = []
        seen: set[str] = set()
        for i in range(n):
            sub = prefix[i] if i < len(prefix) else items
            for _ in range(_UNIQUE_TRIES if unique else 1):
                value = self._any(sub, f"{where}/items/{i}", depth + 1)
                key = json.dumps(value, sort_keys=True)
                if not unique or key not in seen:
                    break
            else:
                if len(out) >= low:
                    break  # fewer unique items than drawn: stop once the minimum is met
                raise SchemaFillError(where, f"cannot draw {low} distinct items")
            seen.add(key)
            out.append(value)
        return out

    # -- scalars -----------------------------------------------------------------------------

    def _null(self, schema: dict[str, Any], where: str, depth: int) -> None:
        return None

    def _boolean(self, schema: dict[str, Any], where: str, depth: int) -> bool:
        return self.rng.random() < 0.5

    def _integer(self, schema: dict[str, Any], where: str, depth: int) -> int:
        low, high = _bounds(schema, integer=True)
        step = schema.get("multipleOf", 1)
        if not isinstance(step, int) or step <= 0:
            raise SchemaFillError(where, f"integer multipleOf must be a positive integer: {step}")
        lo = math.ceil(low / step) if low is not None else None
        hi = math.floor(high / step) if high is not None else None
        lo, hi = _span(lo, hi, 10)
        if lo > hi:
            raise SchemaFillError(where, f"no integer between {low} and {high}")
        return int(self.rng.randint(int(lo), int(hi)) * step)

    def _number(self, schema: dict[str, Any], where: str, depth: int) -> float | int:
        step = schema.get("multipleOf")
        if step is not None:
            low, high = _bounds(schema, integer=False)
            lo = math.ceil(low / step) if low is not None else None
            hi = math.floor(high / step) if high is not None else None
            lo, hi = _span(lo, hi, 10)
            if lo > hi:
                raise SchemaFillError(where, f"no multiple of {step} between {low} and {high}")
            return float(self.rng.randint(int(lo), int(hi)) * step)
        low, high = _bounds(schema, integer=False)
        lo, hi = _span(low, high, 10.0)
        if lo > hi:
            raise SchemaFillError(where, f"no number between {low} and {high}")
        value = round(float(lo) + self.rng.random() * float(hi - lo), 3)
        if not _within(value, schema):
            value = (float(lo) + float(hi)) / 2.0
        if not _within(value, schema):
            raise SchemaFillError(where, f"no number satisfies {low}..{high}")
        return value

    def _string(self, schema: dict[str, Any], where: str, depth: int) -> str:
        low = int(schema.get("minLength", 0))
        high = int(schema.get("maxLength", max(low, 40)))
        if low > high:
            raise SchemaFillError(where, f"minLength {low} > maxLength {high}")
        pattern = schema.get("pattern")
        if pattern is not None:
            return self._matching(str(pattern), low, high, where)
        fmt = schema.get("format")
        if fmt in _FORMATS:
            text = str(_FORMATS[fmt](self.rng))
            if low <= len(text) <= high:
                return text
        return self._words(low, high)

    def _words(self, low: int, high: int) -> str:
        target = self.rng.randint(low, max(low, min(high, low + 24)))
        text = " ".join(self.rng.choice(_WORDS) for _ in range(1 + target // 6))
        while len(text) < target:
            text += " " + self.rng.choice(_WORDS)
        return text[:target].rstrip() if len(text[:target].rstrip()) >= low else text[:target]

    def _matching(self, pattern: str, low: int, high: int, where: str) -> str:
        import re

        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise SchemaFillError(where, f"an invalid pattern {pattern!r}: {exc}") from exc
        parsed = _parse_regex(pattern, where)
        for _ in range(_PATTERN_TRIES):
            try:
                text = _Regex(self.rng).emit(parsed)
            except ValueError as exc:
                raise SchemaFillError(where, f"the pattern {pattern!r}: {exc}") from exc
            # JSON schema patterns are unanchored searches; ours emit a full match.
            if low <= len(text) <= high and compiled.search(text):
                return text
        raise SchemaFillError(
            where, f"no string of length {low}..{high} matching {pattern!r} was found"
        )


def _constrains(rest: dict[str, Any]) -> bool:
    return any(k not in {"description", "title", "default", "examples"} for k in rest)


def _bounds(schema: dict[str, Any], *, integer: bool) -> tuple[float | None, float | None]:
    low = schema.get("minimum")
    high = schema.get("maximum")
    nudge = 1 if integer else 1e-6
    if "exclusiveMinimum" in schema:
        ex = float(schema["exclusiveMinimum"])
        cand = math.floor(ex) + 1 if integer else ex + max(nudge, abs(ex) * 1e-9)
        low = cand if low is None else max(low, cand)
    if "exclusiveMaximum" in schema:
        ex = float(schema["exclusiveMaximum"])
        cand = math.ceil(ex) - 1 if integer else ex - max(nudge, abs(ex) * 1e-9)
        high = cand if high is None else min(high, cand)
    return low, high


def _span(low: Any, high: Any, width: Any) -> tuple[Any, Any]:
    if low is None and high is None:
        return 0 * width, width
    if low is None:
        return high - width, high
    if high is None:
        return low, low + width
    return low, high


def _within(value: float, schema: dict[str, Any]) -> bool:
    return bool(
        value >= schema.get("minimum", -math.inf)
        and value <= schema.get("maximum", math.inf)
        and value > schema.get("exclusiveMinimum", -math.inf)
        and value < schema.get("exclusiveMaximum", math.inf)
    )


_FORMATS: dict[str, Any] = {
    "date": lambda rng: (date(2024, 1, 1) + timedelta(days=rng.randrange(3650))).isoformat(),
    "date-time": lambda rng: (
        datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**8))
    ).isoformat(),
    "email": lambda rng: f"{rng.choice(_WORDS)}@example.org",
    "uri": lambda rng: f"https://example.org/{rng.choice(_WORDS)}",
}


def _parse_regex(pattern: str, where: str) -> Any:
    """Python's own parse tree of ``pattern`` (``re._parser``; ``sre_parse`` before 3.11)."""
    import re

    parser: Any = importlib.import_module("re._parser")
    try:
        return parser.parse(pattern)
    except re.error as exc:
        raise SchemaFillError(where, f"cannot parse the pattern {pattern!r}: {exc}") from exc


class _Regex:
    """Emits one string matching a parsed regular expression (literals, classes, repeats,
    groups, alternation, anchors); lookarounds and back-references are not generated."""

    _MAX_REPEAT = 6

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.groups: dict[int, str] = {}

    def emit(self, parsed: Any) -> str:
        return "".join(self._node(op, arg) for op, arg in parsed)

    def _node(self, op: Any, arg: Any) -> str:
        name = str(op)
        if name == "LITERAL":
            return chr(arg)
        if name == "NOT_LITERAL":
            return next(c for c in "a0_" if ord(c) != arg)
        if name == "ANY":
            return self.rng.choice(string.ascii_lowercase)
        if name == "IN":
            return self._in(arg)
        if name in {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}:
            low, high, sub = arg
            high = min(int(high), low + self._MAX_REPEAT)
            return "".join(self.emit(sub) for _ in range(self.rng.randint(int(low), high)))
        if name == "SUBPATTERN":
            group, _add, _del, sub = arg
            text = self.emit(sub)
            if group is not None:
                self.groups[int(group)] = text
            return text
        if name == "BRANCH":
            _none, branches = arg
            return self.emit(branches[self.rng.randrange(len(branches))])
        if name == "GROUPREF":
            return self.groups.get(int(arg), "")
        if name in {"AT", "ASSERT", "ASSERT_NOT"}:
            return ""
        raise ValueError(f"unsupported regular-expression element {name}")

    def _in(self, items: Any) -> str:
        chars: list[str] = []
        negate = False
        for op, arg in items:
            name = str(op)
            if name == "NEGATE":
                negate = True
            elif name == "LITERAL":
                chars.append(chr(arg))
            elif name == "RANGE":
                chars += [chr(c) for c in range(arg[0], min(arg[1], arg[0] + 200) + 1)]
            elif name == "CATEGORY":
                chars += _CATEGORIES.get(str(arg), [])
        if negate:
            pool = [c for c in string.ascii_letters + string.digits + "_-. " if c not in chars]
            return self.rng.choice(pool)
        if not chars:
            raise ValueError("a character class this generator cannot draw from")
        return self.rng.choice(chars)


_CATEGORIES: dict[str, list[str]] = {
    "CATEGORY_DIGIT": list(string.digits),
    "CATEGORY_WORD": list(string.ascii_letters + string.digits + "_"),
    "CATEGORY_SPACE": [" "],
    "CATEGORY_NOT_DIGIT": list(string.ascii_letters),
    "CATEGORY_NOT_WORD": list(" -.,"),
    "CATEGORY_NOT_SPACE": list(string.ascii_letters + string.digits),
}


def fill_schema(schema: dict[str, Any], seed: int) -> Any:
    """One valid instance of ``schema``, a function of ``seed`` alone."""
    return SchemaFiller(schema, random.Random(seed)).fill()


class TestModel:
    """The ``test`` backend (``--model test``): schema-valid answers from the request's seed."""

    __test__ = False  # a backend, not a pytest test class

    def __init__(self, model_id: str = "test") -> None:
        self.model_id = model_id
        self.calls = 0

    async def generate(self, request: LLMRequest) -> LLMResponse:
        self.calls += 1
        if request.json_schema is not None:
            text = json.dumps(fill_schema(request.json_schema, request.seed), ensure_ascii=False)
        else:
            rng = random.Random(request.seed)
            words = " ".join(rng.choice(_WORDS) for _ in range(4 + rng.randrange(5)))
            text = f"{request.actor or 'I'} thinks of the {words}."
        prompt = sum(estimated_usage(m.content) for m in request.messages)
        return LLMResponse(
            text=text,
            model=self.model_id,
            prompt_tokens=prompt,
            completion_tokens=estimated_usage(text),
            finish_reason="stop",
        )

    async def aclose(self) -> None:
        return None
