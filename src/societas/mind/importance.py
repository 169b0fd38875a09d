"""Importance (poignancy) ratings of new memories, asked of the model in batches.

Generative Agents (Park et al. 2023, section 4.1) asks the model to rate each memory on a 1-10
scale, "where 1 is purely mundane (e.g., brushing teeth, making bed) and 10 is extremely
poignant (e.g., a break up, college acceptance)". One call per memory is the costliest part of
that design, so here up to ``batch_size`` memories go in one call and the answer is one JSON
object ``{"ratings": [n integers]}`` (the Gateway parses objects, and the schema fixes ``n``).
Answers are cached by the text's sha256; when a call fails (backend error or invalid answer
after the Gateway's repair), a keyword heuristic rates the batch and says so.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Any

from pydantic import Field, create_model

from societas.llm.gateway import CallRecord, Decision, Gateway
from societas.typing import Action, ChatMessage, ConfigError, LLMRequest, Persona, Sampling

__all__ = [
    "IMPORTANCE_PURPOSE",
    "ImportanceRater",
    "ImportanceResult",
    "heuristic_importance",
    "numbered_lines",
    "ratings_model",
    "sub_seed",
]

IMPORTANCE_PURPOSE = "importance"

IMPORTANCE_INSTRUCTIONS = (
    "On the scale of 1 to 10, where 1 is purely mundane (e.g., brushing teeth, making bed) "
    "and 10 is extremely poignant (e.g., a break up, college acceptance), rate the likely "
    "poignancy of each memory below."
)
# Rating prompt after Park et al. 2023 (section 4.1), extended from one memory to a list.

_TEXT_LIMIT = 500
_SPACE = re.compile(r"\s+")

# Keyword heuristic: (score, word stems). A memory gets the highest score whose stem starts a
# word in it; "!" adds one.
_KEYWORDS: tuple[tuple[int, re.Pattern[str]], ...] = tuple(
    (score, re.compile(r"\b(?:" + stems + ")"))
    for score, stems in (
        (
            9,
            "died|death|dead|kill|murder|married|marry|divorce|born|break up|broke up|"
            "disaster|collapse|war\\b|arrest",
        ),
        (
            8,
            "fired|betray|promot|bankrupt|crisis|depleted|emergenc|accident|stole|theft|"
            "attack|threat|sanction|expel",
        ),
        (
            7,
            "argu|fight|fought|accus|lie\\b|lied|cheat|vote|elect|punish|conflict|angry|"
            "furious|warn|loss|lost",
        ),
        (6, "promis|agree|deal|cooperat|trust|thank|help|fear|worr|plan|decid|propos|rule"),
        (4, "said|told|ask|message|talk|met\\b|news|heard"),
    )
)


def heuristic_importance(text: str) -> int:
    """A deterministic 1-10 rating from keywords (the fallback, and the scripted answer)."""
    lowered = _SPACE.sub(" ", text.lower())
    score = 2
    for value, pattern in _KEYWORDS:
        if pattern.search(lowered):
            score = value
            break
    if "!" in text:
        score += 1
    return max(1, min(10, score))


def sub_seed(seed: int, label: str) -> int:
    """A request seed derived from a base seed and a label (stable, order-independent)."""
    blob = f"{seed}|{label}".encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big") & 0x7FFFFFFF


def _one_line(text: str, limit: int = _TEXT_LIMIT) -> str:
    flat = _SPACE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def numbered_lines(labels: Sequence[int], texts: Sequence[str], limit: int = _TEXT_LIMIT) -> str:
    """``[label] text`` lines, one a memory, whitespace flattened (the prompts' list format)."""
    return "\n".join(
        f"[{label}] {_one_line(text, limit)}" for label, text in zip(labels, texts, strict=True)
    )


Rating = Annotated[int, Field(ge=1, le=10)]


@lru_cache(maxsize=128)
def ratings_model(n: int) -> type[Action]:
    """The action model for ``n`` ratings: ``{"ratings": [n integers from 1 to 10]}``."""
    return create_model(
        f"ImportanceRatings{n}",
        __base__=Action,
        ratings=(list[Rating], Field(min_length=n, max_length=n)),
    )


@dataclass
class ImportanceResult:
    """Ratings in the order of the texts, with the decisions (model calls) behind them."""

    ratings: list[float]
    decisions: list[Decision] = field(default_factory=list)
    fallback: list[bool] = field(default_factory=list)
    cache_hits: int = 0

    @property
    def calls(self) -> list[CallRecord]:
        return [call for d in self.decisions for call in d.calls]


class ImportanceRater:
    """Rates memories 1-10 through the Gateway, ``batch_size`` texts a call, with a cache."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        batch_size: int = 8,
        sampling: Sampling | None = None,
        cache_size: int = 10_000,
    ) -> None:
        if batch_size < 1:
            raise ConfigError("importance", "batch_size", "an integer >= 1", batch_size)
        if cache_size < 0:
            raise ConfigError("importance", "cache_size", "an integer >= 0", cache_size)
        self.gateway = gateway
        self.batch_size = batch_size
        self.sampling = sampling or Sampling(temperature=0.0, max_tokens=16 + 4 * batch_size)
        self.cache_size = cache_size
        self._cache: OrderedDict[str, float] = OrderedDict()

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def build_request(
        self,
        texts: Sequence[str],
        *,
        actor: str,
        seed: int,
        persona: Persona | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> LLMRequest:
        """The rating request for one batch (static instructions first, the memories last)."""
        n = len(texts)
        system = IMPORTANCE_INSTRUCTIONS
        if persona is not None:
            system = f"{persona.describe()}\n\n{system}"
        user = (
            "Memories:\n"
            + numbered_lines(range(1, n + 1), texts)
            + f"\n\nAnswer with only a JSON object of this form: "
            f'{{"ratings": [{n} integers from 1 to 10, one per memory, in order]}}'
        )
        return LLMRequest(
            messages=(
                ChatMessage(role="system", content=system),
                ChatMessage(role="user", content=user),
            ),
            json_schema=ratings_model(n).json_schema(),
            sampling=self.sampling,
            seed=seed,
            purpose=IMPORTANCE_PURPOSE,
            actor=actor,
            context={"n_items": n, **(context or {})},
        )

    async def rate(
        self,
        texts: Sequence[str],
        *,
        actor: str,
        seed: int,
        persona: Persona | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> ImportanceResult:
        """Ratings for ``texts``: cached ones free, the rest in concurrent batched calls."""
        keys = [self.key(t) for t in texts]
        known: dict[str, float] = {}
        hits = 0
        todo: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                known[key] = cached
                hits += 1
            elif key not in todo:
                todo[key] = text
        pending = list(todo.items())
        batches = [
            pending[i : i + self.batch_size] for i in range(0, len(pending), self.batch_size)
        ]
        requests = [
            self.build_request(
                [text for _, text in batch],
                actor=actor,
                seed=sub_seed(seed, f"importance:{b}"),
                persona=persona,
                context=context,
            )
            for b, batch in enumerate(batches)
        ]
        decisions = await asyncio.gather(
            *(
                self.gateway.decide(r, ratings_model(len(b)))
                for r, b in zip(requests, batches, strict=True)
            )
        )
        fell_back: set[str] = set()
        for batch, decision in zip(batches, decisions, strict=True):
            values = None if decision.action is None else getattr(decision.action, "ratings", None)
            if isinstance(values, list) and len(values) == len(batch):
                for (key, _), value in zip(batch, values, strict=True):
                    known[key] = float(value)
                    self._remember(key, float(value))
            else:
                for key, text in batch:
                    known[key] = float(heuristic_importance(text))
                    fell_back.add(key)
        return ImportanceResult(
            ratings=[known[k] for k in keys],
            decisions=list(decisions),
            fallback=[k in fell_back for k in keys],
            cache_hits=hits,
        )

    def _remember(self, key: str, value: float) -> None:
        if self.cache_size == 0:
            return
        self._cache[key] = value
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def snapshot(self) -> dict[str, float]:
        """The cache (text hash -> rating), JSON-safe: a resumed run batches the same way."""
        return dict(self._cache)

    def restore(self, state: Mapping[str, float]) -> None:
        self._cache = OrderedDict((str(k), float(v)) for k, v in state.items())
