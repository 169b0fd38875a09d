"""The engine loop.

Each tick is a list of phases; in each phase every agent that observes something decides at
once through the Gateway (bounded only by its concurrency limit), with a deadline after which
the missing decisions are replaced by recorded fallbacks. The world resolves the actions with
the simulation's one RNG. The tick's events, the run's progress and a snapshot (world, minds,
RNG state) are committed in one transaction, so a run resumes from its store at the next tick.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel

from societas.engine.protocol import Intervention, Survey, answer_model
from societas.engine.recorder import TickRecorder
from societas.llm.gateway import Decision, Gateway
from societas.mind import Mind, derive_seed
from societas.store import RunStore
from societas.typing import (
    Action,
    ActionEvent,
    ConfigError,
    DecisionFallback,
    InterventionEvent,
    LLMCall,
    MetricEvent,
    Observation,
    RunCompleted,
    RunFailed,
    RunResumed,
    RunStarted,
    SocietasError,
    SurveyAnswerEvent,
    TickCompleted,
)
from societas.typing.scenario import Percept, PhaseSpec, Scenario, World

__all__ = ["Progress", "RunInterrupted", "Simulation", "apply_settings"]


def apply_settings(world: World, settings: Mapping[str, Any]) -> None:
    """Change a running world's settings; a ``ConfigError`` if the scenario cannot."""
    apply = getattr(world, "apply_settings", None)
    if apply is None:
        raise ConfigError(
            "run.interventions",
            "set",
            "a scenario whose world accepts setting changes",
            type(world).__name__,
        )
    apply(settings)


class RunInterrupted(SocietasError):
    """The run stopped on request after a completed tick; it can be resumed."""

    exit_code = 130

    def __init__(self, ticks_completed: int) -> None:
        super().__init__(f"stopped after {ticks_completed} completed ticks")
        self.ticks_completed = ticks_completed


@dataclass(frozen=True)
class Progress:
    tick: int
    num_ticks: int
    llm_calls: int
    prompt_tokens: int
    completion_tokens: int
    cost: float


