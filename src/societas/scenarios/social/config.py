"""Configuration of the social scenario: users, follow graph, feed, states, seeds, modes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ACTIVITY_LEVELS",
    "AGE_GROUPS",
    "LEANINGS",
    "TOPICS",
    "EmotionLevels",
    "FeedSettings",
    "SeedPost",
    "SocialConfig",
]

# Topic categories of the Twitter15/16 rumour cascades as labelled in OASIS's all_topics.csv.
TOPICS = (
    "Politics",
    "Entertainment",
    "Terrorism & War",
    "Science & Technology",
    "Business",
    "Urban Legends",
    "Health",
    "Natural Disasters",
    "Education",
    "Others",
)
AGE_GROUPS = ("18-29", "30-49", "50-64", "65+")
LEANINGS = ("left", "center", "right")
ACTIVITY_LEVELS = ("low", "medium", "high")

MAX_AGENTS_MODE = 200  # every user a full mind: beyond this, use mode: archetype


class EmotionLevels(BaseModel):
    """Emotional charge of a post, each in [0, 1]."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    anxiety: float = Field(default=0.0, ge=0.0, le=1.0)
    anger: float = Field(default=0.0, ge=0.0, le=1.0)


# Default charge of seeded rumours by label. Vosoughi, Roy & Aral (2018, Science 359:1146)
# found replies to false stories expressed more fear, disgust and surprise, and replies to true
# ones more sadness, anticipation, joy and trust; we encode that as higher anxiety and anger for
# false rumours. An assumption of this scenario, stated in docs/scenarios/social.md.
FALSE_RUMOUR_EMOTION = EmotionLevels(anxiety=0.7, anger=0.5)
TRUE_RUMOUR_EMOTION = EmotionLevels(anxiety=0.35, anger=0.15)


class SeedPost(BaseModel):
    """A post injected at a tick (a rumour, true or false, or any other message)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1, max_length=1000)
    label: Literal["true", "false", "unverified"] = "unverified"
    topic: str = Field(default="Politics", description="one of the topic categories")
    tick: int = Field(default=0, ge=0, description="tick at which the post appears")
    author: int | Literal["hub", "random"] = Field(
        default="hub", description="user index, the most followed user, or a random user"
    )
    stance: float = Field(default=1.0, ge=-1.0, le=1.0, description="stance toward the topic")
    emotion: EmotionLevels | None = Field(
        default=None, description="emotional charge (default: by label, see config.py)"
    )

    @field_validator("topic")
    @classmethod
    def _known_topic(cls, value: str) -> str:
        if value not in TOPICS:
            raise ValueError(f"one of {', '.join(TOPICS)}")
        return value

    def charge(self) -> EmotionLevels:
        if self.emotion is not None:
            return self.emotion
        if self.label == "false":
            return FALSE_RUMOUR_EMOTION
        if self.label == "true":
            return TRUE_RUMOUR_EMOTION
        return EmotionLevels(anxiety=0.5, anger=0.3)


class FeedSettings(BaseModel):
    """The recommender's candidate pool and scoring weights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recommender: str = Field(default="mixed", description="a registered recommender")
    size: int = Field(default=5, ge=1, le=50, description="posts shown per active user")
    followee_sample: int = Field(
        default=10, ge=0, le=200, description="followees sampled per user for candidates"
    )
    posts_per_author: int = Field(
        default=2, ge=1, le=20, description="latest posts kept per author"
    )
    popular_slots: int = Field(
        default=5, ge=0, le=100, description="globally popular posts added to every pool"
    )
    max_age: int = Field(default=4, ge=0, description="posts older than this (ticks) drop out")
    half_life: float = Field(default=2.0, gt=0, description="recency half-life in ticks")
    w_recency: float = Field(default=1.0, ge=0)
    w_popularity: float = Field(default=1.0, ge=0)
    w_followed: float = Field(default=1.0, ge=0)
    w_interest: float = Field(default=0.5, ge=0)


