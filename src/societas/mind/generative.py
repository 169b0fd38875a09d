"""A generative agent's mind (Park et al. 2023) with five modes of deciding.

Memory: every percept, own action, plan, initiative and veto becomes a record of a
``MemoryStream``; importance is rated by the model in one batched call per ``perceive``
(``ImportanceRater``); reflection runs in ``perceive`` when the importance accumulated since
the last one passes the threshold. Planning: see ``societas.mind.planning``. Modes:

reactive      one short prompt (observation, instruction), no retrieval, no plan; or the
              scenario's scripted policy as a fast policy, with no model call at all;
deliberative  retrieve + plan + decide;
proactive     deliberative, and once a tick, when no one addresses the agent, it decides by
              itself whether to take an initiative (an ``initiative`` event);
lookahead     predicts each candidate action's outcome and scores it against its goals, takes
              the best (a ``prediction`` event per candidate);
guardrail     predicts the chosen action's risk against a policy and vetoes it above the
              threshold (a ``veto`` event), deciding again with the reason in the prompt.

Events reach the engine through ``drain_events``; calls made in ``perceive`` travel there too
(as ``llm_call``), calls made in ``decide`` travel in the ``Decision``. See ``docs/mind.md``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import ValidationError

from societas.llm.gateway import CallRecord, Decision, Gateway, parse_action
from societas.memory import (
    MemoryInput,
    MemoryStream,
    RecentMemory,
    approx_tokens,
    create_embedder,
)
from societas.mind.calls import (
    CallLog,
    CallMeta,
    Candidates,
    InitiativeChoice,
    Prediction,
    RiskAssessment,
    Score,
    sub_seed,
)
from societas.mind.config import (
    DEFAULT_POLICY,
    RETRIEVAL_WEIGHTS,
    MindConfig,
    scenario_mind_config,
)
from societas.mind.importance import ImportanceRater
from societas.mind.mind import (
    DecisionContext,
    Mind,
    MindEvent,
    derive_seed,
    interview_prompt,
    phase_request,
    system_text,
)
from societas.mind.modes import (
    action_json,
    initiative_request,
    predict_request,
    propose_request,
    risk_request,
    schema_candidates,
    score_request,
    validate_candidates,
)
from societas.mind.planning import Planner, PlanState, clock
from societas.mind.reflection import reflect
from societas.typing import (
    ConfigError,
    Embedder,
    InitiativeEvent,
    LLMCall,
    LLMRequest,
    Observation,
    Persona,
    PlanEvent,
    PredictionEvent,
    ReflectionEvent,
    Sampling,
    VetoEvent,
)
from societas.typing.scenario import Percept, PhaseSpec, ScriptedPolicy

__all__ = [
    "DEFAULT_POLICY",
    "GenerativeMind",
    "MindConfig",
    "mind_factory",
    "scenario_mind_config",
]

# Importance (1-10) of records the mind writes itself when the model does not rate them.
_DEFAULT_IMPORTANCE = {"action": 3.0, "plan": 4.0, "initiative": 5.0, "veto": 6.0}
_ACCEPTED_KINDS = {"initiative_accepted": True, "initiative_declined": False}


def _others(fields: Mapping[str, Any], own: Sequence[str]) -> list[str]:
    """Names of other agents present, from the observation's ``present``/``partner`` fields."""
    raw: list[Any] = []
    present = fields.get("present")
    if isinstance(present, str):
        raw.append(present)
    elif isinstance(present, list | tuple):
        raw.extend(present)
    partner = fields.get("partner")
    if isinstance(partner, str):
        raw.insert(0, partner)
    out: list[str] = []
    for item in raw:
        name = str(item).strip()
        if name and name not in own and name not in out:
            out.append(name)
    return out


def _bullets(title: str, texts: Sequence[str]) -> str:
    return title + "\n" + "\n".join(f"- {t}" for t in texts)


