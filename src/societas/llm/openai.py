"""The ``openai`` backend: any OpenAI-compatible chat-completions server.

vLLM, SGLang, Ollama, llama.cpp's server and hosted APIs. The action schema goes out in the
shape the server takes (``ResponseFormatMode``, chosen by ``run.response_format``; ``auto`` asks
``societas.llm.preflight`` to probe the server once before the run). A server that rejects the
chosen shape fails the call (non-retryable, the server's words quoted); the schema is never
dropped silently. Failures become ``BackendError``s: 408, 429, 5xx, network errors, timeouts and
unreadable answers are retryable, other 4xx are not. The API key and a password in the base URL
never appear in a message or a repr.

Replies are read totally and within bounds: at most ``max_body_bytes`` of body (streamed, the
connection is dropped past it), JSON nested at most ``MAX_JSON_DEPTH`` deep, lone surrogates in
the content replaced by U+FFFD, token counts clamped to ``MAX_TOKENS_FIELD``. A reply outside
these bounds is a ``BackendError`` that the Gateway records; it never escapes as another type.

Transport is aiohttp (HTTP/1.1 keep-alive): httpx 0.28 / httpcore 1.0 spends milliseconds of CPU
per request in its connection pool once dozens of requests are in flight. Proxy and netrc
settings in the environment are not read.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
from dataclasses import dataclass
from typing import Any, Literal, get_args
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp

from societas.typing import BackendError, ConfigError, LLMRequest, LLMResponse

__all__ = [
    "CONSTRAINING_MODES",
    "MAX_BODY_BYTES",
    "OpenAIModel",
    "ResponseFormatMode",
    "redact_url",
]

ResponseFormatMode = Literal[
    "json_schema", "json_object_schema", "guided_json", "ollama_format", "json_object", "none"
]
"""How the action schema goes out (each shape from the document of the servers that take it):

- ``json_schema``: ``response_format: {"type": "json_schema", "json_schema": {"name", "schema"}}``
  (OpenAI API reference, Structured Outputs; vLLM and SGLang take it too).
- ``json_object_schema``: ``response_format: {"type": "json_object", "schema": ...}``
  (llama-cpp-python: ``ChatCompletionRequestResponseFormat`` in llama_cpp/llama_types.py, turned
  into a grammar in llama_cpp/llama_chat_format.py; Anyscale's and Together's JSON mode).
