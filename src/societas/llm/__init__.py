"""Model backends, the wrapper stack and the Gateway."""

from __future__ import annotations

from societas.llm.cache import ResponseCache
from societas.llm.gateway import CallRecord, Decision, Gateway, parse_action
from societas.llm.registry import BackendOptions, available_backends, create_backend, parse_spec
from societas.llm.scripted import ScriptedModel
from societas.llm.wrappers import build_stack

__all__ = [
    "BackendOptions",
    "CallRecord",
    "Decision",
    "Gateway",
    "ResponseCache",
    "ScriptedModel",
    "available_backends",
    "build_stack",
    "create_backend",
    "parse_action",
    "parse_spec",
]
