"""Typed errors. Each says what went wrong and what to do; none is turned into a string."""

from __future__ import annotations

import re
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
        # Never repeat a secret: not its value, not the --set item that carried it.
        if is_secret_field(field):
            got = None if got is None else _NOT_SHOWN
        if source.startswith("--set ") and "=" in source:
            key, _, value = source.partition("=")
            if is_secret_field(key) or _SECRET_KEY_IN_TEXT.search(value) or _holds_secret(got):
                source = f"{key}={_NOT_SHOWN}"
        got = _scrub(got)
        self.source = _one_line(redact_url(source))
        self.field = field
        self.expected = expected
        self.got = got
        where = f"{self.source}: field '{field}'" if field else self.source
        got_txt = "" if got is None else f", got {redact_url(_short(got))}"
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


class _Hidden:
    def __repr__(self) -> str:
        return "<not shown: it may be a secret>"

    __str__ = __repr__


_NOT_SHOWN = _Hidden()
# Names of settings that hold secrets (the pattern, not a secret).
_SECRET_NAME = (
    r"(?:\w*[_-])?(?:api_?key|key|token|password|passwd|secret|authorization|credentials?)"  # noqa: S105
)
_SECRET_FIELD = re.compile(rf"(?i){_SECRET_NAME}")
_SECRET_KEY_IN_TEXT = re.compile(rf"(?i)\b{_SECRET_NAME}[\"']?\s*[:=]")
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/@:]*):[^\s/@]*@")


def is_secret_field(field: str) -> bool:
    """True for a setting whose value may be a secret (``run.api_key``, ``...token``)."""
    last = re.split(r"[.\[\]\s]", field.strip("[]. "))[-1] if field else ""
    return _SECRET_FIELD.fullmatch(last) is not None


def _holds_secret(value: object, depth: int = 0) -> bool:
    if depth > _REPR.maxlevel:
        return False
    if isinstance(value, dict):
        items = list(value.items())[: _REPR.maxdict]
        return any(is_secret_field(str(k)) or _holds_secret(v, depth + 1) for k, v in items)
    if isinstance(value, list | tuple):
        return any(_holds_secret(v, depth + 1) for v in value[: _REPR.maxlist])
    return False


def _scrub(value: object, depth: int = 0) -> object:
    """``value`` with the values of secret-named keys hidden, as far as an error shows it."""
    if depth > _REPR.maxlevel:
        return value
    if isinstance(value, dict):
        return {
            k: _NOT_SHOWN if is_secret_field(str(k)) else _scrub(v, depth + 1)
            for k, v in list(value.items())[: _REPR.maxdict + 1]
        }
    if isinstance(value, list | tuple):
        return [_scrub(v, depth + 1) for v in value[: _REPR.maxlist + 1]]
    return value


def redact_url(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` URL replaced by ***."""
    return _URL_PASSWORD.sub(r"\1:***@", text)


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