class SocialConfig(BaseModel):
    """A microblog (OASIS-style, Yang et al. 2024) with S3-style emotion and attitude states."""

    model_config = ConfigDict(extra="forbid")

    agents: int = Field(default=50, ge=2, le=10_000_000, description="number of users")
    ticks: int = Field(default=10, ge=1, le=10_000, description="ticks (hours) to simulate")
    minutes_per_tick: float = Field(
        default=60.0,
        gt=0.0,
        le=1440.0,
        description=(
            "minutes one tick stands for in propagation series (OASIS: 3); activation "
            "probabilities stay per tick"
        ),
    )
    mode: Literal["agents", "archetype"] = Field(
        default="agents",
        description=f"agents: every user a full mind (at most {MAX_AGENTS_MODE}); "
        "archetype: the crowd in groups, one model call per group",
    )
    focal_agents: int = Field(
        default=0, ge=0, le=1000, description="full-mind users in archetype mode"
    )
    # -- follow graph ------------------------------------------------------------------
    graph_file: str | None = Field(
        default=None,
        description="OASIS user CSV (following_agentid_list); sets the number of users",
    )
    mean_degree: float = Field(
        default=8.0, ge=0.0, le=1000.0, description="mean followees per user (generated)"
    )
    uniform_attachment: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="share of follows to a uniform earlier user (0.5: Barabasi-Albert)",
    )
    # -- personas ----------------------------------------------------------------------
    topic_shares: dict[str, float] | None = Field(
        default=None, description="interest distribution over topics (default: uniform)"
    )
    leaning_shares: dict[str, float] = Field(default={"left": 0.35, "center": 0.3, "right": 0.35})
    age_shares: dict[str, float] = Field(
        default={"18-29": 0.3, "30-49": 0.35, "50-64": 0.22, "65+": 0.13}
    )
    activity_shares: dict[str, float] = Field(default={"low": 0.5, "medium": 0.35, "high": 0.15})
    activation: dict[str, float] = Field(
        default={"low": 0.05, "medium": 0.15, "high": 0.4},
        description="probability that a user of each activity level acts in a tick",
    )
    # -- states ------------------------------------------------------------------------
    initial_attitude_sd: float = Field(default=0.3, ge=0.0, le=2.0)
    leaning_offset: float = Field(
        default=0.2, ge=-1.0, le=1.0, description="initial attitude shift: right +, left -"
    )
    attitude_step: float = Field(
        default=0.3, ge=0.0, le=1.0, description="mu: share of the gap closed per tick read"
    )
    confidence: float = Field(
        default=1.0, ge=0.0, le=2.0, description="epsilon: posts further away are ignored"
    )
    emotion_decay: float = Field(default=0.3, ge=0.0, le=1.0, description="per tick")
    emotion_contagion: float = Field(default=0.5, ge=0.0, le=1.0)
    calm_threshold: float = Field(
        default=0.35, ge=0.0, le=1.0, description="calm while anxiety and anger stay below"
    )
    # -- feed and seeds ----------------------------------------------------------------
    feed: FeedSettings = FeedSettings()
    seeds: list[SeedPost] = Field(
        default=[
            SeedPost(
                text="BREAKING: the city's water supply has been contaminated, officials "
                "are hiding it. Share before they delete this!",
                label="false",
                topic="Health",
            )
        ],
        max_length=64,
    )
    rumour_attention: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="chance an interacting user with a rumour in its feed targets the rumour",
    )
    # -- archetypes and records --------------------------------------------------------
    group_by: list[Literal["leaning", "activity", "age", "interest"]] = Field(
        default=["leaning", "activity"], description="persona attributes in the group key"
    )
    attitude_sample: int = Field(
        default=2000, ge=0, le=100_000, description="users whose attitudes every tick records"
    )

    @model_validator(mode="after")
    def _check(self) -> SocialConfig:
        if self.mode == "agents" and self.agents > MAX_AGENTS_MODE and self.graph_file is None:
            raise ValueError(
                f"mode 'agents' runs every user as a full mind, at most {MAX_AGENTS_MODE} "
                f"(got agents={self.agents}); use mode=archetype"
            )
        if self.focal_agents > self.agents:
            raise ValueError(f"focal_agents at most agents ({self.agents})")
        _check_shares("leaning_shares", self.leaning_shares, LEANINGS)
        _check_shares("age_shares", self.age_shares, AGE_GROUPS)
        _check_shares("activity_shares", self.activity_shares, ACTIVITY_LEVELS)
        if self.topic_shares is not None:
            _check_shares("topic_shares", self.topic_shares, TOPICS)
        missing = set(ACTIVITY_LEVELS) - set(self.activation)
        extra = set(self.activation) - set(ACTIVITY_LEVELS)
        if missing or extra:
            raise ValueError(f"activation needs exactly the levels {', '.join(ACTIVITY_LEVELS)}")
        if any(not 0.0 <= p <= 1.0 for p in self.activation.values()):
            raise ValueError("activation probabilities must lie in [0, 1]")
        return self

    def topic_probs(self) -> list[float]:
        if self.topic_shares is None:
            return [1.0 / len(TOPICS)] * len(TOPICS)
        return [float(self.topic_shares.get(t, 0.0)) for t in TOPICS]


def _check_shares(name: str, shares: dict[str, float], labels: tuple[str, ...]) -> None:
    unknown = set(shares) - set(labels)
    if unknown:
        raise ValueError(f"{name}: unknown {sorted(unknown)[0]!r}; use {', '.join(labels)}")
    if any(v < 0 for v in shares.values()) or sum(shares.values()) <= 0:
        raise ValueError(f"{name}: non-negative shares with a positive sum")
