"""The social view's cascade trees: rebuilt from the store's population steps, they agree with
the world's own cascade counts, and every drawn post hangs under a post of the same tree."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from societas.store import RunStore
from test_dashboard_support import dashboard, make_run


@pytest.fixture(scope="module")
def social_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding one 400-user social run (archetypes, 5 ticks), shared by the tests
    that only read it."""
    runs = tmp_path_factory.mktemp("runs")
    make_run(
        runs / "social",
        "social",
        "agents=400",
        "mode=archetype",
        "ticks=5",
        "mean_degree=6",
    )
    return runs


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def test_cascade_trees_match_the_worlds_counts(social_runs: Path) -> None:
    out = social_runs / "social"
    with RunStore.open(out, readonly=True) as store:
        states = [
            e.state
            for e in store.events(["world_state"])
            if e.actor is None and "seed_cascades" in getattr(e, "state", {})
        ]
    final = {int(k): int(v) for k, v in states[-1]["seed_cascades"].items()}
    with dashboard(social_runs) as url:
        data = get(f"{url}/api/cascades?run=social")
    trees = data["trees"]
    assert trees, "the run has seed posts"
    # world_state counts per seed post id; the trees carry the seed's index: compare sizes
    assert sorted(t["size"] for t in trees) == sorted(final.values())
    assert any(t["size"] > 1 for t in trees), "the rumour spread in this set-up"
    for tree in trees:
        nodes = tree["nodes"]
        root = nodes[0]
        assert root["parent"] == -1
        assert root["kind"] == "post"
        posts = {n["post"]: n for n in nodes}
        assert len(posts) == len(nodes)
        for node in nodes[1:]:
            parent = posts[node["parent"]]  # drawn posts hang under drawn posts
            assert node["depth"] == parent["depth"] + 1
            assert node["tick"] >= parent["tick"]
            assert node["kind"] in ("repost", "comment")
        assert sum(tree["per_tick"].values()) + 1 == tree["size"]


def test_a_run_without_seed_posts_has_no_trees(tmp_path: Path) -> None:
    make_run(tmp_path / "runs" / "commons", "commons", "months=1", "protocol=societas")
    with dashboard(tmp_path / "runs") as url:
        assert get(f"{url}/api/cascades?run=commons") == {"trees": []}


def test_the_follow_sample_is_the_runs_graph_at_its_end(social_runs: Path) -> None:
    out = social_runs / "social"
    with RunStore.open(out, readonly=True) as store:
        events = store.events()
    states = [
        e.state
        for e in events
        if e.kind == "world_state" and e.actor is None and "seed_cascades" in e.state
    ]
    made = {
        (a, f)
        for e in events
        if e.kind == "population_step"
        for a, f in zip(e.columns.get("actor", []), e.columns.get("followee", []), strict=False)
        if f is not None and f >= 0
    }
    with dashboard(social_runs) as url:
        sample = get(f"{url}/api/follows?run=social")
        trees = get(f"{url}/api/cascades?run=social")["trees"]
    assert sample["follow_edges"] == states[-1]["follow_edges"]  # the graph as the run left it
    assert sample["users"] == 400
    users = {n["user"] for n in sample["nodes"]}
    assert {t["nodes"][0]["author"] for t in trees} <= users
    assert {n["role"] for n in sample["nodes"]} >= {"seed author", "follower"}
    assert all(u in users and v in users and u != v for u, v in sample["edges"])
    # follows made during the run between sampled users are edges of the sample
    assert {(a, f) for a, f in made if a in users and f in users} <= {
        (u, v) for u, v in sample["edges"]
    }
    followers = [n["user"] for n in sample["nodes"] if n["role"] == "follower"]
    authors = {n["user"] for n in sample["nodes"] if n["role"] == "seed author"}
    edges = {(u, v) for u, v in sample["edges"]}
    assert all(any((f, a) in edges for a in authors) for f in followers)
