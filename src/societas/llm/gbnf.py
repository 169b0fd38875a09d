"""JSON schema -> llama.cpp grammar (GBNF), with the length of the longest valid answer.

The local backend constrains JSON answers with a GBNF grammar. llama-cpp-python's own converter
(``llama_cpp/llama_grammar.py``, ``PRIMITIVE_RULES["char"]`` in 0.3.36) lets any character but
``"`` and ``\\`` into a string, raw control characters included, which ``json.loads`` and
pydantic reject; it ignores ``minimum``/``maximum`` of integers (its TODO), so ``-9999`` passes
the grammar and fails validation; and its whitespace rule keeps answers bounded but the
backend had no idea how long a valid answer may be, so ``max_tokens`` cut long valid strings.

This module builds the grammar for the subset of JSON schema that pydantic action models
produce (objects, strings with ``maxLength``/``minLength``, enums and consts, bounded integers,
numbers, booleans, null, arrays with ``minItems``/``maxItems``, ``anyOf``/``oneOf``, ``$ref``
into ``$defs``) and, for each schema, an upper bound on the bytes of any answer the grammar
admits. A token is at least one byte, so that bound in tokens is a ``max_tokens`` that never
cuts a valid answer. Anything outside the subset raises :class:`UnsupportedSchema`; the caller
then falls back to llama-cpp-python's converter (with control characters removed).

The language is llama-cpp-python's (``llama_cpp/llama_grammar.py`` of 0.3.36) with fewer
answers, never more, so that where the model's greedy answer under the old grammar is also
valid here, it is the same answer:

* strings: llama.cpp's ``char`` rule (``PRIMITIVE_RULES["char"]``) without the raw control
  characters: any character but ``"``, ``\\``, DEL and U+0000 to U+001F, or an escape
  ``\\"``, ``\\\\``, ``\\/``, ``\\b``, ``\\f``, ``\\n``, ``\\r``, ``\\t``, ``\\uXXXX``. A character
  is at most 6 bytes (``\\uXXXX``; a raw UTF-8 character is at most 4);
* objects: required properties first, then the optional ones, each group in declared order
  (``_build_object_rule``); no properties beyond the declared ones;
* integers within ``minimum``/``maximum``, without leading zeros;
* whitespace: one optional space after ``{``, ``[``, ``:``, ``,`` and values but constants and
  enums (``SPACE_RULE``; its ``const`` and ``enum`` rules end without it).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["SchemaGrammar", "UnsupportedSchema", "fix_string_chars", "schema_grammar"]

_IGNORED = {"title", "description", "default", "examples", "$defs", "definitions", "$schema"}
# Without bounds, integers and numbers get at most this many digits (as llama.cpp's converter).
_MAX_DIGITS = 15
_CHAR_RULE = (
    r'char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] '
    r"[0-9a-fA-F])"
)
_CHAR_BYTES = 6  # "\uXXXX"; a raw UTF-8 character is at most 4 bytes
_SPACE_RULE = 'space ::= " "?'


class UnsupportedSchema(ValueError):
    """The schema uses something this converter does not translate."""


@dataclass(frozen=True)
class SchemaGrammar:
    """A GBNF grammar (root rule ``root``) and the most bytes an admitted answer can have
    (``None``: unbounded, e.g. a string without ``maxLength``)."""

    gbnf: str
    max_bytes: int | None


def _literal(text: str) -> str:
    """A GBNF string literal matching ``text`` exactly."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _json_literal(value: Any) -> tuple[str, int]:
    # json.dumps with its defaults, as llama.cpp's converter writes constants and keys
    text = json.dumps(value)
    return _literal(text), len(text.encode("utf-8"))


