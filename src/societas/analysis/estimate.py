"""Estimate a run's model calls and tokens before anything is spent.

A dry run of the same scenario, settings and seed with the ``test`` model (schema-valid answers
from each request's seed, no model server) counts the calls per tick; every request's prompt is
counted with the run model's own tokenizer when it has one here (the bundled model's, through
its chat template, loaded vocabulary-only), otherwise at 4 characters a token. The answers of a
real model differ from the test model's, so the prompts that quote them (transcripts, memories)
and the answer lengths differ too: an estimate, not a replay.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from societas.engine import RunOptions, prepare_run
from societas.llm.registry import parse_spec
from societas.memory.record import approx_tokens
from societas.scenarios import LoadedSpec
from societas.typing import ChatMessage, LanguageModel, LLMRequest, LLMResponse

__all__ = ["Estimate", "TickCost", "estimate", "token_counter"]

TokenCounter = Callable[[Sequence[ChatMessage]], int]


@dataclass(frozen=True)
class TickCost:
    tick: int
    calls: int
    prompt_tokens: int
    completion_tokens: int


@dataclass
class Estimate:
    scenario: str
    model: str
    num_ticks: int
    ticks_run: int
    exact_tokens: bool  # counted with the model's tokenizer (else 4 characters a token)
    price_per_1k_tokens: float
    # The world ended the dry run early (a collapse under the test model's random answers):
    # the totals assume the run lasts all its ticks, the most it can cost.
    ended_early: bool = False
    ticks: list[TickCost] = field(default_factory=list)

    def totals(self) -> dict[str, float]:
        """Calls and tokens of the whole run, all ``num_ticks`` ticks: the dry run's, scaled
        by ``num_ticks / ticks_run`` when it played fewer ticks."""
        scale = self.num_ticks / self.ticks_run if self.ticks_run else 0.0
        calls = sum(t.calls for t in self.ticks) * scale
        prompt = sum(t.prompt_tokens for t in self.ticks) * scale
        completion = sum(t.completion_tokens for t in self.ticks) * scale
        return {
            "calls": calls,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "cost": (prompt + completion) / 1000.0 * self.price_per_1k_tokens,
        }


def token_counter(model_spec: str) -> tuple[TokenCounter, bool]:
    """How the run's model counts a request's tokens, and whether that count is exact."""
    name, arg = parse_spec(model_spec)
    if name == "local":
        try:
            from llama_cpp import Llama
            from llama_cpp._utils import suppress_stdout_stderr
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            from societas.llm.local import bundled_model_path
        except ImportError:  # the local extra is not installed
            pass
        else:
            path = Path(arg) if arg else bundled_model_path()
            with suppress_stdout_stderr(disable=False):  # llama.cpp's load notes
                llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
            template = str(llm.metadata.get("tokenizer.chat_template", ""))
            if template:
                render = Jinja2ChatFormatter(
                    template=template,
                    eos_token=llm.detokenize([llm.token_eos()]).decode("utf-8", "replace"),
                    bos_token=llm.detokenize([llm.token_bos()]).decode("utf-8", "replace"),
                )

                def count(messages: Sequence[ChatMessage]) -> int:
                    chat: Any = [{"role": m.role, "content": m.content} for m in messages]
                    prompt = render(messages=chat).prompt
                    return len(llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))

                return count, True

    def approx(messages: Sequence[ChatMessage]) -> int:
        return sum(approx_tokens(m.content) for m in messages)

    return approx, False


class _Counting:
    """Wraps the dry run's model stack: counts every request with the run model's tokenizer."""

    def __init__(self, inner: LanguageModel, count: TokenCounter) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.count = count
        self.calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    async def generate(self, request: LLMRequest) -> LLMResponse:
        response = await self.inner.generate(request)
        self.calls += 1
        self.prompt_tokens += self.count(request.messages)
        answer = (ChatMessage(role="assistant", content=response.text),)
        self.completion_tokens += max(1, self.count(answer) - self.count(()))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __getattr__(self, name: str) -> Any:  # model_id_for of a routed stack
        return getattr(self.inner, name)


def estimate(
    spec: LoadedSpec, *, ticks: int | None = None, workdir: Path | None = None
) -> Estimate:
    """Dry-run ``spec`` with the test model (all of it, or its first ``ticks`` ticks)."""
    model = spec.options.model
    count, exact = token_counter(model)
    options: RunOptions = spec.options.model_copy(
        update={"model": "test", "models": [], "cache": None, "base_url": None}
    )
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        handle = prepare_run(
            spec.scenario, spec.config, options, Path(tmp) / "dry", personas=spec.personas
        )
        sim = handle.simulation
        counting = _Counting(sim.gateway.model, count)
        sim.gateway.model = counting
        num_ticks = sim.num_ticks
        if ticks is not None:
            sim.num_ticks = max(1, min(ticks, num_ticks))
        out = Estimate(
            scenario=spec.scenario.name,
            model=model,
            num_ticks=num_ticks,
            ticks_run=0,
            exact_tokens=exact,
            price_per_1k_tokens=spec.options.price_per_1k_tokens,
        )
        seen = [0, 0, 0]

        def progress(p: Any) -> None:
            now = [counting.calls, counting.prompt_tokens, counting.completion_tokens]
            out.ticks.append(TickCost(p.tick - 1, *(a - b for a, b in zip(now, seen, strict=True))))
            seen[:] = now

        sim.on_progress = progress
        try:
            asyncio.run(handle.run())
        finally:
            handle.close()
        out.ticks_run = len(out.ticks)
        out.ended_early = out.ticks_run < sim.num_ticks
    return out
