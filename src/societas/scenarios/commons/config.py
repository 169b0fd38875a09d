"""Configuration of the commons (GovSim fishery) scenario."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["DEFAULT_NAMES", "CommonsConfig", "Disposition"]

# GovSim's five fishers (Piatti et al. 2024).
DEFAULT_NAMES = ("John", "Kate", "Jack", "Emma", "Luke")

Disposition = Literal["cooperative", "adaptive", "greedy"]


class CommonsConfig(BaseModel):
    """GovSim fishery: N fishers share a lake that doubles each month up to its capacity."""

    model_config = ConfigDict(extra="forbid")

    agents: int = Field(default=5, ge=1, le=1000, description="number of fishers")
    months: int = Field(default=12, ge=1, le=1200, description="months to simulate")
    capacity: int = Field(default=100, ge=1, le=10**9, description="lake capacity (tons)")
    initial_stock: int = Field(default=100, ge=0, le=10**9, description="stock at month 1")
    regen_factor: float = Field(
        default=2.0, ge=1.0, le=100.0, description="stock multiplier after each harvest"
    )
    collapse_threshold: int = Field(
        default=5, ge=0, description="the lake collapses when the stock falls below this"
    )
    allocation: Literal["stochastic", "proportional"] = Field(
        default="stochastic", description="how catches are cut when demand exceeds the stock"
    )
    universalization: bool = Field(
        default=False, description="GovSim's universalization hint in the harvest prompt"
    )
    communication: bool = Field(default=True, description="hold the group discussion")
    discussion_rounds: int = Field(default=2, ge=0, le=20, description="rounds of discussion")
    names: list[str] | None = Field(
        default=None, description="fisher names (default: GovSim's, then Fisher6, ...)"
    )
    dispositions: list[Disposition] = Field(
        default=["cooperative", "cooperative", "adaptive", "cooperative", "greedy"],
        min_length=1,
        description="behaviour of each fisher under the scripted model (cycled)",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.initial_stock > self.capacity:
            raise ValueError(
                f"initial_stock ({self.initial_stock}) must not exceed capacity ({self.capacity})"
            )
        if self.names is not None and len(self.names) != self.agents:
            raise ValueError(f"names has {len(self.names)} entries but agents is {self.agents}")
        return self

    def fisher_names(self) -> list[str]:
        if self.names is not None:
            return list(self.names)
        names = list(DEFAULT_NAMES[: self.agents])
        names += [f"Fisher{i + 1}" for i in range(len(names), self.agents)]
        return names

    def threshold(self, stock: int) -> int:
        """GovSim's sustainable per-agent catch f(t) = floor(floor(stock/2)/N).

        With a doubling lake, half the stock is what can be taken so that the lake refills.
        For other regeneration factors r the sustainable total is stock * (1 - 1/r).
        """
        sustainable_total = int(stock - stock / self.regen_factor)
        return sustainable_total // self.agents
