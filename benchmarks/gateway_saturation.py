"""Gateway saturation: does the wrapper stack keep ``limit`` requests in flight?

Starts the fake OpenAI server in its own process with a fixed latency, sends every request at
once through ``Gateway.decide`` over ``build_stack(OpenAIModel(...))`` (with the budget wrapper
every run has, without a response cache) and compares the wall time with the ideal
``ceil(N / limit) * latency``::

    PYTHONPATH=src python benchmarks/gateway_saturation.py --requests 2000 --latency 0.05 --limit 64

``--layers`` first prints the CPU per request of each part of the client (an in-process backend
that answers at once, then the wrapper stack, the gateway, the request key, the openai
backend's body and reply parsing), to see where the time beyond bare aiohttp goes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import time
import timeit
from collections.abc import Callable

import aiohttp

from societas.llm.budget import BudgetMonitor
from societas.llm.gateway import Gateway
from societas.llm.openai import OpenAIModel, _Reply
from societas.llm.wrappers import ConcurrencyLimitedModel, build_stack
from societas.testing.fake_openai import run_in_subprocess
from societas.typing import Action, ChatMessage, LanguageModel, LLMRequest, LLMResponse


class Wait(Action):
    """The fake server's default answer ``{}`` is a valid ``Wait``."""

    action_type = "wait"


def limiter(model: LanguageModel) -> ConcurrencyLimitedModel:
    """The ``ConcurrencyLimitedModel`` inside a stack."""
    layer: object = model
    while not isinstance(layer, ConcurrencyLimitedModel):
        layer = layer.inner  # type: ignore[attr-defined]
    return layer


async def saturate(base_url: str, n: int, limit: int) -> dict[str, float]:
    stack = build_stack(
        OpenAIModel("fake-model", base_url=base_url, api_key="benchmark", timeout_s=30),
        cache=None,
        max_concurrency=limit,
        timeout_s=30,
        max_attempts=3,
        budget=BudgetMonitor(),  # a run's stack always has one (it counts the spend)
    )
    gateway = Gateway(stack)
    schema = Wait.json_schema()
    requests = [
        LLMRequest(
            messages=(ChatMessage(role="user", content=f"Agent {i}: choose an action."),),
            json_schema=schema,
            seed=i,
        )
        for i in range(n)
    ]
    try:
        cpu0, t0 = time.process_time(), time.perf_counter()
        decisions = await asyncio.gather(*(gateway.decide(r, Wait) for r in requests))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        await stack.aclose()
    return {
        "wall": wall,
        "cpu": cpu,
        "ok": sum(d.action is not None for d in decisions),
        "peak": limiter(stack).peak_in_flight,
    }


async def bare(base_url: str, n: int, limit: int) -> tuple[float, float]:
    """Baseline: the same requests (the same JSON bodies, schema included) with a bare aiohttp
    client and a semaphore, no societas code. Returns (wall, CPU) seconds."""
    sem = asyncio.Semaphore(limit)
    url = base_url + "/chat/completions"
    schema = Wait.json_schema()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:

        async def one(i: int) -> object:
            body = json.dumps(
                {
                    "model": "fake-model",
                    "messages": [{"role": "user", "content": f"Agent {i}: choose an action."}],
                    "temperature": 0.7,
                    "top_p": 0.95,
                    "max_tokens": 256,
                    "seed": i,
                    "response_format": {
                        "type": "json_schema",
                        "json_schema": {"name": "action", "schema": schema, "strict": False},
                    },
                }
            ).encode()
            async with (
                sem,
                session.post(url, data=body, headers={"Content-Type": "application/json"}) as r,
            ):
                return json.loads(await r.read())

        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - t0, time.process_time() - cpu0


class _Instant:
    """A backend that answers at once, in process: what the layers above it cost alone."""

    model_id = "instant"

    async def generate(self, request: LLMRequest) -> LLMResponse:
        return LLMResponse(text="{}", model="instant", prompt_tokens=3, completion_tokens=1)

    async def aclose(self) -> None:
        return None


