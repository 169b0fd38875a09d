"""The social scenario's typed actions and their integer codes in population records."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from societas.typing import Action

__all__ = ["ACTION_CODES", "ACTION_NAMES", "GroupMix", "SocialAction"]

# Codes used in PopulationStepEvent columns ("action").
ACTION_NAMES = ("idle", "post", "repost", "like", "comment", "follow")
ACTION_CODES = {name: code for code, name in enumerate(ACTION_NAMES)}
IDLE, POST, REPOST, LIKE, COMMENT, FOLLOW = range(6)


class SocialAction(Action):
    """One user's action in a tick (full-mind agents)."""

    action_type: ClassVar[str] = "social"

    action: Literal["post", "repost", "like", "comment", "follow", "idle"] = Field(
        description="what to do this hour"
    )
    target: int = Field(
        default=1, ge=0, le=50, description="feed item number for repost, like, comment, follow"
    )
    text: str = Field(default="", max_length=280, description="text of a post or comment")


class GroupMix(Action):
    """A group's answer: how its active members split over actions (integer weights)."""

    action_type: ClassVar[str] = "group_mix"

    post: int = Field(default=0, ge=0, le=100, description="weight of writing a new post")
    repost: int = Field(default=0, ge=0, le=100, description="weight of reposting a feed item")
    like: int = Field(default=0, ge=0, le=100, description="weight of liking a feed item")
    comment: int = Field(default=0, ge=0, le=100, description="weight of commenting")
    follow: int = Field(default=0, ge=0, le=100, description="weight of following an author")
    idle: int = Field(default=0, ge=0, le=100, description="weight of doing nothing")
    text: str = Field(default="", max_length=200, description="a typical post, optional")

    def weights(self) -> list[int]:
        """Weights in ``ACTION_NAMES`` order (all zero counts as idle)."""
        w = [self.idle, self.post, self.repost, self.like, self.comment, self.follow]
        return w if sum(w) > 0 else [1, 0, 0, 0, 0, 0]
