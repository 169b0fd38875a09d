"""Memory-stream retrieval speed: numpy stream at 100k records vs a plain Python loop.

    python benchmarks/memory_retrieval.py [--records 100000] [--queries 200]
        [--baseline-records 5000] [--minilm-texts 256] [--no-minilm]

Builds a stream of synthetic records with the hashing embedder (dim 384), times ``retrieve``
(top_k 12, budget 600 tokens) over distinct queries and prints median and p95; then runs the
same scoring as a straightforward Python loop over a smaller stream and prints the per-record
speed ratio. Finally times all-MiniLM-L6-v2 embedding throughput for information.
"""

from __future__ import annotations

import argparse
import importlib
import math
import statistics
import time

import numpy as np

from societas.memory import HashingEmbedder, MemoryInput, MemoryStream, approx_tokens

SUBJECTS = ["Alice", "Bob", "Chen", "Dara", "Emeka", "Farah", "Goran", "Hina", "Ivan", "Juno"]
VERBS = ["caught", "sold", "promised", "argued about", "shared", "hid", "counted", "praised"]
OBJECTS = ["fish", "nets", "the lake", "the quota", "the boat", "bread", "the market", "a vote"]
PLACES = ["at dawn", "by the pier", "in the square", "at the council", "after the storm", "at home"]


def synthetic(n: int, rng: np.random.Generator) -> list[MemoryInput]:
    items = []
    for i in range(n):
        text = (
            f"{SUBJECTS[rng.integers(len(SUBJECTS))]} {VERBS[rng.integers(len(VERBS))]} "
            f"{rng.integers(1, 50)} {OBJECTS[rng.integers(len(OBJECTS))]} "
            f"{PLACES[rng.integers(len(PLACES))]}"
        )
        items.append(
            MemoryInput(
                text=text,
                kind="observation" if i % 5 else "message",
                tick=i // 10,
                sim_time=i * 60.0,
                importance=float(rng.integers(1, 11)),
            )
        )
    return items


def queries(n: int, rng: np.random.Generator) -> list[str]:
    return [
        f"what did {SUBJECTS[rng.integers(len(SUBJECTS))]} do with "
        f"{OBJECTS[rng.integers(len(OBJECTS))]} {PLACES[rng.integers(len(PLACES))]}? #{i}"
        for i in range(n)
    ]


def build(n: int, rng: np.random.Generator) -> tuple[MemoryStream, float]:
    stream = MemoryStream(HashingEmbedder(384))
    items = synthetic(n, rng)
    t0 = time.perf_counter()
    for start in range(0, n, 5000):
        stream.add_many(items[start : start + 5000])
    return stream, time.perf_counter() - t0


