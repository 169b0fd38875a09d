"""The donor game's typed actions; their JSON schemas constrain the model's answers."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from societas.typing import Action

__all__ = ["Donate", "DonateOrPunish", "WriteStrategy"]


class WriteStrategy(Action):
    action_type: ClassVar[str] = "strategy"

    strategy: str = Field(
        max_length=600,
        description="one sentence that starts: My strategy will be",
    )


class Donate(Action):
    action_type: ClassVar[str] = "donate"

    amount: float = Field(
        ge=0.0,
        allow_inf_nan=False,
        description="units to give up, between 0 and what you have",
    )
    reason: str = Field(default="", max_length=120)


class DonateOrPunish(Action):
    """The costly-punishment variant: either a gift or a punishment, as in the paper."""

    action_type: ClassVar[str] = "donate_or_punish"

    choice: Literal["donate", "punish"] = Field(
        description="donate: they receive a multiple of the amount; punish: they lose one"
    )
    amount: float = Field(
        ge=0.0,
        allow_inf_nan=False,
        description="units to give up, between 0 and what you have",
    )
    reason: str = Field(default="", max_length=120)
