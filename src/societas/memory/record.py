"""One entry of an agent's memory stream, and the token rule used for memory budgets."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MemoryRecord", "approx_tokens"]


def approx_tokens(text: str) -> int:
    """Rough token count (4 characters a token), enough for budgets.

    The one rule for every memory budget: the memory stream and the bounded recency memory
    (``societas.memory.recent``). Offline backends report usage by their own rule
    (``societas.typing.llm.estimated_usage``); see there why the two stay apart.
    """
    return max(1, (len(text) + 3) // 4)


class MemoryRecord(BaseModel):
    """A memory (Park et al. 2023, section 4.1): a text with its times and its importance.

    ``created`` and ``last_accessed`` are simulation seconds; ``importance`` is the 1-10
    poignancy rating; ``evidence`` lists the ids of the records a reflection cites.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int = Field(ge=0, description="unique in its stream, increasing in order of addition")
    text: str
    kind: str = Field(
        min_length=1, description="observation | action | message | plan | reflection | news"
    )
    tick: int
    created: float
    last_accessed: float
    importance: float = Field(ge=1.0, le=10.0)
    evidence: tuple[int, ...] = ()
