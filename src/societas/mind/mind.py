"""An agent's cognition for the foundation: perceive into memory, retrieve, build one request.

The prompt has a stable prefix (the world's rules, then the persona) so model servers' prefix
caches hit; what changes (memories, the observation) comes last.

The engine talks to a mind through four hooks (see ``docs/mind.md``): ``decide`` (may make any
number of model calls; the base makes one), ``perceive`` (after the world resolved a phase),
``drain_events`` (cognition events to record: plans, reflections, predictions, ...) and
``recorded`` (the sequence numbers the drained events got). The base class keeps the
foundation's behaviour: one request per decision, percepts into a recency memory, no events.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from societas.llm.gateway import Decision, Gateway
from societas.memory import RecentMemory
from societas.typing import Action, ChatMessage, LLMRequest, Observation, Persona, Sampling
from societas.typing.events import EventBase
from societas.typing.scenario import Percept, PhaseSpec

__all__ = [
    "DecisionContext",
    "Mind",
    "MindEvent",
    "derive_seed",
    "interview_prompt",
    "phase_request",
    "schema_hint",
    "system_text",
]

# A cognition event for the engine to record: its class and its kind-specific fields (the
# engine adds run, seq, tick, sim time and ``actor``; ``parent`` may be given).
MindEvent = tuple[type[EventBase], dict[str, Any]]


@dataclass(frozen=True)
class DecisionContext:
    """What the engine hands a mind for one decision."""

    observation: Observation
    phase: PhaseSpec
    rules_text: str  # the world's rules for this agent (``World.rules_for``)
    seed: int
    tick: int
    sim_time: float
    # The rules already say who the agent is (``World.persona_in_rules``): no persona text.
    persona_in_rules: bool = False


def system_text(rules_text: str, persona: Persona, *, persona_in_rules: bool = False) -> str:
    """An agent's system message: the world's rules for it, then its persona's description,
    unless the world's rules already say who the agent is (``World.persona_in_rules``: GovSim's
    system prompt names the agent and appends its goals itself)."""
    if persona_in_rules:
        return rules_text
    return f"{rules_text}\n\n{persona.describe()}".strip()


def derive_seed(run_seed: int, tick: int, phase: str, agent_id: str) -> int:
    """Per-request seed: a stable hash, so it does not depend on call order or on resuming."""
    blob = f"{run_seed}|{tick}|{phase}|{agent_id}".encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big") & 0x7FFFFFFF


def _describe(prop: dict[str, Any]) -> str:
    kind = prop.get("type", "value")
    if "enum" in prop:
        return "one of " + ", ".join(json.dumps(v) for v in prop["enum"])
    if kind == "integer" or kind == "number":
        lo, hi = prop.get("minimum"), prop.get("maximum")
        if lo is not None and hi is not None:
            return f"{kind} from {lo} to {hi}"
        return str(kind)
    if kind == "string" and "maxLength" in prop:
        return f"text, at most {prop['maxLength']} characters"
    return "text" if kind == "string" else str(kind)


def schema_hint(action_model: type[Action]) -> str:
    """A one-line description of the JSON object to answer with."""
    schema = action_model.json_schema()
    fields = schema.get("properties", {})
    parts = [f'"{name}": {_describe(prop)}' for name, prop in fields.items()]
    return "{" + ", ".join(parts) + "}"


def phase_request(
    system: str,
    parts: Sequence[str],
    phase: PhaseSpec,
    *,
    sampling: Sampling,
    seed: int,
    actor: str,
    context: Mapping[str, Any],
) -> LLMRequest:
    """The request for a phase's decision: the stable system text, then ``parts``, the phase's
    instruction and the answer format; constrained by the action's JSON schema. Agents,
    generative minds and archetype groups all ask this way."""
    user = [*parts]
    if phase.instruction:
        user.append(phase.instruction)
    user.append("Answer with only a JSON object of this form: " + schema_hint(phase.action_model))
    return LLMRequest(
        messages=(
            ChatMessage(role="system", content=system),
            ChatMessage(role="user", content="\n\n".join(user)),
        ),
        json_schema=phase.action_model.json_schema(),
        sampling=sampling,
        seed=seed,
        purpose=phase.name,
        actor=actor,
        context=dict(context),
    )


class Mind:
    def __init__(
        self, persona: Persona, *, memory: RecentMemory | None = None, sampling: Sampling
    ) -> None:
        self.persona = persona
        self.memory = memory or RecentMemory()
        self.sampling = sampling

    def build_request(
        self,
        observation: Observation,
        phase: PhaseSpec,
        rules_text: str,
        seed: int,
        *,
        persona_in_rules: bool = False,
    ) -> LLMRequest:
        system = system_text(rules_text, self.persona, persona_in_rules=persona_in_rules)
        parts: list[str] = []
        memories = self.memory.retrieve()
        if memories:
            parts.append("What you remember:\n" + "\n".join(f"- {m.text}" for m in memories))
        parts.append(observation.text)
        return phase_request(
            system,
            parts,
            phase,
            sampling=self.sampling,
            seed=seed,
            actor=self.persona.id,
            context={"phase": phase.name, "tick": observation.tick, **observation.fields},
        )

    async def decide(
        self, ctx: DecisionContext, gateway: Gateway, into: Decision | None = None
    ) -> Decision:
        """Decide one action. ``into`` collects the calls as they finish (and
        ``into.request`` names the call in flight), so a decision cancelled at the phase
        deadline still shows what it did. The base makes exactly one request."""
        request = self.build_request(
            ctx.observation,
            ctx.phase,
            ctx.rules_text,
            ctx.seed,
            persona_in_rules=ctx.persona_in_rules,
        )
        decision = into if into is not None else Decision(action=None)
        decision.request = request
        return await gateway.decide(request, ctx.phase.action_model, into=decision)

    async def perceive(
        self,
        tick: int,
        sim_time: float,
        percepts: Sequence[Percept],
        gateway: Gateway,
        *,
        phase: str = "",
    ) -> None:
        """What the agent learned in a phase (called for every mind after each resolve)."""
        if percepts:
            self.remember(tick, percepts)

    def drain_events(self) -> list[MindEvent]:
        """Cognition events (and ``LLMCall`` for calls made outside ``decide``) since the
        last drain, in the order they happened. The base mind has none."""
        return []

    def recorded(self, seqs: Sequence[int]) -> None:
        """The sequence numbers the engine gave the events of the last drain, in order."""

    def interview_request(
        self,
        question: str,
        *,
        rules_text: str,
        tick: int,
        seed: int,
        persona_in_rules: bool = False,
    ) -> LLMRequest:
        """A free-text request: the agent answers ``question`` in character from memory."""
        system = system_text(rules_text, self.persona, persona_in_rules=persona_in_rules)
        memories = self.memory.retrieve()
        return interview_prompt(
            system, [m.text for m in memories], question, self.persona, self.sampling, tick, seed
        )

    def remember(self, tick: int, percepts: Iterable[Percept]) -> None:
        for p in percepts:
            self.memory.remember(tick, p.text, kind=p.kind, importance=p.importance)

    def snapshot(self) -> dict[str, Any]:
        return {"memory": self.memory.snapshot()}

    def restore(self, state: dict[str, Any]) -> None:
        self.memory.restore(state.get("memory", []))


INTERVIEW_INSTRUCTION = (
    "An interviewer asks you a question. Answer in character, in one to three sentences, "
    "from what you remember. If you do not remember, say so."
)


def interview_prompt(
    system: str,
    memories: Sequence[str],
    question: str,
    persona: Persona,
    sampling: Sampling,
    tick: int,
    seed: int,
) -> LLMRequest:
    """The interview request shared by every mind: memories, then the question."""
    parts: list[str] = []
    if memories:
        parts.append("What you remember:\n" + "\n".join(f"- {m}" for m in memories))
    else:
        parts.append("What you remember: nothing yet.")
    parts.append(INTERVIEW_INSTRUCTION)
    parts.append(f"Question: {question}")
    return LLMRequest(
        messages=(
            ChatMessage(role="system", content=system),
            ChatMessage(role="user", content="\n\n".join(parts)),
        ),
        sampling=sampling,
        seed=seed,
        purpose="interview",
        actor=persona.id,
        context={"tick": tick, "question": question, "name": persona.name},
    )
