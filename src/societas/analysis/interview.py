"""Interviews: ask an agent of a finished (or stopped) run a question, in character.

The run's store is opened read-only and never written: the world and the agent's mind are
rebuilt the way the run built them (scenario from the registry, the stored settings, the
runner's ``assemble``), restored from the snapshot taken after tick ``T``, and asked through
a gateway of its own with no response cache. The answer draws on the memories relevant to
the question, as of ``T``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from societas.engine.options import RunOptions
from societas.engine.runner import api_key_from, assemble, stored_settings
from societas.engine.settings import Execution, ModelSettings
from societas.llm import BackendOptions, Gateway, build_stack, create_backend
from societas.llm.registry import parse_spec
from societas.mind import Mind, derive_seed
from societas.mind.scripted import with_cognition
from societas.scenarios.registry import get_scenario
from societas.store import RunStore
from societas.typing import BackendError, ConfigError, LLMRequest, Persona
from societas.typing.scenario import Scenario

__all__ = ["InterviewSetup", "interview", "prepare_interview"]


@dataclass(frozen=True)
class InterviewSetup:
    """Everything an interview needs, read from the store: the request and how to send it."""

    request: LLMRequest
    tick: int
    mind: Mind
    scenario: Scenario
    config: BaseModel
    options: RunOptions


def _persona(agent_id: str, personas: list[Persona], state: dict[str, Any]) -> Persona:
    for persona in personas:
        if persona.id == agent_id:
            return persona
    for data in state.get("added", []):
        if data.get("id") == agent_id:
            return Persona.model_validate(data)
    known = [p.id for p in personas] + [str(d.get("id")) for d in state.get("added", [])]
    shown = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "")
    raise ConfigError("AGENT", "agent", f"an agent of the run ({shown})", agent_id)


def prepare_interview(
    run_dir: str | Path,
    agent_id: str,
    question: str,
    *,
    tick: int | None = None,
    scenario: Scenario | Any = None,
) -> InterviewSetup:
    """The agent's mind as of ``tick`` (default: the last completed) and the request to send.

    ``scenario`` overrides the registry lookup (for scenarios not registered yet)."""
    if not question.strip():
        raise ConfigError("QUESTION", "question", "a non-empty question", question)
    with RunStore.open(run_dir, readonly=True) as store:
        info = store.run_info()
        completed = int(info["ticks_completed"])
        at = completed - 1 if tick is None else tick
        snap = store.snapshot_at(at) if at >= 0 else None
    if snap is None:
        expected = (
            f"a completed tick from 0 to {completed - 1}" if completed else "a run with a tick done"
        )
        raise ConfigError("--tick", "tick", expected, at if tick is not None else None)
    _, _, state = snap
    found = scenario if scenario is not None else get_scenario(str(info["scenario"]))
    config, options, stored = stored_settings(found, info)
    built = assemble(found, config, options, stored)
    # the rules as of the tick (they may name the population)
    built.world.restore(state["world"])
    persona = _persona(agent_id, built.personas, state)
    minds = state.get("minds", {})
    if agent_id not in minds:
        raise ConfigError("AGENT", "agent", f"an agent present at tick {at}", agent_id)
    mind = built.make_mind(persona)
    mind.restore(minds[agent_id])
    request = mind.interview_request(
        question.strip(),
        rules_text=built.world.rules_for(agent_id),
        persona_in_rules=built.world.persona_in_rules,
        tick=at,
        seed=derive_seed(options.seed, at, "interview", agent_id),
    )
    return InterviewSetup(request, at, mind, found, config, options)


async def _ask(setup: InterviewSetup, model: str, api_key: str | None) -> str:
    models = setup.options.part(ModelSettings)
    execution = setup.options.part(Execution)
    backend = create_backend(
        model,
        BackendOptions(
            base_url=models.base_url,
            api_key=api_key_from(api_key),
            scripted_policy=(
                with_cognition(policy)
                if (policy := setup.scenario.scripted_policy(setup.config)) is not None
                else None
            ),
            cache=None,
            n_ctx=models.n_ctx,
            request_timeout_s=execution.request_timeout_s,
        ),
    )
    try:
        stack = build_stack(
            backend,
            cache=None,
            max_concurrency=1,
            timeout_s=execution.request_timeout_s,
            max_attempts=execution.max_attempts,
            base_delay_s=execution.retry_base_delay_s,
        )
        text, record = await Gateway(stack).complete(setup.request)
    finally:
        await backend.aclose()
    if text is None:
        raise BackendError(f"the interview could not be answered: {record.error}")
    return text.strip()


def interview(
    run_dir: str | Path,
    agent_id: str,
    question: str,
    *,
    tick: int | None = None,
    model: str | None = None,
    api_key: str | None = None,
    scenario: Scenario | None = None,
) -> str:
    """Ask ``agent_id`` of the run in ``run_dir`` a question; its answer, in character, from
    its memories as of ``tick`` (default: the last completed tick). The run is not changed.

    ``model`` defaults to the run's model (a spec as for ``societas run --model``)."""
    setup = prepare_interview(run_dir, agent_id, question, tick=tick, scenario=scenario)
    spec = model or setup.options.model
    if parse_spec(spec)[0] == "replay":
        raise ConfigError(
            "--model",
            "model",
            "a model that can answer new questions (replay only repeats recorded answers)",
            spec,
        )
    return asyncio.run(_ask(setup, spec, api_key))
