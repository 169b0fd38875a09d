"""An agent's cognition for the foundation: perceive into memory, retrieve, build one request.

The prompt has a stable prefix (the world's rules, then the persona) so model servers' prefix
caches hit; what changes (memories, the observation) comes last.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from societas.mind.memory import MemoryRecord, RecentMemory
from societas.typing import Action, ChatMessage, LLMRequest, Observation, Persona, Sampling
from societas.typing.scenario import Percept, PhaseSpec

__all__ = ["Mind", "derive_seed", "schema_hint"]


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


class Mind:
    def __init__(
        self, persona: Persona, *, memory: RecentMemory | None = None, sampling: Sampling
    ) -> None:
        self.persona = persona
        self.memory = memory or RecentMemory()
        self.sampling = sampling

    def build_request(
        self, observation: Observation, phase: PhaseSpec, rules_text: str, seed: int
    ) -> LLMRequest:
        system = f"{rules_text}\n\n{self.persona.describe()}".strip()
        parts: list[str] = []
        memories = self.memory.retrieve()
        if memories:
            parts.append("What you remember:\n" + "\n".join(f"- {m.text}" for m in memories))
        parts.append(observation.text)
        if phase.instruction:
            parts.append(phase.instruction)
        parts.append(
            "Answer with only a JSON object of this form: " + schema_hint(phase.action_model)
        )
        return LLMRequest(
            messages=(
                ChatMessage(role="system", content=system),
                ChatMessage(role="user", content="\n\n".join(parts)),
            ),
            json_schema=phase.action_model.json_schema(),
            sampling=self.sampling,
            seed=seed,
            purpose=phase.name,
            actor=self.persona.id,
            context={"phase": phase.name, "tick": observation.tick, **observation.fields},
        )

    def remember(self, tick: int, percepts: Iterable[Percept]) -> None:
        self.memory.extend(
            MemoryRecord(tick=tick, text=p.text, kind=p.kind, importance=p.importance)
            for p in percepts
        )

    def snapshot(self) -> dict[str, Any]:
        return {"memory": self.memory.snapshot()}

    def restore(self, state: dict[str, Any]) -> None:
        self.memory.restore(state.get("memory", []))
