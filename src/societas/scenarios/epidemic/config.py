"""Configuration of the epidemic scenario: who lives in the city, the disease, behaviour, labour.

Every distribution the synthetic population is drawn from is a field here, with its source in
docs/scenarios/epidemic.md. Defaults describe New York City.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "AGE_BANDS",
    "ARCHETYPE_KEYS",
    "OCCUPATIONS",
    "EpidemicConfig",
    "Lockdown",
    "SectorShock",
    "Stimulus",
]

# AgentTorch's six age groups (agent_torch/models/covid/calibration/utils/llm.py, AgeGroup).
AGE_BANDS = ("0-19", "20-29", "30-39", "40-49", "50-64", "65+")
# none: not in the labour force (children, retired, others); essential: on-site work that
# cannot be done from home; office: work that can be done from home; hospitality: on-site
# retail, food and leisure work (the sector the 2020 shutdowns hit hardest).
OCCUPATIONS = ("none", "essential", "office", "hospitality")
ARCHETYPE_KEYS = ("age", "borough", "occupation", "trend", "income")
ArchetypeKey = Literal["age", "borough", "occupation", "trend", "income"]


class SectorShock(BaseModel):
    """From week ``week`` on, ``layoff`` of the employed in ``occupation`` lose their job at
    once (a shutdown), and that sector's weekly hiring is multiplied by ``hiring``."""

    model_config = ConfigDict(extra="forbid")

    week: int = Field(ge=0)
    occupation: Literal["essential", "office", "hospitality"]
    layoff: float = Field(default=0.0, ge=0.0, le=1.0)
    hiring: float = Field(default=1.0, ge=0.0, le=10.0)


def _hospitality() -> list[Literal["essential", "office", "hospitality"]]:
    return ["hospitality"]


class Lockdown(BaseModel):
    """From week ``week`` for ``weeks`` weeks: community and workplace contacts are multiplied
    by ``contacts`` and the on-site workplaces of the ``close`` sectors shut (their workers
    stay home, so the absence layoffs of the labour update apply to them)."""

    model_config = ConfigDict(extra="forbid")

    week: int = Field(ge=0)
    weeks: int = Field(default=8, ge=1, le=520)
    contacts: float = Field(default=0.5, ge=0.0, le=1.0)
    close: list[Literal["essential", "office", "hospitality"]] = Field(default_factory=_hospitality)


class Stimulus(BaseModel):
    """From week ``week`` for ``weeks`` weeks, wage support: the weekly probability that an
    absent on-site worker is laid off is multiplied by ``layoff`` and the weekly probability
    that an unemployed person finds a job by ``hiring``."""

    model_config = ConfigDict(extra="forbid")

    week: int = Field(ge=0)
    weeks: int = Field(default=8, ge=1, le=520)
    layoff: float = Field(default=0.3, ge=0.0, le=1.0)
    hiring: float = Field(default=1.0, ge=0.0, le=10.0)


def _all_keys() -> list[ArchetypeKey]:
    return ["age", "borough", "occupation", "trend", "income"]


def _nyc_boroughs() -> dict[str, float]:
    # 2020 Census, total population by county (docs/scenarios/epidemic.md).
    return {
        "Bronx": 1_472_654,
        "Brooklyn": 2_736_074,
        "Manhattan": 1_694_251,
        "Queens": 2_405_464,
        "Staten Island": 495_747,
    }


def _nyc_age_shares() -> list[float]:
    # Shares of the six AGE_BANDS in NYC: the NYC Health Department's population denominators
    # (July 2019 intercensal estimates), read from nychealth/coronavirus-data totals/by-group.csv
    # lines 2-12 as CASE_COUNT / CASE_RATE * 100,000; bands that straddle AgentTorch's are split
    # in proportion to their years (docs/scenarios/epidemic.md).
    return [0.2286, 0.1494, 0.1572, 0.1298, 0.1815, 0.1536]


