"""The ``replay`` backend: answers only from a response cache; a miss is an error."""

from __future__ import annotations

from societas.llm.cache import ResponseCache
from societas.typing import ConfigError, LLMRequest, LLMResponse, ReplayMissError

__all__ = ["ReplayModel"]


class ReplayModel:
    """Impersonates the recorded model: cache keys are computed with its ``model_id``.

    With no ``model_id`` given, the cache must hold answers of exactly one model.
    """

    def __init__(self, cache: ResponseCache, model_id: str | None = None) -> None:
        self.cache = cache
        if model_id is None:
            models = cache.models()
            if len(models) != 1:
                raise ConfigError(
                    "--model",
                    "replay",
                    f"a cache holding one model's answers (found {len(models)} in "
                    f"{cache.path}: {', '.join(models) or 'none'}); name one as replay:<model>",
                    "replay",
                )
            model_id = models[0]
        self.model_id = model_id

    async def generate(self, request: LLMRequest) -> LLMResponse:
        key = request.cache_key(self.model_id)
        hit = self.cache.get(key)
        if hit is None:
            raise ReplayMissError(key, str(self.cache.path))
        return hit

    async def aclose(self) -> None:
        return None