class Simulation:
    def __init__(
        self,
        *,
        scenario: Scenario,
        config: BaseModel,
        world: World,
        minds: Mapping[str, Mind],
        gateway: Gateway,
        store: RunStore,
        seed: int,
        rng: np.random.Generator,
        deadline_s: float,
        on_progress: Callable[[Progress], None] | None = None,
        interventions: Sequence[Intervention] = (),
        surveys: Sequence[Survey] = (),
    ) -> None:
        self.scenario = scenario
        self.config = config
        self.world = world
        self.minds = dict(minds)
        self.gateway = gateway
        self.store = store
        self.seed = seed
        self.rng = rng
        self.deadline_s = deadline_s
        self.on_progress = on_progress
        self.run_id = store.run_id()
        self.num_ticks = world.num_ticks()
        self.stop_requested = False
        self.interventions: list[Intervention] = list(interventions)
        self.surveys: list[Survey] = list(surveys)

    def request_stop(self) -> None:
        """Stop cleanly after the tick in progress (what Ctrl-C does)."""
        self.stop_requested = True

    # -- lifecycle -----------------------------------------------------------------------

    def record_start(self, model_label: str) -> None:
        rec = TickRecorder(self.run_id, self.store.next_seq(), -1, 0.0)
        rec.emit(
            RunStarted,
            scenario=self.scenario.name,
            seed=self.seed,
            model=model_label,
            config=self.config.model_dump(mode="json"),
        )
        self.store.commit_tick(rec.events, snapshot=(-1, rec.next_seq, self.snapshot()))

    def snapshot(self) -> dict[str, Any]:
        return {
            "world": self.world.snapshot(),
            "minds": {aid: mind.snapshot() for aid, mind in self.minds.items()},
            "rng": self.rng.bit_generator.state,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        self.world.restore(state["world"])
        for aid, mind_state in state["minds"].items():
            self.minds[aid].restore(mind_state)
        self.rng.bit_generator.state = state["rng"]

    async def run(self, start_tick: int = 0, *, resumed: bool = False) -> dict[str, float]:
        """Run ticks ``start_tick..num_ticks-1``, then compute and store the metrics."""
        if resumed:
            rec = TickRecorder(self.run_id, self.store.next_seq(), start_tick - 1, 0.0)
            rec.emit(RunResumed, from_tick=start_tick)
            self.store.commit_tick(
                rec.events,
                status="running",
                snapshot=(start_tick - 1, rec.next_seq, self.snapshot()),
            )
        try:
            tick = start_tick
            while tick < self.num_ticks and not self.world.is_over():
                await self.step(tick)
                tick += 1
                if self.stop_requested and tick < self.num_ticks and not self.world.is_over():
                    self.store.set_status("interrupted")
                    raise RunInterrupted(tick)
            return self.finish(tick)
        except RunInterrupted:
            raise
        except (KeyboardInterrupt, asyncio.CancelledError):
            self.store.set_status("interrupted")
            raise
        except Exception as exc:
            rec = TickRecorder(self.run_id, self.store.next_seq(), -1, 0.0)
            rec.emit(RunFailed, error_type=type(exc).__name__, message=str(exc)[:2000])
            self.store.commit_tick(rec.events, status="failed", error=str(exc)[:2000])
            raise

    def finish(self, ticks_done: int) -> dict[str, float]:
        events = self.store.events()
        metrics = self.scenario.metrics(self.config, events)
        rec = TickRecorder(self.run_id, self.store.next_seq(), ticks_done - 1, 0.0)
        for name, value in sorted(metrics.items()):
            rec.emit(MetricEvent, name=name, value=float(value))
        rec.emit(RunCompleted, ticks=ticks_done)
        self.store.commit_tick(
            rec.events,
            status="completed",
            metrics={(name, -1): float(value) for name, value in metrics.items()},
        )
        return metrics

    # -- one tick ------------------------------------------------------------------------

    async def step(self, tick: int) -> None:
        rec = TickRecorder(self.run_id, self.store.next_seq(), tick, self.world.sim_time(tick))
        calls_before = self.gateway.totals.calls
        fallbacks = 0
        for intervention in self.interventions:
            if intervention.tick == tick:
                self._intervene(tick, intervention, rec)
        for phase in self.world.phases(tick):
            fallbacks += await self._phase(tick, phase, rec)
            if self.world.is_over():
                break
        for survey in self.surveys:
            if survey.tick == tick:
                await self._survey(tick, survey, rec)
        rec.emit(
            TickCompleted,
            llm_calls=self.gateway.totals.calls - calls_before,
            fallbacks=fallbacks,
        )
        self.store.commit_tick(
            rec.events,
            ticks_completed=tick + 1,
            snapshot=(tick, rec.next_seq, self.snapshot()),
        )
        if self.on_progress is not None:
            t = self.gateway.totals
            self.on_progress(
                Progress(
                    tick=tick + 1,
                    num_ticks=self.num_ticks,
                    llm_calls=t.calls,
                    prompt_tokens=t.prompt_tokens,
                    completion_tokens=t.completion_tokens,
                    cost=self.gateway.cost,
                )
            )

    def _intervene(self, tick: int, intervention: Intervention, rec: TickRecorder) -> None:
        """Change world settings and/or tell agents the news; recorded before the phases."""
        if intervention.set:
            apply_settings(self.world, intervention.set)
        told = intervention.to if intervention.to is not None else list(self.world.agent_ids())
        if intervention.message is not None:
            news = Percept(text=f"News: {intervention.message}", kind="news", importance=8.0)
            for agent_id in told:
                if agent_id in self.minds:
                    self.minds[agent_id].remember(tick, [news])
        rec.emit(
            InterventionEvent,
            settings=dict(intervention.set),
            message=intervention.message,
            to=intervention.to,
        )

    async def _survey(self, tick: int, survey: Survey, rec: TickRecorder) -> None:
        """Ask every question to every surveyed agent at once; each answer is an event."""
        agents = survey.agents if survey.agents is not None else list(self.world.agent_ids())
        jobs: list[tuple[str, str, str, Decision, asyncio.Task[Decision]]] = []
        for agent_id in agents:
            mind = self.minds.get(agent_id)
            if mind is None:
                continue
            for question in survey.questions:
                phase = PhaseSpec(
                    name=f"survey:{survey.name}:{question.id}",
                    action_model=answer_model(question),
                    instruction=question.hint() + " Answer as yourself, in character.",
                )
                obs = Observation(
                    agent_id=agent_id,
                    tick=tick,
                    phase=phase.name,
                    text=f"An interviewer asks you: {question.text}",
                    fields={"question": question.model_dump(mode="json")},
                )
                seed = derive_seed(self.seed, tick, phase.name, agent_id)
                request = mind.build_request(obs, phase, self.world.rules_text, seed)
                # Calls land in ``partial`` as they finish, so a question cancelled at the
                # deadline still records the calls it made.
                partial = Decision(action=None, request=request)
                task = asyncio.create_task(
                    self.gateway.decide(request, phase.action_model, into=partial)
                )
                jobs.append((agent_id, question.id, question.type, partial, task))
        if not jobs:
            return
        _, pending = await asyncio.wait([t for *_, t in jobs], timeout=self.deadline_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for agent_id, question_id, question_type, partial, task in jobs:
            decision = partial if task not in pending else None
            for call in partial.calls:
                rec.emit(LLMCall, actor=agent_id, **call.fields())
            action = decision.action if decision is not None else None
            rec.emit(
                SurveyAnswerEvent,
                actor=agent_id,
                survey=survey.name,
                question=question_id,
                question_type=question_type,
                answer=action.model_dump(mode="json")["answer"] if action is not None else None,
                fallback=action is None,
                error=None if action is not None else (decision.error if decision else "deadline"),
            )

    async def _phase(self, tick: int, phase: PhaseSpec, rec: TickRecorder) -> int:
        observations: dict[str, Observation] = {}
        for agent_id in self.world.agent_ids():
            obs = self.world.observe(agent_id, tick, phase)
            if obs is not None:
                observations[agent_id] = obs
        decisions = await self._decide_all(tick, phase, observations)
        actions: dict[str, Action] = {}
        fallbacks = 0
        for agent_id, obs in observations.items():
            decision, finished = decisions[agent_id]
            action = self._record_decision(rec, agent_id, obs, phase, decision, finished)
            fallbacks += int(not finished or decision.action is None)
            actions[agent_id] = action
        percepts = self.world.resolve(tick, phase, actions, self.rng, rec)
        for agent_id, items in percepts.items():
            mind = self.minds.get(agent_id)
            if mind is not None:
                mind.remember(tick, items)
        return fallbacks

    async def _decide_all(
        self, tick: int, phase: PhaseSpec, observations: Mapping[str, Observation]
    ) -> dict[str, tuple[Decision, bool]]:
        """Every agent's decision at once. Returns (decision, finished before the deadline);
        an unfinished decision still holds the calls it completed."""
        decisions: dict[str, Decision] = {}
        tasks: dict[str, asyncio.Task[Decision]] = {}
        for agent_id, obs in observations.items():
            seed = derive_seed(self.seed, tick, phase.name, agent_id)
            request = self.minds[agent_id].build_request(obs, phase, self.world.rules_text, seed)
            decisions[agent_id] = Decision(action=None, request=request)
            tasks[agent_id] = asyncio.create_task(
                self.gateway.decide(request, phase.action_model, into=decisions[agent_id])
            )
        if not tasks:
            return {}
        done, pending = await asyncio.wait(tasks.values(), timeout=self.deadline_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        return {aid: (decisions[aid], tasks[aid] in done) for aid in tasks}

    def _record_decision(
        self,
        rec: TickRecorder,
        agent_id: str,
        obs: Observation,
        phase: PhaseSpec,
        decision: Decision,
        finished: bool,
    ) -> Action:
        for call in decision.calls:
            rec.emit(LLMCall, actor=agent_id, **call.fields())
        if not finished and decision.request is not None:
            # The call in flight at the deadline: cancelled, recorded as an error.
            rec.emit(
                LLMCall,
                actor=agent_id,
                purpose=decision.request.purpose,
                model=self.gateway.model_id_for(decision.request),
                request_hash=decision.request.cache_key(
                    self.gateway.model_id_for(decision.request)
                ),
                prompt_tokens=0,
                completion_tokens=0,
                status="error",
                error=f"cancelled at the phase deadline of {self.deadline_s:g} s",
            )
        if finished and decision.action is not None:
            action = decision.action
            fallback = False
        else:
            action = self.world.fallback(obs, phase)
            fallback = True
            reason = "deadline" if not finished else (decision.failure or "backend_error")
            error = (
                f"no decision within the deadline of {self.deadline_s:g} s"
                if not finished
                else (decision.error or "")
            )
            rec.emit(
                DecisionFallback,
                actor=agent_id,
                phase=phase.name,
                reason=reason,
                error=error[:1000],
                raw_output=decision.raw_output,
            )
        rec.emit(
            ActionEvent,
            actor=agent_id,
            phase=phase.name,
            action_type=type(action).action_type,
            data=action.model_dump(mode="json"),
            fallback=fallback,
        )
        return action
