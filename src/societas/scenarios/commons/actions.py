"""The commons' typed actions; their JSON schemas constrain the model's answers.

The monthly take is one integer whose field name follows the resource's framing: ``catch``
(tons of fish), ``flocks`` (flocks of sheep on the pasture) or ``pallets`` (pallets of
widgets). Every take model is a ``Take`` whose ``amount`` the world reads, so the mechanics
do not depend on the framing.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

from pydantic import Field, create_model

from societas.typing import Action

__all__ = ["Graze", "Harvest", "Produce", "Reflect", "Speak", "Take", "harvest_model"]


class Take(Action):
    """What an agent takes from the commons this month (base of the three framings)."""

    action_type: ClassVar[str] = "harvest"
    amount_field: ClassVar[str] = "catch"

    # Subclasses declare the amount first, then ``reason``: the prompt lists fields in order.

    @property
    def amount(self) -> int:
        return int(getattr(self, self.amount_field))


class Harvest(Take):
    amount_field: ClassVar[str] = "catch"

    catch: int = Field(ge=0, le=1_000_000, description="tons of fish to catch this month")
    reason: str = Field(default="", max_length=120)


class Graze(Take):
    amount_field: ClassVar[str] = "flocks"

    flocks: int = Field(ge=0, le=1_000_000, description="flocks of sheep to take this month")
    reason: str = Field(default="", max_length=120)


class Produce(Take):
    amount_field: ClassVar[str] = "pallets"

    pallets: int = Field(ge=0, le=1_000_000, description="pallets of widgets to make this month")
    reason: str = Field(default="", max_length=120)


TAKE_MODELS: dict[str, type[Take]] = {"catch": Harvest, "flocks": Graze, "pallets": Produce}


class Speak(Action):
    action_type: ClassVar[str] = "speak"

    message: str = Field(default="", max_length=200, description="empty to stay silent")


class Reflect(Action):
    action_type: ClassVar[str] = "reflect"

    reflection: str = Field(max_length=200, description="what to remember next month")


def harvest_model(
    capacity: int,
    field: str = "catch",
    description: str = "tons of fish to catch this month",
) -> type[Take]:
    """The take model of a framing, its amount bounded by the capacity (so the schema says so).

    For the fishery this is ``Harvest`` with ``catch`` in [0, capacity], as it always was."""
    base = TAKE_MODELS[field]
    fields: dict[str, Any] = {field: (int, Field(ge=0, le=capacity, description=description))}
    model: type[Take] = cast("type[Take]", create_model(base.__name__, __base__=base, **fields))
    model.__qualname__ = base.__name__
    return model