- ``guided_json``: a top-level ``guided_json`` schema (vLLM's OpenAI-compatible server, "extra
  parameters" of its structured-outputs document).
- ``ollama_format``: a top-level ``format`` schema (Ollama API document, structured outputs).
- ``json_object``: ``response_format: {"type": "json_object"}``: JSON, but no schema.
- ``none``: nothing; the prompt alone asks for the schema.
"""
CONSTRAINING_MODES: tuple[ResponseFormatMode, ...] = (
    "json_schema",
    "json_object_schema",
    "guided_json",
    "ollama_format",
)
assert set(get_args(ResponseFormatMode)) == {*CONSTRAINING_MODES, "json_object", "none"}

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "guided_json", "format")
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_JSON_DEPTH = 64
MAX_TOKENS_FIELD = 2**31 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{}]')


def redact_url(url: str) -> str:
    """``url`` with a password (``user:pass@``) replaced by ``***``; other URLs unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"//[^/@]*@", "//***@", url)
    if parts.password is None and "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    netloc = f"{user}:***@{host}" if user else f"***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def _split_credentials(url: str) -> tuple[str, str, str | None]:
    """The URL without ``user:pass@``, the password, and an HTTP basic Authorization value."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, "", None
    host = parts.netloc.rpartition("@")[2]
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return urlunsplit(parts._replace(netloc=host)), password, f"Basic {token}"


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
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        raw_url = (
            base_url
            or os.environ.get("SOCIETAS_OPENAI_BASE_URL")
            or os.environ.get("OPENAI_BASE_URL")
            or DEFAULT_BASE_URL
        ).rstrip("/")
        if not raw_url.startswith(("http://", "https://")):
            raise ConfigError("base_url", "", "an http:// or https:// URL", redact_url(raw_url))
        url, self._password, self._basic_auth = _split_credentials(raw_url)
        self.model_id = model_name
        self.base_url = redact_url(raw_url)
        self.timeout_s = timeout_s
        self.response_format_mode: ResponseFormatMode = response_format_mode
        self.max_connections = max_connections
        self.max_body_bytes = max_body_bytes
        self._api_key = (
            api_key
            or os.environ.get("SOCIETAS_OPENAI_API_KEY")
            or os.environ.get("OPENAI_API_KEY")
            or None
        )
        self._root = url
        self._url = url + "/chat/completions"
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        key = "***" if self._api_key else None
        return f"OpenAIModel(model_id={self.model_id!r}, base_url={self.base_url!r}, api_key={key})"

    @property
    def endpoint(self) -> str:
        """The chat-completions URL as it may be shown (no password)."""
        return self._scrub(self._url)

    async def generate(self, request: LLMRequest) -> LLMResponse:
        mode = self.response_format_mode
        reply = await self._post(self._body(request, mode))
        if 200 <= reply.status < 300:
            return self._parse(reply, mode)
        if (
            request.json_schema is not None
            and reply.status in (400, 422)
            and rejects_format(reply.status, reply.text, mode)
        ):
            raise BackendError(
                self._scrub(
                    f"{self.model_id}: the server rejects response_format {mode!r} "
                    f"(HTTP {reply.status}: {_detail(reply)}); set run.response_format to a "
                    "shape it takes, or 'auto' to probe"
                ),
                retryable=False,
            )
        raise self._http_error(reply)

    async def send(
        self, request: LLMRequest, mode: ResponseFormatMode, *, timeout_s: float
    ) -> tuple[int, str, LLMResponse | None]:
        """One request in ``mode``, no retry: (status, server's message or text, response)."""
        reply = await self._post(self._body(request, mode), timeout_s=timeout_s)
        if 200 <= reply.status < 300:
            return reply.status, "", self._parse(reply)
        return reply.status, self._scrub(_detail(reply)), None

    async def list_models(self, *, timeout_s: float) -> tuple[int, str, list[str]]:
        """``GET /models``: (status, server's message, model ids)."""
        reply = await self._request("GET", self._root + "/models", None, timeout_s)
        if not 200 <= reply.status < 300:
            return reply.status, self._scrub(_detail(reply)), []
        try:
            data = _loads(reply.body)["data"]
            ids = [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m]
        except (ValueError, KeyError, TypeError):
            ids = []
        return reply.status, "", ids

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
        schema = request.json_schema
        if schema is not None:
            if mode == "json_schema":
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "action", "schema": schema, "strict": False},
                }
            elif mode == "json_object_schema":
                body["response_format"] = {"type": "json_object", "schema": schema}
            elif mode == "guided_json":
                body["guided_json"] = schema
            elif mode == "ollama_format":
                body["format"] = schema
            elif mode == "json_object":
                body["response_format"] = {"type": "json_object"}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    def _session_for_loop(self) -> aiohttp.ClientSession:
        if self._session is None:
            headers = {"Content-Type": "application/json"}
            if self._api_key:
                headers["Authorization"] = f"Bearer {self._api_key}"
            elif self._basic_auth:
                headers["Authorization"] = self._basic_auth
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections, keepalive_timeout=30),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def _post(self, body: bytes, *, timeout_s: float | None = None) -> _Reply:
        return await self._request("POST", self._url, body, timeout_s)

    async def _request(
        self, method: str, url: str, body: bytes | None, timeout_s: float | None
    ) -> _Reply:
        timeout = self.timeout_s if timeout_s is None else timeout_s
        # The session's own timeout is ``timeout_s``: a request passes one only to differ.
        extra: dict[str, Any] = {}
        if timeout_s is not None:
            extra["timeout"] = aiohttp.ClientTimeout(total=timeout_s)
        try:
            async with self._session_for_loop().request(
                method, url, data=body, **extra
            ) as response:
                return _Reply(
                    response.status,
                    response.reason or "",
                    await self._read_capped(response),
                    response.headers.get("Retry-After"),
                )
        except TimeoutError as exc:
            raise BackendError(
                self._scrub(f"{self.model_id}: no answer from {url} within {timeout:g} s"),
                retryable=True,
            ) from exc
        except aiohttp.ClientError as exc:
            raise BackendError(
                self._scrub(f"{self.model_id}: cannot reach {url}: {type(exc).__name__}: {exc}"),
                retryable=True,
            ) from exc

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        """The body, read in chunks; past ``max_body_bytes`` the connection is dropped."""
        declared = response.content_length
        if declared is not None and declared > self.max_body_bytes:
            response.close()
            raise self._too_large(f"announced {declared} bytes")
        if declared is not None and response.headers.get("Content-Encoding") is None:
            # A length within the cap, not compressed: aiohttp stops reading at that length.
            return await response.read()
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > self.max_body_bytes:
                response.close()
                raise self._too_large(f"more than {self.max_body_bytes} bytes sent")
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, what: str) -> BackendError:
        return BackendError(
            self._scrub(
                f"{self.model_id}: reply from {self._url} over the {self.max_body_bytes}-byte "
                f"cap ({what}); dropped"
            ),
            retryable=False,
        )

    def _parse(self, reply: _Reply, mode: ResponseFormatMode | None = None) -> LLMResponse:
        try:
            data = _loads(reply.body)
            choice = data["choices"][0]
            if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
                raise TypeError("choices[0].message is not an object")
            content = choice["message"].get("content")
            if not isinstance(content, str | None):
                raise TypeError("content is not a string")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise BackendError(
                self._scrub(
                    f"{self.model_id}: unreadable answer from {self._url} "
                    f"(expected JSON with choices[0].message; {_snippet(str(exc), 100)}): "
                    f"{_snippet(reply.text)}"
                ),
                retryable=True,
            ) from exc
        usage = data.get("usage")
        if not isinstance(usage, dict):
            usage = {}
        reason = choice.get("finish_reason")
        return LLMResponse(
            text=_SURROGATE.sub("\ufffd", content or ""),
            model=self.model_id,
            prompt_tokens=_count(usage.get("prompt_tokens")),
            completion_tokens=_count(usage.get("completion_tokens")),
            finish_reason=_SURROGATE.sub("\ufffd", reason)[:40]
            if isinstance(reason, str)
            else None,
            response_format=mode,
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
        if self._api_key:
            text = text.replace(self._api_key, "***")
        if self._password:
            text = text.replace(self._password, "***")
        return text


def rejects_format(status: int, text: str, mode: ResponseFormatMode) -> bool:
    """A 400/422 (or llama-cpp-python's 500 for a request it cannot validate) that blames the
    structured-output field of ``mode``."""
    if mode == "none" or status not in (400, 422, 500):
        return False
    text = text.lower()
    return any(word in text for word in _FORMAT_WORDS)


def _loads(body: bytes) -> Any:
    """JSON from a reply: strict UTF-8 (bad bytes replaced), at most ``MAX_JSON_DEPTH`` deep."""
    depth = 0
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return json.loads(body.decode("utf-8", "replace"))
    for match in _JSON_TOKEN.finditer(body):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        elif token in (b"]", b"}"):
            depth -= 1
    return json.loads(body.decode("utf-8", "replace"))


def _detail(reply: _Reply) -> str:
    """The server's error message (OpenAI's ``{"error": {"message": ...}}``, vLLM's top-level
    ``{"message": ...}``, Ollama's ``{"error": "..."}``) or the raw body."""
    try:
        data = _loads(reply.body)
        error = data.get("error") or data.get("message") or data.get("detail")
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(message, str) and message:
            return _snippet(message)
        if message:
            return _snippet(json.dumps(message))
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    return _snippet(reply.text) or reply.reason


def _snippet(text: str, limit: int = 300) -> str:
    """One line of at most ``limit`` characters; no control characters, no lone surrogates."""
    text = _SURROGATE.sub("\ufffd", text[: limit * 4])
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _count(value: object) -> int:
    """A token count: a non-negative int, clamped to ``MAX_TOKENS_FIELD``; else 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return min(value, MAX_TOKENS_FIELD)


def _seconds(value: str | None) -> float | None:
    """A Retry-After given in seconds; ``None`` when absent or not a number."""
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
