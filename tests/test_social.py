"""The social scenario: graph, recommender, state updates, spreading, archetypes, records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from societas.analysis.compare import comparable
from societas.engine import RunOptions, prepare_run, run_sync
from societas.population.executor import LocalExecutor
from societas.scenarios.social import SocialConfig, SocialScenario
from societas.scenarios.social.actions import POST, REPOST
from societas.scenarios.social.config import FeedSettings
from societas.scenarios.social.dynamics import update_states
from societas.scenarios.social.graph import FollowGraph, load_oasis_users, scale_free_graph
from societas.scenarios.social.metrics import cascade_table, seed_records
from societas.scenarios.social.posts import PostTable
from societas.scenarios.social.recommender import build_pool, get_recommender, rank
from societas.store import RunStore
from societas.testing.context import RecordingContext
from societas.typing import (
    ConfigError,
    GroupDecisionEvent,
    LLMCall,
    Persona,
    PopulationStepEvent,
    TickCompleted,
    WorldState,
)

OASIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "oasis"
OASIS_USERS = OASIS / "False_Business_0.csv"


def run(tmp_path: Path, name: str, seed: int = 0, **settings: Any) -> RunStore:
    config = SocialConfig.model_validate(settings)
    out = tmp_path / name
    handle = prepare_run(SocialScenario(), config, RunOptions(model="scripted", seed=seed), out)
    run_sync(handle)
    return RunStore.open(out, readonly=True)


# -- graph -----------------------------------------------------------------------------------


def test_generated_graph_has_the_mean_degree_and_a_heavy_tailed_in_degree() -> None:
    n, k = 5000, 6.0
    g = scale_free_graph(n, k, 0.5, np.random.default_rng(0))
    assert abs(g.num_edges / n - k) / k < 0.05
    indeg = g.in_degree()
    # An Erdos-Renyi graph of this mean degree has a largest in-degree near 17; preferential
    # attachment gives hubs an order of magnitude above the mean.
    assert indeg.max() > 15 * k
    assert np.percentile(indeg, 50) < k
    src = np.repeat(np.arange(n), g.out_degree())
    assert not np.any(src == g.indices)  # no self-follows
    keys = src * n + g.indices
    assert np.all(np.diff(keys) > 0)  # rows sorted, no duplicate follows


def test_uniform_attachment_has_no_hubs() -> None:
    g = scale_free_graph(5000, 6.0, 1.0, np.random.default_rng(0))
    assert g.in_degree().max() < 15 * 6


def test_oasis_user_file_loads_111_users_and_85_follows(tmp_path: Path) -> None:
    users = load_oasis_users(OASIS_USERS)
    assert users.graph.n == 111
    assert users.graph.num_edges == 85
    assert int(np.argmax(users.graph.in_degree())) == 32
    bad = tmp_path / "bad.csv"
    bad.write_text('name,following_agentid_list\na,"[1]"\nb,"__import__(\'os\')"\n')
    with pytest.raises(ConfigError, match="following_agentid_list"):
        load_oasis_users(bad)
    out_of_range = tmp_path / "range.csv"
    out_of_range.write_text('name,following_agentid_list\na,"[5]"\nb,"[]"\n')
    with pytest.raises(ConfigError, match="agent indices"):
        load_oasis_users(out_of_range)


def test_added_follows_keep_rows_sorted() -> None:
    g = FollowGraph.from_edges(4, np.array([0, 0, 1]), np.array([1, 3, 2]))
    assert g.has_edges(np.array([0, 0]), np.array([3, 2])).tolist() == [True, False]
    g.add_edges(np.array([0, 2]), np.array([2, 0]))
    assert g.followees(0).tolist() == [1, 2, 3]
    assert g.followees(2).tolist() == [0]
    assert g.in_degree().tolist() == [1, 1, 2, 1]


# -- recommender -----------------------------------------------------------------------------


def _hand_built() -> tuple[FollowGraph, PostTable, np.ndarray]:
    """User 0 follows 1 and 2. Posts: 0 by user 1 (tick 0, topic 4, 9 reactions); 1 by user 2
    (tick 2, topic 1, none); 2 by user 3 (tick 2, topic 4, 3 reactions, not followed);
    3 by user 0 itself (tick 2)."""
    graph = FollowGraph.from_edges(4, np.array([0, 0]), np.array([1, 2]))
    posts = PostTable()
    posts.append(author=1, tick=0, kind=POST, topic=4, engagement=9)
    posts.append(author=2, tick=2, kind=POST, topic=1, engagement=0)
    posts.append(author=3, tick=2, kind=POST, topic=4, engagement=3)
    posts.append(author=0, tick=2, kind=POST, topic=4, engagement=20)
    last = np.array([[3, -1], [0, -1], [1, -1], [2, -1]], dtype=np.int64)
    return graph, posts, last


def _feed(name: str, topic: int = 1, **weights: float) -> list[int]:
    graph, posts, last = _hand_built()
    settings = FeedSettings(recommender=name, size=4, popular_slots=3, **weights)
    pool = build_pool(
        graph=graph,
        last_posts=last,
        posts=posts,
        users=np.array([0]),
        user_topic=np.array([topic]),
        tick=2,
        settings=settings,
        seed=0,
    )
    return [int(p) for p in rank(pool, get_recommender(name))[0] if p >= 0]


def test_recommenders_rank_the_hand_built_case_as_specified() -> None:
    # Chronological: followees' posts only, newest first; never one's own post.
    assert _feed("chronological") == [1, 0]
    # Popularity: reactions first (9 > 3 > 0); the non-followed popular post 2 is a candidate.
    assert _feed("popularity") == [0, 2, 1]
    # Interest: the post on the user's topic first, then recency.
    assert _feed("interest", topic=1) == [1, 2, 0]
    assert _feed("interest", topic=4) == [2, 0, 1]
    # Mixed, followed weight only: followees' posts first, ties by slot order.
    mixed = _feed("mixed", w_recency=0, w_popularity=0, w_interest=0, w_followed=1)
    assert mixed[:2] == [0, 1]
    assert mixed[2] == 2
    # Mixed with recency dominating: the two tick-2 posts lead.
    assert _feed("mixed", w_recency=10, w_popularity=1, w_followed=0, w_interest=0)[:2] == [2, 1]
    with pytest.raises(ConfigError, match="recommender"):
        get_recommender("nope")


# -- state updates ---------------------------------------------------------------------------


def test_attitude_moves_toward_what_was_read_and_emotions_spread_and_fade() -> None:
    params = {"step": 0.5, "confidence": 1.0, "decay": 0.3, "contagion": 0.5}
    att = np.array([0.0, 0.0, -0.9], dtype=np.float32)
    zeros = np.zeros(3, dtype=np.float32)
    stance = np.array([[0.8, np.nan], [np.nan, np.nan], [0.8, np.nan]])
    feed_anx = np.array([[0.8, 0.8], [np.nan, np.nan], [0.0, 0.0]])
    new_att, anx, anger = update_states(att, zeros + 0.5, zeros, stance, feed_anx, feed_anx, params)
    assert new_att[0] == pytest.approx(0.4)  # halfway toward the post's stance
    assert new_att[1] == 0.0  # read nothing on the topic
    assert new_att[2] == pytest.approx(-0.9)  # too far away (bounded confidence)
    assert anx[0] > 0.5  # contagion from an anxious feed
    assert anx[1] == pytest.approx(0.35)  # nothing read: only fading
    assert anger[0] > 0.0


# -- runs ------------------------------------------------------------------------------------


def test_seed_rumour_spreads_through_reposts(tmp_path: Path) -> None:
    store = run(tmp_path, "spread", agents=300, mode="archetype", ticks=5, mean_degree=4)
    events = store.events()
    table = cascade_table(events)
    (seed,) = seed_records(events)
    cascade = table[table["root_post"] == seed["post_id"]]
    assert len(cascade) > 1
    assert (cascade["parent_post"].dropna() >= 0).all()
    metrics = store.final_metrics()
    assert metrics["seed0_size"] == len(cascade)
    assert metrics["seed0_depth"] >= 1
    steps = [e for e in events if isinstance(e, PopulationStepEvent) and e.phase == "act"]
    reposts = sum(int(np.sum(np.asarray(e.columns["action"]) == REPOST)) for e in steps)
    assert reposts > 0


def test_a_rumour_without_followers_does_not_spread(tmp_path: Path) -> None:
    store = run(tmp_path, "alone", agents=300, mode="archetype", ticks=5, mean_degree=0)
    assert store.final_metrics()["seed0_size"] == 1


def test_agents_mode_runs_full_minds_on_the_oasis_graph(tmp_path: Path) -> None:
    store = run(tmp_path, "oasis", graph_file=str(OASIS_USERS), mode="agents", ticks=3)
    events = store.events()
    (seed,) = seed_records(events)
    assert seed["author"] == 32
    assert seed["followers"] == 73
    states = [e for e in events if isinstance(e, WorldState) and e.phase == "tick"]
    assert len(states) == 3
    assert all("mean_attitude" in s.state for s in states)
    calls = [e for e in events if isinstance(e, LLMCall)]
    assert calls
    assert all(c.actor and c.actor.startswith("user_") for c in calls)


def _calls_per_tick(store: RunStore) -> tuple[list[int], list[int]]:
    events = store.events()
    calls = [e.llm_calls for e in events if isinstance(e, TickCompleted)]
    groups: dict[int, int] = {}
    for e in events:
        if isinstance(e, GroupDecisionEvent):
            groups[e.tick] = groups.get(e.tick, 0) + 1
    return calls, [groups.get(t, 0) for t in range(len(calls))]


def test_archetype_calls_are_bounded_by_groups_and_independent_of_n(tmp_path: Path) -> None:
    small = run(tmp_path, "n2k", agents=2000, mode="archetype", ticks=4)
    large = run(tmp_path, "n20k", agents=20000, mode="archetype", ticks=4)
    calls_s, groups_s = _calls_per_tick(small)
    calls_l, groups_l = _calls_per_tick(large)
    max_groups = 3 * 3 * 2 * 3 * 3 * 2  # leaning, activity, rumour, attitude, emotion, feed
    for calls, groups in ((calls_s, groups_s), (calls_l, groups_l)):
        assert all(c <= g <= max_groups for c, g in zip(calls, groups, strict=True))
    assert sum(calls_l) <= sum(calls_s) + max_groups  # ten times the users, not the calls
    assert sum(calls_l) < 20000 * 4 * 0.01


def test_focal_users_and_crowd_in_one_run(tmp_path: Path) -> None:
    store = run(tmp_path, "focal", agents=500, mode="archetype", focal_agents=5, ticks=3)
    events = store.events()
    phases = {e.phase for e in events if isinstance(e, PopulationStepEvent)}
    assert {"seed", "act", "act_focal"} <= phases
    actors = {e.actor for e in events if isinstance(e, LLMCall)}
    assert any(a and a.startswith("user_") for a in actors)
    assert any(a and a.startswith("group:") for a in actors)
    metrics = store.final_metrics()
    # The socialization measures over the texts written (docs/metrics/social.md).
    for name in ("lexical_turnover", "semantic_stabilization", "collective_consensus"):
        assert name in metrics, name
        assert 0.0 <= metrics[name] <= 1.0 + 1e-6, (name, metrics[name])
    assert -2.0 <= metrics["individual_inertia"] <= 2.0


def test_same_seed_same_events(tmp_path: Path) -> None:
    a = run(tmp_path, "a", seed=3, agents=600, mode="archetype", ticks=3)
    b = run(tmp_path, "b", seed=3, agents=600, mode="archetype", ticks=3)
    c = run(tmp_path, "c", seed=4, agents=600, mode="archetype", ticks=3)
    assert comparable(a.events()) == comparable(b.events())
    assert comparable(a.events()) != comparable(c.events())


def _tick_records(world: Any, ticks: int) -> list[Any]:
    rec = RecordingContext()
    phase = world.phases(0)[-1]
    for tick in range(ticks):
        queries = phase.groups(tick)
        answers = {q.key: _mix(q.observation.fields) for q in queries}
        phase.resolve_actions(answers, rec.at(tick))
    return [f for t, f in rec.events if t in ("PopulationStepEvent", "WorldState")]


def _mix(fields: dict[str, Any]) -> Any:
    from societas.scenarios.social.actions import GroupMix
    from societas.scenarios.social.scripted import mix_weights

    return GroupMix(**mix_weights(fields))


def test_shards_do_not_change_the_run_and_snapshots_restore() -> None:
    config = SocialConfig(agents=3000, mode="archetype", ticks=3)
    worlds = []
    for shards in (1, 3):
        world, _ = SocialScenario().build(config, np.random.default_rng(5))
        world.use_executor(LocalExecutor(shards))
        worlds.append(world)
    assert _tick_records(worlds[0], 3) == _tick_records(worlds[1], 3)
    snap = worlds[1].snapshot()
    fresh, _ = SocialScenario().build(config, np.random.default_rng(5))
    fresh.use_executor(LocalExecutor(2))
    fresh.restore(snap)
    assert fresh.snapshot() == snap


def test_intervention_injects_a_seed() -> None:
    config = SocialConfig(agents=400, mode="archetype", ticks=3)
    world, _ = SocialScenario().build(config, np.random.default_rng(0))
    _tick_records(world, 1)
    world.apply_settings({"inject": {"text": "Correction: the water is safe.", "label": "true"}})
    rec = _tick_records(world, 2)
    seeds = [f for f in rec if f.get("phase") == "seed"]
    assert seeds
    assert seeds[0]["columns"]["actor"]
    with pytest.raises(ConfigError, match="agents"):
        world.apply_settings({"agents": 5})


def test_config_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="mode=archetype"):
        SocialConfig(agents=1000, mode="agents")
    with pytest.raises(ValueError, match="topic"):
        SocialConfig.model_validate({"seeds": [{"text": "x", "topic": "Cooking"}]})


def test_every_setting_is_documented() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "scenarios" / "social.md").read_text()
    names = [*SocialConfig.model_fields, *FeedSettings.model_fields]
    assert [name for name in names if f"`{name}`" not in text] == []


def test_validation_simulates_real_cascades_and_prints_the_comparison(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from societas.analysis.social_metrics import compare_distributions, load_real_cascades
    from societas.cli.validate import print_comparison, simulate_cascades

    real = load_real_cascades(OASIS / "all_topics.csv")
    sample = pd.concat([real[real["label"]].head(1), real[~real["label"]].head(1)])
    result = simulate_cascades(sample, ticks=3, scale=0.5)
    assert result["real_size"].tolist() == sample["num_users"].tolist()
    assert (result["sim_size"] >= 1).all()
    assert (result["sim_size"] <= (sample["num_users"].to_numpy() * 0.5).round()).all()
    print_comparison(result, compare_distributions)
    out = capsys.readouterr().out
    assert "KS statistic (size)" in out
    assert "KS statistic (depth)" in out
    assert "true vs false" in out


def test_personas_rewrite_users_with_minds_by_id() -> None:
    config = SocialConfig(agents=30, mode="agents", ticks=1)
    mine = [Persona(id="user_3", name="Ada", backstory="A fact checker.")]
    world, agents = SocialScenario().build(config, np.random.default_rng(0), mine)
    assert [p.id for p in agents] == [f"user_{i}" for i in range(30)]
    assert agents[3].name == "Ada"
    assert world.name_of("user_3") == "Ada"
    with pytest.raises(ConfigError) as err:
        SocialScenario().build(config, np.random.default_rng(0), [Persona(id="zed", name="Z")])
    assert err.value.field == "id"
