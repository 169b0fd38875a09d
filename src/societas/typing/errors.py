"""Typed errors. Each says what went wrong and what to do; none is turned into a string."""

from __future__ import annotations

import reprlib

__all__ = [
    "BackendError",
    "ConfigError",
    "ModelOutputError",
    "ReplayMissError",
    "SocietasError",
    "StoreError",
]


class SocietasError(Exception):
    """Base of every error societas raises on purpose. ``exit_code`` is what the CLI returns."""

    exit_code: int = 1


class ConfigError(SocietasError):
    """Bad input: a scenario file, a ``--set`` value or a command-line argument.

    ``source`` names the file (or ``--set``/argument), ``field`` the dotted path inside it,
    ``expected`` what would have been accepted.
    """

    exit_code = 2

    def __init__(self, source: str, field: str, expected: str, got: object = None) -> None:
        self.source = _one_line(source)
        self.field = field
        self.expected = expected
        self.got = got
        where = f"{source}: field '{field}'" if field else source
        got_txt = "" if got is None else f", got {_short(got)}"
        super().__init__(_one_line(f"{where}: expected {expected}{got_txt}"))


class BackendError(SocietasError):
    """A model backend could not answer (server down, timeout, HTTP error, missing files)."""

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.attempts = 1
        self.faults: tuple[str, ...] = ()


class ReplayMissError(BackendError):
    """The replay backend was asked for a request that is not in the response cache."""

    def __init__(self, request_hash: str, cache_path: str) -> None:
        super().__init__(
            f"replay: no cached response for request {request_hash} in {cache_path}; "
            "record it first with a real model (same seed and config) or use another --model",
            retryable=False,
        )
        self.request_hash = request_hash


class ModelOutputError(SocietasError):
    """A model answer did not satisfy the action schema (after repair)."""


class StoreError(SocietasError):
    """A run store is missing, corrupted, or of an unknown schema version."""

    exit_code = 2


def _one_line(text: str) -> str:
    """Errors are one line: control characters from user input are shown escaped."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _short(value: object, limit: int = 80) -> str:
    # reprlib stops early: a YAML alias bomb (a few hundred bytes that expand to billions of
    # items) must not be expanded in full just to show its first 80 characters.
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 200
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 10
