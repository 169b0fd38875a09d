"""The ``test`` backend answers every JSON schema pydantic emits validly and deterministically.

Validity is checked by pydantic itself (``model_validate_json`` on the model the schema came
from), over hypothesis-generated models and over every action model the package defines.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import pkgutil
from typing import Annotated, Any, Literal, Optional, Union

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, create_model

import societas
from societas.llm.registry import BackendOptions, available_backends, create_backend
from societas.testing.schema_model import SchemaFillError, TestModel, fill_schema
from societas.typing import Action, ChatMessage, LLMRequest

SEEDS = st.integers(min_value=0, max_value=2**31 - 1)
PATTERNS = [
    r"^[A-Za-z0-9_.\-]+$",
    r"^[a-z]{3,8}$",
    r"\d{2}-\d{2}",
    r"^(yes|no|maybe)$",
    r"^[A-Z][a-z]+ [A-Z]\.$",
    r"^\w+@\w+\.org$",
    r"^[^\s]{2,5}$",
]


@st.composite
def _int_field(draw: st.DrawFn) -> Any:
    low = draw(st.one_of(st.none(), st.integers(-1000, 1000)))
    width = draw(st.integers(2, 500))
    high = draw(st.one_of(st.none(), st.just(None if low is None else low + width)))
    if low is None and high is None and draw(st.booleans()):
        high = draw(st.integers(-1000, 1000))
    kw: dict[str, Any] = {}
    if low is not None:
        kw["gt" if draw(st.booleans()) else "ge"] = low
    if high is not None:
        kw["lt" if draw(st.booleans()) else "le"] = high
    if draw(st.booleans()) and not kw:
        kw["multiple_of"] = draw(st.integers(1, 7))
    return Annotated[int, Field(**kw)]


@st.composite
def _float_field(draw: st.DrawFn) -> Any:
    low = draw(st.one_of(st.none(), st.floats(-1e6, 1e6)))
    width = draw(st.floats(1e-3, 1e4))
    kw: dict[str, Any] = {"allow_inf_nan": False}
    if low is not None:
        kw["gt" if draw(st.booleans()) else "ge"] = low
        if draw(st.booleans()):
            kw["lt" if draw(st.booleans()) else "le"] = low + width
    elif draw(st.booleans()):
        kw["le"] = draw(st.floats(-1e6, 1e6))
    return Annotated[float, Field(**kw)]


@st.composite
def _str_field(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 3)) == 0:
        return Annotated[str, Field(pattern=draw(st.sampled_from(PATTERNS)))]
    low = draw(st.integers(0, 60))
    high = low + draw(st.integers(0, 300))
    kw: dict[str, Any] = {}
    if draw(st.booleans()):
        kw["min_length"] = low
    if draw(st.booleans()):
        kw["max_length"] = high
    return Annotated[str, Field(**kw)]


_NAMES = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6).map(lambda s: f"f_{s}")
_WORDS = st.text("abcdefghij", min_size=1, max_size=5)


def _types(depth: int) -> st.SearchStrategy[Any]:
    leaves: list[st.SearchStrategy[Any]] = [
        _int_field(),
        _float_field(),
        _str_field(),
        st.just(bool),
        st.lists(_WORDS, min_size=1, max_size=5, unique=True).map(
            lambda words: Literal[tuple(words)]
        ),
        st.integers(0, 5).map(lambda n: Literal[n]),
        st.just(dict[str, int]),
    ]
    if depth <= 0:
        return st.one_of(leaves)
    inner = _types(depth - 1)

    @st.composite
    def _list(draw: st.DrawFn) -> Any:
        low = draw(st.integers(0, 4))
        kw: dict[str, Any] = {"min_length": low}
        if draw(st.booleans()):
            kw["max_length"] = low + draw(st.integers(0, 4))
        return Annotated[list[draw(inner)], Field(**kw)]  # type: ignore[misc]

    optional = inner.map(lambda kind: Optional[kind])  # noqa: UP045 - built at run time
    return st.one_of(*leaves, _list(), optional, _models(depth - 1))


@st.composite
def _models(draw: st.DrawFn, depth: int = 2) -> type[BaseModel]:
    names = draw(st.lists(_NAMES, min_size=1, max_size=6, unique=True))
    fields: dict[str, Any] = {}
    for name in names:
        kind = draw(_types(depth))
        if draw(st.integers(0, 2)) == 0:  # optional: a default the answer may omit
            fields[name] = (Optional[kind], None)  # noqa: UP045 - built at run time
        else:
            fields[name] = (kind, ...)
    model: type[BaseModel] = create_model(
        f"M{draw(st.integers(0, 10**6))}", __config__=ConfigDict(extra="forbid"), **fields
    )
    return model


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=_models(), seed=SEEDS)
def test_generated_models_get_valid_answers(model: type[BaseModel], seed: int) -> None:
    schema = model.model_json_schema()
    text = json.dumps(fill_schema(schema, seed))
    model.model_validate_json(text)  # raises if the answer is invalid
    assert json.dumps(fill_schema(schema, seed)) == text  # a function of the seed


def _package_action_models() -> list[type[Action]]:
    """Every ``Action`` subclass in the package: scenarios, minds, surveys."""
    for info in pkgutil.walk_packages(societas.__path__, "societas."):
        if ".cli" in info.name or info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except ImportError:  # optional extras (ray, torch) absent in this install
            continue
    found: list[type[Action]] = []
    todo = list(Action.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith("societas.") and "model_fields" in dir(cls):
            found.append(cls)
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _dynamic_action_models() -> list[type[BaseModel]]:
    """Action models built at run time from config: the town's map, survey questions."""
    from societas.engine.protocol import SurveyQuestion, answer_model
    from societas.scenarios.town.actions import act_model

    questions = [
        SurveyQuestion(id="trust", text="Trust?", type="likert", scale=7),
        SurveyQuestion(id="stock", text="Fish?", type="numeric", min=-2.5, max=40),
        SurveyQuestion(id="vote", text="Vote?", type="choice", options=["a", "b c", "d"]),
        SurveyQuestion(id="why", text="Why?", type="text"),
    ]
    return [act_model(["cafe", "park", "home of Ann"]), *map(answer_model, questions)]


