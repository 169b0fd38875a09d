"""Typed decisions. Each scenario subclasses ``Action``; its JSON schema constrains the model."""

from __future__ import annotations

import copy
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, create_model

__all__ = ["Action"]


class Action(BaseModel):
    """Base of every action model. Subclasses set ``action_type`` and their fields."""

    model_config = ConfigDict(extra="forbid")

    action_type: ClassVar[str] = "action"

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON schema handed to the model (grammar or ``response_format``).

        Built once per class (pydantic rebuilds it on every call, which showed up as a third
        of a generative-agent run's time); callers get their own copy.
        """
        cached = _SCHEMAS.get(cls)
        if cached is None:
            cached = _SCHEMAS[cls] = cls.model_json_schema()
        return copy.deepcopy(cached)

    @classmethod
    def with_bounds(cls, **ranges: tuple[float | None, float | None]) -> type[Self]:
        """This action with numeric fields bounded for a world's current settings:
        ``Take.with_bounds(amount=(0, stock))`` (the schema the model sees says so). One
        subclass per distinct set of bounds, so schemas stay cached."""
        key = (cls, tuple(sorted(ranges.items())))
        made = _BOUNDED.get(key)
        if made is None:
            fields: dict[str, Any] = {}
            for name, (low, high) in ranges.items():
                info = cls.model_fields.get(name)
                if info is None or info.annotation not in (int, float):
                    raise TypeError(f"{cls.__name__}.{name} is not a numeric field")
                fields[name] = (
                    info.annotation,
                    Field(
                        default=info.default,
                        ge=low,
                        le=high,
                        description=info.description,
                    ),
                )
            made = _BOUNDED[key] = create_model(cls.__name__, __base__=cls, **fields)
        return made  # type: ignore[return-value]


_SCHEMAS: dict[type[Action], dict[str, Any]] = {}
_BOUNDED: dict[tuple[type[Action], tuple[Any, ...]], type[Action]] = {}
