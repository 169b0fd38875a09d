"""Typed decisions. Each scenario subclasses ``Action``; its JSON schema constrains the model."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

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


_SCHEMAS: dict[type[Action], dict[str, Any]] = {}
