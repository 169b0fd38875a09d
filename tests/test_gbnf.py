"""The JSON-schema -> GBNF converter of the local backend (no model needed)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from action_schemas import builtin_action_models, longest_answer
from societas.llm.gbnf import (
    SchemaGrammar,
    UnsupportedSchema,
    _integer_alternatives,
    fix_string_chars,
    schema_grammar,
)
from societas.typing import Action


def _as_regex(alternatives: list[str]) -> re.Pattern[str]:
    """The digit sequences (``"d"`` literals and ``[a-b]`` classes) as one Python regex."""
    parts = []
    for seq in alternatives:
        tokens = re.findall(r'"[^"]*"|\[[^\]]*\]', seq)
        parts.append("".join(re.escape(t[1:-1]) if t.startswith('"') else t for t in tokens))
    return re.compile("(?:" + "|".join(parts) + ")")


@given(
    st.integers(-1500, 1500),
    st.integers(0, 3000),
    st.lists(st.integers(-5000, 5000), min_size=1, max_size=40),
)
def test_integer_rules_match_exactly_the_range(lo: int, width: int, probes: list[int]) -> None:
    hi = lo + width
    pattern = _as_regex(_integer_alternatives(lo, hi))
    for x in [*probes, lo, hi, lo - 1, hi + 1, 0]:
        assert bool(pattern.fullmatch(str(x))) == (lo <= x <= hi), (lo, hi, x)
    assert not pattern.fullmatch("-0")
    assert not pattern.fullmatch("007")


@pytest.mark.parametrize("model", builtin_action_models(), ids=lambda m: m.__name__)
def test_every_builtin_action_schema_is_translated_and_bounded(model: type[Action]) -> None:
    built = schema_grammar(model.json_schema())
    assert isinstance(built, SchemaGrammar)
    assert built.gbnf.startswith("root ::= ")
    assert built.max_bytes is not None
    # strings never admit raw control characters
    if "char" in built.gbnf:
        assert r'char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u"' in built.gbnf
    # the longest answer the grammar admits is a valid action within the bound
    text = longest_answer(model.json_schema())
    model.model_validate_json(text)
    assert len(text.encode("utf-8")) <= built.max_bytes


def test_string_bound_counts_six_bytes_a_character() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"m": {"type": "string", "maxLength": 10}},
        "required": ["m"],
    }
    built = schema_grammar(schema)
    # { "m" : "<10 escapes of 6 bytes>" } with every optional space
    assert built.max_bytes == len('{ "m" : "" } ') + 60
    assert len(longest_answer(schema).encode("utf-8")) == built.max_bytes


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "pattern": "^a+$"},
        {"type": "object", "properties": {"x": {}}},
        {"$ref": "#/$defs/Missing"},
        {"type": "object", "additionalProperties": True},
    ],
)
def test_unsupported_schemas_are_reported(schema: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedSchema):
        schema_grammar(schema)


def test_enum_literals_are_escaped() -> None:
    built = schema_grammar({"enum": ['say "hi"', "back\\slash"]})
    assert r'"\"say \\\"hi\\\"\""' in built.gbnf
    assert built.max_bytes == len('"back\\\\slash"')  # no space after an enum


def test_fallback_char_rule_is_replaced() -> None:
    text = 'root ::= string\nchar ::= [^"\\\\] | "\\\\" ["\\\\/bfnrt]\n'
    fixed = fix_string_chars(text)
    assert r"\x00-\x1F" in fixed
    assert fixed.count("char ::=") == 1
