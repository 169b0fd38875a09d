"""Training data from a run's store: SFT examples, preference pairs and labelled step traces.

A *step* is one agent's decision in one phase: the model calls that produced it (the first
call's prompt; a repair call when the first answer was invalid) and its ``action`` event. The
scenario says how each step served its task (``Scenario.step_labels``: correct, neutral,
erroneous; by default a valid answer is correct and a fallback erroneous). From these:

- ``sft``: one conversation per correct step, in the chat ``messages`` form that TRL's
  ``SFTTrainer`` and OpenAI's fine-tuning read (system and user turns of the prompt, then the
  model's answer as the assistant turn);
- ``preference``: ``prompt`` / ``chosen`` / ``rejected`` in TRL's conversational preference
  form (what ``DPOTrainer`` reads), from alternatives the run produced: a repaired answer over
  the invalid answer it replaced (same prompt), and a teammate's correct answer over an
  erroneous one to the same phase of the same task (the erroneous member's prompt);
- ``steps``: one line per episode (an agent's steps within one tick): the conversation of its
  steps with one label per assistant turn, the labels passed through AgentProcessBench's
  error-propagation rule (``propagate``).

Every line carries ``metadata`` naming its run, tick, agent, action and call ids (the ``seq``
of the ``action`` and ``llm_call`` events). The JSON schemas of the three formats are in
``docs/schemas/``; ``docs/trajectories.md`` has a worked example of each.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from societas.engine.figures import StoreRun
from societas.scenarios.registry import get_scenario
from societas.store import RunStore
from societas.store.atomic import atomic_file
from societas.typing import ActionEvent, ConfigError, LLMCall
from societas.typing.scenario import STEP_LABELS, StepLabel

__all__ = [
    "TRAJECTORY_FORMATS",
    "Step",
    "TrajectoryFormat",
    "export_trajectories",
    "preference_pairs",
    "propagate",
    "read_steps",
    "sft_examples",
    "step_traces",
]

TrajectoryFormat = Literal["sft", "preference", "steps"]
TRAJECTORY_FORMATS: tuple[TrajectoryFormat, ...] = ("sft", "preference", "steps")

Message = dict[str, str]


@dataclass(frozen=True)
class Step:
    """One agent's decision in one phase, with the calls that made it and the scenario's
    label."""

    run_id: str
    tick: int
    agent: str
    phase: str
    action_id: int
    fallback: bool
    label: StepLabel
    calls: tuple[dict[str, Any], ...]  # RunStore.calls() rows, in order

    @property
    def call_ids(self) -> list[int]:
        return [int(c["seq"]) for c in self.calls]

    @property
    def prompt(self) -> list[Message] | None:
        """The messages of the decision's first call (a repair call repeats them)."""
        for call in self.calls:
            if call["messages"] is not None and not call["repair"]:
                return [dict(m) for m in call["messages"]]
        return None

    @property
    def answer(self) -> str | None:
        """The answer the action was read from (the last valid call's), None for a
        fallback."""
        if self.fallback:
            return None
        for call in reversed(self.calls):
            if call["status"] == "ok" and call["answer"] is not None:
                return str(call["answer"])
        return None

    @property
    def last_answer(self) -> str:
        """What the model last said in this step, valid or not ("" if nothing came back)."""
        for call in reversed(self.calls):
            if call["answer"] is not None:
                return str(call["answer"])
        return ""

    def cite(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "action_id": self.action_id,
            "call_ids": self.call_ids,
            "label": self.label,
        }


def read_steps(run_dir: Path) -> tuple[dict[str, Any], list[Step]]:
    """The run's info and its steps in event order, labelled by the run's scenario."""
    with RunStore.open(run_dir, readonly=True) as store:
        info = store.run_info()
        scenario = get_scenario(str(info["scenario"]))
        config = scenario.config_model.model_validate(info["config"]["scenario"])
        labels = scenario.step_labels(config, StoreRun(store))
        calls = {int(c["seq"]): c for c in store.calls()}
        pending: dict[str, list[int]] = defaultdict(list)
        steps: list[Step] = []
        for event in store.iter_events(["llm_call", "action"]):
            if event.actor is None:
                continue
            if isinstance(event, LLMCall):
                pending[event.actor].append(event.seq)
                continue
            if not isinstance(event, ActionEvent):
                continue
            purposes = {event.phase, event.phase + ":repair"}
            mine = [calls[s] for s in pending.pop(event.actor, []) if s in calls]
            mine = [c for c in mine if c["purpose"] in purposes]
            label = labels.get(event.seq)
            if label is None or not mine:  # not judged, or a rule-made action (no model call)
                continue
            if label not in STEP_LABELS:
                raise ConfigError(
                    f"scenario {info['scenario']}",
                    "step_labels",
                    " | ".join(STEP_LABELS),
                    repr(label),
                )
            steps.append(
                Step(
                    run_id=str(info["run_id"]),
                    tick=event.tick,
                    agent=event.actor,
                    phase=event.phase,
                    action_id=event.seq,
                    fallback=event.fallback,
                    label=label,
                    calls=tuple(mine),
                )
            )
    return info, steps


