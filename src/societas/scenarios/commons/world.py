"""The commons: GovSim's rules (Piatti et al. 2024, "Cooperate or Collapse").

Two protocols (``CommonsConfig.protocol``).

``govsim`` (the default) follows GovSim's code (giorgiopiatti/GovSim, commit 1d11adf; the
texts and their lines are in ``govsim.py``). Each month:
  harvest      every agent sees the stock, its always-included memories (universalization
               sentence, agreed limits) and GovSim's task with the range 0..stock; takes are
               allocated as below; each agent learns only its own catch;
  discuss_k    (if communication) GovSim's mayor-led chat: the mayor reports every catch
               (``converse.py`` 58-74), then one agent speaks per phase, the first agent first;
               each speaker says whether its turn ends the chat and names the next speaker;
               at most ``discussion_steps`` utterances, the report included;
  agree        (if communication) one persona-less call reads the transcript and reports the
               limit per person agreed on, if any; it is kept as an always-included memory
               for two months (GovSim's 63-day expiry, ``fish_baseline_concurrent.yaml`` 58-60);
  reflect      each agent reflects; without communication it knows only its own catch
               (GovSim's ``none_and_no_obs``, ``perturbation_env.py`` 48-83);
then, as GovSim checks after the home phase (``concurrent_env.py`` 419-437), the run ends if
fewer than ``collapse_threshold`` units were left after the harvest, else the stock regrows.
f(t) divides by the initial number of agents (GovSim's ``num_agents``, never updated).

``societas`` is this scenario's protocol before 0.2, kept so that older runs reproduce.
Each month (one tick), in GovSim's order:
  harvest      every agent privately decides a take (tons of fish, flocks of sheep, pallets of
               widgets, by the resource's framing); if demand exceeds the stock, the stock is
               allocated (stochastic: one unit at a time to a random agent still wanting;
               proportional: shares of demand, remainder by largest fraction); the commons
               collapses when the stock left falls below the collapse threshold;
  discuss_k    (if communication) everyone learns all takes and may speak, k = 1..rounds;
               each round sees the messages of the rounds before;
  reflect      each agent writes a short reflection that it carries into the next month;
then the stock left regrows by the regeneration factor, capped at capacity.

The population may change: a newcomer joins at its month (``CommonsConfig.newcomer``), and the
engine's add/remove interventions add or remove agents (the kit's membership; an agent's
``disposition`` attribute picks its scripted rule). An agent takes part (observes, acts, counts
in f(t)) from the tick it joins until the tick it is removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, TypeVar, get_args

import numpy as np
from pydantic import Field

from societas.kit import (
    Action,
    ConfigError,
    GroupQuery,
    MessageEvent,
    Observation,
    OutcomeEvent,
    Percept,
    Persona,
    Phase,
    PhaseContext,
    ReflectionEvent,
    State,
    World,
)
from societas.kit import WorldState as WorldStateEvent
from societas.scenarios.commons.actions import Reflect, Speak, Take, harvest_model
from societas.scenarios.commons.config import CommonsConfig, Disposition
from societas.scenarios.commons.framing import framing_for
from societas.scenarios.commons.govsim import (
    GOVSIM_TEXTS,
    MAYOR,
    AgreedLimit,
    Utterance,
    chat_task,
    govsim_dates,
    limit_prompt,
    mayor_report,
    render_conversation,
    utterance_model,
)

__all__ = ["CommonsState", "Lake", "allocate"]

A = TypeVar("A", bound=Action)

# How long an agreed limit stays an always-included memory, in months after the month it was
# agreed in: GovSim stores it with the store's 63-day expiry (about two months).
LIMIT_MONTHS = 2

REFLECT_INSTRUCTION = (
    "Write a short reflection (one or two sentences) on this month that will help you decide "
    "next month."
)
UTTERANCE_INSTRUCTION = (
    "Give your response, whether it concludes the conversation, and the next speaker."
)


def allocate(wanted: Sequence[int], stock: int, mode: str, rng: np.random.Generator) -> list[int]:
    """Cut requests down to the stock. Returns tons caught per fisher, in input order."""
    want = np.asarray(wanted, dtype=np.int64)
    total = int(want.sum())
    if total <= stock:
        return [int(x) for x in want]
    if mode == "proportional":
        exact = want * (stock / total)
        got = np.floor(exact).astype(np.int64)
        rest = stock - int(got.sum())
        frac = exact - got
        # Largest remainders first; ties broken by a random permutation.
        order = np.lexsort((rng.permutation(len(want)), -frac))
        got[order[:rest]] += 1
        return [int(x) for x in got]
    # Stochastic (GovSim): one unit at a time to a uniformly random fisher still wanting.
    got = np.zeros_like(want)
    remaining = want.copy()
    for _ in range(stock):
        wanting = np.flatnonzero(remaining > 0)
        if wanting.size == 0:
            break
        pick = int(wanting[rng.integers(wanting.size)])
        got[pick] += 1
        remaining[pick] -= 1
    return [int(x) for x in got]


class CommonsState(State):
    """The stock, the month being played and who takes part when."""

    stock: int = 0
    collapsed: bool = False
    ended: bool = False  # govsim: the month of the collapse has been played to its end
    limits: list[tuple[int, int]] = Field(default_factory=list)  # govsim: (month, limit)
    month_record: dict[str, Any] = Field(default_factory=dict)
    # Agents scheduled to join later (the newcomer), by the tick they join at. Agents added by
    # an intervention take part at once.
    join_tick: dict[str, int] = Field(default_factory=dict)
    dispositions: dict[str, str] = Field(default_factory=dict)
    clock: int = 0  # the tick being played: months completed so far


class Lake(World[CommonsConfig, CommonsState]):
    """The shared stock and its agents (the name is the fishery's; it serves all framings)."""

    fixed_settings = frozenset(
        {"agents", "months", "names", "initial_stock", "dispositions", "resource"}
        | {"newcomer", "protocol"}
    )

    def setup(self, rng: np.random.Generator) -> None:
        c, s = self.config, self.state
        s.stock = c.initial_stock
        cycle = c.dispositions
        s.dispositions = {a: cycle[i % len(cycle)] for i, a in enumerate(self.members)}
        if c.newcomer is not None:
            newcomer = f"{framing_for(c.resource, c.capacity).id_prefix}_{c.agents + 1}"
            s.join_tick[newcomer] = c.newcomer.join_month - 1
            s.dispositions[newcomer] = c.newcomer.disposition
        for persona in self.personas.values():
            field = f"{persona.id}.attributes.disposition"
            s.dispositions[persona.id] = _disposition(
                persona, s.dispositions[persona.id], "personas", field
            )
        self.reconfigured()

    def reconfigured(self) -> None:
        """Re-derive the framing, the phases and the rules from the config."""
        c = self.config
        self.words = w = framing_for(c.resource, c.capacity)
        # govsim: GovSim's system prompt names the agent and ends with its persona (rules_for).
        self.persona_in_rules = self.govsim
        self._transcript: tuple[int, list[str]] = (0, [])  # (messages rendered, their lines)
        self._summary: str | None = None  # the month's summary, built once per month
        self._harvest_phases: dict[int, Phase] = {}
        take = harvest_model(c.capacity, w.amount_field, w.amount_description)
        self._take_nothing = take.model_validate(
            {w.amount_field: 0, "reason": "fallback: no valid decision"}
        )
        self.reflect_phase = Phase(
            name="reflect",
            action_model=Reflect,
            instruction=REFLECT_INSTRUCTION,
            observe=self._observe_home if self.govsim else self._observe_reflect,
            resolve=self._reflect,
            fallback=Reflect(reflection=""),
        )
        self.agree_phase = Phase(
            name="agree",
            action_model=AgreedLimit,
            instruction="Say whether the group agreed on a limit per person, and which.",
            mode="groups",
            groups=self._agree_question,
            resolve=self._agree,
            fallback=AgreedLimit(agreed=False, limit=0),
        )
        discuss = [f"discuss_{r + 1}" for r in range(c.discussion_rounds if c.communication else 0)]
        self._societas_phases = [
            self._harvest_phase(take, w.instruction()),
            *(
                Phase(
                    name=name,
                    action_model=Speak,
                    instruction=w.discuss_instruction(),
                    observe=partial(self._observe_discussion, name),
                    resolve=partial(self._discuss, name),
                    fallback=Speak(message=""),
                )
                for name in discuss
            ),
            self.reflect_phase,
        ]
        self._refresh()

    def _harvest_phase(self, take: type[Take], instruction: str) -> Phase:
        return Phase(
            name="harvest",
            action_model=take,
            instruction=instruction,
            observe=self._observe_harvest,
            resolve=self._harvest,
            fallback=self._take_nothing,
        )

    def _refresh(self) -> None:
        """Re-derive who takes part and the text that depends on the population (the rules
        name its size); runs whenever the members or the clock change."""
        c = self.config
        self.ids = [a for a in self.members if self.state.join_tick.get(a, 0) <= self.state.clock]
        self._taking_part = frozenset(self.ids)
        if self.govsim:
            # The shared text (the persona-less ``agree`` call) lists every name of the run.
            names = [self.name_of(a) for a in self.members]
            self.rules_text = GOVSIM_TEXTS[c.resource].rules(names, c.communication, c.capacity)
            return
        others = max(0, len(self.ids) - 1)
        self.rules_text = self.words.rules(others, c.regen_factor, c.collapse_threshold, c.months)

    @property
    def govsim(self) -> bool:
        return self.config.protocol == "govsim"

    def rules_for(self, agent_id: str) -> str:
        """govsim: GovSim's system prompt of this agent (``get_sytem_prompt_v3``, fishing
        ``utils.py`` lines 150-170): its own name first, the other names of the run, then the
        mechanics, then its persona appended as GovSim appends ``persona.goals`` (without a
        space, lines 167-168). The persona is described without its name, which the rules
        already say (``persona_in_rules``).

        GovSim lists a fixed five, ``["John", "Kate", "Jack", "Emma", "Luke"]`` minus the
        agent (lines 151-153), whoever takes part: in the newcomer experiment
        (``fish_perturbation_outsider.yaml``: four agents, Luke inserted at round 3 by
        ``perturbation_env.py`` lines 145-148) the four locals name Luke from the first month.
        We list the run's members in order, the newcomer included before it joins, which is
        the same text with GovSim's names."""
        if not self.govsim:
            return self.rules_text
        c = self.config
        others = [self.name_of(a) for a in self.members if a != agent_id]
        rules = GOVSIM_TEXTS[c.resource].rules_for(
            self.name_of(agent_id), others, c.communication, c.capacity
        )
        return rules + self.personas[agent_id].describe(named=False)

    def threshold(self, stock: int) -> int:
        """f(t): govsim divides by the initial number of agents, societas by those taking
        part now."""
        if self.govsim:
            return self.config.threshold(stock, self.config.agents)
        return self.config.threshold(stock, len(self.ids))

    # -- the kit's World -----------------------------------------------------------------

    def agent_ids(self) -> Sequence[str]:
        return self.ids

    def num_ticks(self) -> int:
        return self.config.months

    def is_over(self) -> bool:
        return self.state.ended if self.govsim else self.state.collapsed

    def phases(self, tick: int) -> Sequence[Phase]:
        if not self.govsim:
            return self._societas_phases
        c, stock = self.config, self.state.stock
        harvest = self._harvest_phases.get(stock)
        if harvest is None:
            # GovSim's range is 0..the stock now (persona.py line 90), so the schema says so.
            w = self.words
            take = harvest_model(stock, w.amount_field, w.amount_description)
            harvest = self._harvest_phase(take, "Answer with the amount and a short reason.")
            self._harvest_phases[stock] = harvest
        phases = [harvest]
        if c.communication:
            speak = utterance_model(tuple(self.name_of(a) for a in self.ids))
            # GovSim's default when the answer cannot be read: the chat ends
            # (converse_prompts.py line 82, default_value="yes").
            concluded = speak(response="", conversation_concluded=True)
            phases += [
                Phase(
                    name=f"discuss_{k + 1}",
                    action_model=speak,
                    instruction=UTTERANCE_INSTRUCTION,
                    observe=partial(self._observe_chat, f"discuss_{k + 1}"),
                    resolve=partial(self._utterance, f"discuss_{k + 1}"),
                    fallback=concluded,
                )
                for k in range(c.discussion_steps - 1)  # the mayor's report is the first step
            ]
            phases.append(self.agree_phase)
        phases.append(self.reflect_phase)
        return phases

    def add_agents(self, personas: Sequence[Persona]) -> None:
        for persona in personas:
            self.joined_disposition(persona)
        super().add_agents(personas)

    def joined(self, persona: Persona) -> None:
        self.state.dispositions[persona.id] = self.joined_disposition(persona)
        self._refresh()

    @staticmethod
    def joined_disposition(persona: Persona) -> str:
        field = "add.attributes.disposition"
        return _disposition(persona, "cooperative", "run.interventions", field)

    def left(self, agent_id: str) -> None:
        self._refresh()

    def restore(self, state: Mapping[str, Any]) -> None:
        snapshot = dict(state) if "state" in state else self._from_before_the_kit(state)
        # A config without a protocol was written before 0.2, under the protocol now called
        # societas, and resumes under it.
        snapshot["config"] = {"protocol": "societas", **snapshot["config"]}
        super().restore(snapshot)

    def _from_before_the_kit(self, old: Mapping[str, Any]) -> dict[str, Any]:
        """A snapshot written before the port to the kit (its fields at the top level)."""
        names = old.get("names", {})
        added = [Persona(id=a, name=n) for a, n in names.items() if a not in self.personas]
        fields = set(CommonsState.model_fields) & set(old)
        return {
            "config": old.get("config", self.config.model_dump(mode="json")),
            "members": old.get("members", self.members),
            "added": [p.model_dump(mode="json") for p in added],
            "state": {**self.state.model_dump(mode="json"), **{k: old[k] for k in fields}},
        }

    # -- what the agents see -------------------------------------------------------------

    def _fields(self, agent_id: str, tick: int, after_harvest: bool = False) -> dict[str, Any]:
        """The observation's structured fields (what scripted policies read)."""
        c, stock = self.config, self.state.stock
        fields: dict[str, Any] = {"protocol": "govsim"} if self.govsim else {}
        fields.update(
            month=tick + 1,
            stock=stock,
            threshold=self.threshold(stock),
            agents=len(self.ids),
            capacity=c.capacity,
            name=self.name_of(agent_id),
            disposition=self.state.dispositions[agent_id],
            resource=c.resource,
            amount_field=self.words.amount_field,
        )
        if after_harvest:
            rec = self.state.month_record
            fields.update(
                threshold=int(rec.get("threshold", self.threshold(rec["stock_before"]))),
                caught=rec["caught"].get(agent_id, 0),
                stock_after=rec["stock_after"],
                stock_next=rec["stock_next"],
            )
        return fields

    def _observe_harvest(self, agent_id: str, tick: int) -> Observation | None:
        if agent_id not in self._taking_part:
            return None  # not joined yet, or removed
        c, w, stock = self.config, self.words, self.state.stock
        if self.govsim:
            text = GOVSIM_TEXTS[c.resource]
            lines = [f"Location: {text.location}", f"Date: {govsim_dates(tick + 1)[0]}", ""]
            lines += self._always_included(agent_id, tick + 1, after_harvest=False)
            lines += ["", text.task_line.format(n=stock)]
            seen = "\n".join(lines)
        else:
            lines = [f"It is month {tick + 1} of {c.months}. {w.stock_now(stock)}"]
            if c.universalization:
                lines.append(w.universalization(self.threshold(stock)))
            lines.append(w.question())
            seen = " ".join(lines)
        return Observation(
            agent_id=agent_id,
            tick=tick,
            phase="harvest",
            text=seen,
            fields=self._fields(agent_id, tick),
        )

    def _observe_discussion(self, phase: str, agent_id: str, tick: int) -> Observation | None:
        """societas: the month's outcome and the discussion so far."""
        if not self.state.month_record["messages"]:
            return self._after_harvest(agent_id, tick, phase, ["Nobody has spoken yet."])
        heading = "The discussion so far (quoted, as the speakers said it):"
        return self._after_harvest(agent_id, tick, phase, [heading, *self._transcript_lines()])

    def _observe_reflect(self, agent_id: str, tick: int) -> Observation | None:
        """societas: the month's outcome and what was said."""
        said = self._transcript_lines() if self.state.month_record["messages"] else []
        heading = ["What was said (quoted):"] if said else []
        return self._after_harvest(agent_id, tick, "reflect", heading + said)

    def _after_harvest(
        self, agent_id: str, tick: int, phase: str, lines: list[str]
    ) -> Observation | None:
        if agent_id not in self._taking_part:
            return None
        text = "\n".join([self._month_summary(), *lines])
        fields = self._fields(agent_id, tick, after_harvest=True)
        return Observation(agent_id=agent_id, tick=tick, phase=phase, text=text, fields=fields)

    def _transcript_lines(self) -> list[str]:
        """The month's messages as quoted lines, rendered once per new message."""
        messages = self.state.month_record["messages"]
        done, lines = self._transcript
        if done > len(messages):  # a new month: start over
            done, lines = 0, []
        if done < len(messages):
            lines = lines + [f'{self.name_of(a)}: "{m}"' for a, m in messages[done:]]
            self._transcript = (len(messages), lines)
        return lines

    def _month_summary(self) -> str:
        """The month's outcome for every observer, built once per month (after the harvest)."""
        if self._summary is None:
            rec = self.state.month_record
            takes = ", ".join(f"{self.name_of(a)} {n}" for a, n in rec["caught"].items())
            self._summary = self.words.summary(
                rec["month"], rec["stock_before"], takes, rec["stock_after"], rec["stock_next"]
            )
        return self._summary

    def _always_included(self, agent_id: str, month: int, after_harvest: bool) -> list[str]:
        """What GovSim keeps in every retrieval of the month (``always_include`` events):
        the stock before the harvest, the agent's own catch once known, the universalization
        sentence, and the limits agreed in the last two months."""
        text = GOVSIM_TEXTS[self.config.resource]
        rec = self.state.month_record
        stock = int(rec["stock_before"]) if after_harvest else self.state.stock
        lines = [text.stock_line.format(n=stock)]
        if after_harvest:
            lines.append(
                text.caught_line.format(
                    name=self.name_of(agent_id),
                    wanted=rec["wanted"].get(agent_id, 0),
                    caught=rec["caught"].get(agent_id, 0),
                )
            )
        if self.config.universalization:
            lines.append(text.universalization_line.format(t=self.threshold(stock)))
        lines += [
            text.limit_line.format(limit=limit)
            for agreed_in, limit in self.state.limits
            if agreed_in <= month <= agreed_in + LIMIT_MONTHS
        ]
        return lines

    def _observe_chat(self, phase: str, agent_id: str, tick: int) -> Observation | None:
        """govsim: the one speaker of this turn sees the chat so far."""
        rec = self.state.month_record
        if agent_id not in self._taking_part:
            return None
        if rec.get("chat_over", True) or rec.get("speaker") != agent_id:
            return None  # one speaker per turn
        names = [self.name_of(a) for a in self.ids]
        conversation = rec["conversation"]
        fields = self._fields(agent_id, tick, after_harvest=True)
        fields.update(participants=names, spoken=sum(1 for who, _ in conversation if who != MAYOR))
        lines = ["Location: restaurant", f"Date: {govsim_dates(tick + 1)[1]}", ""]
        lines += self._always_included(agent_id, tick + 1, after_harvest=True)
        lines += ["", chat_task(names, conversation)]
        return Observation(
            agent_id=agent_id, tick=tick, phase=phase, text="\n".join(lines), fields=fields
        )

    def _observe_home(self, agent_id: str, tick: int) -> Observation | None:
        """govsim: the reflection at home, with the month's chat."""
        if agent_id not in self._taking_part:
            return None
        rec = self.state.month_record
        lines = ["Location: home", f"Date: {govsim_dates(tick + 1)[2]}", ""]
        lines += self._always_included(agent_id, tick + 1, after_harvest=True)
        if self.config.communication and rec.get("conversation"):
            lines += ["", "The group chat this month:", render_conversation(rec["conversation"])]
        return Observation(
            agent_id=agent_id,
            tick=tick,
            phase="reflect",
            text="\n".join(lines),
            fields=self._fields(agent_id, tick, after_harvest=True),
        )

    def _agree_question(self, tick: int) -> Sequence[GroupQuery]:
        """The agree phase: one persona-less question about the month's chat (GovSim asks
        its framework model, ``converse.py`` lines 121-124)."""
        rec = self.state.month_record
        if not rec.get("conversation"):
            return []
        text = GOVSIM_TEXTS[self.config.resource]
        obs = Observation(
            agent_id="framework",
            tick=tick,
            phase="agree",
            # The date makes each month's question distinct, so an identical chat in another
            # month is asked again rather than answered from the engine's in-process memo
            # (which a resumed run would not have).
            text=f"Date: {govsim_dates(tick + 1)[1]}\n\n" + limit_prompt(text, rec["conversation"]),
            fields={
                "protocol": "govsim",
                "month": tick + 1,
                "threshold": int(rec["threshold"]),
                "resource": self.config.resource,
            },
        )
        return [GroupQuery(key="framework", size=len(self.ids), persona_text="", observation=obs)]

    # -- the rules -----------------------------------------------------------------------

    def _harvest(self, actions: Mapping[str, Action], ctx: PhaseContext) -> dict[str, Any]:
        c, s, tick = self.config, self.state, ctx.tick
        ids = self.ids
        joined = [a for a in ids if a in s.join_tick and s.join_tick[a] == tick]
        if joined:
            ctx.emit(
                WorldStateEvent,
                phase="population",
                state={"agents": len(ids), "joined": joined},
            )
        stock_before = s.stock
        threshold = self.threshold(stock_before)
        ctx.emit(
            WorldStateEvent,
            phase="harvest",
            state={"month": tick + 1, "stock": stock_before, "threshold": threshold},
        )
        wanted = {aid: _as(actions[aid], Take).amount for aid in ids}
        caught_list = allocate([wanted[a] for a in ids], stock_before, c.allocation, ctx.rng)
        caught = dict(zip(ids, caught_list, strict=True))
        stock_after = stock_before - sum(caught_list)
        s.collapsed = stock_after < c.collapse_threshold
        stock_next = min(c.capacity, int(stock_after * c.regen_factor))
        if s.collapsed and not self.govsim:
            # GovSim regrows whatever is left, collapse or not; the run ends after the
            # month's reflection (concurrent_env.py 424-437).
            stock_next = 0
        s.month_record = {
            "month": tick + 1,
            "stock_before": stock_before,
            "wanted": wanted,
            "caught": caught,
            "stock_after": stock_after,
            "stock_next": stock_next,
            "collapsed": s.collapsed,
            "threshold": threshold,
            "messages": [],
        }
        self._summary = None
        self._transcript = (0, [])
        ctx.emit(
            OutcomeEvent,
            phase="harvest",
            data={k: v for k, v in s.month_record.items() if k != "messages"},
        )
        s.stock = stock_after
        if self.govsim:
            return self._govsim_after_harvest(ids, wanted, caught)
        total = sum(caught_list)
        percepts: dict[str, Any] = {}
        for aid in ids:
            text = self.words.percept(
                tick + 1, stock_before, wanted[aid], caught[aid], total, stock_after
            )
            if s.collapsed:
                text += self.words.collapsed()
            percepts[aid] = Percept(text=text, kind="observation", importance=6.0)
        return percepts

    def _govsim_after_harvest(
        self, ids: list[str], wanted: Mapping[str, int], caught: Mapping[str, int]
    ) -> dict[str, Any]:
        """Each agent learns its own catch; with communication the mayor opens the chat."""
        text = GOVSIM_TEXTS[self.config.resource]
        rec = self.state.month_record
        if self.config.communication:
            report = mayor_report(text, [(self.name_of(a), caught[a]) for a in ids])
            rec.update(conversation=[(MAYOR, report)], speaker=ids[0], chat_over=False)
        else:
            rec.update(conversation=[], speaker=None, chat_over=True)
        return {
            aid: Percept(
                text=text.caught_line.format(
                    name=self.name_of(aid), wanted=wanted[aid], caught=caught[aid]
                ),
                kind="observation",
                importance=6.0,
            )
            for aid in ids
        }

    def _discuss(self, phase: str, actions: Mapping[str, Action], ctx: PhaseContext) -> None:
        """societas: everyone may speak; the month's transcript is part of every later
        observation of the month (what an agent keeps beyond it is its reflection)."""
        said: list[tuple[str, str]] = []
        for aid in self.ids:
            message = _as(actions[aid], Speak).message.strip()
            if message:
                said.append((aid, message))
                ctx.emit(MessageEvent, actor=aid, phase=phase, text=message)
        self.state.month_record["messages"].extend(said)

    def _utterance(self, phase: str, actions: Mapping[str, Action], ctx: PhaseContext) -> None:
        """govsim: the speaker's turn joins the chat and names the next speaker."""
        rec = self.state.month_record
        if rec.get("chat_over", True) or not actions:
            return
        speaker = str(rec["speaker"])
        turn = _as(actions[speaker], Utterance)
        said = turn.response.strip()
        if len(said) > 1 and said[0] == said[-1] == '"':
            said = said[1:-1]  # GovSim strips surrounding quotes (converse_prompts.py 74-76)
        rec["conversation"].append((self.name_of(speaker), said))
        if said:
            ctx.emit(MessageEvent, actor=speaker, phase=phase, text=said)
        if turn.conversation_concluded or len(rec["conversation"]) >= self.config.discussion_steps:
            rec["chat_over"] = True
        else:
            by_name = {self.name_of(a): a for a in self.ids}
            rec["speaker"] = by_name.get(turn.next_speaker, self.ids[0])

    def _agree(self, answers: Mapping[str, Action], ctx: PhaseContext) -> dict[str, Any]:
        """Every participant keeps the chat; an agreed limit becomes an always-included
        memory (GovSim's ``store_thought(..., always_include=True)``, converse.py 126-145)."""
        tick = ctx.tick
        answer = answers.get("framework")
        agreed = isinstance(answer, AgreedLimit) and answer.agreed
        limit = answer.limit if isinstance(answer, AgreedLimit) and agreed else None
        if limit is not None:
            self.state.limits.append((tick + 1, limit))
        ctx.emit(
            OutcomeEvent,
            phase="agree",
            data={"month": tick + 1, "agreed": limit is not None, "limit": limit},
        )
        text = GOVSIM_TEXTS[self.config.resource]
        chat = render_conversation(self.state.month_record.get("conversation", []))
        percepts: dict[str, Any] = {}
        for aid in self.ids:
            items = [Percept(text=f"Group chat of month {tick + 1}:\n{chat}", kind="chat")]
            if limit is not None:
                line = text.limit_line.format(limit=limit)
                items.append(Percept(text=line, kind="thought", importance=8.0))
            percepts[aid] = items
        return percepts

    def _reflect(self, actions: Mapping[str, Action], ctx: PhaseContext) -> dict[str, Any]:
        s, tick = self.state, ctx.tick
        percepts: dict[str, Any] = {}
        for aid in self.ids:
            text = _as(actions[aid], Reflect).reflection.strip()
            if text:
                ctx.emit(ReflectionEvent, actor=aid, phase="reflect", text=text)
                percepts[aid] = Percept(
                    text=f"My reflection after month {tick + 1}: {text}",
                    kind="reflection",
                    importance=8.0,
                )
        if self.govsim and s.collapsed:
            s.ended = True
        elif not s.collapsed:
            s.stock = s.month_record["stock_next"]
        ctx.emit(
            WorldStateEvent,
            phase="regrow",
            state={"month": tick + 1, "stock": s.stock, "collapsed": s.collapsed},
        )
        s.clock = tick + 1
        self._refresh()
        return percepts


def _disposition(persona: Persona, default: str, source: str, field: str) -> str:
    """An agent's disposition: its persona's ``disposition`` attribute, else ``default``."""
    disposition = str(persona.attributes.get("disposition", default))
    allowed = get_args(Disposition)
    if disposition not in allowed:
        raise ConfigError(source, field, "one of " + ", ".join(allowed), disposition)
    return disposition


def _as(action: Action, kind: type[A]) -> A:
    if not isinstance(action, kind):
        raise TypeError(f"expected a {kind.__name__} action, got {type(action).__name__}")
    return action
