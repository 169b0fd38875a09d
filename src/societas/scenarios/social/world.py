"""The platform: users, follow graph, posts, feeds, and the rules that apply actions.

Each tick (one simulated hour) has one decision phase (two in archetype mode with focal
users): ``act_focal`` for full-mind users (``agents`` mode phase), ``act`` for the crowd
(``groups`` mode phase, or ``agents`` mode when every user has a mind). Before the first phase
of a tick the world, once for everybody (``_prepare``):

1. injects the seed posts due at the tick;
2. draws who is active (each user with its activity level's probability, OASIS-style);
3. builds every active user's feed with the configured recommender;
4. lets every active user read its feed: emotions and attitudes update (``dynamics``).

The crowd is grouped by persona attributes and situation (rumour in feed, attitude bucket,
emotion bucket, empty feed); each group's answer is a mix of actions from which every
member draws its own with the counter-based generator. Actions are applied by one
vectorised rule for focal users and crowd alike, and recorded as columns of a
``PopulationStepEvent``; a ``WorldState`` closes each tick.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import ValidationError

from societas.kit import (
    Action,
    ConfigError,
    GroupQuery,
    Observation,
    OutcomeEvent,
    Percept,
    Persona,
    Phase,
    PhaseContext,
    State,
    World,
)
from societas.kit import WorldState as WorldStateEvent
from societas.population import rng as crng
from societas.population.executor import Executor, LocalExecutor
from societas.population.state import PopulationState, decode_array, encode_array
from societas.scenarios.social.actions import (
    ACTION_NAMES,
    COMMENT,
    FOLLOW,
    IDLE,
    LIKE,
    POST,
    REPOST,
    GroupMix,
    SocialAction,
)
from societas.scenarios.social.config import (
    ACTIVITY_LEVELS,
    TOPICS,
    SeedPost,
    SocialConfig,
)
from societas.scenarios.social.dynamics import (
    ATTITUDES,
    EMOTIONS,
    attitude_bucket,
    emotion_bucket,
    shard_activate,
    shard_read,
    shard_sample,
    shard_stats,
)
from societas.scenarios.social.graph import FollowGraph, unique_inverse, unique_sorted
from societas.scenarios.social.posts import PostTable
from societas.scenarios.social.recommender import build_pool, get_recommender, rank
from societas.typing import PopulationStepEvent

__all__ = ["SocialWorld", "user_id"]

I64 = NDArray[np.int64]

STREAM_ACTION = 11
STREAM_TARGET = 12
STREAM_ATTENTION = 13

GROUP_INSTRUCTION = (
    "Give integer weights (0-100) for how the active members of this group split over the "
    "actions this hour, and optionally one short typical post."
)
AGENT_INSTRUCTION = (
    "Choose one action for this hour. 'target' is the number of a feed item (for repost, "
    "like, comment, follow); 'text' is your post or comment."
)


def user_id(index: int) -> str:
    return f"user_{index}"


@dataclass
class _Prep:
    """One tick's shared situation, computed once before its first phase."""

    tick: int
    active: I64  # sorted global indices
    feeds: I64  # (n_active, size) post ids, best first, -1 padded
    attitude: NDArray[np.float32]
    anxiety: NDArray[np.float32]
    anger: NDArray[np.float32]
    rumour: I64  # 1 + seed index of the best-ranked seed-cascade item, 0 if none
    rumour_slot: I64  # feed slot of that item, -1 if none
    pending: list[tuple[str, dict[str, Any]]]  # seed records to emit at the first resolve
    counts: dict[str, int]