def _assistant(text: str) -> Message:
    return {"role": "assistant", "content": text}


def sft_examples(steps: Sequence[Step]) -> Iterator[dict[str, Any]]:
    """One conversation per correct step: its prompt, then its answer."""
    for step in steps:
        prompt, answer = step.prompt, step.answer
        if step.label != "correct" or prompt is None or answer is None:
            continue
        yield {
            "messages": [*prompt, _assistant(answer)],
            "metadata": {"run_id": step.run_id, "tick": step.tick, "phase": step.phase}
            | step.cite(),
        }


def _pair(
    source: str, prompt: list[Message], chosen: str, rejected: str, meta: dict[str, Any]
) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "chosen": [_assistant(chosen)],
        "rejected": [_assistant(rejected)],
        "metadata": {"source": source, **meta},
    }


def preference_pairs(steps: Sequence[Step]) -> Iterator[dict[str, Any]]:
    """Repaired over invalid answers (same prompt), then correct over erroneous answers of
    teammates to the same phase of the same task (the erroneous member's prompt)."""
    for step in steps:
        invalid = [c for c in step.calls if c["status"] == "invalid" and not c["repair"]]
        prompt, answer = step.prompt, step.answer
        if not invalid or prompt is None or answer is None or invalid[0]["answer"] is None:
            continue
        if not any(c["repair"] and c["status"] == "ok" for c in step.calls):
            continue
        meta = {"run_id": step.run_id, "tick": step.tick, "phase": step.phase}
        cite = step.cite()
        yield _pair(
            "repair",
            prompt,
            answer,
            str(invalid[0]["answer"]),
            meta | {"chosen": cite, "rejected": cite},
        )
    groups: dict[tuple[int, str], list[Step]] = defaultdict(list)
    for step in steps:
        groups[(step.tick, step.phase)].append(step)
    for (tick, phase), members in groups.items():
        right = [s for s in members if s.label == "correct" and s.answer is not None]
        if not right:
            continue
        wrong = [s for s in members if s.label == "erroneous" and s.prompt is not None]
        for i, loser in enumerate(wrong):
            winner = right[i % len(right)]
            chosen, rejected, prompt = winner.answer, loser.last_answer, loser.prompt
            if chosen is None or prompt is None or not rejected or chosen == rejected:
                continue
            yield _pair(
                "peers",
                prompt,
                chosen,
                rejected,
                {
                    "run_id": loser.run_id,
                    "tick": tick,
                    "phase": phase,
                    "chosen": winner.cite(),
                    "rejected": loser.cite(),
                },
            )


def propagate(labels: Sequence[StepLabel]) -> list[StepLabel]:
    """AgentProcessBench's error-propagation rule (RUCBM/AgentProcessBench,
    annotation_platform/ANNOTATION_GUIDE_v1.md, lines 112-133): once a step is erroneous, the
    steps that follow continue on its wrong premise and are erroneous too, unless one
    corrects it. Here a step the scenario judged ``correct`` is the correction (the guide's
    "effective correction -> Positive"); a ``neutral`` step after an uncorrected error
    becomes ``erroneous``."""
    out: list[StepLabel] = []
    wrong = False
    for label in labels:
        if label == "erroneous":
            wrong = True
        elif label == "correct":
            wrong = False
        out.append("erroneous" if wrong else label)
    return out


def step_traces(steps: Sequence[Step]) -> Iterator[dict[str, Any]]:
    """One line per episode (an agent's steps within a tick): the conversation and one label
    per assistant turn, after ``propagate``."""
    episodes: dict[tuple[int, str], list[Step]] = defaultdict(list)
    for step in steps:
        if step.prompt is not None:
            episodes[(step.tick, step.agent)].append(step)
    for (tick, agent), chain in episodes.items():
        messages: list[Message] = []
        for step in chain:
            prompt = step.prompt or []
            # The first step brings its whole prompt; later ones their new (non-system) turns.
            messages += prompt if not messages else [m for m in prompt if m["role"] != "system"]
            messages.append(_assistant(step.last_answer))
        given = [s.label for s in chain]
        yield {
            "messages": messages,
            "labels": propagate(given),
            "metadata": {
                "run_id": chain[0].run_id,
                "tick": tick,
                "agent": agent,
                "steps": [
                    {"phase": s.phase, "action_id": s.action_id, "call_ids": s.call_ids}
                    | {"scenario_label": s.label}
                    for s in chain
                ],
            },
        }


def export_trajectories(run_dir: Path, fmt: str, out: Path) -> int:
    """Write ``fmt`` (sft, preference or steps) of the run in ``run_dir`` to ``out`` as JSONL,
    whole or not at all; returns the number of lines."""
    writers = {"sft": sft_examples, "preference": preference_pairs, "steps": step_traces}
    if fmt not in writers:
        raise ConfigError("--format", "format", " | ".join(TRAJECTORY_FORMATS), fmt)
    _, steps = read_steps(run_dir)
    n = 0
    with atomic_file(out) as fh:
        for line in writers[fmt](steps):
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
            n += 1
    return n
