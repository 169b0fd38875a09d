"""The engine loop.

Each tick is a list of phases; in each phase every agent that observes something decides at
once through the Gateway (bounded only by its concurrency limit), with a deadline after which
the missing decisions are replaced by recorded fallbacks. The world resolves the actions with
the simulation's one RNG. The tick's events, the run's progress and a snapshot (world, minds,
RNG state) are committed in one transaction, so a run resumes from its store at the next tick.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel

from societas.engine.figures import StoreRun, run_figures
from societas.engine.health import (
    BudgetPaused,
    FallbackRateExceeded,
    RunPaused,
    fallback_outcome,
    run_fallbacks,
)
from societas.engine.protocol import Intervention, Survey, answer_model
from societas.engine.recorder import TickRecorder
from societas.llm.budget import BudgetLimits, BudgetMonitor, Spend, spend_since
from societas.llm.gateway import Decision, Gateway
from societas.llm.tick_budget import TickBudget
from societas.llm.wrappers import OutageMonitor
from societas.mind import DecisionContext, Mind, derive_seed, phase_request
from societas.store import RunStore
from societas.typing import (
    Action,
    ActionEvent,
    ConfigError,
    DecisionFallback,
    GroupDecisionEvent,
    GroupQuery,
    InterventionEvent,
    LLMCall,
    LLMRequest,
    MetricEvent,
    Observation,
    Persona,
    RunCompleted,
    RunFailed,
    RunPausedEvent,
    RunResumed,
    RunStarted,
    Sampling,
    SocietasError,
    SurveyAnswerEvent,
    TickCompleted,
    WorldState,
)
from societas.typing.scenario import Percept, PhaseSpec, Scenario, World

__all__ = ["Progress", "RunInterrupted", "Simulation"]


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
    # What the run has paid for so far (from its store, so across resumes) and its budget.
    spent: Spend | None = None
    budget: BudgetLimits | None = None


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
        sampling: Sampling | None = None,
        mind_factory: Callable[[Persona], Mind] | None = None,
        outage: OutageMonitor | None = None,
        max_fallback_rate: float | None = None,
        budget: BudgetMonitor | None = None,
    ) -> None:
        # Honest outcomes (engine/health.py): a model-server outage or a reached budget pauses
        # the run; too many fallbacks fail it.
        self.outage = outage
        self.budget = budget
        self._tick_spend: dict[str, list[int]] = {}
        self.max_fallback_rate = max_fallback_rate
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
        # Builds the Mind of an agent added mid-run (the runner passes the one it used for
        # the initial population); added personas go into every snapshot, so a resumed run
        # rebuilds their minds before restoring them.
        self.mind_factory = mind_factory
        self.added_personas: list[Persona] = []
        # Population mode: sampling of group requests; answers by request key (in process).
        self.sampling = sampling or Sampling()
        self._group_memo: dict[str, Action] = {}

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
        state: dict[str, Any] = {
            "world": self.world.snapshot(),
            "minds": {aid: mind.snapshot() for aid, mind in self.minds.items()},
            "rng": self.rng.bit_generator.state,
        }
        if self.added_personas:  # agents added by interventions, rebuilt first on restore
            state["added"] = [p.model_dump(mode="json") for p in self.added_personas]
        return state

    def restore(self, state: Mapping[str, Any]) -> None:
        self.world.restore(state["world"])
        self.added_personas = []
        for data in state.get("added", []):
            persona = Persona.model_validate(data)
            self.added_personas.append(persona)
            if persona.id not in self.minds:
                self.minds[persona.id] = self._new_mind(persona)
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
        except FallbackRateExceeded:  # finish() recorded it
            raise
        except RunPaused as exc:  # the open tick is dropped; its answers are in the cache
            rec = TickRecorder(self.run_id, self.store.next_seq(), exc.ticks_completed - 1, 0.0)
            dropped = spend_since(self._tick_spend, self.budget.by_model) if self.budget else {}
            rec.emit(RunPausedEvent, reason=exc.reason[:2000], dropped_spend=dropped)
            self.store.commit_tick(rec.events, status="paused", error=str(exc)[:2000])
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
        run = StoreRun(self.store)
        rec = TickRecorder(self.run_id, self.store.next_seq(), ticks_done - 1, 0.0)
        if self.max_fallback_rate is not None:
            failure = fallback_outcome(*run_fallbacks(run.events), self.max_fallback_rate)
            if failure is not None:  # no metrics: they would describe the fallback policy
                rec.emit(RunFailed, error_type=type(failure).__name__, message=str(failure)[:2000])
                self.store.commit_tick(rec.events, status="failed", error=str(failure)[:2000])
                raise failure
        # The platform's run-level figures; a scenario's own metric of the same name wins.
        metrics = {**run_figures(run.events), **self.scenario.metrics(self.config, run)}
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
        rec = TickRecorder(
            self.run_id, self.store.next_seq(), tick, self.world.sim_time(tick), rng=self.rng
        )
        calls_before = self.gateway.totals.calls
        tokens = self.world.token_budget(tick)
        self.gateway.tick_budget = TickBudget(tokens) if tokens is not None else None
        if self.budget is not None:  # what the tick pays, recorded if it is dropped
            self._tick_spend = {m: list(row) for m, row in self.budget.by_model.items()}
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
        if self.outage is not None and self.outage.reason is not None:
            raise RunPaused(tick, self.outage.reason)
        if self.budget is not None and self.budget.reason is not None:
            raise BudgetPaused(tick, self.budget.reason)
        rec.emit(
            TickCompleted,
            llm_calls=self.gateway.totals.calls - calls_before,
            fallbacks=fallbacks,
        )
        self.store.commit_tick(
            rec.events,
            ticks_completed=tick + 1,
            snapshot=(tick, rec.next_seq, self.snapshot()),
            metrics=rec.metrics,
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
                    spent=dataclasses.replace(self.budget.spent) if self.budget else None,
                    budget=self.budget.limits if self.budget else None,
                )
            )

    def _new_mind(self, persona: Persona) -> Mind:
        """An added agent's Mind: built like the others' (the runner's factory), else with
        the sampling of the first agent's Mind."""
        if self.mind_factory is not None:
            return self.mind_factory(persona)
        if not self.minds:
            raise ConfigError(
                "run.interventions", "add", "a simulation that can build minds", persona.id
            )
        return Mind(persona, sampling=next(iter(self.minds.values())).sampling)

    def _intervene(self, tick: int, intervention: Intervention, rec: TickRecorder) -> None:
        """Change world settings, remove and add agents, tell agents the news (in this
        order); recorded before the phases."""
        if intervention.set:
            self.world.apply_settings(intervention.set)
        if intervention.remove:
            self.world.remove_agents(intervention.remove)
        if intervention.add:
            taken = sorted(p.id for p in intervention.add if p.id in self.minds)
            if taken:
                raise ConfigError("run.interventions", "add.id", "an id no agent has yet", taken[0])
            self.world.add_agents(intervention.add)
            for persona in intervention.add:
                self.minds[persona.id] = self._new_mind(persona)
                self.added_personas.append(persona)
        present = list(self.world.agent_ids())
        told = intervention.to if intervention.to is not None else present
        if intervention.message is not None:
            news = Percept(text=f"News: {intervention.message}", kind="news", importance=8.0)
            for agent_id in told:
                # Only agents taking part hear news (not removed ones, not future joiners).
                if agent_id in self.minds and agent_id in present:
                    self.minds[agent_id].remember(tick, [news])
        rec.emit(
            InterventionEvent,
            settings=dict(intervention.set),
            message=intervention.message,
            to=intervention.to,
        )
        if intervention.add or intervention.remove:
            # The intervention event has no population fields; the change is a world_state
            # event of phase "population" (the added personas in full, for analysis).
            rec.emit(
                WorldState,
                phase="population",
                state={
                    "agents": len(self.world.agent_ids()),
                    "added": [p.id for p in intervention.add],
                    "removed": list(intervention.remove),
                    "added_personas": [p.model_dump(mode="json") for p in intervention.add],
                },
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
                request = mind.build_request(
                    obs,
                    phase,
                    self.world.rules_for(agent_id),
                    seed,
                    persona_in_rules=self.world.persona_in_rules,
                )
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

    # -- population mode -----------------------------------------------------------------

    def _group_request(self, query: GroupQuery, phase: PhaseSpec) -> LLMRequest:
        """One archetype's request: rules + the group's persona, then what it observes.

        The seed comes from (run seed, phase, key, hash of the observation text), not the
        tick, so a group that sees the same thing again sends an identical request (served by
        the memo in process and by the response cache across processes)."""
        obs = query.observation
        digest = hashlib.sha256(obs.text.encode("utf-8")).hexdigest()[:16]
        seed = derive_seed(self.seed, 0, phase.name, f"group:{query.key}:{digest}")
        system = f"{self.world.rules_text}\n\n{query.persona_text}".strip()
        return phase_request(
            system,
            [obs.text],
            phase,
            sampling=self.sampling,
            seed=seed,
            actor=f"group:{query.key}",
            context={
                "phase": phase.name,
                "tick": obs.tick,
                "group": query.key,
                "size": query.size,
                **obs.fields,
            },
        )

    async def _group_phase(self, tick: int, phase: PhaseSpec, rec: TickRecorder) -> int:
        """A ``groups`` phase: one call per archetype, all in flight at once, then the world
        draws the members' actions from the answers (``resolve_groups``)."""
        if phase.groups is None:
            raise ConfigError(
                f"scenario {self.scenario.name}",
                f"phases.{phase.name}.groups",
                "a 'groups' phase with a groups(tick) rule",
                "none",
            )
        queries: list[GroupQuery] = list(phase.groups(tick))
        keys = [q.key for q in queries]
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise ConfigError(
                f"scenario {self.scenario.name}",
                f"phases.{phase.name}.groups",
                "distinct group keys",
                dup,
            )
        model_id = self.gateway.model_id
        requests = {q.key: self._group_request(q, phase) for q in queries}
        memo_keys = {k: r.cache_key(model_id) for k, r in requests.items()}
        decisions: dict[str, Decision] = {}
        tasks: dict[str, asyncio.Task[Decision]] = {}
        for q in queries:
            if memo_keys[q.key] in self._group_memo:
                continue
            decisions[q.key] = Decision(action=None, request=requests[q.key])
            tasks[q.key] = asyncio.create_task(
                self.gateway.decide(requests[q.key], phase.action_model, into=decisions[q.key])
            )
        done: set[asyncio.Task[Decision]] = set()
        if tasks:
            done, pending = await asyncio.wait(tasks.values(), timeout=self.deadline_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        answers: dict[str, Action] = {}
        fallbacks = 0
        for q in queries:
            actor = f"group:{q.key}"
            memo = self._group_memo.get(memo_keys[q.key])
            reused = memo is not None
            fallback = False
            if memo is not None:
                action = memo
            else:
                # The same records as an agent's decision: calls, fallback, then the event.
                finished = tasks[q.key] in done
                answered = self._record_outcome(rec, actor, phase, decisions[q.key], finished)
                fallback = answered is None
                if answered is None:
                    action = phase.fallback_for(q.observation)
                    fallbacks += 1
                else:
                    action = self._group_memo[memo_keys[q.key]] = answered
            answers[q.key] = action
            rec.emit(
                GroupDecisionEvent,
                actor=actor,
                phase=phase.name,
                key=q.key,
                size=q.size,
                data=action.model_dump(mode="json"),
                fallback=fallback,
                reused=reused,
            )
        percepts = phase.resolve_actions(answers, rec)
        for agent_id, items in percepts.items():
            mind = self.minds.get(agent_id)
            if mind is not None and items:
                mind.remember(tick, items)
        return fallbacks

    async def _phase(self, tick: int, phase: PhaseSpec, rec: TickRecorder) -> int:
        if phase.mode == "groups":
            return await self._group_phase(tick, phase, rec)
        observations: dict[str, Observation] = {}
        for agent_id in self.world.agent_ids():
            obs = phase.observation(agent_id, tick)
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
            # Cognition events of the decision (plans, predictions, vetoes, ...) point at
            # the action they led to.
            self._emit_mind_events(rec, agent_id, parent=rec.next_seq - 1)
        percepts = phase.resolve_actions(actions, rec)
        await self._perceive_all(tick, phase, percepts, rec)
        return fallbacks

    async def _perceive_all(
        self,
        tick: int,
        phase: PhaseSpec,
        percepts: Mapping[str, Sequence[Percept]],
        rec: TickRecorder,
    ) -> None:
        """Every mind perceives the phase's outcome at once (memory, importance, reflection),
        within the phase deadline; then each mind's events are recorded in agent order."""
        sim_time = self.world.sim_time(tick)
        tasks: dict[str, asyncio.Task[None]] = {}
        for agent_id, mind in self.minds.items():
            items = percepts.get(agent_id, ())
            if type(mind).perceive is Mind.perceive:
                if items:  # the base mind: no model calls, nothing to wait for
                    mind.remember(tick, items)
                continue
            tasks[agent_id] = asyncio.create_task(
                mind.perceive(tick, sim_time, items, self.gateway, phase=phase.name)
            )
        if tasks:
            done, pending = await asyncio.wait(tasks.values(), timeout=self.deadline_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            for task in done:
                if task.exception() is not None:
                    task.result()  # a bug in a mind is raised, not swallowed
        for agent_id in tasks:
            self._emit_mind_events(rec, agent_id)

    def _emit_mind_events(
        self, rec: TickRecorder, agent_id: str, parent: int | None = None
    ) -> None:
        """Record what a mind reports (``drain_events``) with the agent as actor."""
        mind = self.minds.get(agent_id)
        if mind is None:
            return
        drained = mind.drain_events()
        if not drained:
            return
        seqs: list[int] = []
        for event_type, fields in drained:
            fields = dict(fields)
            if parent is not None and event_type is not LLMCall:
                fields.setdefault("parent", parent)
            seqs.append(rec.emit(event_type, actor=agent_id, **fields))
        mind.recorded(seqs)

    async def _decide_all(
        self, tick: int, phase: PhaseSpec, observations: Mapping[str, Observation]
    ) -> dict[str, tuple[Decision, bool]]:
        """Every agent's decision at once. Returns (decision, finished before the deadline);
        an unfinished decision still holds the calls it completed."""
        decisions: dict[str, Decision] = {}
        tasks: dict[str, asyncio.Task[Decision]] = {}
        sim_time = self.world.sim_time(tick)
        for agent_id, obs in observations.items():
            ctx = DecisionContext(
                observation=obs,
                phase=phase,
                rules_text=self.world.rules_for(agent_id),
                seed=derive_seed(self.seed, tick, phase.name, agent_id),
                tick=tick,
                sim_time=sim_time,
                persona_in_rules=self.world.persona_in_rules,
            )
            decisions[agent_id] = Decision(action=None)
            tasks[agent_id] = asyncio.create_task(
                self.minds[agent_id].decide(ctx, self.gateway, into=decisions[agent_id])
            )
        if not tasks:
            return {}
        done, pending = await asyncio.wait(tasks.values(), timeout=self._deadline(phase))
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            if task.exception() is not None:
                task.result()  # a bug in a mind is raised, not swallowed
        return {aid: (decisions[aid], tasks[aid] in done) for aid in tasks}

    def _deadline(self, phase: PhaseSpec) -> float:
        """Seconds a phase's decisions may take: the run's ``deadline_s``, or the phase's own
        ``deadline_ms`` (a decision under time pressure) when that is shorter."""
        if phase.deadline_ms is None:
            return self.deadline_s
        return min(self.deadline_s, phase.deadline_ms / 1000.0)

    def _record_decision(
        self,
        rec: TickRecorder,
        agent_id: str,
        obs: Observation,
        phase: PhaseSpec,
        decision: Decision,
        finished: bool,
    ) -> Action:
        answered = self._record_outcome(rec, agent_id, phase, decision, finished)
        action = answered if answered is not None else phase.fallback_for(obs)
        rec.emit(
            ActionEvent,
            actor=agent_id,
            phase=phase.name,
            action_type=type(action).action_type,
            data=action.model_dump(mode="json"),
            fallback=answered is None,
        )
        return action

    def _record_outcome(
        self,
        rec: TickRecorder,
        actor: str,
        phase: PhaseSpec,
        decision: Decision,
        finished: bool,
    ) -> Action | None:
        """Record a decision's calls, the call cancelled at the deadline and the fallback (for
        an agent or a group alike); the answer, or None when the world's fallback applies."""
        for call in decision.calls:
            rec.emit(LLMCall, actor=actor, **call.fields())
        if not finished and decision.request is not None:
            # The call in flight at the deadline: cancelled, recorded as an error.
            model_id = self.gateway.model_id_for(decision.request)
            rec.emit(
                LLMCall,
                actor=actor,
                purpose=decision.request.purpose,
                model=model_id,
                request_hash=decision.request.cache_key(model_id),
                prompt_tokens=0,
                completion_tokens=0,
                status="error",
                error=f"cancelled at the phase deadline of {self._deadline(phase):g} s",
                latency_ms=self._deadline(phase) * 1000.0,  # what the decision waited
            )
        if finished and decision.action is not None:
            return decision.action
        reason = "deadline" if not finished else (decision.failure or "backend_error")
        error = (
            f"no decision within the deadline of {self._deadline(phase):g} s"
            if not finished
            else (decision.error or "")
        )
        rec.emit(
            DecisionFallback,
            actor=actor,
            phase=phase.name,
            reason=reason,
            error=error[:1000],
            raw_output=decision.raw_output,
        )
        return None