def _requests(n: int) -> list[LLMRequest]:
    schema = Wait.json_schema()
    return [
        LLMRequest(
            messages=(ChatMessage(role="user", content=f"Agent {i}: choose an action."),),
            json_schema=schema,
            seed=i,
        )
        for i in range(n)
    ]


def layer_costs(n: int = 4000) -> dict[str, float]:
    """CPU microseconds per request of each part of the client, best of three, no network."""

    def stack() -> LanguageModel:
        return build_stack(
            _Instant(),
            cache=None,
            max_concurrency=64,
            timeout_s=30,
            max_attempts=3,
            budget=BudgetMonitor(),
        )

    async def through(model: LanguageModel, gateway: bool) -> float:
        requests = _requests(n)
        cpu0 = time.process_time()
        if gateway:
            front = Gateway(model)
            await asyncio.gather(*(front.decide(r, Wait) for r in requests))
        else:
            await asyncio.gather(*(model.generate(r) for r in requests))
        return (time.process_time() - cpu0) / n * 1e6

    def best(make: Callable[[], LanguageModel], gateway: bool) -> float:
        return min(asyncio.run(through(make(), gateway)) for _ in range(3))

    backend = OpenAIModel("fake-model", base_url="http://127.0.0.1:9", api_key="benchmark")
    request = _requests(1)[0]
    reply = json.dumps(
        {
            "choices": [
                {"message": {"role": "assistant", "content": "{}"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2},
        }
    ).encode()

    def per_call(fn: Callable[[], object]) -> float:
        return min(timeit.repeat(fn, number=n, repeat=3)) / n * 1e6

    return {
        "in-process backend alone": best(_Instant, False),
        "+ wrapper stack": best(stack, False),
        "+ gateway (no stack)": best(_Instant, True),
        "+ stack + gateway": best(stack, True),
        "request key (sha256 of JSON)": per_call(lambda: request.model_copy().cache_key("m")),
        "openai: request body": per_call(lambda: backend._body(request, "json_schema")),
        "openai: reply parse": per_call(
            lambda: backend._parse(_Reply(200, "OK", reply, None), "json_schema")
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05, help="server seconds per request")
    parser.add_argument("--limit", type=int, default=64, help="max requests in flight")
    parser.add_argument(
        "--layers", action="store_true", help="also print the CPU of each part of the client"
    )
    args = parser.parse_args()
    if args.layers:
        for name, micros in layer_costs().items():
            print(f"{name:30s} {micros:6.1f} us/request")
    with run_in_subprocess(latency_s=args.latency) as base_url:
        # Alternate baseline and societas so the machine's drift hits both alike.
        (baseline1, bare_cpu1) = asyncio.run(bare(base_url, args.requests, args.limit))
        result = asyncio.run(saturate(base_url, args.requests, args.limit))
        (baseline2, bare_cpu2) = asyncio.run(bare(base_url, args.requests, args.limit))
    baseline = (baseline1 + baseline2) / 2
    bare_cpu = (bare_cpu1 + bare_cpu2) / 2
    ideal = math.ceil(args.requests / args.limit) * args.latency
    print(f"requests           {args.requests} ({result['ok']:.0f} gave an action)")
    print(f"limit              {args.limit}")
    print(f"latency            {args.latency:g} s")
    print(f"ideal wall time    {ideal:.3f} s")
    print(f"achieved wall time {result['wall']:.3f} s")
    print(f"ratio              {result['wall'] / ideal:.3f}  (achieved / ideal)")
    print(
        f"bare aiohttp wall  {baseline1:.3f} s, {baseline2:.3f} s  (ratio {baseline / ideal:.3f})"
    )
    print(f"societas / bare    {result['wall'] / baseline:.3f}")
    print(f"peak in-flight     {result['peak']:.0f}")
    print(f"calls/s            {args.requests / result['wall']:.0f}")
    print(
        f"client CPU         {result['cpu'] / args.requests * 1e6:.0f} us/request "
        f"(bare {bare_cpu / args.requests * 1e6:.0f}; ratio {result['cpu'] / bare_cpu:.3f})"
    )
    print(f"load average       {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
