"""The ``openai`` backend: any OpenAI-compatible chat-completions server.

vLLM, SGLang, Ollama, llama.cpp's server and hosted APIs. The action schema goes out as
``response_format``; a server that rejects it gets a plainer one (json_schema -> json_object ->
none) for that request and every later one. Failures become ``BackendError``s: 408, 429, 5xx,
network errors, timeouts and unreadable answers are retryable, other 4xx are not. The API key
never appears in a message or a repr.

Transport is aiohttp (HTTP/1.1 keep-alive): httpx 0.28 / httpcore 1.0 spends milliseconds of CPU
per request in its connection pool once dozens of requests are in flight. Proxy and netrc
settings in the environment are not read.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from societas.typing import BackendError, ConfigError, LLMRequest, LLMResponse

__all__ = ["OpenAIModel", "ResponseFormatMode"]

ResponseFormatMode = Literal["json_schema", "json_object", "none"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_PLAINER: dict[ResponseFormatMode, ResponseFormatMode] = {
    "json_schema": "json_object",
    "json_object": "none",
}
_FORMAT_WORDS = ("response_format", "json_schema", "json_object")


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    reason: str
    body: bytes
    retry_after: str | None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class OpenAIModel:
    """Chat completions over one pooled HTTP session per model (opened on first use)."""

    def __init__(
        self,
        model_name: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        response_format_mode: ResponseFormatMode = "json_schema",
        max_connections: int = 256,
    ) -> None:
        url = (
            base_url
            or os.environ.get("SOCIETAS_OPENAI_BASE_URL")
            or os.environ.get("OPENAI_BASE_URL")
            or DEFAULT_BASE_URL
        ).rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigError("base_url", "", "an http:// or https:// URL", url)
        self.model_id = model_name
        self.base_url = url
        self.timeout_s = timeout_s
        self.response_format_mode: ResponseFormatMode = response_format_mode
        self.max_connections = max_connections
        self._api_key = (
            api_key
            or os.environ.get("SOCIETAS_OPENAI_API_KEY")
            or os.environ.get("OPENAI_API_KEY")
            or None
        )
        self._url = url + "/chat/completions"
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        key = "***" if self._api_key else None
        return f"OpenAIModel(model_id={self.model_id!r}, base_url={self.base_url!r}, api_key={key})"

    async def generate(self, request: LLMRequest) -> LLMResponse:
        while True:
            mode = self.response_format_mode
            reply = await self._post(self._body(request, mode))
            if 200 <= reply.status < 300:
                return self._parse(reply)
            if request.json_schema is not None and _rejects_format(reply, mode):
                if self.response_format_mode == mode:  # concurrent requests downgrade once
                    self.response_format_mode = _PLAINER[mode]
                continue
            raise self._http_error(reply)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _body(self, request: LLMRequest, mode: ResponseFormatMode) -> bytes:
        sampling = request.sampling
        body: dict[str, Any] = {
            "model": self.model_id,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "seed": request.seed,
        }
        if request.json_schema is not None and mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "action", "schema": request.json_schema, "strict": False},
            }
        elif request.json_schema is not None and mode == "json_object":
            body["response_format"] = {"type": "json_object"}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    def _session_for_loop(self) -> aiohttp.ClientSession:
        if self._session is None:
            headers = {"Content-Type": "application/json"}
            if self._api_key:
                headers["Authorization"] = f"Bearer {self._api_key}"
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections, keepalive_timeout=30),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def _post(self, body: bytes) -> _Reply:
        try:
            async with self._session_for_loop().post(self._url, data=body) as response:
                return _Reply(
                    response.status,
                    response.reason or "",
                    await response.read(),
                    response.headers.get("Retry-After"),
                )
        except TimeoutError as exc:
            raise BackendError(
                f"{self.model_id}: no answer from {self._url} within {self.timeout_s:g} s",
                retryable=True,
            ) from exc
        except aiohttp.ClientError as exc:
            raise BackendError(
                self._scrub(
                    f"{self.model_id}: cannot reach {self._url}: {type(exc).__name__}: {exc}"
                ),
                retryable=True,
            ) from exc

    def _parse(self, reply: _Reply) -> LLMResponse:
        try:
            data = json.loads(reply.body)
            choice = data["choices"][0]
            content = choice["message"].get("content")
            if not isinstance(content, str | None):
                raise TypeError("content is not a string")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise BackendError(
                self._scrub(
                    f"{self.model_id}: unreadable answer from {self._url} "
                    f"(expected JSON with choices[0].message): {_snippet(reply.text)}"
                ),
                retryable=True,
            ) from exc
        usage = data.get("usage")
        if not isinstance(usage, dict):
            usage = {}
        reason = choice.get("finish_reason")
        return LLMResponse(
            text=content or "",
            model=self.model_id,
            prompt_tokens=_count(usage.get("prompt_tokens")),
            completion_tokens=_count(usage.get("completion_tokens")),
            finish_reason=reason if isinstance(reason, str) else None,
        )

    def _http_error(self, reply: _Reply) -> BackendError:
        retry_after = _seconds(reply.retry_after) if reply.status in (429, 503) else None
        message = f"{self.model_id}: HTTP {reply.status} from {self._url}: {_detail(reply)}"
        return BackendError(
            self._scrub(message),
            retryable=reply.status in (408, 429) or reply.status >= 500,
            retry_after=retry_after,
        )

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text


def _rejects_format(reply: _Reply, mode: ResponseFormatMode) -> bool:
    """A 400/422 that blames ``response_format``, while a plainer mode is left to try."""
    if mode == "none" or reply.status not in (400, 422):
        return False
    text = reply.text.lower()
    return any(word in text for word in _FORMAT_WORDS)


def _detail(reply: _Reply) -> str:
    """The server's error message (OpenAI's ``{"error": {"message": ...}}``) or the raw body."""
    try:
        error = json.loads(reply.body)["error"]
        message = error["message"] if isinstance(error, dict) else error
        if isinstance(message, str) and message:
            return _snippet(message)
    except (ValueError, KeyError, TypeError):
        pass
    return _snippet(reply.text) or reply.reason


def _snippet(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _count(value: object) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _seconds(value: str | None) -> float | None:
    """A Retry-After given in seconds; ``None`` when absent or not a number."""
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