def _same_length_ranges(lo: str, hi: str) -> list[str]:
    """GBNF sequences matching every decimal string from ``lo`` to ``hi`` (same length)."""
    if not lo:
        return [""]
    if lo[0] == hi[0]:
        return [f'"{lo[0]}" {rest}'.strip() for rest in _same_length_ranges(lo[1:], hi[1:])]
    tail = len(lo) - 1
    any_tail = " ".join(["[0-9]"] * tail)
    if set(lo[1:]) <= {"0"} and set(hi[1:]) <= {"9"}:
        return [f"[{lo[0]}-{hi[0]}] {any_tail}".strip()]
    out = [f'"{lo[0]}" {rest}'.strip() for rest in _same_length_ranges(lo[1:], "9" * tail)]
    low, high = int(lo[0]) + 1, int(hi[0]) - 1
    if low <= high:
        digit = f'"{low}"' if low == high else f"[{low}-{high}]"
        out.append(f"{digit} {any_tail}".strip())
    out += [f'"{hi[0]}" {rest}'.strip() for rest in _same_length_ranges("0" * tail, hi[1:])]
    return out


def _natural_range(lo: int, hi: int) -> list[str]:
    """GBNF sequences for the decimal integers ``lo..hi`` (0 <= lo <= hi), no leading zeros."""
    out: list[str] = []
    for length in range(len(str(lo)), len(str(hi)) + 1):
        a = max(lo, 10 ** (length - 1) if length > 1 else 0)
        b = min(hi, 10**length - 1)
        if a <= b:
            out += _same_length_ranges(str(a), str(b))
    return out


def _integer_alternatives(lo: int, hi: int) -> list[str]:
    alts: list[str] = []
    if lo < 0:
        neg_hi = -lo
        neg_lo = max(1, -hi)
        if neg_lo <= neg_hi:
            alts += [f'"-" {seq}' for seq in _natural_range(neg_lo, neg_hi)]
    if hi >= 0:
        alts += _natural_range(max(0, lo), hi)
    return alts


