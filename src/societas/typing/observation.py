"""What one agent perceives in one phase of one tick."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Observation"]


class Observation(BaseModel):
    """Text for the model plus structured fields for rules and scripted policies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent_id: str
    tick: int = Field(ge=0)
    phase: str
    text: str
    fields: dict[str, Any] = Field(default_factory=dict)
