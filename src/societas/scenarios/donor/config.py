"""Configuration of the donor game scenario (Vallinder and Hughes 2024)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DonorConfig", "Schedule"]

# authors_code: the notebook of aronvallinder/llm-donor-game (the code behind the paper's
# figures); paper_text: this scenario's reading of the paper's text before 0.2.
Schedule = Literal["authors_code", "paper_text"]


class DonorConfig(BaseModel):
    """The Donor Game with cultural evolution: generations of agents, the richer half survive.

    Defaults are the paper's (arXiv 2412.10270, section 3 and Figure 1); see
    docs/scenarios/donor.md for the sources of each figure.
    """

    model_config = ConfigDict(extra="forbid")

    schedule: Schedule = Field(
        default="authors_code",
        description=(
            "authors_code: the authors' notebook (roles ABABAB then BABABA, pairs meet twice, "
            "selection on the second game, newcomers see the strategies only, an invalid "
            "amount copies the recipient's trace); paper_text: this scenario before 0.2"
        ),
    )
    agents: int = Field(default=12, ge=2, le=1000, description="agents per generation (even)")
    generations: int = Field(default=10, ge=1, le=1000, description="generations to run")
    rounds: int = Field(default=12, ge=1, le=1000, description="rounds per game")
    games_per_generation: int = Field(
        default=2,
        ge=1,
        le=2,
        description="games per generation; the second reverses every pairing (roles reset)",
    )
    initial_endowment: float = Field(
        default=10.0, gt=0.0, le=1e9, description="units each agent holds at the start of a game"
    )
    multiplier: float = Field(
        default=2.0, ge=0.0, le=100.0, description="the recipient receives this times the gift"
    )
    trace_length: int = Field(
        default=3, ge=0, le=50, description="past donations in the recipient's trace (recursive)"
    )
    punishment: bool = Field(default=False, description="allow costly punishment instead of a gift")
    punishment_loss: float = Field(
        default=2.0, ge=0.0, le=100.0, description="a punishment costing x takes this times x"
    )

    @field_validator("agents")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError(
                f"an even number (half donors, half recipients each round), got {value}"
            )
        return value

    @property
    def survivors(self) -> int:
        """How many agents survive a generation: the top half by resources."""
        return self.agents // 2

    @property
    def newcomers(self) -> int:
        """How many new agents join each generation after the first."""
        return self.agents - self.survivors

    @property
    def ticks_per_generation(self) -> int:
        return self.rounds * self.games_per_generation

    def agent_id(self, generation: int, k: int) -> str:
        """Stable id of the k-th agent (1-based) created in a generation (1-based)."""
        return f"g{generation}_a{k}"

    def agent_name(self, generation: int, k: int) -> str:
        """The paper's naming: generation, then index."""
        return f"{generation}_{k}"

    def all_agent_ids(self) -> list[str]:
        """Every agent that can ever live in a run, in order of creation."""
        ids = [self.agent_id(1, k + 1) for k in range(self.agents)]
        for g in range(2, self.generations + 1):
            ids += [self.agent_id(g, k + 1) for k in range(self.newcomers)]
        return ids
