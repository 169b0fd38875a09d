"""The town's typed actions; their JSON schemas constrain the model's answers."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, create_model

from societas.typing import Action

__all__ = ["Act", "Talk", "act_model"]


class _CachedSchema(Action):
    """Schemas are built once per class: every decision's prompt and request carries one."""

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        cached: dict[str, Any] | None = cls.__dict__.get("_schema_cache")
        if cached is None:
            cached = cls.model_json_schema()
            setattr(cls, "_schema_cache", cached)  # noqa: B010 (a class attribute, not a field)
        return copy.deepcopy(cached)


class Act(_CachedSchema):
    """Where the agent goes for this tick and what it does there."""

    action_type: ClassVar[str] = "act"

    place: str = Field(description="a place on the map")
    activity: str = Field(default="", max_length=80, description="what you do there, briefly")


class Talk(_CachedSchema):
    """An utterance to everyone present; empty to stay silent."""

    action_type: ClassVar[str] = "talk"

    message: str = Field(default="", max_length=200, description="empty to stay silent")


def act_model(places: Sequence[str]) -> type[Act]:
    """``Act`` with ``place`` bounded to the map's place names (an enum in the schema)."""
    options = tuple(places)
    field: Any = (Literal[options], Field(description="a place on the map"))
    model: type[Act] = create_model("Act", __base__=Act, place=field)
    return model