class GenerativeMind(Mind):
    """Memory stream, planning, reflection and a mode of deciding (``MindConfig``)."""

    def __init__(
        self,
        persona: Persona,
        *,
        config: MindConfig,
        sampling: Sampling,
        embedder: Embedder | None = None,
        fast_policy: ScriptedPolicy | None = None,
    ) -> None:
        super().__init__(persona, sampling=sampling)
        if config.mode == "reactive" and config.fast_policy and fast_policy is None:
            raise ConfigError(
                "mind_config", "fast_policy", "a scenario that ships a scripted policy", True
            )
        self.config = config
        self.fast_policy = fast_policy
        self.stream = MemoryStream(
            embedder if embedder is not None else create_embedder(config.embedder),
            top_k=config.top_k,
            token_budget=config.token_budget,
            weights=RETRIEVAL_WEIGHTS[config.retrieval_weights],
        )
        self.plan = PlanState()
        self._rater: ImportanceRater | None = None
        self._rater_state: dict[str, float] = {}
        self._queued: list[dict[str, Any]] = []  # own records waiting for the next perceive
        self._initiatives: list[dict[str, Any]] = []  # awaiting a response
        self._last_initiative_tick = -1
        self._tick = 0
        self._sim_time = 0.0
        self._phase = ""
        self._seed_base = 0
        self._events: list[MindEvent] = []
        self._drained_initiatives: list[tuple[int, dict[str, Any]]] = []
        self._event_initiatives: list[tuple[int, dict[str, Any]]] = []

    # -- hooks ---------------------------------------------------------------------------

    def drain_events(self) -> list[MindEvent]:
        events, self._events = self._events, []
        self._drained_initiatives, self._event_initiatives = self._event_initiatives, []
        return events

    def recorded(self, seqs: Sequence[int]) -> None:
        for position, initiative in self._drained_initiatives:
            if position < len(seqs):
                initiative["seq"] = seqs[position]
        self._drained_initiatives = []

    async def decide(
        self, ctx: DecisionContext, gateway: Gateway, into: Decision | None = None
    ) -> Decision:
        decision = into if into is not None else Decision(action=None)
        log = CallLog(gateway, decision.calls.append, track=decision)
        self._tick, self._sim_time, self._phase = ctx.tick, ctx.sim_time, ctx.phase.name
        # Calls made in ``perceive`` take their seeds from the last decision's (which hashes
        # the run seed), so they differ between run seeds and survive a resume.
        self._seed_base = ctx.seed
        system = system_text(ctx.rules_text, self.persona, persona_in_rules=ctx.persona_in_rules)
        if self.config.mode == "reactive":
            result = await self._reactive(ctx, system, log)
        else:
            result = await self._deliberate(ctx, system, log)
        decision.action = result.action
        decision.failure, decision.error, decision.raw_output = (
            result.failure,
            result.error,
            result.raw_output,
        )
        if result.action is not None:
            self._queue(
                f"At {clock(ctx.sim_time)} ({ctx.phase.name}) I chose "
                f"{type(result.action).action_type}: "
                + action_json(result.action.model_dump(mode="json")),
                "action",
            )
        return decision

    async def perceive(
        self,
        tick: int,
        sim_time: float,
        percepts: Sequence[Percept],
        gateway: Gateway,
        *,
        phase: str = "",
    ) -> None:
        self._tick, self._sim_time = tick, sim_time
        phase = phase or self._phase
        self._resolve_from_percepts(percepts)
        self._expire_initiatives(tick)
        items = list(self._queued)
        items.extend(
            {
                "text": p.text,
                "kind": p.kind,
                "tick": tick,
                "sim_time": sim_time,
                "importance": p.importance,
            }
            for p in percepts
        )
        self._queued = []
        if not self.config.memory or not items:
            return
        scores: list[float] | None = None
        try:
            if self.config.rate_importance:
                scores = await self._rate([str(i["text"]) for i in items], gateway, tick, phase)
        finally:
            # Also when cancelled at the deadline: the records are kept, with default scores.
            self._store(items, scores)
        if (
            self.config.reflection
            and self.stream.importance_since_reflection() >= self.config.reflection_threshold
        ):
            await self._reflect(gateway, tick, sim_time, phase)

    def remember(self, tick: int, percepts: Iterable[Percept]) -> None:
        """Percepts told outside a phase (news): stored at once with their own importance."""
        self._store(
            [
                {
                    "text": p.text,
                    "kind": p.kind,
                    "tick": tick,
                    "sim_time": self._sim_time,
                    "importance": p.importance,
                }
                for p in percepts
            ],
            None,
        )

    def resolve_initiative(self, target: str | None, accepted: bool) -> bool:
        """The response to a pending initiative is known: record it (an ``initiative`` event
        with ``accepted`` set and ``parent`` the original one). False if none was pending."""
        for initiative in self._initiatives:
            if target is None or _same(initiative.get("target"), target):
                self._initiatives.remove(initiative)
                self._events.append(
                    (
                        InitiativeEvent,
                        {
                            "phase": initiative["phase"],
                            "initiative": initiative["kind"],
                            "target": initiative["target"],
                            "text": initiative["text"],
                            "accepted": accepted,
                            "parent": initiative.get("seq"),
                        },
                    )
                )
                self._queue(
                    f"{initiative['target'] or 'They'} "
                    f"{'accepted' if accepted else 'declined'} my {initiative['kind']}: "
                    f"{initiative['text']}",
                    "initiative",
                )
                return True
        return False

    # -- requests ------------------------------------------------------------------------

    def build_request(
        self,
        observation: Observation,
        phase: PhaseSpec,
        rules_text: str,
        seed: int,
        *,
        persona_in_rules: bool = False,
    ) -> LLMRequest:
        """One deliberative prompt without sub-calls (used by surveys)."""
        situation = self._situation(observation, phase, self._sim_time)
        system = system_text(rules_text, self.persona, persona_in_rules=persona_in_rules)
        return self._decide_request(observation, phase, system, situation, [], seed)

    def interview_request(
        self,
        question: str,
        *,
        rules_text: str,
        tick: int,
        seed: int,
        persona_in_rules: bool = False,
    ) -> LLMRequest:
        memories = self._retrieve(question, self._sim_time)
        system = system_text(rules_text, self.persona, persona_in_rules=persona_in_rules)
        return interview_prompt(system, memories, question, self.persona, self.sampling, tick, seed)

    def _retrieve(
        self, query: str, sim_time: float, *, top_k: int | None = None, budget: int | None = None
    ) -> list[str]:
        if not self.config.memory or len(self.stream) == 0:
            return []
        records = self.stream.retrieve(query, sim_time=sim_time, top_k=top_k, token_budget=budget)
        return [r.text for r in records]

    def _is_talk(self, observation: Observation, phase: PhaseSpec) -> bool:
        if observation.fields.get("talk") is True:
            return True
        return any(phase.name.startswith(prefix) for prefix in self.config.talk_phases)

    def _situation(self, observation: Observation, phase: PhaseSpec, sim_time: float) -> str:
        """Memories, memories about the conversation partner, plan, observation."""
        parts: list[str] = []
        about: list[str] = []
        others = _others(observation.fields, (self.persona.name, self.persona.id))
        if others and self._is_talk(observation, phase):
            # Park et al. 2023, 4.3.2: dialogue draws on memories about the partner and topic.
            topic = str(observation.fields.get("topic", ""))
            about = self._retrieve(
                f"{others[0]} {topic}".strip(),
                sim_time,
                top_k=max(1, self.config.top_k // 2),
                budget=max(1, self.config.token_budget // 2),
            )
        used = sum(approx_tokens(m) for m in about)
        query = observation.text if not self.plan.step else f"{self.plan.step}. {observation.text}"
        memories = [
            m
            for m in self._retrieve(query, sim_time, budget=max(1, self.config.token_budget - used))
            if m not in about
        ]
        if memories:
            parts.append(_bullets("What you remember:", memories))
        if about:
            parts.append(_bullets(f"What you remember about {others[0]}:", about))
        plan = self.plan.describe()
        if plan and self.config.planning:
            parts.append(plan)
        parts.append(observation.text)
        return "\n\n".join(parts)

    def _decide_request(
        self,
        observation: Observation,
        phase: PhaseSpec,
        system: str,
        situation: str,
        notes: Sequence[str],
        seed: int,
    ) -> LLMRequest:
        return phase_request(
            system,
            [situation, *notes],
            phase,
            sampling=self.sampling,
            seed=seed,
            actor=self.persona.id,
            context={
                "phase": phase.name,
                "tick": observation.tick,
                "mode": self.config.mode,
                **observation.fields,
            },
        )

    # -- modes ---------------------------------------------------------------------------

    async def _reactive(self, ctx: DecisionContext, system: str, log: CallLog) -> Decision:
        request = self._decide_request(
            ctx.observation, ctx.phase, system, ctx.observation.text, [], ctx.seed
        )
        if self.fast_policy is None or not self.config.fast_policy:
            return await log.decide(request, ctx.phase.action_model)
        text = self.fast_policy(request, np.random.default_rng(request.seed))
        try:
            return Decision(action=parse_action(ctx.phase.action_model, text), request=request)
        except ValueError as problem:
            return Decision(
                action=None, failure="invalid_output", error=str(problem), raw_output=text[:2000]
            )

    async def _deliberate(self, ctx: DecisionContext, system: str, log: CallLog) -> Decision:
        obs, phase = ctx.observation, ctx.phase
        if self.config.planning:
            memories = self._retrieve("plans for today and my goals", ctx.sim_time)
            planner = Planner(system, self.persona.id, self.sampling, ctx.seed, ctx.tick)
            await planner.update(
                self.plan,
                sim_time=ctx.sim_time,
                observation=obs.text,
                memories=_bullets("What you remember:", memories) if memories else "",
                log=log,
                emit=self._on_plan,
                react=self.config.replanning,
            )
        situation = self._situation(obs, phase, ctx.sim_time)
        notes: list[str] = []
        if self.config.mode == "proactive":
            note = await self._initiative(ctx, system, situation, log)
            if note:
                notes.append(note)
        if self.config.mode == "lookahead":
            return await self._lookahead(ctx, system, situation, notes, log)
        if self.config.mode == "guardrail":
            return await self._guardrail(ctx, system, situation, notes, log)
        request = self._decide_request(obs, phase, system, situation, notes, ctx.seed)
        return await log.decide(request, phase.action_model)

    async def _initiative(
        self, ctx: DecisionContext, system: str, situation: str, log: CallLog
    ) -> str:
        fields = ctx.observation.fields
        if fields.get("addressed") or fields.get("addressed_by"):
            return ""
        allowed = self.config.initiative_phases
        if allowed is not None and not any(ctx.phase.name.startswith(p) for p in allowed):
            return ""
        if self._last_initiative_tick == ctx.tick:
            return ""
        self._last_initiative_tick = ctx.tick
        others = _others(fields, (self.persona.name, self.persona.id))
        meta = CallMeta(self.persona.id, ctx.seed, ctx.tick, self.sampling)
        request = initiative_request(system, situation, others, meta)
        choice = await log.ask(request, InitiativeChoice)
        if choice is None or not choice.initiate or choice.kind == "none":
            return ""
        target = choice.target.strip() if choice.target else None
        initiative = {
            "tick": ctx.tick,
            "phase": ctx.phase.name,
            "kind": choice.kind,
            "target": target or None,
            "text": choice.text,
            "seq": None,
        }
        self._initiatives.append(initiative)
        self._event_initiatives.append((len(self._events), initiative))
        self._events.append(
            (
                InitiativeEvent,
                {
                    "phase": ctx.phase.name,
                    "initiative": choice.kind,
                    "target": initiative["target"],
                    "text": choice.text,
                    "accepted": None,
                },
            )
        )
        who = f" {target}" if target else ""
        self._queue(f"I took the initiative to {choice.kind}{who}: {choice.text}", "initiative")
        return (
            f"You decided, by yourself, to {choice.kind}{who}: {choice.text}. "
            "Act on it now if the answer form allows it."
        )

    async def _lookahead(
        self,
        ctx: DecisionContext,
        system: str,
        situation: str,
        notes: Sequence[str],
        log: CallLog,
    ) -> Decision:
        model = ctx.phase.action_model
        k = self.config.lookahead_k
        meta = CallMeta(self.persona.id, ctx.seed, ctx.tick, self.sampling)
        framed = "\n\n".join([situation, *notes, ctx.phase.instruction]).strip()
        candidates = schema_candidates(model, k)
        if candidates is None:
            proposal = await log.ask(propose_request(system, framed, model, k, meta), Candidates)
            candidates = validate_candidates(model, proposal.candidates)[:k] if proposal else []
        if not candidates:
            request = self._decide_request(
                ctx.observation, ctx.phase, system, situation, notes, ctx.seed
            )
            return await log.decide(request, model)
        predictions = await log.ask_all(
            [predict_request(system, framed, c, i, meta) for i, c in enumerate(candidates)],
            Prediction,
        )
        goals = "; ".join(self.persona.goals) or "to do well for yourself and others"
        scored = [i for i, p in enumerate(predictions) if p is not None]
        answers = await log.ask_all(
            [
                score_request(
                    system,
                    goals,
                    ctx.observation.text,
                    candidates[i],
                    predictions[i].outcome,  # type: ignore[union-attr]
                    i,
                    meta,
                )
                for i in scored
            ],
            Score,
        )
        scores = [0.0] * len(candidates)
        valid = False
        for i, answer in zip(scored, answers, strict=True):
            if answer is not None:
                scores[i] = answer.score
                valid = True
        if not valid:
            request = self._decide_request(
                ctx.observation, ctx.phase, system, situation, notes, ctx.seed
            )
            return await log.decide(request, model)
        best = max(range(len(candidates)), key=lambda i: (scores[i], -i))
        for i, candidate in enumerate(candidates):
            prediction = predictions[i]
            self._events.append(
                (
                    PredictionEvent,
                    {
                        "phase": ctx.phase.name,
                        "candidate": candidate,
                        "predicted": prediction.outcome if prediction is not None else "",
                        "score": scores[i],
                        "chosen": i == best,
                    },
                )
            )
        return Decision(action=model.model_validate(candidates[best]))

    async def _guardrail(
        self,
        ctx: DecisionContext,
        system: str,
        situation: str,
        notes: Sequence[str],
        log: CallLog,
    ) -> Decision:
        model = ctx.phase.action_model
        cfg = self.config
        vetoed: list[str] = []
        for attempt in range(cfg.guardrail_max_redecide + 1):
            extra = list(notes)
            if vetoed:
                extra.append(
                    _bullets(
                        "These choices of yours were vetoed by a safety check before they were "
                        "carried out; choose a different, safer action:",
                        vetoed,
                    )
                )
            seed = (
                ctx.seed
                if attempt == 0
                else sub_seed(ctx.seed, ctx.tick, "redecide", self.persona.id, attempt)
            )
            request = self._decide_request(
                ctx.observation, ctx.phase, system, situation, extra, seed
            )
            result = await log.decide(request, model)
            if result.action is None:
                return result
            data = result.action.model_dump(mode="json")
            risk = await log.ask(
                risk_request(
                    system,
                    cfg.guardrail_policy,
                    ctx.observation.text,
                    data,
                    attempt,
                    CallMeta(self.persona.id, ctx.seed, ctx.tick, self.sampling),
                ),
                RiskAssessment,
            )
            if risk is None:  # no assessment: the action goes ahead (fail open, docs/mind.md)
                return result
            level = max(risk.risk_short, risk.risk_long)
            if level <= cfg.guardrail_threshold:
                return result
            self._events.append(
                (
                    VetoEvent,
                    {
                        "phase": ctx.phase.name,
                        "action": data,
                        "risk_short": risk.risk_short,
                        "risk_long": risk.risk_long,
                        "threshold": cfg.guardrail_threshold,
                        "reason": risk.reason,
                    },
                )
            )
            self._queue(f"I wanted to do {action_json(data)} but held back: {risk.reason}", "veto")
            vetoed.append(f"{action_json(data)} (risk {level:.2f}: {risk.reason})")
        if cfg.guardrail_safe_action is not None:
            try:
                return Decision(action=model.model_validate(cfg.guardrail_safe_action))
            except ValidationError as exc:
                return Decision(
                    action=None,
                    failure="invalid_output",
                    error=f"guardrail_safe_action is not a valid {model.__name__}: {exc}"[:1000],
                )
        return Decision(
            action=None,
            failure="vetoed",
            error=(
                f"guardrail: {len(vetoed)} decisions vetoed (risk above "
                f"{cfg.guardrail_threshold:g}); the world's fallback action is taken"
            ),
        )

    # -- memory --------------------------------------------------------------------------

    def _log_call(self, call: CallRecord) -> None:
        self._events.append((LLMCall, call.fields()))

    def _queue(self, text: str, kind: str) -> None:
        self._queued.append(
            {
                "text": text,
                "kind": kind,
                "tick": self._tick,
                "sim_time": self._sim_time,
                "importance": _DEFAULT_IMPORTANCE.get(kind, 5.0),
            }
        )

    def _on_plan(self, level: str, text: str, replan: bool, reason: str | None) -> None:
        self._events.append(
            (
                PlanEvent,
                {
                    "phase": self._phase,
                    "level": level,
                    "text": text,
                    "replan": replan,
                    "reason": reason,
                },
            )
        )
        label = {"day": "My plan for today", "hour": "My plan for this hour", "step": "Now I"}
        prefix = label.get(level, "Plan")
        note = f" (re-planned: {reason})" if replan else ""
        self._queue(f"{prefix}: {text}{note}", "plan")

    def _store(self, items: Sequence[Mapping[str, Any]], scores: Sequence[float] | None) -> None:
        if not self.config.memory or not items:
            return
        inputs = []
        for i, item in enumerate(items):
            value = (
                float(scores[i])
                if scores is not None and i < len(scores)
                else float(item["importance"])
            )
            inputs.append(
                MemoryInput(
                    text=str(item["text"]),
                    kind=str(item["kind"]),
                    tick=int(item["tick"]),
                    sim_time=float(item["sim_time"]),
                    importance=min(10.0, max(1.0, value)),
                )
            )
        self.stream.add_many(inputs)

    def _importance_rater(self, gateway: Gateway) -> ImportanceRater:
        if self._rater is None or self._rater.gateway is not gateway:
            cache = self._rater.snapshot() if self._rater is not None else self._rater_state
            self._rater = ImportanceRater(gateway)
            self._rater.restore(cache)
        return self._rater

    async def _rate(
        self, texts: Sequence[str], gateway: Gateway, tick: int, phase: str
    ) -> list[float]:
        """Park et al. 2023 poignancy, 1-10, one batched call (``ImportanceRater``)."""
        rater = self._importance_rater(gateway)
        seed = derive_seed(self._seed_base, tick, f"importance:{phase}", self.persona.id)
        result = await rater.rate(texts, actor=self.persona.id, seed=seed, persona=self.persona)
        for call in result.calls:
            self._log_call(call)
        return list(result.ratings)

    async def _reflect(self, gateway: Gateway, tick: int, sim_time: float, phase: str) -> None:
        """Park et al. 2023, 4.2: insights from recent memories, stored as records."""
        result = await reflect(
            self.stream,
            gateway,
            self.persona,
            sim_time=sim_time,
            tick=tick,
            sampling=self.sampling,
            seed=derive_seed(self._seed_base, tick, f"reflect:{phase}", self.persona.id),
            threshold=self.config.reflection_threshold,
            importance=self._importance_rater(gateway) if self.config.rate_importance else None,
        )
        for call in result.calls:
            self._log_call(call)
        for insight in result.insights:
            self._events.append(
                (
                    ReflectionEvent,
                    {"phase": phase, "text": insight.text, "evidence": list(insight.evidence)},
                )
            )

    def _resolve_from_percepts(self, percepts: Sequence[Percept]) -> None:
        for percept in percepts:
            accepted = _ACCEPTED_KINDS.get(percept.kind)
            if accepted is None:
                continue
            text = percept.text.lower()
            for initiative in list(self._initiatives):
                target = initiative.get("target")
                if target is None or str(target).lower() in text:
                    self.resolve_initiative(target, accepted)
                    break

    def _expire_initiatives(self, tick: int) -> None:
        ttl = self.config.initiative_ttl
        self._initiatives = [i for i in self._initiatives if tick - int(i["tick"]) < ttl]

    # -- state ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "stream": self.stream.snapshot(),
            "plan": self.plan.model_dump(mode="json"),
            "queued": copy.deepcopy(self._queued),
            "initiatives": copy.deepcopy(self._initiatives),
            "last_initiative_tick": self._last_initiative_tick,
            "tick": self._tick,
            "sim_time": self._sim_time,
            "phase": self._phase,
            "seed_base": self._seed_base,
            "importance_cache": (
                self._rater.snapshot() if self._rater is not None else dict(self._rater_state)
            ),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.stream.restore(state["stream"])
        self.plan = PlanState.model_validate(state.get("plan", {}))
        self._queued = copy.deepcopy(list(state.get("queued", [])))
        self._initiatives = copy.deepcopy(list(state.get("initiatives", [])))
        self._last_initiative_tick = int(state.get("last_initiative_tick", -1))
        self._tick = int(state.get("tick", 0))
        self._sim_time = float(state.get("sim_time", 0.0))
        self._phase = str(state.get("phase", ""))
        self._seed_base = int(state.get("seed_base", 0))
        self._events = []
        self._rater = None
        self._rater_state = {str(k): float(v) for k, v in state.get("importance_cache", {}).items()}


def _same(a: object, b: object) -> bool:
    return a is not None and b is not None and str(a).strip().lower() == str(b).strip().lower()


def mind_factory(
    *,
    sampling: Sampling,
    mind_config: MindConfig | None,
    memory_top_k: int,
    memory_tokens: int,
    scripted_policy: ScriptedPolicy | None = None,
) -> Callable[[Persona], Mind]:
    """Builds a run's minds: ``GenerativeMind`` when the scenario gives a ``MindConfig`` (all
    sharing one embedder; only for the personas of its ``roles``), else the foundation's
    ``Mind`` with a recency memory."""

    def make_basic(persona: Persona) -> Mind:
        memory = RecentMemory(top_k=memory_top_k, token_budget=memory_tokens)
        return Mind(persona, memory=memory, sampling=sampling)

    if mind_config is None:
        return make_basic
    config = mind_config
    embedder = create_embedder(config.embedder)
    policy = scripted_policy if config.fast_policy else None

    def make_generative(persona: Persona) -> Mind:
        if not config.applies_to(persona):
            return make_basic(persona)
        return GenerativeMind(
            persona, config=config, sampling=sampling, embedder=embedder, fast_policy=policy
        )

    return make_generative
