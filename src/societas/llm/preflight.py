"""Before tick 0: is the model server there, does it serve the model, how does it take a schema.

``preflight`` asks ``GET /models`` and sends one tiny completion. Connection refused, a failed
DNS lookup, 401/403, an unknown model (vLLM's 404 "The model ... does not exist") or any other
refusal raises ``ServerUnavailable`` quoting the server's own words, within seconds, before a
run directory exists.

With ``run.response_format: auto`` the tiny completion is sent in each constraining shape
(``CONSTRAINING_MODES``, in order) until one comes back constrained: the probe schema admits only
``{"probe": 7}`` while the prompt asks for a greeting, so only a server that applies the schema
answers ``{"probe": 7}``. A server that takes none of them gets ``json_object`` (or ``none``) and
a loud warning: its answers are checked and repaired, but not constrained.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from societas.llm.openai import CONSTRAINING_MODES, OpenAIModel, ResponseFormatMode, rejects_format
from societas.typing import BackendError, ChatMessage, LLMRequest, LLMResponse, Sampling
from societas.typing.errors import SocietasError

__all__ = ["PROBE_SCHEMA", "PreflightResult", "ServerUnavailable", "preflight", "preflight_sync"]

PROBE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"probe": {"type": "integer", "enum": [7]}},
    "required": ["probe"],
    "additionalProperties": False,
}
PROBE_REQUEST = LLMRequest(
    messages=(
        ChatMessage(role="system", content="You are a friendly assistant."),
        ChatMessage(role="user", content="Say hello in one word."),
    ),
    json_schema=PROBE_SCHEMA,
    sampling=Sampling(temperature=0.0, top_p=1.0, max_tokens=32),
    seed=0,
    purpose="preflight",
)
# Each step's bound; together they keep a dead or refusing server under 15 s.
LIST_TIMEOUT_S = 5.0
PROBE_TIMEOUT_S = 60.0
UNREACHABLE_TIMEOUT_S = 8.0


class ServerUnavailable(SocietasError):
    """The model server cannot serve this run (unreachable, refuses the key, unknown model)."""

    exit_code = 2


@dataclass
class PreflightResult:
    """What the probe found for one model on one server."""

    model: str
    endpoint: str
    response_format: ResponseFormatMode
    probed: bool
    constrained: bool
    listed_models: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def line(self) -> str:
        how = "probed" if self.probed else "configured"
        return (
            f"model server {self.endpoint}: model {self.model}, "
            f"response_format {self.response_format} ({how})"
        )


def _constrained(response: LLMResponse) -> bool:
    try:
        return bool(json.loads(response.text.strip()) == {"probe": 7})
    except ValueError:
        return False


async def _send(
    model: OpenAIModel, mode: ResponseFormatMode, timeout_s: float
) -> tuple[int, str, LLMResponse | None]:
    try:
        return await model.send(PROBE_REQUEST, mode, timeout_s=timeout_s)
    except BackendError as exc:
        raise ServerUnavailable(f"{model.endpoint} did not answer a test request: {exc}") from exc


async def preflight(model: OpenAIModel, requested: str) -> PreflightResult:
    """Check ``model``'s server and pick its response format (``requested``: a mode or auto)."""
    try:
        status, message, listed = await model.list_models(timeout_s=LIST_TIMEOUT_S)
    except BackendError as exc:
        raise ServerUnavailable(f"cannot reach the model server: {exc}") from exc
    if status in (401, 403):
        raise ServerUnavailable(
            f"{model.base_url}/models refused the API key (HTTP {status}): {message}"
        )
    if status >= 500:
        raise ServerUnavailable(f"{model.base_url}/models failed (HTTP {status}): {message}")
    # 404/405: a server without a model list (some proxies) is still asked for a completion.
    result = PreflightResult(
        model=model.model_id,
        endpoint=model.endpoint,
        response_format="none",
        probed=requested == "auto",
        constrained=False,
        listed_models=listed,
    )
    known: tuple[ResponseFormatMode, ...] = (*CONSTRAINING_MODES, "json_object", "none")
    if requested != "auto" and requested not in known:
        raise ServerUnavailable(f"unknown response_format {requested!r}; one of {known}")
    modes = known if requested == "auto" else tuple(m for m in known if m == requested)
    accepted: list[ResponseFormatMode] = []
    for mode in modes:
        status, message, response = await _send(model, mode, PROBE_TIMEOUT_S)
        if response is None:
            if rejects_format(status, message, mode) and len(modes) > 1:
                continue
            raise ServerUnavailable(
                f"{model.endpoint} refused a test request for model {model.model_id!r} "
                f"(HTTP {status}): {message}"
            )
        accepted.append(mode)
        if mode in CONSTRAINING_MODES and _constrained(response):
            result.response_format = mode
            result.constrained = True
            return result
        if requested != "auto":
            break
    result.response_format = (
        accepted[0]
        if requested != "auto"
        else ("json_object" if "json_object" in accepted else "none")
    )
    if requested == "auto":
        result.warnings.append(
            f"the server at {model.endpoint} does not constrain answers to a JSON schema in any "
            f"shape societas knows ({', '.join(CONSTRAINING_MODES)}); using "
            f"{result.response_format!r}: answers are validated and repaired, but expect invalid "
            "answers and fallbacks"
        )
    elif result.response_format in CONSTRAINING_MODES:
        result.warnings.append(
            f"the server at {model.endpoint} accepted response_format "
            f"{result.response_format!r} but its test answer did not follow the schema; it may "
            "ignore it (run.response_format: auto probes every shape)"
        )
    else:
        result.warnings.append(
            f"response_format {result.response_format!r}: the server is not asked to follow the "
            "action schema; answers are validated and repaired, but expect invalid answers"
        )
    return result


def preflight_sync(model: OpenAIModel, requested: str) -> PreflightResult:
    """``preflight`` in its own event loop (before the run's loop starts); closes the session.

    Called from a running event loop (an async caller of ``prepare_run``), it runs on a worker
    thread; a server served by that same loop cannot answer then: call ``prepare_run`` through
    ``asyncio.to_thread``."""

    async def main() -> PreflightResult:
        try:
            return await preflight(model, requested)
        finally:
            await model.aclose()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()
