"""Honest runs against real model servers: the preflight before tick 0 and the outcome policy.

- ``check_model_servers``: every OpenAI-compatible model the run uses (``run.model`` and each
  ``run.models`` route) is probed before anything is written (``societas.llm.preflight``); the
  chosen response formats are recorded in the run's config under ``preflight``.
- ``RunPaused``: the model server stayed unreachable longer than ``run.max_outage_s``; the tick
  in progress is dropped (its answers stay in the response cache) and the run can be resumed.
  ``BudgetPaused``: the same when the next call could pass ``run.budget`` (``llm/budget.py``).
- ``FallbackRateExceeded``: more than ``run.max_fallback_rate`` of the run's decisions fell back;
  the run ends ``failed``, naming the most frequent error.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from societas.engine.settings import Execution, ModelSettings
from societas.llm.openai import OpenAIModel, redact_url
from societas.llm.preflight import PreflightResult, preflight_sync
from societas.llm.registry import BackendOptions, create_backend, parse_spec
from societas.typing import ActionEvent, DecisionFallback, Event, SocietasError
from societas.typing.events import GroupDecisionEvent

__all__ = [
    "BudgetPaused",
    "FallbackRateExceeded",
    "RunPaused",
    "check_model_servers",
    "fallback_outcome",
    "preflight_record",
    "run_fallbacks",
    "server_key",
]


class RunPaused(SocietasError):
    """The model server was unreachable for too long; the run stopped after its last good tick
    and can be resumed once the server is back."""

    exit_code = 75  # EX_TEMPFAIL: try again later

    def __init__(self, ticks_completed: int, reason: str) -> None:
        super().__init__(f"stopped after {ticks_completed} completed ticks: {reason}")
        self.ticks_completed = ticks_completed
        self.reason = reason


class BudgetPaused(RunPaused):
    """The run's ``run.budget`` was reached: the run stopped after its last completed tick and
    resumes with a higher budget (``societas resume DIR --set run.budget.calls=N``)."""


class FallbackRateExceeded(SocietasError):
    """Too many decisions fell back to the world's default action to call the run a result."""

    exit_code = 1


def server_key(spec: str, base_url: str | None) -> str:
    """How a (model spec, server) pair is named in the run's ``preflight`` record."""
    return f"{spec} @ {redact_url(base_url)}" if base_url else spec


def _openai_pairs(models: ModelSettings) -> list[tuple[str, str | None]]:
    pairs = [(models.model, models.base_url)]
    pairs += [(r.model, r.base_url or models.base_url) for r in models.models]
    seen: list[tuple[str, str | None]] = []
    for spec, url in pairs:
        if parse_spec(spec)[0] == "openai" and (spec, url) not in seen:
            seen.append((spec, url))
    return seen


def check_model_servers(
    models: ModelSettings,
    execution: Execution,
    api_key: str | None,
    recorded: Mapping[str, Any] | None = None,
) -> dict[str, PreflightResult]:
    """Probe each OpenAI-compatible model of the run; raise ``ServerUnavailable`` if one cannot
    serve. ``recorded`` (a resumed run's record) fixes the formats chosen at its start."""
    results: dict[str, PreflightResult] = {}
    for spec, url in _openai_pairs(models):
        key = server_key(spec, url)
        backend = create_backend(
            spec,
            BackendOptions(
                base_url=url,
                api_key=api_key,
                request_timeout_s=execution.request_timeout_s,
                response_format="json_schema",
            ),
        )
        if not isinstance(backend, OpenAIModel):  # a plugin took the name; nothing to probe
            continue
        requested: str = models.response_format
        if recorded is not None and isinstance(recorded.get(key), dict):
            requested = str(recorded[key].get("response_format", requested))
        results[key] = preflight_sync(backend, requested)
    return results


def preflight_record(results: Mapping[str, PreflightResult]) -> dict[str, Any]:
    return {
        key: {
            "response_format": r.response_format,
            "constrained": r.constrained,
            "probed": r.probed,
            "warnings": list(r.warnings),
        }
        for key, r in results.items()
    }


_NUMBERS = re.compile(r"[0-9a-f]{8,}|\d+(\.\d+)?")


def error_kind(error: str) -> str:
    """An error message with its numbers blanked, to count occurrences of the same error."""
    return _NUMBERS.sub("#", error.strip())[:200]


def run_fallbacks(events: Sequence[Event]) -> tuple[int, list[str]]:
    """(decisions made, errors of those that fell back) over a run's events: agents' actions
    and groups' fresh (not reused) decisions; a fallback's error is its ``decision_fallback``."""
    decisions = 0
    errors: list[str] = []
    for event in events:
        if isinstance(event, ActionEvent) or (
            isinstance(event, GroupDecisionEvent) and not event.reused
        ):
            decisions += 1
        elif isinstance(event, DecisionFallback) and event.reason not in ("vetoed", "budget"):
            # A guardrail that held back every action, or a tick's token budget that had no
            # room left for the call, chose the fallback: not a failure of the model.
            errors.append(event.error or event.reason)
    return decisions, errors


def fallback_outcome(
    decisions: int, fallback_errors: Sequence[str], max_rate: float
) -> FallbackRateExceeded | None:
    """The failure to report when the fallback share passes ``max_rate``; else ``None``."""
    if decisions <= 0 or min(1.0, len(fallback_errors) / decisions) <= max_rate:
        return None
    counts = Counter(error_kind(e) or "(no message)" for e in fallback_errors)
    kind, n = counts.most_common(1)[0]
    example = next(e for e in fallback_errors if (error_kind(e) or "(no message)") == kind)
    return FallbackRateExceeded(
        f"{len(fallback_errors)} of {decisions} decisions fell back "
        f"(rate {min(1.0, len(fallback_errors) / decisions):.2f} > run.max_fallback_rate "
        f"{max_rate:g}); "
        f"most frequent error ({n}x): {example[:300]}"
    )
