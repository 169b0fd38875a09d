"""Configuration of the wealth scenario (Boltzmann wealth model)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["WealthConfig"]


class WealthConfig(BaseModel):
    """N agents, each starting with ``initial_wealth`` units; each step every agent with
    wealth gives one unit to a uniformly random other agent."""

    model_config = ConfigDict(extra="forbid")

    agents: int = Field(default=100_000, ge=2, le=100_000_000, description="number of agents")
    steps: int = Field(default=100, ge=1, le=1_000_000, description="steps (ticks) to simulate")
    initial_wealth: int = Field(default=1, ge=1, le=1_000_000, description="units per agent")
    activation_rounds: int = Field(
        default=1,
        ge=1,
        le=1024,
        description="rounds per step (1: all give at once; more approaches Mesa's sequential "
        "random activation)",
    )