class _Builder:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.rules: dict[str, str] = {}
        self.needs_char = False
        self._resolving: list[str] = []

    def add(self, name: str, body: str) -> str:
        base, n = name, 1
        while name in self.rules and self.rules[name] != body:
            n += 1
            name = f"{base}{n}"
        self.rules[name] = body
        return name

    def ref(self, ref: str) -> dict[str, Any]:
        for prefix in ("#/$defs/", "#/definitions/"):
            if ref.startswith(prefix):
                defs = self.root.get(prefix[2:-1], {})
                target = defs.get(ref[len(prefix) :])
                if isinstance(target, dict):
                    return target
        raise UnsupportedSchema(f"$ref {ref!r}")

    def visit(self, schema: Any, name: str) -> tuple[str, int | None]:
        """Rule (name or inline expression) for ``schema`` and its byte bound."""
        if schema is True or schema == {}:
            raise UnsupportedSchema("an unconstrained value")
        if not isinstance(schema, dict):
            raise UnsupportedSchema(f"schema {schema!r}")
        if "$ref" in schema:
            ref = schema["$ref"]
            if ref in self._resolving:
                raise UnsupportedSchema(f"recursive $ref {ref!r}")
            self._resolving.append(ref)
            try:
                return self.visit(self.ref(ref), name)
            finally:
                self._resolving.pop()
        # constants and enums without the space after them, as llama.cpp's converter
        if "const" in schema:
            lit, n = _json_literal(schema["const"])
            return lit, n
        if "enum" in schema:
            lits = [_json_literal(v) for v in schema["enum"]]
            body = "(" + " | ".join(lit for lit, _ in lits) + ")"
            return self.add(name, body), max(n for _, n in lits)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self._alternatives(schema[key], name)
        kind = schema.get("type")
        if isinstance(kind, list):
            return self._alternatives([{**schema, "type": k} for k in kind], name)
        unknown = set(schema) - _IGNORED - _KNOWN.get(str(kind), set())
        if unknown:
            raise UnsupportedSchema(f"{sorted(unknown)} in a {kind!r} schema")
        if kind == "object":
            return self._object(schema, name)
        if kind == "array":
            return self._array(schema, name)
        if kind == "string":
            return self._string(schema, name)
        if kind == "integer":
            return self._integer(schema, name)
        if kind == "number":
            return self._number(schema, name)
        if kind == "boolean":
            return '("true" | "false") space', 6
        if kind == "null":
            return '"null" space', 5
        raise UnsupportedSchema(f"type {kind!r}")

    def _alternatives(self, options: list[Any], name: str) -> tuple[str, int | None]:
        parts = [self.visit(o, f"{name}-{i}") for i, o in enumerate(options)]
        bounds = [n for _, n in parts]
        bound = None if any(n is None for n in bounds) else max(n for n in bounds if n is not None)
        return self.add(name, " | ".join(rule for rule, _ in parts)), bound

    def _object(self, schema: dict[str, Any], name: str) -> tuple[str, int | None]:
        props: dict[str, Any] = schema.get("properties", {})
        if not props and schema.get("additionalProperties", True) is not False:
            # a free-form mapping: the grammar would only ever produce "{}"
            raise UnsupportedSchema("an object without declared properties")
        required = set(schema.get("required", []))
        # required first, then optional, each in declared order (llama.cpp's converter)
        keys = [k for k in props if k in required] + [k for k in props if k not in required]
        bound: int | None = 4  # "{" space ... "}" space
        # tail(i, comma): the properties from i on, in order; comma: one was written before.
        tails: dict[tuple[int, bool], str] = {}
        values: list[str] = []
        for key in keys:
            rule, n = self.visit(props[key], f"{name}-{_rule_name(key)}")
            lit, key_bytes = _json_literal(key)
            values.append(f'{lit} space ":" space {rule}')
            if bound is not None:
                bound = None if n is None else bound + key_bytes + 3 + n  # key space ":" space
        if bound is not None and keys:
            bound += 2 * (len(keys) - 1)  # "," space between properties
        for i in range(len(keys), -1, -1):
            for comma in (False, True):
                if i == len(keys):
                    tails[(i, comma)] = ""
                    continue
                sep = '"," space ' if comma else ""
                take = f"{sep}{values[i]} {tails[(i + 1, True)]}".strip()
                if keys[i] in required:
                    body = take
                else:
                    rest = tails[(i + 1, comma)]
                    body = f"({take})" + (f" | {rest}" if rest else "")
                    if not rest:
                        body = f"({take})?"
                tails[(i, comma)] = self.add(f"{name}-tail{i}{'c' if comma else ''}", body)
        inner = tails[(0, False)] if keys else ""
        return self.add(name, f'"{{" space {inner} "}}" space'.replace("  ", " ")), bound

    def _array(self, schema: dict[str, Any], name: str) -> tuple[str, int | None]:
        items = schema.get("items")
        if not isinstance(items, dict):
            raise UnsupportedSchema("an array without an items schema")
        rule, n = self.visit(items, f"{name}-item")
        lo = int(schema.get("minItems", 0))
        hi = schema.get("maxItems")
        more = f'"," space {rule}'
        if hi is None:
            rest = f"({more})*" if lo <= 1 else f"({more}){{{lo - 1},}}"
            bound = None
        else:
            hi = int(hi)
            if hi == 0:
                return self.add(name, '"[" space "]" space'), 4
            rest = f"({more}){{{max(0, lo - 1)},{hi - 1}}}"
            bound = None if n is None else 4 + hi * (n + 2)
        seq = f"{rule} {rest}"
        body = f'"[" space {seq} "]" space' if lo >= 1 else f'"[" space ({seq})? "]" space'
        return self.add(name, body), bound

    def _string(self, schema: dict[str, Any], name: str) -> tuple[str, int | None]:
        self.needs_char = True
        lo = int(schema.get("minLength", 0))
        hi = schema.get("maxLength")
        if hi is None:
            reps = "char*" if lo == 0 else f"char{{{lo},}}"
            return self.add(name, f'"\\"" {reps} "\\"" space'), None
        hi = int(hi)
        reps = f"char{{{lo},{hi}}}" if hi > 0 else ""
        return self.add(name, f'"\\"" {reps} "\\"" space'), 3 + _CHAR_BYTES * hi

    def _integer(self, schema: dict[str, Any], name: str) -> tuple[str, int | None]:
        lo, hi = _bounds(schema, integer=True)
        lo = -(10**_MAX_DIGITS - 1) if lo is None else lo
        hi = 10**_MAX_DIGITS - 1 if hi is None else hi
        if lo > hi:
            raise UnsupportedSchema(f"an empty integer range {lo}..{hi}")
        body = "(" + " | ".join(_integer_alternatives(lo, hi)) + ") space"
        return self.add(name, body), max(len(str(lo)), len(str(hi))) + 1

    def _number(self, schema: dict[str, Any], name: str) -> tuple[str, int | None]:
        lo, hi = _bounds(schema, integer=False)
        frac = f'("." [0-9]{{1,{_MAX_DIGITS}}})?'
        if lo is not None and hi is not None and 0 <= lo <= hi:
            # integral part within [floor(lo), floor(hi)]; at an integer maximum only zeros
            # may follow the point. (A fractional bound is enforced to the integer only.)
            a, b = math.floor(lo), math.floor(hi)
            alts = []
            top = b - 1 if hi == b else b
            if a <= top:
                ints = " | ".join(_integer_alternatives(a, top))
                alts.append(f"({ints}) {frac}")
            if hi == b:
                alts.append(f'"{b}" ("." "0"{{1,{_MAX_DIGITS}}})?')
            body = "(" + " | ".join(alts) + ") space"
            return self.add(name, body), len(str(b)) + 1 + _MAX_DIGITS + 1
        sign = "" if lo is not None and lo >= 0 else '"-"? '
        digits = f"[0-9]{{0,{_MAX_DIGITS - 1}}}"
        body = f'{sign}("0" | [1-9] {digits}) {frac} space'
        return self.add(name, body), 1 + _MAX_DIGITS + 1 + _MAX_DIGITS + 1


