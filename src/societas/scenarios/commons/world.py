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
engine's add/remove interventions call ``add_agents`` / ``remove_agents``. An agent takes part
(observes, acts, counts in f(t)) from the tick it joins until the tick it is removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, get_args

import numpy as np
from pydantic import ValidationError

from societas.scenarios.commons.actions import Reflect, Speak, Take, harvest_model
from societas.scenarios.commons.config import CommonsConfig, Disposition
from societas.scenarios.commons.framing import Framing, framing_for
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
from societas.typing import (
    Action,
    ConfigError,
    GroupQuery,
    MessageEvent,
    Observation,
    OutcomeEvent,
    Persona,
    ReflectionEvent,
)
from societas.typing import WorldState as WorldStateEvent
from societas.typing.scenario import Percept, PhaseSpec, Recorder

__all__ = ["Lake", "allocate"]

A = TypeVar("A", bound=Action)

AGREE = PhaseSpec(
    name="agree",
    action_model=AgreedLimit,
    instruction="Say whether the group agreed on a limit per person, and which.",
    mode="groups",
)

# How long an agreed limit stays an always-included memory, in months after the month it was
# agreed in: GovSim stores it with the store's 63-day expiry (about two months).
LIMIT_MONTHS = 2

REFLECT = PhaseSpec(
    name="reflect",
    action_model=Reflect,
    instruction=(
        "Write a short reflection (one or two sentences) on this month that will help you "
        "decide next month."
    ),
)


