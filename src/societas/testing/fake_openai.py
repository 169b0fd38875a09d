"""A fake OpenAI-compatible chat-completions server for tests and benchmarks.

Plain asyncio streams and a minimal HTTP/1.1 parser (keep-alive, Content-Length bodies), so one
core answers thousands of requests per second. ``answer`` makes the reply's content; ``faults``
replaces chosen replies by errors, delays, resets or truncated replies (``Fault``; a seeded plan
of them is ``societas.testing.faults.FaultPlan``). ``serve_in_subprocess`` and
``run_in_subprocess`` put the server in its own process so a benchmark's client does not share
its core.

Run standalone (always on 127.0.0.1; prints the base URL, and a JSON line of counters at exit)::

    python -m societas.testing.fake_openai --port 0 --latency 0.05 --answer schema \
        --fault-plan '{"rate": 0.2, "seed": 1}'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from societas.typing.llm import estimated_usage

if TYPE_CHECKING:
    from societas.testing.faults import FaultPlan

__all__ = [
    "FakeOpenAIServer",
    "Fault",
    "ServerProcess",
    "completion_body",
    "run_in_subprocess",
    "serve_in_subprocess",
]

_MAX_HEAD = 1 << 20


FaultSend = Literal["reply", "nothing", "truncated"]


@dataclass(frozen=True)
class Fault:
    """A reply sent in place of the normal one: ``status``, raw ``body``, extra ``headers``.

    ``delay_s`` waits before acting; the wait ends early, and the connection closes, as soon as
    the client gives up. ``send`` says what goes out then: the whole ``reply``; ``nothing`` (the
    connection is reset, no reply); or a ``truncated`` reply (the head announces the whole
    body's Content-Length, the first half of the body follows, then the connection closes).
    """

    status: int = 500
    body: str = '{"error": {"message": "injected fault"}}'
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    send: FaultSend = "reply"


@dataclass(frozen=True)
class _Outcome:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    send: FaultSend = "reply"


Answer = Callable[[dict[str, Any]], str]
FaultHook = Callable[[int, dict[str, Any]], Fault | None]
"""``(request_index, request_json) -> Fault | None``; the index counts chat requests from 0."""


def _default_answer(request: dict[str, Any]) -> str:
    return "{}"


class FakeOpenAIServer:
    """Serves ``POST /v1/chat/completions`` and ``GET /v1/models``.

    Each chat request sleeps ``latency_s`` and answers ``answer(request_json)`` unless
    ``faults`` returns a ``Fault`` for it. With ``api_key`` set, requests must carry
    ``Authorization: Bearer <api_key>``. Counters: ``requests_served`` (complete HTTP replies
    sent), ``chat_requests`` (chat requests received), ``open_connections``, ``in_flight`` and
    ``peak_in_flight`` (chat requests being answered).
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
        models: list[str] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.latency_s = latency_s
        self.answer = answer
        self.faults = faults
        self.api_key = api_key
        self.models = models
        self.probes = 0
        self.requests_served = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self._chat_index = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()

    @property
    def chat_requests(self) -> int:
        """Chat requests received so far (answered, faulted or still in flight)."""
        return self._chat_index

    @property
    def open_connections(self) -> int:
        """Client connections being served now."""
        return len(self._handlers)

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
        outcome = await self._route(method, target, headers, body)
        if outcome.delay_s > 0 and not await _client_waits(reader, outcome.delay_s):
            return False  # the client gave up first
        if outcome.send == "nothing":
            _reset(writer)
            return False
        data = _reply(outcome.status, outcome.body, outcome.headers, keep_alive=keep_alive)
        if outcome.send == "truncated":
            writer.write(data[: len(data) - len(outcome.body) + len(outcome.body) // 2])
            await writer.drain()
            return False  # closing now leaves the announced Content-Length unmet
        writer.write(data)
        await writer.drain()
        self.requests_served += 1
        return keep_alive

    async def _route(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> _Outcome:
        path = target.partition("?")[0].rstrip("/")
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return _Outcome(401, _error("invalid api key"))
        if path == "/v1/models" and method == "GET":
            data = [{"id": m, "object": "model", "owned_by": "fake"} for m in self.models or []]
            return _Outcome(200, json.dumps({"object": "list", "data": data}).encode())
        if path != "/v1/chat/completions":
            return _Outcome(404, _error(f"no route {path}"))
        if method != "POST":
            return _Outcome(405, _error("use POST"))
        try:
            request = json.loads(body)
        except ValueError:
            return _Outcome(400, _error("body is not JSON"))
        if not isinstance(request, dict) or not isinstance(request.get("messages"), list):
            return _Outcome(400, _error("'messages' must be a list"))
        if self.models is not None and request.get("model") not in self.models:
            # vLLM's answer to an unknown model (its OpenAI server's error shape).
            message = f"The model `{request.get('model')}` does not exist."
            error = {"object": "error", "message": message, "type": "NotFoundError", "code": 404}
            return _Outcome(404, json.dumps(error).encode())
        if _is_probe(request):
            # societas's preflight probe, answered as a schema-following server (vLLM, SGLang)
            # does; not counted as a chat request, so fault plans index the run's own requests.
            self.probes += 1
            return _Outcome(200, _completion(-1, request, '{"probe": 7}'))
        return await self._chat(request)

    async def _chat(self, request: dict[str, Any]) -> _Outcome:
        index = self._chat_index
        self._chat_index += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self.latency_s > 0:
                await asyncio.sleep(self.latency_s)
            fault = self.faults(index, request) if self.faults is not None else None
            if fault is not None:
                return _Outcome(
                    fault.status, fault.body.encode(), fault.headers, fault.delay_s, fault.send
                )
            return _Outcome(200, _completion(index, request, self.answer(request)))
        finally:
            self.in_flight -= 1


def _is_probe(request: dict[str, Any]) -> bool:
    fmt = request.get("response_format")
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return False
    spec = fmt.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    return isinstance(schema, dict) and schema.get("required") == ["probe"]


async def _client_waits(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Wait ``seconds``; ``False`` as soon as the client closes the connection (or sends more
    than one request at a time, which this server does not take)."""
    try:
        await asyncio.wait_for(reader.read(1), seconds)
    except TimeoutError:
        return True
    return False


def _reset(writer: asyncio.StreamWriter) -> None:
    """Drop the connection with a TCP reset (SO_LINGER 0) instead of an orderly close."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


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


def completion_body(index: int, request: dict[str, Any], content: str) -> str:
    """The JSON of a chat completion answering ``request`` with ``content`` (for ``Fault``s)."""
    return _completion(index, request, content).decode()


def _completion(index: int, request: dict[str, Any], content: str) -> bytes:
    prompt = sum(
        estimated_usage(str(m.get("content", "")))
        for m in request["messages"]
        if isinstance(m, dict)
    )
    completion = estimated_usage(content)
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


AnswerName = Literal["empty", "schema"]


@dataclass
class ServerProcess:
    """A fake server in a child process: its ``base_url``, and once it has stopped, ``stats``
    (``requests_served``, ``chat_requests``, ``peak_in_flight``, ``injected`` per fault kind)."""

    base_url: str
    stats: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def serve_in_subprocess(
    *,
    latency_s: float = 0.0,
    answer: AnswerName = "empty",
    fault_plan: FaultPlan | None = None,
) -> Iterator[ServerProcess]:
    """Run a server in a child process (own core, own event loop).

    ``answer``: ``empty`` answers ``{}``, ``schema`` answers ``valid_answer`` (an object that
    satisfies the request's JSON schema). ``fault_plan`` is copied into the child; the faults
    it injected come back in ``stats["injected"]`` when the block ends.
    """
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    command = [
        sys.executable,
        "-m",
        "societas.testing.fake_openai",
        "--latency",
        repr(latency_s),
        "--answer",
        answer,
    ]
    if fault_plan is not None:
        command += ["--fault-plan", fault_plan.to_json()]
    # Our own module run by our own interpreter: no untrusted input.
    with subprocess.Popen(command, stdout=subprocess.PIPE, env=env, text=True) as proc:  # noqa: S603
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("http://"):
            _stop(proc)
            raise RuntimeError(f"fake OpenAI server did not start (exit code {proc.poll()})")
        server = ServerProcess(base_url=line)
        try:
            yield server
        finally:
            rest = _stop(proc)
            for report in reversed(rest.splitlines()):
                with contextlib.suppress(ValueError):
                    server.stats = json.loads(report)
                    break


def _stop(proc: subprocess.Popen[str]) -> str:
    """Terminate the child; returns what it wrote to stdout meanwhile."""
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


@contextlib.contextmanager
def run_in_subprocess(*, latency_s: float = 0.0) -> Iterator[str]:
    """Run a server answering ``{}`` in a child process; yields its base URL."""
    with serve_in_subprocess(latency_s=latency_s) as server:
        yield server.base_url


async def _serve_until_terminated(
    port: int,
    latency_s: float,
    answer: AnswerName,
    fault_plan: str | None,
    api_key: str | None = None,
    models: list[str] | None = None,
) -> None:
    # Imported here: ``faults`` builds on this module.
    from societas.testing.faults import FaultPlan, valid_answer

    plan = FaultPlan.from_json(fault_plan) if fault_plan is not None else None
    server = FakeOpenAIServer(
        port=port,
        latency_s=latency_s,
        answer=valid_answer if answer == "schema" else _default_answer,
        faults=plan,
        api_key=api_key,
        models=models,
    )
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
    stats = {
        "requests_served": server.requests_served,
        "chat_requests": server.chat_requests,
        "peak_in_flight": server.peak_in_flight,
        "injected": dict(plan.injected) if plan is not None else {},
    }
    print(json.dumps(stats), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per chat request")
    parser.add_argument(
        "--answer",
        choices=["empty", "schema"],
        default="empty",
        help="'{}' or an object that satisfies the request's JSON schema",
    )
    parser.add_argument(
        "--fault-plan", default=None, help="a FaultPlan as JSON, e.g. '{\"rate\": 0.2}'"
    )
    parser.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY'")
    parser.add_argument(
        "--model-name",
        action="append",
        default=None,
        help="serve only this model (repeatable); others get vLLM's 404 'does not exist'",
    )
    args = parser.parse_args(argv)
    asyncio.run(
        _serve_until_terminated(
            args.port, args.latency, args.answer, args.fault_plan, args.api_key, args.model_name
        )
    )


if __name__ == "__main__":
    main()
