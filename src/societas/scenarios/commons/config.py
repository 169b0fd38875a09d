"""Configuration of the commons (GovSim fishery, pasture, pollution) scenario."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from societas.scenarios.commons.framing import Resource, framing_for

__all__ = ["DEFAULT_NAMES", "CommonsConfig", "Disposition", "Newcomer", "Protocol"]

# GovSim's five agents (Piatti et al. 2024), the same in all three scenarios.
DEFAULT_NAMES = ("John", "Kate", "Jack", "Emma", "Luke")

Disposition = Literal["cooperative", "adaptive", "greedy"]

# govsim: the semantics of GovSim's code (see govsim.py and docs/scenarios/commons.md);
# societas: this scenario's own protocol before 0.2 (kept so that older runs reproduce).
Protocol = Literal["govsim", "societas"]


class Newcomer(BaseModel):
    """GovSim's "newcomer" perturbation: an outsider with an exploitative intention joins.

    GovSim (repository giorgiopiatti/GovSim, ``conf/experiment/*_perturbation_outsider.yaml``)
    starts 4 agents with the "traditional" persona and inserts the outsider (persona_4, Luke)
    when round 3 (0-based) begins, i.e. from month 4 of 15; the outsider's persona text is the
    framing's ``newcomer_backstory``. Before its join month the newcomer neither observes nor
    acts; from then on it is an ordinary agent.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    join_month: int = Field(default=4, ge=1, le=1200, description="first month it takes part")
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="default: the next of GovSim's names (Luke after four agents)",
    )
    backstory: str | None = Field(
        default=None, max_length=2000, description="default: GovSim's outsider persona"
    )
    traits: tuple[str, ...] = ()
    disposition: Disposition = Field(
        default="greedy", description="its behaviour under the scripted model"
    )
    local_backstory: bool = Field(
        default=True, description="give the other agents GovSim's 'traditional' persona"
    )


class CommonsConfig(BaseModel):
    """GovSim's commons: N agents share a stock that doubles each month up to its capacity.

    ``resource`` picks the framing (fishery, pasture, pollution); the mechanics are the same."""

    model_config = ConfigDict(extra="forbid")

    protocol: Protocol = Field(
        default="govsim",
        description=(
            "govsim: GovSim's code (no horizon or collapse rule told, mayor-led discussion, "
            "agreed limit kept as memory, collapse checked after the month's reflection); "
            "societas: this scenario's protocol before 0.2"
        ),
    )
    resource: Resource = Field(
        default="fishery", description="GovSim framing: fishery, pasture or pollution"
    )
    agents: int = Field(default=5, ge=1, le=1000, description="number of fishers")
    months: int = Field(default=12, ge=1, le=1200, description="months to simulate")
    capacity: int = Field(default=100, ge=1, le=10**9, description="lake capacity (tons)")
    initial_stock: int = Field(
        default=100, ge=0, le=10**9, validate_default=True, description="stock at month 1"
    )
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
        default=False,
        description=(
            "GovSim's universalization sentence (govsim: seen all month, at the harvest, the "
            "discussion and the reflection; societas: in the harvest prompt only)"
        ),
    )
    communication: bool = Field(
        default=True,
        description=(
            "hold the group discussion (govsim: without it, nobody learns the others' catches)"
        ),
    )
    discussion_rounds: int = Field(
        default=2, ge=0, le=20, description="societas protocol: rounds of discussion"
    )
    discussion_steps: int = Field(
        default=10,
        ge=1,
        le=100,
        description=(
            "govsim protocol: utterances in a discussion, the mayor's report included "
            "(GovSim's max_conversation_steps, 10)"
        ),
    )
    names: list[str] | None = Field(
        default=None, description="fisher names (default: GovSim's, then Fisher6, ...)"
    )
    dispositions: list[Disposition] = Field(
        default=["cooperative", "cooperative", "adaptive", "cooperative", "greedy"],
        min_length=1,
        description="behaviour of each fisher under the scripted model (cycled)",
    )
    newcomer: Newcomer | None = Field(
        default=None, description="GovSim's greedy newcomer joining at a given month"
    )

    @field_validator("initial_stock")
    @classmethod
    def _stock_within_capacity(cls, value: int, info: ValidationInfo) -> int:
        capacity = info.data.get("capacity")
        if capacity is not None and value > capacity:
            raise ValueError(f"at most the capacity ({capacity})")
        return value

    @field_validator("names")
    @classmethod
    def _one_name_per_agent(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        agents = info.data.get("agents")
        if value is not None and agents is not None and len(value) != agents:
            raise ValueError(f"{agents} names, one per agent (got {len(value)})")
        return value

    @model_validator(mode="after")
    def _newcomer_joins_in_time(self) -> Self:
        if self.newcomer is not None and self.newcomer.join_month > self.months:
            raise ValueError(
                f"newcomer.join_month must be at most months ({self.months}), "
                f"got {self.newcomer.join_month}"
            )
        return self

    def fisher_names(self) -> list[str]:
        if self.names is not None:
            return list(self.names)
        prefix = framing_for(self.resource, self.capacity).name_prefix
        names = list(DEFAULT_NAMES[: self.agents])
        names += [f"{prefix}{i + 1}" for i in range(len(names), self.agents)]
        return names

    def newcomer_name(self) -> str:
        """The newcomer's name: its own, else the name the next agent would get."""
        if self.newcomer is not None and self.newcomer.name is not None:
            return self.newcomer.name
        if self.names is None and self.agents < len(DEFAULT_NAMES):
            return DEFAULT_NAMES[self.agents]
        prefix = framing_for(self.resource, self.capacity).name_prefix
        return f"{prefix}{self.agents + 1}"

    def threshold(self, stock: int, agents: int | None = None) -> int:
        """GovSim's sustainable per-agent take f(t) = floor(floor(stock/2)/N).

        With a doubling stock, half the stock is what can be taken so that it refills.
        For other regeneration factors r the sustainable total is stock * (1 - 1/r).
        N is ``agents`` when given (the population taking part that month), else the setting.
        Under ``protocol: govsim`` the world passes the initial number of agents: GovSim never
        updates its ``num_agents`` when the newcomer joins (``perturbation_env.py`` lines
        145-148 and 168-171), so the newcomer runs divide by 4 throughout.
        """
        sustainable_total = int(stock - stock / self.regen_factor)
        return sustainable_total // max(1, self.agents if agents is None else agents)