class SocialWorld(World[SocialConfig, State]):
    """The platform; its state is arrays (in the run's executor) and snapshots itself."""

    keep_snapshots = 2  # the arrays are large: keep the last two snapshots only
    uses_executor = True

    def __init__(
        self,
        config: SocialConfig,
        personas: Sequence[Persona],
        rng: np.random.Generator,
        *,
        seed: int,
        population: PopulationState,
        graph: FollowGraph,
        focal: I64,
        names: Sequence[str] | None = None,
    ) -> None:
        super().__init__(config, personas, rng)
        self.seed = int(seed)
        self.population = population
        self.graph = graph
        self.n = population.n
        self.focal = np.sort(focal.astype(np.int64))
        self._focal_pos = {int(u): k for k, u in enumerate(self.focal)}
        self.names = list(names) if names is not None else None
        self.is_focal = np.zeros(self.n, dtype=bool)
        self.is_focal[self.focal] = True
        self.topic = population["interest"].astype(np.int64)
        self.posts = PostTable()
        self.last_posts = np.full((self.n, config.feed.posts_per_author), -1, dtype=np.int64)
        self.engaged = np.zeros(0, dtype=np.int64)  # sorted keys root * n + user
        self.follows_src = np.zeros(0, dtype=np.int64)
        self.follows_dst = np.zeros(0, dtype=np.int64)
        self.seeds: list[SeedPost] = list(config.seeds)
        self.seed_posts: dict[int, int] = {}  # seed index -> post id
        self.seed_topic = TOPICS.index(self.seeds[0].topic) if self.seeds else 0
        self.next_tick = 0
        self._prep: _Prep | None = None
        self._executor: Executor | None = None
        self._initial: dict[str, NDArray[Any]] = {
            "attitude": self._initial_attitude(),
            "anxiety": np.zeros(self.n, dtype=np.float32),
            "anger": np.zeros(self.n, dtype=np.float32),
            "activity": population["activity"].astype(np.int8),
        }
        size = min(config.attitude_sample, self.n)
        pick = np.random.default_rng(self.seed + 7).choice(self.n, size=size, replace=False)
        self.sample = np.sort(pick.astype(np.int64))
        self._groups: tuple[I64, I64, I64] = (np.zeros(0, np.int64),) * 3
        self.rules_text = self._rules()
        self.focal_phase = self._agents_phase("act_focal", end_tick=False)
        if config.mode == "agents":
            self.crowd_phase = self._agents_phase("act", end_tick=True)
        else:
            self.crowd_phase = Phase(
                name="act",
                action_model=GroupMix,
                instruction=GROUP_INSTRUCTION,
                mode="groups",
                groups=self._group_queries,
                resolve=self._resolve_groups,
                fallback=GroupMix(idle=1),
            )

    def _agents_phase(self, name: str, *, end_tick: bool) -> Phase:
        """Users with full minds choose one action each; the crowd's phase (or the only one in
        ``agents`` mode) ends the tick."""
        return Phase(
            name=name,
            action_model=SocialAction,
            instruction=AGENT_INSTRUCTION,
            observe=partial(self._observe, name),
            resolve=partial(self._resolve_agents, name, end_tick),
            fallback=SocialAction(action="idle", target=0),
        )

    # -- setup -------------------------------------------------------------------------

    def _initial_attitude(self) -> NDArray[np.float32]:
        c = self.config
        leaning = self.population["leaning"].astype(np.float64) - 1.0  # left -1, center 0
        noise = crng.normal(self.seed, 0, 21, np.arange(self.n, dtype=np.int64))
        x = c.leaning_offset * leaning + c.initial_attitude_sd * noise
        return np.clip(x, -1.0, 1.0).astype(np.float32)

    def _rules(self) -> str:
        return (
            "You are on a microblogging platform like Twitter. Every hour, users who are online "
            "read a feed of posts chosen by the platform's recommender, and may write a post, "
            "repost or like a post, comment on it, follow its author, or do nothing."
        )

    def use_executor(self, executor: Executor) -> None:
        """Keep the per-user arrays in ``executor`` (the runner's local or Ray executor)."""
        arrays = self._arrays() if self._executor is not None else self._initial
        if self._executor is not None and self._executor is not executor:
            self._executor.close()
        self._executor = executor
        executor.scatter({k: np.asarray(v) for k, v in arrays.items()})

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            self.use_executor(LocalExecutor())
        assert self._executor is not None
        return self._executor

    def _arrays(self) -> dict[str, NDArray[Any]]:
        if self._executor is None:
            return self._initial
        return self._executor.gather()

    # -- the kit's World ---------------------------------------------------------------

    def num_ticks(self) -> int:
        return self.config.ticks

    def phases(self, tick: int) -> Sequence[Phase]:
        if self.config.mode == "agents":
            return [self.crowd_phase]
        if self.focal.size:
            return [self.focal_phase, self.crowd_phase]
        return [self.crowd_phase]

    def _observe(self, phase: str, agent_id: str, tick: int) -> Observation | None:
        prep = self._prepare(tick)
        user = int(agent_id.rsplit("_", 1)[1])
        k = int(np.searchsorted(prep.active, user))
        if k >= prep.active.shape[0] or int(prep.active[k]) != user:
            return None  # offline this hour
        feed = prep.feeds[k]
        lines = [f"Hour {tick + 1}. Your feed:"]
        items = [int(p) for p in feed if p >= 0]
        if not items:
            lines.append("(empty: nobody you follow has posted recently)")
        for i, post in enumerate(items):
            lines.append(f"{i + 1}. {self._describe_post(post)}")
        emo = EMOTIONS[
            int(
                emotion_bucket(
                    prep.anxiety[k : k + 1], prep.anger[k : k + 1], self.config.calm_threshold
                )[0]
            )
        ]
        att = ATTITUDES[int(attitude_bucket(prep.attitude[k : k + 1])[0])]
        lines.append(f"You feel {emo}. Your view on {TOPICS[self.seed_topic]} news: {att}.")
        return Observation(
            agent_id=agent_id,
            tick=tick,
            phase=phase,
            text="\n".join(lines),
            fields={
                "feed_len": len(items),
                "rumour": bool(prep.rumour[k] > 0),
                "rumour_item": int(prep.rumour_slot[k]) + 1,
                "attitude": att,
                "emotion": emo,
                "activity": ACTIVITY_LEVELS[int(self.population["activity"][user])],
            },
        )

    def _describe_post(self, post: int) -> str:
        p = self.posts
        author = int(p["author"][post])
        kind = int(p["kind"][post])
        text = self._text_of(post)
        who = self._name(author)
        eng = int(p["engagement"][post])
        if kind == REPOST:
            origin = int(p["parent"][post])
            return (
                f'{who} reposted {self._name(int(p["author"][origin]))}: "{self._text_of(origin)}"'
                f" ({eng} reactions)"
            )
        verb = "commented" if kind == COMMENT else "posted"
        return f'{who} {verb}: "{text}" ({eng} reactions)'

    def _text_of(self, post: int) -> str:
        tid = int(self.posts["text"][post])
        if tid >= 0:
            return self.posts.texts[tid]
        if int(self.posts["kind"][post]) == REPOST:
            return self._text_of(int(self.posts["parent"][post]))
        return f"(a post about {TOPICS[int(self.posts['topic'][post])]})"

    def _name(self, user: int) -> str:
        if self.names is not None:
            return f"@{self.names[user]}"
        return f"@{user_id(user)}"

    # -- the tick's shared situation ---------------------------------------------------

    def _prepare(self, tick: int) -> _Prep:
        if self._prep is not None and self._prep.tick == tick:
            return self._prep
        c = self.config
        pending = self._inject_seeds(tick)
        ex = self.executor
        probs = [c.activation[level] for level in ACTIVITY_LEVELS]
        parts = ex.map(shard_activate, {"seed": self.seed, "tick": tick, "probs": probs})
        active = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
        pool = build_pool(
            graph=self.graph,
            last_posts=self.last_posts,
            posts=self.posts,
            users=active,
            user_topic=self.topic[active],
            tick=tick,
            settings=c.feed,
            seed=self.seed,
        )
        feeds = rank(pool, get_recommender(c.feed.recommender))
        safe = np.maximum(feeds, 0)
        has = feeds >= 0
        p = self.posts
        stance = np.where(has, p["stance"][safe] if p.n else np.nan, np.nan)
        feed_anx = np.where(has, p["anxiety"][safe] if p.n else np.nan, np.nan)
        feed_anger = np.where(has, p["anger"][safe] if p.n else np.nan, np.nan)
        parts_read = ex.map(
            shard_read,
            {
                "active": active,
                "stance": stance,
                "feed_anxiety": feed_anx,
                "feed_anger": feed_anger,
                "params": {
                    "step": c.attitude_step,
                    "confidence": c.confidence,
                    "decay": c.emotion_decay,
                    "contagion": c.emotion_contagion,
                },
            },
        )
        att = np.concatenate([r[0] for r in parts_read]) if parts_read else np.zeros(0, np.float32)
        anx = np.concatenate([r[1] for r in parts_read]) if parts_read else np.zeros(0, np.float32)
        ang = np.concatenate([r[2] for r in parts_read]) if parts_read else np.zeros(0, np.float32)
        seed_of = np.where(has, p["seed"][safe] if p.n else 0, 0).astype(np.int64)
        in_seed = seed_of > 0
        first = np.where(in_seed.any(axis=1), np.argmax(in_seed, axis=1), -1)
        rows = np.arange(feeds.shape[0])
        rumour = np.where(first >= 0, seed_of[rows, np.maximum(first, 0)], 0)
        self._prep = _Prep(
            tick=tick,
            active=active,
            feeds=feeds,
            attitude=att,
            anxiety=anx,
            anger=ang,
            rumour=rumour.astype(np.int64),
            rumour_slot=first.astype(np.int64),
            pending=pending,
            counts=dict.fromkeys(ACTION_NAMES, 0),
        )
        return self._prep

    def _inject_seeds(self, tick: int) -> list[tuple[str, dict[str, Any]]]:
        records: list[tuple[str, dict[str, Any]]] = []
        indeg = self.graph.in_degree()
        for i, seed in enumerate(self.seeds):
            if i in self.seed_posts or seed.tick > tick:
                continue
            if seed.author == "hub":
                author = int(np.argmax(indeg))
            elif seed.author == "random":
                author = int(crng.integers(self.seed, tick, 31, np.asarray([i]), 0, self.n)[0])
            else:
                author = int(seed.author)
                if not 0 <= author < self.n:
                    raise ConfigError(
                        "seeds", f"seeds.{i}.author", f"a user index 0..{self.n - 1}", author
                    )
            charge = seed.charge()
            ids = self.posts.append(
                author=author,
                tick=tick,
                kind=POST,
                topic=TOPICS.index(seed.topic),
                stance=seed.stance,
                anxiety=charge.anxiety,
                anger=charge.anger,
                seed=i + 1,
                text=self.posts.text_id(seed.text),
            )
            post = int(ids[0])
            self.seed_posts[i] = post
            self._push_last(np.asarray([author]), ids)
            records.append(
                (
                    "seed",
                    {
                        "seed": i,
                        "post_id": post,
                        "author": author,
                        "followers": int(indeg[author]),
                        "label": seed.label,
                        "topic": seed.topic,
                        "text": seed.text,
                        "tick": tick,
                    },
                )
            )
        return records

    def _push_last(self, authors: I64, ids: I64) -> None:
        """Make ``ids`` the newest posts of ``authors`` (each author at most once)."""
        if authors.size == 0:
            return
        if self.last_posts.shape[1] > 1:
            self.last_posts[authors, 1:] = self.last_posts[authors, :-1]
        self.last_posts[authors, 0] = ids

    def _flush(self, prep: _Prep, recorder: PhaseContext) -> None:
        if not prep.pending:
            return
        seeds = [data for _, data in prep.pending]
        for data in seeds:
            recorder.emit(OutcomeEvent, actor=user_id(data["author"]), phase="seed", data=data)
        recorder.emit(
            PopulationStepEvent,
            phase="seed",
            counts={"post": len(seeds)},
            columns={
                "actor": [d["author"] for d in seeds],
                "action": [POST] * len(seeds),
                "post": [d["post_id"] for d in seeds],
                "parent": [-1] * len(seeds),
                "root": [d["post_id"] for d in seeds],
                "followee": [-1] * len(seeds),
            },
        )
        prep.pending = []

    # -- focal users (full minds) ------------------------------------------------------

    def _resolve_agents(
        self, phase: str, end_tick: bool, actions: Mapping[str, Action], recorder: PhaseContext
    ) -> dict[str, list[Percept]]:
        tick = recorder.tick
        prep = self._prepare(tick)
        self._flush(prep, recorder)
        users: list[int] = []
        codes: list[int] = []
        targets: list[int] = []
        texts: list[int] = []
        for agent_id, action in actions.items():
            if not isinstance(action, SocialAction):
                raise TypeError(f"expected a SocialAction, got {type(action).__name__}")
            user = int(agent_id.rsplit("_", 1)[1])
            k = int(np.searchsorted(prep.active, user))
            feed = prep.feeds[k]
            code = ACTION_NAMES.index(action.action)
            target = -1
            if code in (REPOST, LIKE, COMMENT, FOLLOW):
                slot = action.target - 1
                target = int(feed[slot]) if 0 <= slot < feed.shape[0] else -1
            users.append(user)
            codes.append(code)
            targets.append(target)
            texts.append(self.posts.text_id(action.text.strip()))
        order = np.argsort(np.asarray(users, dtype=np.int64), kind="stable")
        columns = self._apply(
            tick,
            prep,
            np.asarray(users, dtype=np.int64)[order],
            np.asarray(codes, dtype=np.int64)[order],
            np.asarray(targets, dtype=np.int64)[order],
            np.asarray(texts, dtype=np.int64)[order],
            phase,
            recorder,
            own_rows=True,
        )
        percepts = self._percepts(columns)
        if end_tick:
            self._end_tick(tick, prep, recorder)
        return percepts

    def _percepts(self, columns: dict[str, list[Any]]) -> dict[str, list[Percept]]:
        out: dict[str, list[Percept]] = {}
        for user, code, parent in zip(
            columns["actor"], columns["action"], columns["parent"], strict=True
        ):
            name = ACTION_NAMES[int(code)]
            what = f"I chose to {name}" if name != "idle" else "I stayed idle"
            if parent >= 0:
                what += f' on the post "{self._text_of(int(parent))[:80]}"'
            out[user_id(int(user))] = [Percept(text=what + ".", importance=4.0)]
        return out

    # -- the crowd (archetypes) --------------------------------------------------------

    def _crowd(self, prep: _Prep) -> I64:
        """Rows of ``prep.active`` that belong to the crowd (not focal)."""
        return np.flatnonzero(~self.is_focal[prep.active]).astype(np.int64)

    def _group_codes(self, prep: _Prep, rows: I64) -> tuple[I64, list[tuple[str, int]]]:
        """One int per crowd row combining persona attributes and situation buckets."""
        users = prep.active[rows]
        parts: list[tuple[str, I64, Sequence[str]]] = []
        label_of = {
            "leaning": ("leaning", self.population.labels["leaning"]),
            "activity": ("activity", self.population.labels["activity"]),
            "age": ("age", self.population.labels["age"]),
            "interest": ("interest", self.population.labels["interest"]),
        }
        for attr in self.config.group_by:
            col, labels = label_of[attr]
            parts.append((attr, self.population[col][users].astype(np.int64), labels))
        rumour_labels = ["none"] + [str(i + 1) for i in range(len(self.seeds))]
        parts.append(("rumour", prep.rumour[rows], rumour_labels))
        parts.append(("attitude", attitude_bucket(prep.attitude[rows]), ATTITUDES))
        parts.append(
            (
                "emotion",
                emotion_bucket(prep.anxiety[rows], prep.anger[rows], self.config.calm_threshold),
                EMOTIONS,
            )
        )
        empty = (prep.feeds[rows, 0] < 0).astype(np.int64)
        parts.append(("feed", empty, ("some", "empty")))
        code = np.zeros(rows.shape[0], dtype=np.int64)
        radix: list[tuple[str, int]] = []
        self._key_labels: list[tuple[str, list[str]]] = [
            (name, list(names)) for name, _, names in parts
        ]
        for name, values, names in parts:
            code = code * len(names) + values
            radix.append((name, len(names)))
        return code, radix

    def _decode_key(self, code: int) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, names in reversed(self._key_labels):
            code, v = divmod(code, len(names))
            out[name] = names[v]
        return dict(reversed(list(out.items())))

    def _group_queries(self, tick: int) -> Sequence[GroupQuery]:
        prep = self._prepare(tick)
        rows = self._crowd(prep)
        if rows.size == 0:
            self._groups = (np.zeros(0, np.int64), np.zeros(0, np.int64), rows)
            return []
        codes, _ = self._group_codes(prep, rows)
        uniq, inverse = unique_inverse(codes)
        sizes = np.bincount(inverse, minlength=uniq.shape[0])
        self._groups = (uniq, inverse, rows)
        queries: list[GroupQuery] = []
        for g, code in enumerate(uniq.tolist()):
            attrs = self._decode_key(int(code))
            key = "|".join(f"{k}={v}" for k, v in attrs.items())
            queries.append(
                GroupQuery(
                    key=key,
                    size=int(sizes[g]),
                    persona_text=self._group_persona(attrs),
                    observation=self._group_observation(tick, key, attrs),
                )
            )
        return queries

    def _group_persona(self, attrs: Mapping[str, str]) -> str:
        who = ", ".join(
            f"{k} {attrs[k]}" for k in ("leaning", "activity", "age", "interest") if k in attrs
        )
        return f"You speak for a group of platform users ({who})."

    def _group_observation(self, tick: int, key: str, attrs: Mapping[str, str]) -> Observation:
        lines = []
        rumour = attrs["rumour"]
        if attrs["feed"] == "empty":
            lines.append("Their feeds are empty this hour.")
        else:
            lines.append("Their feeds show recent posts from people they follow and popular posts.")
        if rumour != "none":
            seed = self.seeds[int(rumour) - 1]
            lines.append(f'Their feeds include this post going around: "{seed.text}"')
        lines.append(
            f"They feel {attrs['emotion']}; their view on {TOPICS[self.seed_topic]} news is "
            f"{attrs['attitude']}."
        )
        return Observation(
            agent_id=f"group:{key}"[:64],
            tick=tick,
            phase="act",
            text=" ".join(lines),
            fields={
                "rumour": rumour != "none",
                "attitude": attrs["attitude"],
                "emotion": attrs["emotion"],
                "activity": attrs.get("activity", "medium"),
                "feed_len": 0 if attrs["feed"] == "empty" else self.config.feed.size,
            },
        )

    def _resolve_groups(self, answers: Mapping[str, Action], recorder: PhaseContext) -> None:
        tick = recorder.tick
        prep = self._prepare(tick)
        self._flush(prep, recorder)
        uniq, inverse, rows = self._groups
        if rows.size:
            weights = np.zeros((uniq.shape[0], len(ACTION_NAMES)), dtype=np.float64)
            texts = np.full(uniq.shape[0], -1, dtype=np.int64)
            for g, code in enumerate(uniq.tolist()):
                attrs = self._decode_key(int(code))
                key = "|".join(f"{k}={v}" for k, v in attrs.items())
                answer = answers.get(key)
                mix = answer if isinstance(answer, GroupMix) else GroupMix(idle=1)
                weights[g] = mix.weights()
                texts[g] = self.posts.text_id(mix.text.strip())
            users = prep.active[rows]
            codes = crng.categorical(self.seed, tick, STREAM_ACTION, users, weights[inverse])
            targets = self._draw_targets(tick, prep, rows, codes)
            self._apply(tick, prep, users, codes, targets, texts[inverse], "act", recorder)
        else:
            self._apply(tick, prep, *(np.zeros(0, np.int64),) * 4, "act", recorder)
        self._end_tick(tick, prep, recorder)

    def _draw_targets(self, tick: int, prep: _Prep, rows: I64, codes: I64) -> I64:
        """Feed item each interacting member acts on: with probability ``rumour_attention``
        the rumour when its feed has one, else a position-biased pick (weight 1/rank)."""
        feeds = prep.feeds[rows]
        users = prep.active[rows]
        valid = feeds >= 0
        w = np.where(valid, 1.0 / np.arange(1, feeds.shape[1] + 1)[None, :], 0.0)
        none = w.sum(axis=1) == 0
        w[none, 0] = 1.0
        slot = crng.categorical(self.seed, tick, STREAM_TARGET, users, w)
        attend = crng.uniform(self.seed, tick, STREAM_ATTENTION, users) < (
            self.config.rumour_attention
        )
        rslot = prep.rumour_slot[rows]
        slot = np.where(attend & (rslot >= 0), rslot, slot)
        target = feeds[np.arange(rows.shape[0]), slot]
        interacting = np.isin(codes, (REPOST, LIKE, COMMENT, FOLLOW))
        return np.where(interacting & ~none, target, -1).astype(np.int64)

    # -- applying actions --------------------------------------------------------------

    def _apply(
        self,
        tick: int,
        prep: _Prep,
        users: I64,
        codes: I64,
        targets: I64,
        text_ids: I64,
        phase: str,
        recorder: PhaseContext,
        own_rows: bool = False,
    ) -> dict[str, list[Any]]:
        n = self.n
        p = self.posts
        codes = codes.copy()
        needs_target = np.isin(codes, (REPOST, LIKE, COMMENT, FOLLOW))
        codes[needs_target & (targets < 0)] = IDLE
        safe_t = np.maximum(targets, 0)
        t_author = p["author"][safe_t].astype(np.int64) if p.n else np.zeros_like(targets)
        t_root = p["root"][safe_t] if p.n else np.zeros_like(targets)
        # One repost or comment per user and cascade; a repost of one's own post is a like.
        spread = np.isin(codes, (REPOST, COMMENT))
        keys = t_root * n + users
        pos = np.searchsorted(self.engaged, keys)
        seen = (pos < self.engaged.shape[0]) & (
            self.engaged[np.minimum(pos, max(self.engaged.shape[0] - 1, 0))] == keys
            if self.engaged.size
            else False
        )
        codes[spread & (seen | (t_author == users))] = LIKE
        # Follows: not oneself, not someone already followed.
        fol = np.flatnonzero(codes == FOLLOW)
        followee = np.full(users.shape[0], -1, dtype=np.int64)
        if fol.size:
            already = self.graph.has_edges(users[fol], t_author[fol])
            bad = already | (t_author[fol] == users[fol])
            codes[fol[bad]] = IDLE
            fol = fol[~bad]
            followee[fol] = t_author[fol]
            self.graph.add_edges(users[fol], t_author[fol])
            self.follows_src = np.concatenate([self.follows_src, users[fol]])
            self.follows_dst = np.concatenate([self.follows_dst, t_author[fol]])
        # Engagement of targets.
        engage = np.isin(codes, (REPOST, LIKE, COMMENT))
        if engage.any():
            np.add.at(p.cols["engagement"], targets[engage], 1)
        # New posts: originals, reposts, comments (ids in user order).
        new = np.flatnonzero(np.isin(codes, (POST, REPOST, COMMENT)))
        post_ids = np.full(users.shape[0], -1, dtype=np.int64)
        parents = np.where(needs_target & (codes != IDLE), targets, -1)
        roots = np.full(users.shape[0], -1, dtype=np.int64)
        if new.size:
            k = np.searchsorted(prep.active, users[new])
            att = prep.attitude[k].astype(np.float64)
            is_post = codes[new] == POST
            tgt = safe_t[new]
            on_topic = prep.rumour[k] > 0
            topic = np.where(
                is_post,
                np.where(on_topic, self.seed_topic, self.topic[users[new]]),
                p["topic"][tgt] if p.n else 0,
            )
            t_stance = p["stance"][tgt].astype(np.float64) if p.n else np.full(new.size, np.nan)
            stance = np.where(
                is_post,
                np.where(on_topic, att, np.nan),
                np.where(codes[new] == REPOST, t_stance, np.where(np.isnan(t_stance), np.nan, att)),
            )
            seed_col = np.where(is_post, 0, p["seed"][tgt] if p.n else 0)
            parent = np.where(is_post, -1, targets[new])
            root_of = np.where(is_post, -1, p["root"][tgt] if p.n else -1)
            ids = p.append(
                author=users[new].astype(np.int32),
                parent=parent,
                tick=tick,
                kind=codes[new].astype(np.int8),
                topic=topic.astype(np.int16),
                stance=stance.astype(np.float32),
                anxiety=prep.anxiety[k],
                anger=prep.anger[k],
                seed=seed_col.astype(np.int16),
                text=np.where(codes[new] == REPOST, -1, text_ids[new]),
            )
            root_of = np.where(is_post, ids, root_of)
            p.cols["root"][ids] = root_of
            post_ids[new] = ids
            roots[new] = root_of
            self._push_last(users[new], ids)
            spread_new = ~is_post
            if spread_new.any():
                add = root_of[spread_new] * n + users[new][spread_new]
                self.engaged = unique_sorted(np.concatenate([self.engaged, add]))
        other = (codes == LIKE) | (codes == FOLLOW)
        roots[other] = t_root[other]
        counts = np.bincount(codes, minlength=len(ACTION_NAMES))
        for name, c in zip(ACTION_NAMES, counts.tolist(), strict=True):
            prep.counts[name] += int(c)
        acted = codes != IDLE
        columns: dict[str, list[Any]] = {
            "actor": users[acted].tolist(),
            "action": codes[acted].tolist(),
            "post": post_ids[acted].tolist(),
            "parent": parents[acted].tolist(),
            "root": roots[acted].tolist(),
            "followee": followee[acted].tolist(),
        }
        recorder.emit(
            PopulationStepEvent,
            phase=phase,
            counts={name: int(c) for name, c in zip(ACTION_NAMES, counts.tolist(), strict=True)},
            columns=columns,
        )
        if own_rows:
            # Users with minds: their own rows, idle ones included, for their percepts.
            return {
                "actor": users.tolist(),
                "action": codes.tolist(),
                "parent": parents.tolist(),
            }
        return columns

    def _end_tick(self, tick: int, prep: _Prep, recorder: PhaseContext) -> None:
        ex = self.executor
        stats = np.sum(ex.map(shard_stats, {"threshold": self.config.calm_threshold}), axis=0)
        total = max(stats[0], 1.0)
        mean = stats[1] / total
        var = max(0.0, stats[2] / total - mean * mean)
        sample_parts = ex.map(shard_sample, {"sample": self.sample})
        sample = np.concatenate(sample_parts) if sample_parts else np.zeros(0, np.float32)
        seed_sizes = {}
        if self.seed_posts:
            seed_col = self.posts["seed"]
            kind = self.posts["kind"]
            in_cascade = np.bincount(
                seed_col[(seed_col > 0) & (kind != POST)], minlength=len(self.seeds) + 1
            )
            seed_sizes = {str(i): int(in_cascade[i + 1]) + 1 for i in self.seed_posts}
        recorder.emit(
            WorldStateEvent,
            phase="tick",
            state={
                "tick": tick,
                "active": int(prep.active.shape[0]),
                "actions": dict(prep.counts),
                "posts": int(self.posts.n),
                "follow_edges": int(self.graph.num_edges),
                "mean_attitude": round(float(mean), 6),
                "sd_attitude": round(float(np.sqrt(var)), 6),
                "emotion": {
                    name: round(float(stats[3 + i] / total), 6) for i, name in enumerate(EMOTIONS)
                },
                "seed_cascades": seed_sizes,
                "attitude_sample": [round(float(x), 4) for x in sample.tolist()],
            },
        )
        self.next_tick = tick + 1
        self._prep = None

    # -- interventions -----------------------------------------------------------------

    def apply_settings(self, settings: Mapping[str, Any]) -> None:
        """``inject``: a seed post (or a list) that appears at the current tick; other keys
        change the feed, state-update and attention settings."""
        changes = dict(settings)
        inject = changes.pop("inject", None)
        fixed = {"agents", "ticks", "mode", "focal_agents", "graph_file", "seeds"} & set(changes)
        fixed |= {k for k in changes if k.endswith("_shares") or k in ("mean_degree",)}
        if fixed:
            raise ConfigError(
                "run.interventions",
                f"set.{sorted(fixed)[0]}",
                "a setting that can change during a run (inject, feed, attitude_step, "
                "confidence, emotion_decay, emotion_contagion, rumour_attention, activation)",
            )
        if inject is not None:
            items = inject if isinstance(inject, list) else [inject]
            for i, item in enumerate(items):
                try:
                    seed = SeedPost.model_validate(item)
                except ValidationError as exc:
                    err = exc.errors(include_url=False)[0]
                    loc = ".".join(str(x) for x in err["loc"])
                    raise ConfigError(
                        "run.interventions",
                        f"set.inject.{i}.{loc}",
                        str(err["msg"]),
                        err.get("input"),
                    ) from exc
                if len(self.seeds) >= 64:
                    raise ConfigError("run.interventions", "set.inject", "at most 64 seeds")
                self.seeds.append(seed.model_copy(update={"tick": max(seed.tick, self.next_tick)}))
        if changes:
            try:
                self.config = SocialConfig.model_validate({**self.config.model_dump(), **changes})
            except ValidationError as exc:
                err = exc.errors(include_url=False)[0]
                loc = ".".join(str(x) for x in err["loc"])
                raise ConfigError(
                    "run.interventions", f"set.{loc}", str(err["msg"]), err.get("input")
                ) from exc

    def add_agents(self, personas: Sequence[Persona]) -> None:
        raise ConfigError(
            "run.interventions", "add", "a scenario whose world accepts new agents", "social"
        )

    def remove_agents(self, ids: Sequence[str]) -> None:
        raise ConfigError(
            "run.interventions", "remove", "a scenario whose world lets agents leave", "social"
        )

    # -- snapshots (the arrays, encoded; not a pydantic State) -------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "next_tick": self.next_tick,
            "users": {k: encode_array(v) for k, v in self._arrays().items()},
            "posts": self.posts.snapshot(),
            "last_posts": encode_array(self.last_posts),
            "engaged": encode_array(self.engaged),
            "follows": [encode_array(self.follows_src), encode_array(self.follows_dst)],
            "seeds": [s.model_dump(mode="json") for s in self.seeds],
            "seed_posts": {str(k): v for k, v in self.seed_posts.items()},
            "config": json.loads(self.config.model_dump_json()),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        self.config = SocialConfig.model_validate(state["config"])
        self.next_tick = int(state["next_tick"])
        users = {str(k): decode_array(v) for k, v in dict(state["users"]).items()}
        self._initial = users
        if self._executor is not None:
            self._executor.scatter(users)
        self.posts.restore(state["posts"])
        self.last_posts = decode_array(state["last_posts"]).astype(np.int64)
        self.engaged = decode_array(state["engaged"]).astype(np.int64)
        src = decode_array(state["follows"][0]).astype(np.int64)
        dst = decode_array(state["follows"][1]).astype(np.int64)
        new_src = src[self.follows_src.shape[0] :]
        new_dst = dst[self.follows_dst.shape[0] :]
        self.graph.add_edges(new_src, new_dst)
        self.follows_src, self.follows_dst = src, dst
        self.seeds = [SeedPost.model_validate(s) for s in state["seeds"]]
        self.seed_posts = {int(k): int(v) for k, v in dict(state["seed_posts"]).items()}
        self._prep = None