_KNOWN = {
    "object": {"type", "properties", "required", "additionalProperties"},
    "array": {"type", "items", "minItems", "maxItems"},
    "string": {"type", "minLength", "maxLength"},
    "integer": {"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
    "number": {"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
    "boolean": {"type"},
    "null": {"type"},
}


def _bounds(schema: dict[str, Any], *, integer: bool) -> tuple[Any, Any]:
    lo = schema.get("minimum")
    hi = schema.get("maximum")
    if "exclusiveMinimum" in schema:
        x = schema["exclusiveMinimum"]
        lo = math.floor(x) + 1 if integer else x
    if "exclusiveMaximum" in schema:
        x = schema["exclusiveMaximum"]
        hi = math.ceil(x) - 1 if integer else x
    if integer:
        lo = None if lo is None else math.ceil(lo)
        hi = None if hi is None else math.floor(hi)
    return lo, hi


def _rule_name(key: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in key).strip("-")
    return cleaned or "p"


def _reachable(rules: dict[str, str]) -> dict[str, str]:
    """The rules reachable from ``root``, root first (unused tails are dropped)."""
    seen = ["root"]
    for name in seen:
        for word in re.findall(
            r"[A-Za-z0-9-]+", re.sub(r'"(?:\\.|[^"\\])*"|\[[^\]]*\]', " ", rules[name])
        ):
            if word in rules and word not in seen:
                seen.append(word)
    return {name: rules[name] for name in seen}


def schema_grammar(schema: dict[str, Any]) -> SchemaGrammar:
    """The grammar for ``schema`` and the byte bound of its answers.

    Raises :class:`UnsupportedSchema` for schemas outside the translated subset."""
    builder = _Builder(schema)
    rule, bound = builder.visit(schema, "root")
    if rule != "root":
        builder.rules["root"] = rule
    lines = [f"{name} ::= {body}" for name, body in _reachable(builder.rules).items()]
    if builder.needs_char:
        lines.append(_CHAR_RULE)
    lines.append(_SPACE_RULE)
    return SchemaGrammar("\n".join(lines) + "\n", bound)


def fix_string_chars(gbnf: str) -> str:
    """llama-cpp-python's converter output with its ``char`` rule replaced by one without
    control characters (the fallback for schemas :func:`schema_grammar` does not translate)."""
    lines = [_CHAR_RULE if line.startswith("char ::=") else line for line in gbnf.splitlines()]
    return "\n".join(lines) + "\n"