def python_loop_retrieve(
    stream: MemoryStream, query: str, sim_time: float, top_k: int, budget: int
) -> list[int]:
    """The same scoring written plainly: one Python loop per record, lists, no numpy."""
    emb = stream.embedder
    q = [float(x) for x in emb.embed([query])[0]]
    records = list(stream)
    vectors = [[float(x) for x in row] for row in stream._emb[:, : len(records)].T]
    rec, imp, rel = [], [], []
    for r, v in zip(records, vectors, strict=True):
        rec.append(stream.decay ** ((sim_time - r.last_accessed) / 3600.0))
        imp.append(r.importance)
        rel.append(sum(a * b for a, b in zip(q, v, strict=True)))

    def norm(xs: list[float]) -> list[float]:
        lo, hi = min(xs), max(xs)
        return [0.5] * len(xs) if hi - lo <= 1e-12 else [(x - lo) / (hi - lo) for x in xs]

    scores = [a + b + c for a, b, c in zip(norm(rec), norm(imp), norm(rel), strict=True)]
    order = sorted(range(len(records)), key=lambda i: (-scores[i], -i))
    chosen, used = [], 0
    for i in order:
        cost = approx_tokens(records[i].text)
        if used + cost <= budget:
            chosen.append(records[i].id)
            used += cost
            if len(chosen) >= top_k:
                break
    return chosen


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, math.ceil(q * len(s)) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--baseline-records", type=int, default=5_000)
    ap.add_argument("--baseline-queries", type=int, default=10)
    ap.add_argument("--minilm-texts", type=int, default=256)
    ap.add_argument("--no-minilm", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(0)

    stream, build_s = build(args.records, rng)
    now = args.records * 60.0 + 3600.0
    qs = queries(args.queries, rng)
    stream.retrieve(qs[0], sim_time=now)  # warm up
    times = []
    for q in qs:
        t0 = time.perf_counter()
        got = stream.retrieve(q, sim_time=now)
        times.append((time.perf_counter() - t0) * 1000.0)
        assert 0 < len(got) <= stream.top_k
        assert sum(approx_tokens(r.text) for r in got) <= stream.token_budget
    med, p95 = statistics.median(times), pct(times, 0.95)
    print(f"stream: {args.records} records, hashing dim 384, built in {build_s:.1f} s")
    print(f"retrieve (top_k 12, budget 600): median {med:.2f} ms, p95 {p95:.2f} ms")
    print(f"target median <= 20 ms at 100k: {'met' if med <= 20.0 else 'NOT met'}")
    # A dense query vector (as MiniLM gives) reads the whole matrix instead of a few rows.
    dense_times = []
    cand = np.arange(len(stream))
    for _ in range(20):
        q = rng.standard_normal(384).astype(np.float32)
        q /= np.linalg.norm(q)
        t0 = time.perf_counter()
        stream._select(cand, stream._score(q, now, cand), 12, 600)
        dense_times.append((time.perf_counter() - t0) * 1000.0)
    print(
        f"dense query vector (scoring + selection): median {statistics.median(dense_times):.2f} ms"
    )

    small, _ = build(args.baseline_records, np.random.default_rng(1))
    now_s = args.baseline_records * 60.0 + 3600.0
    bq = queries(args.baseline_queries, np.random.default_rng(2))
    # Access times must not change between the two methods: use read-only views.
    view_a, view_b = small.as_of(10**9), small.as_of(10**9)
    agree = all(
        [r.id for r in view_a.retrieve(q, sim_time=now_s)]
        == sorted(python_loop_retrieve(view_b, q, now_s, 12, 600))
        for q in bq
    )
    t0 = time.perf_counter()
    for q in bq:
        python_loop_retrieve(view_b, q, now_s, 12, 600)
    loop_ms = (time.perf_counter() - t0) * 1000.0 / len(bq)
    t0 = time.perf_counter()
    for q in bq:
        view_a.retrieve(q, sim_time=now_s)
    np_ms = (time.perf_counter() - t0) * 1000.0 / len(bq)
    print(
        f"baseline at {args.baseline_records} records: python loop {loop_ms:.1f} ms/query, "
        f"numpy {np_ms:.2f} ms/query, ratio {loop_ms / np_ms:.0f}x, same results: {agree}"
    )
    per_loop = loop_ms / args.baseline_records
    per_np = med / args.records
    print(
        f"per record: loop {per_loop * 1e3:.2f} us, numpy at 100k {per_np * 1e3:.3f} us, "
        f"ratio {per_loop / per_np:.0f}x"
    )

    if not args.no_minilm:
        try:
            from societas.memory import MiniLMEmbedder

            mini = MiniLMEmbedder()
            texts = [i.text for i in synthetic(args.minilm_texts, np.random.default_rng(3))]
            t0 = time.perf_counter()
            mini.load()
            load_s = time.perf_counter() - t0
            mini.embed(texts[:8])
            t0 = time.perf_counter()
            mini.embed(texts)
            rate = len(texts) / (time.perf_counter() - t0)
            torch = importlib.import_module("torch")
            default_threads = torch.get_num_threads()
            torch.set_num_threads(1)
            t0 = time.perf_counter()
            mini.embed(texts)
            rate_1 = len(texts) / (time.perf_counter() - t0)
            torch.set_num_threads(default_threads)
            print(
                f"MiniLM: load {load_s:.1f} s, {rate:.0f} texts/s with torch's "
                f"{default_threads} threads, {rate_1:.0f} texts/s with 1 thread (batch 32, CPU)"
            )
        except Exception as exc:  # information only
            print(f"MiniLM: not measured ({type(exc).__name__}: {exc})")


if __name__ == "__main__":
    main()