def _nyc_household_sizes() -> list[float]:
    # Households of 1 .. 6 people. Size 1 (32.47%) and the mean (2.630) are AgentTorch's NYC
    # household table (agent_torch/populations/NYC/household.pkl, 262 NTAs); the shares of 2..6
    # are a geometric series fitted to that mean (the table has no size breakdown).
    return [0.3247, 0.2267, 0.1672, 0.1233, 0.0910, 0.0671]


class EpidemicConfig(BaseModel):
    """A city of ``agents`` people in households, an SEIR disease, isolation and work decisions
    by archetype (or a fixed rule), and employment. One tick is a week of ``days`` daily
    disease steps."""

    model_config = ConfigDict(extra="forbid")

    agents: int = Field(default=100_000, ge=10, le=20_000_000, description="number of people")
    weeks: int = Field(default=26, ge=1, le=520, description="weekly ticks to simulate")
    days: int = Field(default=7, ge=1, le=7, description="disease steps (days) per week")

    # -- population ----------------------------------------------------------------------
    boroughs: dict[str, float] = Field(
        default_factory=_nyc_boroughs, description="borough -> population (weights)"
    )
    age_shares: list[float] = Field(
        default_factory=_nyc_age_shares, min_length=6, max_length=6, description="by AGE_BANDS"
    )
    household_sizes: list[float] = Field(
        default_factory=_nyc_household_sizes,
        min_length=1,
        max_length=12,
        description="share of households of size 1, 2, ... (by household)",
    )
    # P(occupation | age band): rows AGE_BANDS, columns OCCUPATIONS.
    occupation_by_age: list[list[float]] = Field(
        default=[
            [0.92, 0.04, 0.01, 0.03],
            [0.25, 0.25, 0.30, 0.20],
            [0.18, 0.28, 0.40, 0.14],
            [0.20, 0.30, 0.38, 0.12],
            [0.30, 0.30, 0.30, 0.10],
            [0.85, 0.06, 0.06, 0.03],
        ],
        min_length=6,
        max_length=6,
    )

    # -- disease (SEIR, daily steps) -------------------------------------------------------
    mixing: Literal["structured", "homogeneous"] = Field(
        default="structured",
        description="structured: household, work and community contacts; homogeneous: "
        "everyone meets everyone at rate beta (the final-size check)",
    )
    beta: float = Field(default=0.12, ge=0.0, le=50.0, description="community transmission/day")
    beta_household: float = Field(
        default=0.10, ge=0.0, le=10.0, description="per infected household member per day"
    )
    beta_work: float = Field(default=0.15, ge=0.0, le=50.0, description="workplace transmission")
    # Per-borough multiplier of the community rate (what calibration fits); missing = 1.
    transmission: dict[str, float] = Field(default_factory=dict)
    latent_days: float = Field(default=5.0, ge=1.0, le=60.0, description="mean E -> I")
    infectious_days: float = Field(default=5.0, ge=1.0, le=60.0, description="mean I -> R")
    immunity_weeks: float = Field(
        default=0.0, ge=0.0, le=10_000.0, description="mean R -> S in weeks (0: lasting)"
    )
    # Relative susceptibility and contact rate by AGE_BANDS (sources in the docs).
    susceptibility: list[float] = Field(
        default=[0.52, 1.03, 1.03, 1.03, 1.15, 1.52], min_length=6, max_length=6
    )
    contacts: list[float] = Field(
        default=[2.0 / 3.0, 1.0, 1.0, 1.0, 1.0, 4.0 / 3.0], min_length=6, max_length=6
    )
    home_borough: float = Field(
        default=0.8, ge=0.0, le=1.0, description="share of community contacts in own borough"
    )
    initial_infected: float = Field(default=0.001, ge=0.0, le=1.0)
    initial_recovered: float = Field(default=0.0, ge=0.0, le=1.0)
    # Weekly multiplier of community and work contacts (e.g. from mobility data); missing
    # weeks (or an empty list) are 1.
    contact_scale: list[float] = Field(default_factory=list)

    # -- behaviour -----------------------------------------------------------------------
    behaviour: Literal["off", "heuristic", "archetypes", "clusters"] = Field(
        default="heuristic",
        description="off: nobody isolates, every worker works; heuristic: fixed rules; "
        "archetypes: one model call per group each week; clusters: one call per behaviour "
        "cluster (archetypes merged, see clusters) each week, answered as a transition "
        "distribution",
    )
    archetype_keys: list[ArchetypeKey] = Field(
        default_factory=_all_keys,
        description="what a group is keyed by",
    )
    clusters: int = Field(
        default=12,
        ge=1,
        le=1080,
        description="behaviour clusters (behaviour: clusters): at most this many model calls "
        "a week; archetypes with the same fixed-rule profile merge, then Ward linkage",
    )
    isolation_effect: float = Field(
        default=0.75,
        ge=0.0,
        le=1.0,
        description="share of community contacts an isolating person avoids",
    )
    trend_threshold: float = Field(
        default=0.1,
        ge=0.0,
        le=10.0,
        description="relative change of weekly cases that counts as rising or falling",
    )

    # -- labour --------------------------------------------------------------------------
    initial_unemployment: float = Field(default=0.04, ge=0.0, le=1.0)
    # Per-borough initial unemployment (e.g. the month before the run); missing = the above.
    initial_unemployment_by: dict[str, float] = Field(default_factory=dict)
    absence_layoff: float = Field(
        default=0.05, ge=0.0, le=1.0, description="P(losing the job) for a week of absence"
    )
    hiring: float = Field(
        default=0.04, ge=0.0, le=1.0, description="weekly P(finding a job) when unemployed"
    )
    shocks: list[SectorShock] = Field(default_factory=list)

    # -- interventions (counterfactuals) ---------------------------------------------------
    lockdown: Lockdown | None = Field(default=None, description="a lockdown, or none")
    stimulus: Stimulus | None = Field(default=None, description="wage support, or none")

    @model_validator(mode="after")
    def _check(self) -> EpidemicConfig:
        if not self.boroughs or any(v <= 0 for v in self.boroughs.values()):
            raise ValueError("boroughs needs at least one borough with a positive population")
        if len(self.boroughs) > 100:
            raise ValueError("at most 100 boroughs")
        for name in ("transmission", "initial_unemployment_by"):
            unknown = sorted(set(getattr(self, name)) - set(self.boroughs))
            if unknown:
                raise ValueError(f"{name} names unknown boroughs: {unknown}")
        if any(not 0.0 <= v <= 1.0 for v in self.initial_unemployment_by.values()):
            raise ValueError("initial_unemployment_by values must lie in [0, 1]")
        if any(v < 0.0 for v in self.transmission.values()):
            raise ValueError("transmission multipliers must be non-negative")
        for name, row in [
            ("age_shares", self.age_shares),
            ("household_sizes", self.household_sizes),
        ]:
            if any(x < 0 for x in row) or sum(row) <= 0:
                raise ValueError(f"{name} must be non-negative with a positive sum")
        for row in self.occupation_by_age:
            if len(row) != len(OCCUPATIONS) or any(x < 0 for x in row) or sum(row) <= 0:
                raise ValueError(
                    f"occupation_by_age rows need {len(OCCUPATIONS)} non-negative shares"
                )
        if self.initial_infected + self.initial_recovered > 1.0:
            raise ValueError("initial_infected + initial_recovered must not exceed 1")
        if any(x < 0 for x in self.contact_scale):
            raise ValueError("contact_scale must be non-negative")
        if len(set(self.archetype_keys)) != len(self.archetype_keys):
            raise ValueError("archetype_keys must not repeat")
        return self

    @property
    def borough_names(self) -> list[str]:
        return list(self.boroughs)
