"""The commons' typed actions; their JSON schemas constrain the model's answers."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from societas.typing import Action

__all__ = ["Harvest", "Reflect", "Speak", "harvest_model"]


class Harvest(Action):
    action_type: ClassVar[str] = "harvest"

    catch: int = Field(ge=0, le=1_000_000, description="tons of fish to catch this month")
    reason: str = Field(default="", max_length=120)


class Speak(Action):
    action_type: ClassVar[str] = "speak"

    message: str = Field(default="", max_length=200, description="empty to stay silent")


class Reflect(Action):
    action_type: ClassVar[str] = "reflect"

    reflection: str = Field(max_length=200, description="what to remember next month")


def harvest_model(capacity: int) -> type[Harvest]:
    """``Harvest`` with the catch bounded by the lake's capacity (so the schema says so)."""

    class BoundedHarvest(Harvest):
        catch: int = Field(ge=0, le=capacity, description="tons of fish to catch this month")

    BoundedHarvest.__name__ = "Harvest"
    BoundedHarvest.__qualname__ = "Harvest"
    return BoundedHarvest
