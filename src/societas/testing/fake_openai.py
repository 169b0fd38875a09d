"""A fake OpenAI-compatible chat-completions server for tests and benchmarks.

Plain asyncio streams and a minimal HTTP/1.1 parser (keep-alive, Content-Length bodies), so one
core answers thousands of requests per second. ``answer`` makes the reply's content; ``faults``
replaces chosen replies by errors. ``run_in_subprocess`` puts the server in its own process so a
benchmark's client does not share its core.

Run standalone (always on 127.0.0.1; prints the base URL)::

    python -m societas.testing.fake_openai --port 0 --latency 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

__all__ = ["FakeOpenAIServer", "Fault", "run_in_subprocess"]

_MAX_HEAD = 1 << 20


@dataclass(frozen=True)
class Fault:
    """A reply sent in place of the normal one: ``status``, raw ``body``, extra ``headers``."""

    status: int = 500
    body: str = '{"error": {"message": "injected fault"}}'
    headers: dict[str, str] = field(default_factory=dict)


Answer = Callable[[dict[str, Any]], str]
FaultHook = Callable[[int, dict[str, Any]], Fault | None]
"""``(request_index, request_json) -> Fault | None``; the index counts chat requests from 0."""


def _default_answer(request: dict[str, Any]) -> str:
    return "{}"


class FakeOpenAIServer:
    """Serves ``POST /v1/chat/completions`` and ``GET /v1/models``.

    Each chat request sleeps ``latency_s`` and answers ``answer(request_json)`` unless
    ``faults`` returns a ``Fault`` for it. With ``api_key`` set, requests must carry
    ``Authorization: Bearer <api_key>``. Counters: ``requests_served`` (HTTP replies sent),
    ``in_flight`` and ``peak_in_flight`` (chat requests being answered).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_s: float = 0.0,
        answer: Answer = _default_answer,
        faults: FaultHook | None = None,
        api_key: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.latency_s = latency_s
        self.answer = answer
        self.faults = faults
        self.api_key = api_key
        self.requests_served = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self._chat_index = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()

    async def start(self) -> str:
        """Start listening; returns the base URL, e.g. ``http://127.0.0.1:PORT/v1``."""
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=_MAX_HEAD, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return f"http://{self.host}:{self.port}/v1"

    async def stop(self) -> None:
        """Stop listening and close every open connection."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # client gone, or ``stop`` cancelled us: end the connection quietly
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; ``False`` when the connection must close."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            writer.write(_reply(431, _error("request head too large"), {}, keep_alive=False))
            return False
        try:
            method, target, version, headers = _parse_head(head)
            length = int(headers.get("content-length", "0"))
        except ValueError:
            writer.write(_reply(400, _error("malformed request head"), {}, keep_alive=False))
            return False
        if "transfer-encoding" in headers:
            writer.write(_reply(411, _error("send a Content-Length body"), {}, keep_alive=False))
            return False
        body = await reader.readexactly(length) if length else b""
        connection = headers.get("connection", "").lower()
        keep_alive = connection == "keep-alive" or (version == "HTTP/1.1" and connection != "close")
        status, payload, extra = await self._route(method, target, headers, body)
        writer.write(_reply(status, payload, extra, keep_alive=keep_alive))
        await writer.drain()
        self.requests_served += 1
        return keep_alive

    async def _route(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        path = target.partition("?")[0].rstrip("/")
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, _error("invalid api key"), {}
        if path == "/v1/models" and method == "GET":
            return 200, json.dumps({"object": "list", "data": []}).encode(), {}
        if path != "/v1/chat/completions":
            return 404, _error(f"no route {path}"), {}
        if method != "POST":
            return 405, _error("use POST"), {}
        try:
            request = json.loads(body)
        except ValueError:
            return 400, _error("body is not JSON"), {}
        if not isinstance(request, dict) or not isinstance(request.get("messages"), list):
            return 400, _error("'messages' must be a list"), {}
        return await self._chat(request)

    async def _chat(self, request: dict[str, Any]) -> tuple[int, bytes, dict[str, str]]:
        index = self._chat_index
        self._chat_index += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self.latency_s > 0:
                await asyncio.sleep(self.latency_s)
            fault = self.faults(index, request) if self.faults is not None else None
            if fault is not None:
                return fault.status, fault.body.encode(), fault.headers
            return 200, _completion(index, request, self.answer(request)), {}
        finally:
            self.in_flight -= 1


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError(line)
            headers[name.strip().lower()] = value.strip()
    return method, target, version, headers


def _approx_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _completion(index: int, request: dict[str, Any], content: str) -> bytes:
    prompt = sum(
        _approx_tokens(str(m.get("content", "")))
        for m in request["messages"]
        if isinstance(m, dict)
    )
    completion = _approx_tokens(content)
    return json.dumps(
        {
            "id": f"chatcmpl-fake-{index}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(request.get("model", "fake")),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }
    ).encode()


def _error(message: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()


def _reply(status: int, body: bytes, headers: dict[str, str], *, keep_alive: bool) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    lines = [
        f"HTTP/1.1 {status} {phrase}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: keep-alive" if keep_alive else "Connection: close",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@contextlib.contextmanager
def run_in_subprocess(*, latency_s: float = 0.0) -> Iterator[str]:
    """Run a server in a child process (own core, own event loop); yields its base URL."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "societas.testing.fake_openai", "--latency", repr(latency_s)]
    # Our own module run by our own interpreter: no untrusted input.
    with subprocess.Popen(command, stdout=subprocess.PIPE, env=env, text=True) as proc:  # noqa: S603
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if not line.startswith("http://"):
                raise RuntimeError(f"fake OpenAI server did not start (exit code {proc.poll()})")
            yield line
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _serve_until_terminated(port: int, latency_s: float) -> None:
    server = FakeOpenAIServer(port=port, latency_s=latency_s)
    done = asyncio.Event()
    with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows loops
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, done.set)
    print(await server.start(), flush=True)
    await done.wait()
    await server.stop()
    print(
        f"fake OpenAI server: {server.requests_served} requests served, "
        f"peak {server.peak_in_flight} in flight",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per chat request")
    args = parser.parse_args(argv)
    asyncio.run(_serve_until_terminated(args.port, args.latency))


if __name__ == "__main__":
    main()
