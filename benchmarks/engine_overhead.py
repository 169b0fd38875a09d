"""Engine overhead on the bundled local model.

Runs a commons simulation through societas (engine, gateway, store) on the local model and
records every request it sends; then sends the very same requests (same prompts, grammar,
seeds, order) straight to llama-cpp-python. Prints decisions per second both ways and their
ratio (target: societas >= 0.95 x raw);
the passes alternate (societas, raw, societas, raw) since these machines are noisy.

    python benchmarks/engine_overhead.py [--agents 5] [--months 2] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from societas.engine import prepare_run
from societas.llm.local import bundled_model_path
from societas.scenarios import load_spec
from societas.typing import LanguageModel, LLMRequest, LLMResponse


class Recording:
    """Passes requests through, keeping them in order."""

    def __init__(self, inner: LanguageModel) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.requests: list[LLMRequest] = []

    async def generate(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        return await self.inner.generate(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def raw_pass(requests: list[LLMRequest], n_ctx: int) -> tuple[float, int]:
    from llama_cpp import Llama, LlamaGrammar

    llama = Llama(
        model_path=str(bundled_model_path()),
        n_ctx=n_ctx,
        verbose=False,
        seed=0,
        n_threads=2,
        n_threads_batch=2,
    )
    grammars: dict[str, LlamaGrammar] = {}
    tokens = 0
    t0 = time.perf_counter()
    for r in requests:
        kwargs = {}
        if r.json_schema is not None:
            key = json.dumps(r.json_schema, sort_keys=True)
            if key not in grammars:
                grammars[key] = LlamaGrammar.from_json_schema(key, verbose=False)
            kwargs["grammar"] = grammars[key]
        out = llama.create_chat_completion(
            messages=[{"role": m.role, "content": m.content} for m in r.messages],
            temperature=r.sampling.temperature,
            top_p=r.sampling.top_p,
            max_tokens=r.sampling.max_tokens,
            seed=r.seed,
            **kwargs,
        )
        tokens += out["usage"]["completion_tokens"]
    elapsed = time.perf_counter() - t0
    llama.close()
    return elapsed, tokens


def societas_pass(args: argparse.Namespace, out: Path) -> tuple[float, list[LLMRequest], int]:
    spec = load_spec(
        "commons",
        [
            f"agents={args.agents}",
            f"months={args.months}",
            f"discussion_rounds={args.rounds}",
            "collapse_threshold=0",
            "run.repair=false",
        ],
        model="local",
        seed=args.seed,
    )
    handle = prepare_run(spec.scenario, spec.config, spec.options, out)
    gateway = handle.simulation.gateway
    recording = Recording(gateway.model)
    gateway.model = recording
    # Load the weights before timing, as the raw pass does outside its timer.
    handle.backend._load()  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    asyncio.run(handle.run())
    elapsed = time.perf_counter() - t0
    handle.close()
    return elapsed, recording.requests, gateway.totals.completion_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--months", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    # Alternate societas, raw, societas, raw so drift of the machine hits both alike.
    with tempfile.TemporaryDirectory() as tmp:
        soc1, requests, soc_tokens = societas_pass(args, Path(tmp) / "run1")
        raw1, raw_tokens = raw_pass(requests, n_ctx=4096)
        soc2, again, _ = societas_pass(args, Path(tmp) / "run2")
        raw2, _ = raw_pass(requests, n_ctx=4096)
    assert [r.cache_key("x") for r in again] == [r.cache_key("x") for r in requests]
    n = len(requests)
    raw_time, soc_time = (raw1 + raw2) / 2, (soc1 + soc2) / 2
    print(f"decisions: {n} (completion tokens: societas {soc_tokens}, raw {raw_tokens})")
    print(f"raw llama-cpp-python: {raw1:.2f} s, {raw2:.2f} s -> {n / raw_time:.3f} decisions/s")
    print(f"societas engine:      {soc1:.2f} s, {soc2:.2f} s -> {n / soc_time:.3f} decisions/s")
    print(f"ratio societas/raw decisions per second: {raw_time / soc_time:.3f} (target >= 0.95)")


if __name__ == "__main__":
    main()
