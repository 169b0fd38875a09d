"""The memory stream: scoring (Park et al. 2023), budgets, state, views."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from societas.memory import (
    HashingEmbedder,
    MemoryInput,
    MemoryRecord,
    MemoryStream,
    ReadOnlyMemoryError,
    RecentMemory,
    approx_tokens,
)
from societas.typing import ConfigError, Embedder
from societas.typing.llm import estimated_usage

HOUR = 3600.0
R2 = 1 / math.sqrt(2)


class TableEmbedder:
    """Fixed vectors for known texts (dim 4), so relevance is known exactly."""

    name = "table"
    dim = 4

    def __init__(self, table: dict[str, Sequence[float]]) -> None:
        self.table = table

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return np.array([self.table[t] for t in texts], dtype=np.float32)


class DenseRandomEmbedder:
    """Dense unit vectors from a hash of the text (like a neural embedder's)."""

    name = "dense-random"
    dim = 32

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        rows = []
        for t in texts:
            seed = int.from_bytes(t.encode()[:8].ljust(8, b"\0"), "little") ^ len(t)
            v = np.random.default_rng(seed).standard_normal(self.dim)
            rows.append(v / np.linalg.norm(v))
        return np.array(rows, dtype=np.float32)


def three_records(decay: float = 0.9) -> MemoryStream:
    table = {"old": [1, 0, 0, 0], "mid": [R2, R2, 0, 0], "new": [0, 1, 0, 0], "q": [1, 0, 0, 0]}
    s = MemoryStream(TableEmbedder(table), decay=decay)
    s.add("old", kind="observation", tick=0, sim_time=0.0, importance=2)
    s.add("mid", kind="observation", tick=1, sim_time=10 * HOUR, importance=8)
    s.add("new", kind="observation", tick=2, sim_time=20 * HOUR, importance=5)
    return s


def test_embedders_satisfy_protocol() -> None:
    assert isinstance(TableEmbedder({}), Embedder)
    assert isinstance(HashingEmbedder(), Embedder)


def test_score_hand_computed() -> None:
    s = three_records(decay=0.9)
    cand, score = s.scores("q", sim_time=20 * HOUR)
    assert list(cand) == [0, 1, 2]
    # recency 0.9^20, 0.9^10, 1 -> min-max -> 0, (0.9^10 - 0.9^20) / (1 - 0.9^20), 1
    r_mid = (0.9**10 - 0.9**20) / (1 - 0.9**20)
    # importance 2, 8, 5 -> 0, 1, 0.5 ; relevance 1, 0.7071, 0 -> 1, 0.7071, 0
    expected = [0 + 0 + 1, r_mid + 1 + R2, 1 + 0.5 + 0]
    assert score == pytest.approx(expected, abs=1e-3)
    assert [r.text for r in s.retrieve("q", sim_time=20 * HOUR, top_k=1)] == ["mid"]
    # Chronological order, not score order (scores: mid 1.97 > new 1.5 > old 1.0).
    assert [r.text for r in s.retrieve("q", sim_time=20 * HOUR, top_k=2)] == ["mid", "new"]


def test_recent_irrelevant_versus_old_relevant() -> None:
    table = {"old relevant": [1, 0, 0, 0], "recent irrelevant": [0, 1, 0, 0], "q": [1, 0, 0, 0]}

    def build(weights: tuple[float, float, float]) -> MemoryStream:
        s = MemoryStream(TableEmbedder(table), weights=weights)
        s.add("old relevant", kind="observation", tick=0, sim_time=0.0, importance=5)
        s.add("recent irrelevant", kind="observation", tick=9, sim_time=100 * HOUR, importance=5)
        return s

    # Two candidates: each normalised component is 0 or 1; equal importance is 0.5 for both.
    _, score = build((1.0, 1.0, 1.0)).scores("q", sim_time=100 * HOUR)
    assert score == pytest.approx([0.5 + 1.0, 1.0 + 0.5])
    top = build((1.0, 1.0, 2.0)).retrieve("q", sim_time=100 * HOUR, top_k=1)
    assert [r.text for r in top] == ["old relevant"]
    top = build((2.0, 1.0, 1.0)).retrieve("q", sim_time=100 * HOUR, top_k=1)
    assert [r.text for r in top] == ["recent irrelevant"]


def test_minmax_constant_component_is_half() -> None:
    s = MemoryStream(HashingEmbedder(64), weights=(1.0, 2.0, 3.0))
    s.add("only one", kind="observation", tick=0, sim_time=0.0, importance=7)
    _, score = s.scores("anything", sim_time=5 * HOUR)
    assert score == pytest.approx([0.5 * (1 + 2 + 3)])


def test_decay_is_per_sim_hour() -> None:
    s = MemoryStream(HashingEmbedder(64), weights=(1.0, 0.0, 0.0), decay=0.995)
    for h in range(3):
        s.add(f"event {h}", kind="observation", tick=h, sim_time=h * HOUR, importance=5)
    _, score = s.scores("event", sim_time=2 * HOUR)
    d = 0.995  # recency d^2, d, 1 -> min-max -> 0, d / (1 + d), 1
    assert score == pytest.approx([0.0, d / (1 + d), 1.0], abs=1e-5)


def test_retrieve_updates_last_accessed_only_of_returned() -> None:
    s = three_records()
    got = s.retrieve("q", sim_time=30 * HOUR, top_k=1)
    assert got[0].last_accessed == 30 * HOUR
    assert s.get(got[0].id).last_accessed == 30 * HOUR
    others = [r for r in s if r.id != got[0].id]
    assert all(r.last_accessed == r.created for r in others)
    # Accessed records are now the most recent: recency favours them next time.
    _, score = s.scores("q", sim_time=30 * HOUR)
    assert int(np.argmax(score)) == got[0].id


@pytest.mark.parametrize("seed", range(6))
def test_budgets_never_exceeded(seed: int) -> None:
    rng = np.random.default_rng(seed)
    s = MemoryStream(HashingEmbedder(128))
    words = ["fish", "lake", "vote", "boat", "storm", "price", "Alice", "Bob", "net", "rule"]
    s.add_many(
        MemoryInput(
            text=" ".join(rng.choice(words, size=int(rng.integers(1, 60)))),
            kind="observation",
            tick=i,
            sim_time=i * 60.0,
            importance=float(rng.integers(1, 11)),
        )
        for i in range(400)
    )
    smallest = min(approx_tokens(r.text) for r in s)
    for _ in range(30):
        k = int(rng.integers(1, 20))
        budget = int(rng.integers(1, 300))
        got = s.retrieve("fish vote storm", sim_time=500 * 60.0, top_k=k, token_budget=budget)
        assert len(got) <= k
        assert sum(approx_tokens(r.text) for r in got) <= budget
        assert len({r.id for r in got}) == len(got)
        if smallest <= budget:
            assert got, "a record fits the budget, so one must be returned"
        assert [r.id for r in got] == sorted(r.id for r in got)


def test_a_long_best_record_is_skipped_for_shorter_ones() -> None:
    s = MemoryStream(HashingEmbedder(64))
    s.add("fish " * 200, kind="observation", tick=0, sim_time=0.0, importance=10)
    s.add("fish today", kind="observation", tick=0, sim_time=0.0, importance=3)
    got = s.retrieve("fish", sim_time=0.0, token_budget=20)
    assert [r.text for r in got] == ["fish today"]


def _reference(
    s: MemoryStream, query: str, now: float, k: int, budget: int, kinds: set[str] | None
) -> list[int]:
    """Plain re-implementation of the scoring and greedy selection, for comparison."""
    records = [r for r in s if kinds is None or r.kind in kinds]
    if not records:
        return []
    vecs = s.embedder.embed([r.text for r in records]).astype(np.float16).astype(np.float64)
    q = s.embedder.embed([query])[0].astype(np.float64)

    def mm(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        span = x.max() - x.min()
        return np.full(len(x), 0.5) if span <= 1e-12 else (x - x.min()) / span

    rec = np.array([s.decay ** ((now - r.last_accessed) / HOUR) for r in records])
    imp = np.array([r.importance for r in records])
    w = s.weights
    score = w[0] * mm(rec) + w[1] * mm(imp) + w[2] * mm(vecs @ q)
    order = sorted(range(len(records)), key=lambda i: (-round(score[i], 4), -i))
    out, used = [], 0
    for i in order:
        c = approx_tokens(records[i].text)
        if used + c <= budget:
            out.append(records[i].id)
            used += c
            if len(out) == k:
                break
    return sorted(out)


@pytest.mark.parametrize("embedder", [HashingEmbedder(384), DenseRandomEmbedder()])
@pytest.mark.parametrize("kinds", [None, {"message"}])
def test_matches_plain_reference(embedder: Embedder, kinds: set[str] | None) -> None:
    rng = np.random.default_rng(1)
    s = MemoryStream(embedder, weights=(0.5, 1.0, 2.0))
    nouns = ["fish", "harvest", "lake", "council", "storm", "market", "quota", "boat"]
    s.add_many(
        {
            "text": f"{rng.choice(nouns)} {rng.choice(nouns)} {i}",
            "kind": "message" if i % 3 == 0 else "observation",
            "tick": i // 10,
            "sim_time": i * 600.0,
            "importance": float(rng.integers(1, 11)),
        }
        for i in range(600)
    )
    for query in ["fish quota", "storm over the lake", "market"]:
        now = 700 * 600.0
        expected = _reference(s, query, now, 12, 600, kinds)
        view = s.as_of(10**6)  # read-only: access times stay put for the reference
        got = [r.id for r in view.retrieve(query, sim_time=now, kinds=kinds)]
        assert got == expected


def test_snapshot_restore_retrieves_identically() -> None:
    s = MemoryStream(HashingEmbedder(96), top_k=5, token_budget=80)
    for i in range(200):
        s.add(
            f"note {i} about {'fish' if i % 2 else 'votes'}",
            kind="observation",
            tick=i,
            sim_time=i * 100.0,
            importance=1 + i % 10,
        )
    s.retrieve("fish", sim_time=20_500.0)
    s.add(
        "reflection about fish",
        kind="reflection",
        tick=200,
        sim_time=20_600.0,
        importance=8,
        evidence=(1, 3),
    )
    for with_embeddings in (True, False):
        state = json.loads(json.dumps(s.snapshot(embeddings=with_embeddings)))
        t = MemoryStream(HashingEmbedder(96), top_k=5, token_budget=80)
        t.restore(state)
        assert list(t) == list(s)
        assert t.importance_since_reflection() == s.importance_since_reflection()
        a, b = s.as_of(10**6), t.as_of(10**6)
        for q in ["fish", "votes", "note 17", "reflection"]:
            assert a.retrieve(q, sim_time=30_000.0) == b.retrieve(q, sim_time=30_000.0)
        new_t = t.add("after", kind="observation", tick=201, sim_time=1.0, importance=1)
        assert new_t.id == len(s)


def test_restore_from_other_embedder_reembeds_and_bad_format_raises() -> None:
    s = MemoryStream(HashingEmbedder(64))
    s.add("fish in the lake", kind="observation", tick=0, sim_time=0.0, importance=3)
    t = MemoryStream(HashingEmbedder(32))
    t.restore(s.snapshot())
    assert [r.text for r in t.retrieve("fish", sim_time=0.0)] == ["fish in the lake"]
    with pytest.raises(ConfigError, match="format"):
        t.restore({"format": 99})


def test_as_of_is_a_read_only_past_view() -> None:
    s = MemoryStream(HashingEmbedder(64))
    for tick in range(10):
        s.add(
            f"tick {tick} fish", kind="observation", tick=tick, sim_time=tick * HOUR, importance=5
        )
    view = s.as_of(4)
    assert len(view) == 5
    assert all(r.tick <= 4 for r in view)
    got = view.retrieve("fish", sim_time=50 * HOUR)
    assert got
    assert all(r.tick <= 4 for r in got)
    assert all(r.last_accessed == r.created for r in view)
    assert all(r.last_accessed == r.created for r in s)
    with pytest.raises(ReadOnlyMemoryError):
        view.add("x", kind="observation", tick=1, sim_time=0.0, importance=1)
    with pytest.raises(ReadOnlyMemoryError):
        view.mark_reflected()
    assert len(s) == 10


def test_kinds_recent_get_and_reflection_counter() -> None:
    s = MemoryStream(HashingEmbedder(64))
    s.add("heard news of a storm", kind="news", tick=0, sim_time=0.0, importance=6)
    s.add("saw a boat", kind="observation", tick=0, sim_time=1.0, importance=2)
    s.add("storms are dangerous", kind="reflection", tick=1, sim_time=2.0, importance=9)
    assert s.importance_since_reflection() == 8.0  # reflections do not count
    assert [r.kind for r in s.retrieve("storm", sim_time=3.0, kinds=["reflection"])] == [
        "reflection"
    ]
    assert s.retrieve("storm", sim_time=3.0, kinds=["unknown"]) == []
    assert [r.text for r in s.recent(2)] == ["saw a boat", "storms are dangerous"]
    assert s.get(1).text == "saw a boat"
    s.mark_reflected()
    assert s.importance_since_reflection() == 0.0


def test_max_records_forgets_oldest() -> None:
    s = MemoryStream(HashingEmbedder(32), max_records=50)
    for i in range(120):
        s.add(f"r{i}", kind="observation", tick=i, sim_time=float(i), importance=1)
        assert len(s) <= 50
    ids = [r.id for r in s]
    assert ids == sorted(ids)
    assert ids[-1] == 119
    with pytest.raises(KeyError):
        s.get(0)
    assert s.get(119).text == "r119"
    assert s.retrieve("r119", sim_time=200.0)


def test_bad_settings_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="decay"):
        MemoryStream(HashingEmbedder(), decay=1.5)
    with pytest.raises(ConfigError, match="top_k"):
        MemoryStream(HashingEmbedder(), top_k=0)
    with pytest.raises(ConfigError, match="weights"):
        MemoryStream(HashingEmbedder(), weights=(1.0, -1.0, 1.0))


def test_recent_memory_keeps_the_one_record_and_its_old_snapshot_format() -> None:
    """The base Mind's recency memory holds ``MemoryRecord``s; snapshots keep the four keys
    (in the order) runs stored before, and those restore to the same retrieval."""
    memory = RecentMemory(top_k=3, token_budget=10)
    texts = ["a" * 8, "b" * 12, "c" * 4, "d" * 9, "e" * 5]
    for tick, text in enumerate(texts):
        memory.remember(tick, text, kind="observation", importance=0.5 if tick == 0 else 7.0)
    assert all(isinstance(r, MemoryRecord) for r in memory.records)
    assert [r.id for r in memory.records] == [0, 1, 2, 3, 4]
    assert memory.records[0].importance == 1.0  # clamped to the record's 1-10 scale
    # Most recent first while the budget (approx_tokens: 2 + 3 = 5, then 1 more) allows.
    got = memory.retrieve()
    assert [r.text for r in got] == ["c" * 4, "d" * 9, "e" * 5]
    assert sum(approx_tokens(r.text) for r in got) <= 10
    snap = memory.snapshot()
    assert [list(d) for d in snap] == [["tick", "text", "kind", "importance"]] * len(texts)
    assert snap[1] == {"tick": 1, "text": "b" * 12, "kind": "observation", "importance": 7.0}
    # A snapshot written before the records were one class restores the same way.
    old = [{"tick": 4, "text": "x", "kind": "news", "importance": 8.0}]
    again = RecentMemory(top_k=3, token_budget=10)
    again.restore(json.loads(json.dumps(snap)) + old)
    assert again.snapshot() == [*snap, *old]
    assert [r.text for r in again.retrieve()] == ["d" * 9, "e" * 5, "x"]
    again.remember(5, "y")
    assert again.records[-1].id == len(texts) + 1


def test_backend_usage_and_memory_costs_are_the_two_documented_rules() -> None:
    for n in range(13):
        text = "z" * n
        assert estimated_usage(text) == max(1, n // 4)
        assert approx_tokens(text) == max(1, -(-n // 4))