ACTION_MODELS: list[type[BaseModel]] = [*_package_action_models(), *_dynamic_action_models()]


def test_every_built_in_scenario_contributes_action_models() -> None:
    modules = {m.__module__.split(".")[2] for m in ACTION_MODELS if ".scenarios." in m.__module__}
    assert {"commons", "donor", "social", "town", "wealth"} <= modules
    assert len(ACTION_MODELS) >= 20


@pytest.mark.parametrize("model", ACTION_MODELS, ids=lambda m: f"{m.__module__}.{m.__name__}")
@settings(max_examples=40, deadline=None)
@given(seed=SEEDS)
def test_package_action_models_get_valid_answers(model: type[BaseModel], seed: int) -> None:
    schema = model.json_schema() if issubclass(model, Action) else model.model_json_schema()
    model.model_validate_json(json.dumps(fill_schema(schema, seed)))


def _request(schema: dict[str, Any] | None, seed: int) -> LLMRequest:
    return LLMRequest(
        messages=(ChatMessage(role="user", content="What now?"),),
        json_schema=schema,
        seed=seed,
        actor="ann",
    )


def test_the_backend_is_registered_by_entry_point_and_deterministic() -> None:
    assert "test" in available_backends()
    backend = create_backend("test", BackendOptions())
    assert isinstance(backend, TestModel)
    assert backend.model_id == "test"
    assert create_backend("test:fake-7b", BackendOptions()).model_id == "fake-7b"

    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}

    async def answers() -> list[str]:
        return [(await backend.generate(_request(schema, s))).text for s in (1, 2, 1, 3)]

    texts = asyncio.run(answers())
    assert texts[0] == texts[2]
    assert len(set(texts)) >= 2  # the seed changes the answer
    free = asyncio.run(backend.generate(_request(None, 5)))
    assert free.text == asyncio.run(backend.generate(_request(None, 5))).text
    assert 0 < len(free.text) < 200
    assert free.completion_tokens > 0
    assert free.prompt_tokens > 0


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        ({"type": "integer", "minimum": 5, "maximum": 4}, "no integer"),
        ({"type": "string", "minLength": 9, "maxLength": 3}, "minLength 9 > maxLength 3"),
        ({"$ref": "#/$defs/Missing"}, "points nowhere"),
        ({"type": "tuple"}, "unknown type"),
        ({"type": "string", "pattern": r"(?<=a)b"}, "matching"),
    ],
)
def test_unsatisfiable_schemas_raise_a_clear_error(schema: dict[str, Any], where: str) -> None:
    with pytest.raises(SchemaFillError, match=where):
        fill_schema(schema, 0)


class _Cat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["cat"]
    lives: int = Field(ge=1, le=9)


class _Dog(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["dog"]
    name: str = Field(min_length=2, max_length=12)


class _Tree(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(max_length=5)
    children: list[_Tree] = Field(default_factory=list, max_length=3)


class _Shapes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pet: Annotated[Union[_Cat, _Dog], Field(discriminator="kind")]  # noqa: UP007
    pets: list[_Cat | _Dog] = Field(min_length=1, max_length=4)
    pair: tuple[int, str]
    tags: set[Literal["a", "b", "c"]] = Field(min_length=2)
    index: dict[str, _Cat]
    tree: _Tree
    ratio: float = Field(gt=0.0, lt=1e-3)
    step: float = Field(multiple_of=0.25, ge=-1, le=1)
    nothing: None = None


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_unions_tuples_sets_maps_and_recursion(seed: int) -> None:
    schema = _Shapes.model_json_schema()
    _Shapes.model_validate_json(json.dumps(fill_schema(schema, seed)))
