"""Backends by name. A model spec is ``NAME`` or ``NAME:ARG`` (``local``, ``scripted``,
``replay``, ``replay:<model-id>``, ``openai:<model>``, ``local:/path/to/model.gguf``, ``test``,
``human``).

Built-ins and third-party backends use the same path: the ``societas.backends`` entry-point
group maps a name to a factory ``(arg, options) -> LanguageModel``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from societas.llm.cache import ResponseCache
from societas.typing import ConfigError, LanguageModel
from societas.typing.scenario import ScriptedPolicy

__all__ = ["BackendFactory", "BackendOptions", "available_backends", "create_backend", "parse_spec"]


@dataclass
class BackendOptions:
    """Everything a factory may need. ``api_key`` is never stored or logged."""

    base_url: str | None = None
    api_key: str | None = None
    scripted_policy: ScriptedPolicy | None = None
    cache: ResponseCache | None = None
    n_ctx: int = 4096
    request_timeout_s: float = 120.0
    # The shape an OpenAI-compatible server takes the schema in (``run.response_format`` as
    # resolved by the preflight probe); ``None``: OpenAI's own ``json_schema``.
    response_format: str | None = None
    # The run's directory (the ``human`` backend's seat folder lives there).
    run_dir: Path | None = None


BackendFactory = Callable[[str | None, BackendOptions], LanguageModel]

_GROUP = "societas.backends"


def parse_spec(spec: str) -> tuple[str, str | None]:
    name, sep, arg = spec.partition(":")
    name = name.strip().lower()
    if not name:
        raise ConfigError(
            "--model", "model", "a spec like local, scripted, replay, openai:<model>", spec
        )
    return name, (arg if sep else None) or None


def _factories() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=_GROUP)}


def available_backends() -> list[str]:
    return sorted(set(_factories()) | set(_BUILTINS))


def create_backend(spec: str, options: BackendOptions) -> LanguageModel:
    name, arg = parse_spec(spec)
    eps = _factories()
    factory: BackendFactory
    if name in eps:
        factory = eps[name].load()
    elif name in _BUILTINS:
        # A built-in added after this environment was installed (its entry points are read
        # from the installed metadata) still works without reinstalling.
        factory = _BUILTINS[name]
    else:
        raise ConfigError(
            "--model",
            "model",
            f"one of {', '.join(available_backends())} (optionally NAME:ARG)",
            spec,
        )
    return factory(arg, options)


# Factories of the built-in backends (registered in pyproject.toml like any plugin).


def local_factory(arg: str | None, options: BackendOptions) -> LanguageModel:
    from societas.llm.local import LocalModel

    return LocalModel(Path(arg) if arg else None, n_ctx=options.n_ctx)


def scripted_factory(arg: str | None, options: BackendOptions) -> LanguageModel:
    from societas.llm.scripted import ScriptedModel

    if options.scripted_policy is None:
        raise ConfigError("--model", "model", "a scenario that ships a scripted policy", "scripted")
    return ScriptedModel(options.scripted_policy, model_id=arg or "scripted")


def replay_factory(arg: str | None, options: BackendOptions) -> LanguageModel:
    from societas.llm.replay import ReplayModel

    if options.cache is None:
        raise ConfigError("--model", "model", "a response cache to replay from (--cache)", "replay")
    return ReplayModel(options.cache, model_id=arg)


def openai_factory(arg: str | None, options: BackendOptions) -> LanguageModel:
    from typing import get_args

    from societas.llm.openai import OpenAIModel, ResponseFormatMode

    if not arg:
        raise ConfigError("--model", "model", "openai:<model name>", "openai")
    mode = options.response_format or "json_schema"
    modes = get_args(ResponseFormatMode)
    if mode not in modes:
        raise ConfigError("run.response_format", "response_format", f"one of {modes}", mode)
    return OpenAIModel(
        arg,
        base_url=options.base_url,
        api_key=options.api_key,
        timeout_s=options.request_timeout_s,
        response_format_mode=mode,  # type: ignore[arg-type]  # checked above
    )


def test_factory(arg: str | None, options: BackendOptions) -> LanguageModel:
    """``test``: schema-valid answers drawn from each request's seed (offline, no policy)."""
    from societas.testing.schema_model import TestModel

    return TestModel(model_id=arg or "test")


def human_factory(arg: str | None, options: BackendOptions) -> LanguageModel:
    """``human``: a person answers through the run directory's seat folder (``--human ID``)."""
    from societas.llm.human import HumanModel

    if options.run_dir is None:
        raise ConfigError("--model", "model", "a run directory for the person's seat", "human")
    return HumanModel(options.run_dir)


_BUILTINS: dict[str, BackendFactory] = {
    "local": local_factory,
    "openai": openai_factory,
    "scripted": scripted_factory,
    "replay": replay_factory,
    "test": test_factory,
    "human": human_factory,
}
