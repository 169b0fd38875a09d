"""Per-agent model routing: heterogeneous populations in one run.

The GovSim reproducibility work runs agents on different models side by side; a scripted
backend next to a language model gives rule-based agents among model-driven ones. A
``RoutedModel`` sends each request to the stack whose agent patterns match ``request.actor``
(shell-style patterns, first match wins) and to the default stack otherwise. Each route is a
complete stack (cache, retries, breaker, limit, timeout), so cache keys carry the model that
answered and a slow server does not hold back the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

from societas.typing import ConfigError, LanguageModel, LLMRequest, LLMResponse

__all__ = ["RoutedModel", "replay_spec_for"]


class RoutedModel:
    def __init__(
        self,
        default: LanguageModel,
        routes: Sequence[tuple[Sequence[str], LanguageModel]],
    ) -> None:
        self.default = default
        self.routes = [(tuple(patterns), model) for patterns, model in routes]
        ids: list[str] = []
        for model in (default, *(m for _, m in self.routes)):
            if model.model_id not in ids:
                ids.append(model.model_id)
        self.model_id = ids[0] if len(ids) == 1 else "routed:" + "+".join(ids)

    def route(self, request: LLMRequest) -> LanguageModel:
        actor = request.actor or ""
        for patterns, model in self.routes:
            if any(fnmatchcase(actor, p) for p in patterns):
                return model
        return self.default

    def model_id_for(self, request: LLMRequest) -> str:
        """The id of the model that answers ``request`` (recorded on its ``llm_call``)."""
        return self.route(request).model_id

    async def generate(self, request: LLMRequest) -> LLMResponse:
        return await self.route(request).generate(request)

    async def aclose(self) -> None:
        seen: set[int] = set()
        for model in (self.default, *(m for _, m in self.routes)):
            if id(model) not in seen:
                seen.add(id(model))
                await model.aclose()


def replay_spec_for(spec: str, field: str) -> str:
    """The ``replay:<model id>`` spec that impersonates the model a spec names.

    Only specs whose model id is known without loading anything can be replayed this way.
    """
    from societas.llm.local import BUNDLED_MODEL_ID
    from societas.llm.registry import parse_spec

    name, arg = parse_spec(spec)
    if name == "replay":
        return spec
    if name == "human":
        return "replay:human"
    if name == "scripted":
        return f"replay:{arg or 'scripted'}"
    if name == "openai" and arg:
        return f"replay:{arg}"
    if name == "local":
        from pathlib import Path

        return f"replay:{Path(arg).stem if arg else BUNDLED_MODEL_ID}"
    raise ConfigError(
        field,
        "model",
        "a route model whose id is known for replay (scripted, openai:<m>, local, "
        "local:<path>, replay:<id>)",
        spec,
    )