def discuss_phase(round_no: int, words: Framing | None = None) -> PhaseSpec:
    return PhaseSpec(
        name=f"discuss_{round_no}",
        action_model=Speak,
        instruction=(words or Framing(100)).discuss_instruction(),
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


class Lake:
    """The shared stock and its agents (the name is the fishery's; it serves all framings)."""

    def __init__(
        self,
        config: CommonsConfig,
        ids: Sequence[str],
        names: Sequence[str],
        *,
        joins: Mapping[str, int] | None = None,
        dispositions: Mapping[str, Disposition] | None = None,
    ) -> None:
        self.config = config
        self.words = framing_for(config.resource, config.capacity)
        # Members in order (allocation and listings follow it); ``join_tick`` holds the ones
        # scheduled to join later (the newcomer). Agents added by an intervention take part
        # at once, so they are members without a join tick.
        self.members = list(ids)
        self.join_tick: dict[str, int] = dict(joins or {})
        self.names = dict(zip(ids, names, strict=True))
        self.dispositions: dict[str, str] = {
            aid: config.dispositions[i % len(config.dispositions)] for i, aid in enumerate(ids)
        }
        self.dispositions.update(dispositions or {})
        self.removed: list[str] = []
        self.clock = 0  # the tick being played: months completed so far
        self.stock = config.initial_stock
        self.collapsed = False
        self.ended = False  # govsim: the month of the collapse has been played to its end
        self.limits: list[tuple[int, int]] = []  # govsim: (month, agreed limit per person)
        self.month_record: dict[str, Any] = {}
        self.rules_text = ""
        self.harvest_phase = self._harvest_phase()
        self._harvest_phases: dict[int, PhaseSpec] = {}
        self._ids: list[str] = []
        self._taking_part: frozenset[str] = frozenset()
        self._transcript: tuple[int, list[str]] = (0, [])  # (messages rendered, their lines)
        self._summary: str | None = None  # the month's summary, built once per month
        self._refresh()

    @property
    def ids(self) -> list[str]:
        """The agents taking part now (joined and not removed), in member order.

        Kept by ``_refresh``, which runs whenever the members or the clock change, so each
        phase reads the list instead of rebuilding it per access."""
        return self._ids

    def _harvest_phase(self) -> PhaseSpec:
        w = self.words
        return PhaseSpec(
            name="harvest",
            action_model=harvest_model(self.config.capacity, w.amount_field, w.amount_description),
            instruction=w.instruction(),
        )

    def _refresh(self) -> None:
        """Re-derive the text that depends on the population (the rules name its size)."""
        c = self.config
        self._ids = [a for a in self.members if self.join_tick.get(a, 0) <= self.clock]
        self._taking_part = frozenset(self._ids)
        if self.govsim:
            # GovSim names every persona of the run, the newcomer included (utils.py 150-155).
            names = [self.names[a] for a in self.members]
            self.rules_text = GOVSIM_TEXTS[c.resource].rules(names, c.communication, c.capacity)
            return
        others = max(0, len(self._ids) - 1)
        self.rules_text = self.words.rules(others, c.regen_factor, c.collapse_threshold, c.months)

    @property
    def govsim(self) -> bool:
        return self.config.protocol == "govsim"

    def threshold(self, stock: int) -> int:
        """f(t): govsim divides by the initial number of agents, societas by those taking
        part now."""
        if self.govsim:
            return self.config.threshold(stock, self.config.agents)
        return self.config.threshold(stock, len(self.ids))

    # -- World protocol ------------------------------------------------------------------

    def agent_ids(self) -> Sequence[str]:
        return self.ids

    def num_ticks(self) -> int:
        return self.config.months

    def sim_time(self, tick: int) -> float:
        return float(tick)

    def is_over(self) -> bool:
        return self.ended if self.govsim else self.collapsed

    def phases(self, tick: int) -> Sequence[PhaseSpec]:
        if self.govsim:
            return self._govsim_phases()
        phases = [self.harvest_phase]
        if self.config.communication:
            phases += [
                discuss_phase(r + 1, self.words) for r in range(self.config.discussion_rounds)
            ]
        phases.append(REFLECT)
        return phases

    def observe(self, agent_id: str, tick: int, phase: PhaseSpec) -> Observation | None:
        if agent_id not in self._taking_part:
            return None  # not joined yet, or removed
        if self.govsim:
            return self._govsim_observe(agent_id, tick, phase)
        c = self.config
        w = self.words
        month = tick + 1
        fields: dict[str, Any] = {
            "month": month,
            "stock": self.stock,
            "threshold": self.threshold(self.stock),
            "agents": len(self.ids),
            "capacity": c.capacity,
            "name": self.names[agent_id],
            "disposition": self.dispositions[agent_id],
            "resource": c.resource,
            "amount_field": w.amount_field,
        }
        if phase.name == "harvest":
            lines = [f"It is month {month} of {c.months}. {w.stock_now(self.stock)}"]
            if c.universalization:
                lines.append(w.universalization(self.threshold(self.stock)))
            lines.append(w.question())
            return Observation(
                agent_id=agent_id, tick=tick, phase=phase.name, text=" ".join(lines), fields=fields
            )
        rec = self.month_record
        fields.update(
            threshold=int(rec.get("threshold", self.threshold(rec["stock_before"]))),
            caught=rec["caught"].get(agent_id, 0),
            stock_after=rec["stock_after"],
            stock_next=rec["stock_next"],
        )
        lines = [self._month_summary()]
        if phase.name.startswith("discuss"):
            if rec["messages"]:
                lines.append("The discussion so far (quoted, as the speakers said it):")
                lines += self._transcript_lines()
            else:
                lines.append("Nobody has spoken yet.")
        else:
            if rec["messages"]:
                lines.append("What was said (quoted):")
                lines += self._transcript_lines()
        return Observation(
            agent_id=agent_id, tick=tick, phase=phase.name, text="\n".join(lines), fields=fields
        )

    def _transcript_lines(self) -> list[str]:
        """The month's messages as quoted lines, rendered once per new message."""
        messages = self.month_record["messages"]
        done, lines = self._transcript
        if done > len(messages):  # a new month: start over
            done, lines = 0, []
        if done < len(messages):
            lines = lines + [f'{self.names[a]}: "{m}"' for a, m in messages[done:]]
            self._transcript = (len(messages), lines)
        return lines

    def _month_summary(self) -> str:
        """The month's outcome for every observer, built once per month (after the harvest)."""
        if self._summary is None:
            rec = self.month_record
            takes = ", ".join(f"{self.names[a]} {n}" for a, n in rec["caught"].items())
            self._summary = self.words.summary(
                rec["month"], rec["stock_before"], takes, rec["stock_after"], rec["stock_next"]
            )
        return self._summary

    def fallback(self, observation: Observation, phase: PhaseSpec) -> Action:
        """What an agent does when its decision failed: takes nothing, says nothing."""
        if phase.name == "harvest":
            model = self.harvest_phase.action_model
            return model.model_validate(
                {self.words.amount_field: 0, "reason": "fallback: no valid decision"}
            )
        if phase.name == "reflect":
            return Reflect(reflection="")
        if phase.name == "agree":
            return AgreedLimit(agreed=False, limit=0)
        if issubclass(phase.action_model, Utterance):
            # GovSim's default when the answer cannot be read: the chat ends
            # (converse_prompts.py line 82, default_value="yes").
            return phase.action_model(response="", conversation_concluded=True)
        return Speak(message="")

    def resolve(
        self,
        tick: int,
        phase: PhaseSpec,
        actions: Mapping[str, Action],
        rng: np.random.Generator,
        recorder: Recorder,
    ) -> Mapping[str, Sequence[Percept]]:
        if phase.name == "harvest":
            return self._harvest(tick, actions, rng, recorder)
        if phase.name == "reflect":
            return self._reflect(tick, actions, recorder)
        if self.govsim:
            return self._govsim_utterance(phase, actions, recorder)
        return self._discuss(tick, phase, actions, recorder)

    def _harvest(
        self,
        tick: int,
        actions: Mapping[str, Action],
        rng: np.random.Generator,
        recorder: Recorder,
    ) -> Mapping[str, Sequence[Percept]]:
        c = self.config
        ids = self.ids
        joined = [a for a in ids if a in self.join_tick and self.join_tick[a] == tick]
        if joined:
            recorder.emit(
                WorldStateEvent,
                phase="population",
                state={"agents": len(ids), "joined": joined},
            )
        stock_before = self.stock
        threshold = self.threshold(stock_before)
        recorder.emit(
            WorldStateEvent,
            phase="harvest",
            state={"month": tick + 1, "stock": stock_before, "threshold": threshold},
        )
        wanted = {aid: _as(actions[aid], Take).amount for aid in ids}
        caught_list = allocate([wanted[a] for a in ids], stock_before, c.allocation, rng)
        caught = dict(zip(ids, caught_list, strict=True))
        stock_after = stock_before - sum(caught_list)
        self.collapsed = stock_after < c.collapse_threshold
        if self.govsim:
            # GovSim regrows whatever is left, collapse or not; the run ends after the
            # month's reflection (concurrent_env.py 424-437).
            stock_next = min(c.capacity, int(stock_after * c.regen_factor))
        else:
            stock_next = 0 if self.collapsed else min(c.capacity, int(stock_after * c.regen_factor))
        self.month_record = {
            "month": tick + 1,
            "stock_before": stock_before,
            "wanted": wanted,
            "caught": caught,
            "stock_after": stock_after,
            "stock_next": stock_next,
            "collapsed": self.collapsed,
            "threshold": threshold,
            "messages": [],
        }
        self._summary = None
        self._transcript = (0, [])
        recorder.emit(
            OutcomeEvent,
            phase="harvest",
            data={k: v for k, v in self.month_record.items() if k != "messages"},
        )
        self.stock = stock_after
        if self.govsim:
            return self._govsim_after_harvest(ids, wanted, caught)
        percepts: dict[str, list[Percept]] = {}
        for aid in ids:
            text = self.words.percept(
                tick + 1, stock_before, wanted[aid], caught[aid], sum(caught_list), stock_after
            )
            if self.collapsed:
                text += self.words.collapsed()
            percepts[aid] = [Percept(text=text, kind="observation", importance=6.0)]
        return percepts

    def _discuss(
        self,
        tick: int,
        phase: PhaseSpec,
        actions: Mapping[str, Action],
        recorder: Recorder,
    ) -> Mapping[str, Sequence[Percept]]:
        said: list[tuple[str, str]] = []
        for aid in self.ids:
            message = _as(actions[aid], Speak).message.strip()
            if message:
                said.append((aid, message))
                recorder.emit(MessageEvent, actor=aid, phase=phase.name, text=message)
        self.month_record["messages"].extend(said)
        # The month's transcript is part of every later observation of the month; what an
        # agent keeps of it beyond the month is its reflection, so memories stay small.
        return {}

    def _reflect(
        self, tick: int, actions: Mapping[str, Action], recorder: Recorder
    ) -> Mapping[str, Sequence[Percept]]:
        percepts: dict[str, list[Percept]] = {}
        for aid in self.ids:
            text = _as(actions[aid], Reflect).reflection.strip()
            if text:
                recorder.emit(ReflectionEvent, actor=aid, phase="reflect", text=text)
                percepts[aid] = [
                    Percept(
                        text=f"My reflection after month {tick + 1}: {text}",
                        kind="reflection",
                        importance=8.0,
                    )
                ]
        if self.govsim and self.collapsed:
            self.ended = True
        elif not self.collapsed:
            self.stock = self.month_record["stock_next"]
        recorder.emit(
            WorldStateEvent,
            phase="regrow",
            state={"month": tick + 1, "stock": self.stock, "collapsed": self.collapsed},
        )
        self.clock = tick + 1
        self._refresh()
        return percepts

    # -- the govsim protocol -------------------------------------------------------------

    def _govsim_phases(self) -> list[PhaseSpec]:
        c = self.config
        harvest = self._harvest_phases.get(self.stock)
        if harvest is None:
            # GovSim's range is 0..the stock now (persona.py line 90), so the schema says so.
            w = self.words
            harvest = PhaseSpec(
                name="harvest",
                action_model=harvest_model(self.stock, w.amount_field, w.amount_description),
                instruction="Answer with the amount and a short reason.",
            )
            self._harvest_phases[self.stock] = harvest
        phases = [harvest]
        if c.communication:
            names = tuple(self.names[a] for a in self.ids)
            speak = utterance_model(names)
            phases += [
                PhaseSpec(
                    name=f"discuss_{k + 1}",
                    action_model=speak,
                    instruction=(
                        "Give your response, whether it concludes the conversation, and the "
                        "next speaker."
                    ),
                )
                for k in range(c.discussion_steps - 1)  # the mayor's report is the first step
            ]
            phases.append(AGREE)
        phases.append(REFLECT)
        return phases

    def _always_included(self, agent_id: str, month: int, after_harvest: bool) -> list[str]:
        """What GovSim keeps in every retrieval of the month (``always_include`` events):
        the stock before the harvest, the agent's own catch once known, the universalization
        sentence, and the limits agreed in the last two months."""
        text = GOVSIM_TEXTS[self.config.resource]
        rec = self.month_record
        stock = int(rec["stock_before"]) if after_harvest else self.stock
        lines = [text.stock_line.format(n=stock)]
        if after_harvest:
            lines.append(
                text.caught_line.format(
                    name=self.names[agent_id],
                    wanted=rec["wanted"].get(agent_id, 0),
                    caught=rec["caught"].get(agent_id, 0),
                )
            )
        if self.config.universalization:
            lines.append(text.universalization_line.format(t=self.threshold(stock)))
        lines += [
            text.limit_line.format(limit=limit)
            for agreed_in, limit in self.limits
            if agreed_in <= month <= agreed_in + LIMIT_MONTHS
        ]
        return lines

    def _govsim_observe(self, agent_id: str, tick: int, phase: PhaseSpec) -> Observation | None:
        c = self.config
        text = GOVSIM_TEXTS[c.resource]
        month = tick + 1
        harvest_day, chat_day, home_day = govsim_dates(month)
        fields: dict[str, Any] = {
            "protocol": "govsim",
            "month": month,
            "stock": self.stock,
            "threshold": self.threshold(self.stock),
            "agents": len(self.ids),
            "capacity": c.capacity,
            "name": self.names[agent_id],
            "disposition": self.dispositions[agent_id],
            "resource": c.resource,
            "amount_field": self.words.amount_field,
        }
        if phase.name == "harvest":
            lines = [f"Location: {text.location}", f"Date: {harvest_day}", ""]
            lines += self._always_included(agent_id, month, after_harvest=False)
            lines += ["", text.task_line.format(n=self.stock)]
            return Observation(
                agent_id=agent_id, tick=tick, phase=phase.name, text="\n".join(lines), fields=fields
            )
        rec = self.month_record
        fields.update(
            threshold=int(rec["threshold"]),
            caught=rec["caught"].get(agent_id, 0),
            stock_after=rec["stock_after"],
            stock_next=rec["stock_next"],
        )
        if phase.name.startswith("discuss"):
            if rec.get("chat_over", True) or rec.get("speaker") != agent_id:
                return None  # one speaker per turn
            names = [self.names[a] for a in self.ids]
            conversation = rec["conversation"]
            fields.update(
                participants=names,
                spoken=sum(1 for who, _ in conversation if who != MAYOR),
            )
            lines = ["Location: restaurant", f"Date: {chat_day}", ""]
            lines += self._always_included(agent_id, month, after_harvest=True)
            lines += ["", chat_task(names, conversation)]
            return Observation(
                agent_id=agent_id, tick=tick, phase=phase.name, text="\n".join(lines), fields=fields
            )
        if phase.name == "reflect":
            lines = ["Location: home", f"Date: {home_day}", ""]
            lines += self._always_included(agent_id, month, after_harvest=True)
            if c.communication and rec.get("conversation"):
                chat = render_conversation(rec["conversation"])
                lines += ["", "The group chat this month:", chat]
            return Observation(
                agent_id=agent_id, tick=tick, phase=phase.name, text="\n".join(lines), fields=fields
            )
        return None  # the agree phase is the framework's, not an agent's

    def _govsim_after_harvest(
        self, ids: list[str], wanted: Mapping[str, int], caught: Mapping[str, int]
    ) -> Mapping[str, Sequence[Percept]]:
        """Each agent learns its own catch; with communication the mayor opens the chat."""
        text = GOVSIM_TEXTS[self.config.resource]
        rec = self.month_record
        if self.config.communication:
            report = mayor_report(text, [(self.names[a], caught[a]) for a in ids])
            rec.update(conversation=[(MAYOR, report)], speaker=ids[0], chat_over=False)
        else:
            rec.update(conversation=[], speaker=None, chat_over=True)
        return {
            aid: [
                Percept(
                    text=text.caught_line.format(
                        name=self.names[aid], wanted=wanted[aid], caught=caught[aid]
                    ),
                    kind="observation",
                    importance=6.0,
                )
            ]
            for aid in ids
        }

    def _govsim_utterance(
        self, phase: PhaseSpec, actions: Mapping[str, Action], recorder: Recorder
    ) -> Mapping[str, Sequence[Percept]]:
        rec = self.month_record
        if rec.get("chat_over", True) or not actions:
            return {}
        speaker = str(rec["speaker"])
        turn = _as(actions[speaker], Utterance)
        said = turn.response.strip()
        if len(said) > 1 and said[0] == said[-1] == '"':
            said = said[1:-1]  # GovSim strips surrounding quotes (converse_prompts.py 74-76)
        rec["conversation"].append((self.names[speaker], said))
        if said:
            recorder.emit(MessageEvent, actor=speaker, phase=phase.name, text=said)
        if turn.conversation_concluded or len(rec["conversation"]) >= self.config.discussion_steps:
            rec["chat_over"] = True
        else:
            by_name = {self.names[a]: a for a in self.ids}
            rec["speaker"] = by_name.get(turn.next_speaker, self.ids[0])
        return {}

    def groups(self, tick: int, phase: PhaseSpec) -> Sequence[GroupQuery]:
        """The agree phase: one persona-less question about the month's chat (GovSim asks
        its framework model, ``converse.py`` lines 121-124)."""
        rec = self.month_record
        if phase.name != "agree" or not rec.get("conversation"):
            return []
        text = GOVSIM_TEXTS[self.config.resource]
        obs = Observation(
            agent_id="framework",
            tick=tick,
            phase=phase.name,
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

    def resolve_groups(
        self,
        tick: int,
        phase: PhaseSpec,
        answers: Mapping[str, Action],
        rng: np.random.Generator,
        recorder: Recorder,
    ) -> Mapping[str, Sequence[Percept]]:
        """Every participant keeps the chat; an agreed limit becomes an always-included
        memory (GovSim's ``store_thought(..., always_include=True)``, converse.py 126-145)."""
        rec = self.month_record
        answer = answers.get("framework")
        agreed = isinstance(answer, AgreedLimit) and answer.agreed
        limit = answer.limit if isinstance(answer, AgreedLimit) and agreed else None
        if limit is not None:
            self.limits.append((tick + 1, limit))
        recorder.emit(
            OutcomeEvent,
            phase="agree",
            data={"month": tick + 1, "agreed": limit is not None, "limit": limit},
        )
        text = GOVSIM_TEXTS[self.config.resource]
        chat = render_conversation(rec.get("conversation", []))
        percepts: dict[str, list[Percept]] = {}
        for aid in self.ids:
            items = [Percept(text=f"Group chat of month {tick + 1}:\n{chat}", kind="chat")]
            if limit is not None:
                line = text.limit_line.format(limit=limit)
                items.append(Percept(text=line, kind="thought", importance=8.0))
            percepts[aid] = items
        return percepts

    # -- interventions -------------------------------------------------------------------

    def apply_settings(self, settings: Mapping[str, Any]) -> None:
        """Change settings mid-run (an intervention); the population and length are fixed."""
        fixed = {
            "agents",
            "months",
            "names",
            "initial_stock",
            "dispositions",
            "resource",
            "newcomer",
            "protocol",
        } & set(settings)
        if fixed:
            raise ConfigError(
                "run.interventions",
                f"set.{sorted(fixed)[0]}",
                "a setting that can change during a run "
                "(capacity, regen_factor, collapse_threshold, allocation, universalization, "
                "communication, discussion_rounds, discussion_steps); add or remove agents with "
                "'add'/'remove'",
            )
        try:
            config = CommonsConfig.model_validate({**self.config.model_dump(), **settings})
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in err["loc"])
            raise ConfigError(
                "run.interventions", f"set.{field}", str(err["msg"]), err.get("input")
            ) from exc
        self._reconfigure(config)

    def add_agents(self, personas: Sequence[Persona]) -> None:
        """New agents take part from the current tick on (an 'add' intervention)."""
        known = set(self.names)
        allowed = get_args(Disposition)
        for p in personas:
            if p.id in known:
                raise ConfigError(
                    "run.interventions", "add.id", "an id not already in the world", p.id
                )
            disposition = p.attributes.get("disposition", "cooperative")
            if disposition not in allowed:
                raise ConfigError(
                    "run.interventions",
                    "add.attributes.disposition",
                    "one of " + ", ".join(allowed),
                    disposition,
                )
            known.add(p.id)
        for p in personas:
            self.members.append(p.id)
            self.names[p.id] = p.name
            self.dispositions[p.id] = str(p.attributes.get("disposition", "cooperative"))
        self._refresh()

    def remove_agents(self, ids: Sequence[str]) -> None:
        """The agents stop observing and acting from the current tick on."""
        for aid in ids:
            if aid not in self.members:
                raise ConfigError("run.interventions", "remove", "ids of agents in the world", aid)
        if not set(self.members) - set(ids):
            raise ConfigError(
                "run.interventions", "remove", "at least one agent left in the world", list(ids)
            )
        for aid in ids:
            self.members.remove(aid)
            self.removed.append(aid)
        self._refresh()

    def _reconfigure(self, config: CommonsConfig) -> None:
        self.config = config
        self.words = framing_for(config.resource, config.capacity)
        self.harvest_phase = self._harvest_phase()
        self._harvest_phases = {}
        self._summary = None
        self._refresh()

    # -- snapshots -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        rec = dict(self.month_record)
        if "messages" in rec:
            rec["messages"] = [list(m) for m in rec["messages"]]
        if "conversation" in rec:
            rec["conversation"] = [list(m) for m in rec["conversation"]]
        extra: dict[str, Any] = {}
        if self.govsim:
            extra = {"ended": self.ended, "limits": [list(x) for x in self.limits]}
        return {
            **extra,
            "stock": self.stock,
            "collapsed": self.collapsed,
            "month_record": rec,
            "config": self.config.model_dump(mode="json"),
            "members": list(self.members),
            "join_tick": dict(self.join_tick),
            "names": dict(self.names),
            "dispositions": dict(self.dispositions),
            "removed": list(self.removed),
            "clock": self.clock,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        if "config" in state:
            # A snapshot holds the full config; one without a protocol was written before
            # 0.2, under the protocol now called societas, and resumes under it.
            config = {"protocol": "societas", **state["config"]}
            self._reconfigure(CommonsConfig.model_validate(config))
        self.stock = int(state["stock"])
        self.collapsed = bool(state["collapsed"])
        rec = dict(state["month_record"])
        if "messages" in rec:
            rec["messages"] = [(a, m) for a, m in rec["messages"]]
        if "conversation" in rec:
            rec["conversation"] = [(a, m) for a, m in rec["conversation"]]
        self.ended = bool(state.get("ended", False))
        self.limits = [(int(m), int(n)) for m, n in state.get("limits", [])]
        self.month_record = rec
        self._summary = None
        self._transcript = (0, [])
        if "members" in state:
            self.members = [str(a) for a in state["members"]]
            self.join_tick = {str(a): int(t) for a, t in state["join_tick"].items()}
            self.names = {str(a): str(n) for a, n in state["names"].items()}
            self.dispositions = {str(a): str(d) for a, d in state["dispositions"].items()}
            self.removed = [str(a) for a in state["removed"]]
            self.clock = int(state["clock"])
        self._refresh()


def _as(action: Action, kind: type[A]) -> A:
    if not isinstance(action, kind):
        raise TypeError(f"expected a {kind.__name__} action, got {type(action).__name__}")
    return action
