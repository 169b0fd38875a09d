"""Who an agent is."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Persona"]


class Persona(BaseModel):
    """Static description of an agent; goes first in prompts so prefix caches hit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    name: str = Field(min_length=1, max_length=200)
    age: int | None = Field(default=None, ge=0, le=150)
    traits: tuple[str, ...] = ()
    goals: tuple[str, ...] = ()
    backstory: str = ""
    attributes: dict[str, str | int | float | bool] = Field(default_factory=dict)

    def describe(self, *, named: bool = True) -> str:
        """A short, stable text description for prompts. ``named=False`` leaves out the
        opening "You are NAME." (for rules that already say who the agent is; the age goes
        with the name)."""
        parts: list[str] = []
        if named:
            parts.append(f"You are {self.name}")
            if self.age is not None:
                parts[0] += f", {self.age} years old"
            parts[0] += "."
        if self.traits:
            parts.append("Traits: " + ", ".join(self.traits) + ".")
        if self.goals:
            parts.append("Goals: " + "; ".join(self.goals) + ".")
        if self.backstory:
            parts.append(self.backstory)
        return " ".join(parts)
