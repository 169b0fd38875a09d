"""Soak: commons runs against a faulty fake OpenAI server; no fault may lose data.

The fake server runs in its own process with a ``FaultPlan``: by default 20% of chat requests
fail, every kind equally likely (429, 500, reset, hang, malformed JSON, truncated body, schema
violation, 2 MB answer). ``--runs`` commons runs of ``--months`` months go through
``openai:fake`` at the same time, with short timeouts so that a hang costs little, and with
``collapse_threshold=0`` so that every run lasts its months. Then the stores are read back and
the figures printed: ticks completed against planned, faults injected (counted by the server)
against faults recorded (lines of ``llm_call.faults``, ``invalid`` calls), how the faults were
recovered, and events lost (gaps in ``seq``, ticks without ``tick_completed``). Exits 1 when a
run did not complete, a tick or an event is missing, or an injected fault was not recorded::

    PYTHONPATH=src python benchmarks/soak.py --runs 4 --months 50 --rate 0.2 --seed 1
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from societas.engine import RunHandle, prepare_run
from societas.scenarios import load_spec
from societas.store import RunStore
from societas.testing.fake_openai import serve_in_subprocess
from societas.testing.faults import CONTENT_KINDS, FAULT_KINDS, FaultPlan, classify_fault
from societas.typing import DecisionFallback, LLMCall


@dataclass
class StoreFigures:
    """What one run's store says about it."""

    status: str = ""
    ticks_planned: int = 0
    ticks_completed: int = 0
    events: int = 0
    seq_gaps: int = 0
    missing_ticks: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    recorded: Counter[str] = field(default_factory=Counter)
    retried_calls: int = 0
    retried_faults: int = 0
    repaired: int = 0
    faults_in_fallbacks: int = 0
    fallbacks: Counter[str] = field(default_factory=Counter)
    largest_event: tuple[int, str] = (0, "")
    bytes_on_disk: dict[str, int] = field(default_factory=dict)


def read_store(out: Path, huge_tokens: int) -> StoreFigures:
    figures = StoreFigures()
    with RunStore.open(out, readonly=True) as store:
        info = store.run_info()
        figures.status = str(info["status"])
        figures.ticks_planned = int(info["num_ticks"])
        figures.ticks_completed = int(info["ticks_completed"])
        seqs: list[int] = []
        ticks: set[int] = set()
        calls: list[LLMCall] = []
        fell_back: set[tuple[int, str | None, str]] = set()
        for event in store.iter_events():
            seqs.append(event.seq)
            figures.largest_event = max(
                figures.largest_event, (len(event.model_dump_json()), event.kind)
            )
            if event.kind == "tick_completed":
                ticks.add(event.tick)
            elif isinstance(event, LLMCall):
                calls.append(event)
            elif isinstance(event, DecisionFallback):
                figures.fallbacks[event.reason] += 1
                fell_back.add((event.tick, event.actor, event.phase))
    # Each fault either was recovered (retried away, or repaired) or ended in a fallback.
    for call in calls:
        decision = (call.tick, call.actor, call.purpose.removesuffix(":repair"))
        figures.calls[call.status] += 1
        for line in call.faults:
            figures.recorded[classify_fault(line) or "unclassified"] += 1
        if call.status == "error":
            figures.faults_in_fallbacks += len(call.faults)
        elif call.faults:
            figures.retried_calls += 1
            figures.retried_faults += len(call.faults)
        if call.status == "invalid":
            kind = "huge" if call.completion_tokens >= huge_tokens else "schema_violation"
            figures.recorded[kind] += 1
            if decision in fell_back:
                figures.faults_in_fallbacks += 1
            else:
                figures.repaired += 1
    figures.events = len(seqs)
    figures.seq_gaps = sum(1 for i, seq in enumerate(seqs) if seq != i)
    figures.missing_ticks = len(set(range(figures.ticks_planned)) - ticks)
    for name in ("run.db", "cache.db"):
        figures.bytes_on_disk[name] = sum(
            p.stat().st_size for p in out.glob(name + "*") if p.is_file()
        )
    return figures


async def run_all(handles: list[RunHandle]) -> list[BaseException | None]:
    results = await asyncio.gather(*(h.run() for h in handles), return_exceptions=True)
    return [r if isinstance(r, BaseException) else None for r in results]


def soak(args: argparse.Namespace, root: Path) -> int:
    plan = FaultPlan(rate=args.rate, seed=args.seed, hang_s=30.0, huge_bytes=args.huge_bytes)
    outs = [root / f"run{i}" for i in range(args.runs)]
    t0 = time.perf_counter()
    with serve_in_subprocess(answer="schema", fault_plan=plan) as server:
        handles: list[RunHandle] = []
        try:
            for i, out in enumerate(outs):
                spec = load_spec(
                    "commons",
                    [
                        f"months={args.months}",
                        "collapse_threshold=0",
                        f"run.base_url={server.base_url}",
                        f"run.request_timeout_s={args.timeout}",
                        "run.retry_base_delay_s=0.01",
                        "run.breaker_cooldown_s=0.1",
                    ],
                    model="openai:fake",
                    seed=args.seed + i,
                )
                handles.append(
                    prepare_run(spec.scenario, spec.config, spec.options, out, api_key="soak")
                )
            crashes = asyncio.run(run_all(handles))
        finally:
            for handle in handles:
                handle.close()
    wall = time.perf_counter() - t0
    injected: dict[str, int] = server.stats.get("injected", {})
    stores = [read_store(out, huge_tokens=args.huge_bytes // 8) for out in outs]

    recorded: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    fallbacks: Counter[str] = Counter()
    for figures in stores:
        recorded.update(figures.recorded)
        calls.update(figures.calls)
        fallbacks.update(figures.fallbacks)
    planned = sum(f.ticks_planned for f in stores)
    completed = sum(f.ticks_completed for f in stores)
    events = sum(f.events for f in stores)
    gaps = sum(f.seq_gaps for f in stores)
    missing = sum(f.missing_ticks for f in stores)
    crashed = [c for c in crashes if c is not None]
    ok_runs = sum(f.status == "completed" for f in stores)

    print(f"command            {' '.join(['benchmarks/soak.py', *sys.argv[1:]])}")
    print(f"runs               {args.runs} ({ok_runs} completed, {len(crashed)} crashed)")
    for error in crashed:
        print(f"  crash            {type(error).__name__}: {error}")
    print(
        f"ticks              {completed} / {planned} completed "
        f"({100.0 * completed / max(planned, 1):.1f}%)"
    )
    print(f"wall time          {wall:.1f} s")
    print(f"chat requests      {server.stats.get('chat_requests', '?')} (server side)")
    print(
        f"llm calls          {sum(calls.values())} (ok {calls['ok']}, invalid {calls['invalid']}, "
        f"error {calls['error']})"
    )
    print(
        f"events             {events}; lost {gaps + missing} "
        f"(seq gaps {gaps}, ticks without tick_completed {missing})"
    )
    print()
    print(f"{'fault kind':<18} {'injected':>9} {'recorded':>9}  recorded as")
    unrecorded = 0
    for kind in FAULT_KINDS:
        where = "llm_call status=invalid" if kind in CONTENT_KINDS else "llm_call.faults line"
        n_in, n_rec = injected.get(kind, 0), recorded.get(kind, 0)
        unrecorded += max(0, n_in - n_rec)
        print(f"{kind:<18} {n_in:>9} {n_rec:>9}  {where}")
    if recorded.get("unclassified"):
        print(f"{'unclassified':<18} {'':>9} {recorded['unclassified']:>9}  llm_call.faults line")
    total_in, total_rec = sum(injected.values()), sum(recorded.values())
    print(f"{'total':<18} {total_in:>9} {total_rec:>9}")
    print()
    retried_calls = sum(f.retried_calls for f in stores)
    retried_faults = sum(f.retried_faults for f in stores)
    repaired = sum(f.repaired for f in stores)
    in_fallbacks = sum(f.faults_in_fallbacks for f in stores)
    reasons = ", ".join(f"{r} {n}" for r, n in sorted(fallbacks.items())) or "none"
    print("what became of the recorded faults")
    print(f"  retried, answered  {retried_faults:>5} faults (in {retried_calls} calls)")
    print(f"  invalid, repaired  {repaired:>5}")
    print(f"  recovered          {retried_faults + repaired:>5}")
    print(f"  ended in fallback  {in_fallbacks:>5} faults")
    print(f"decisions fell back  {sum(fallbacks.values())} ({reasons})")
    print(f"calls that errored   {calls['error']} (every attempt failed)")
    print()
    run_db = sum(f.bytes_on_disk.get("run.db", 0) for f in stores)
    cache_db = sum(f.bytes_on_disk.get("cache.db", 0) for f in stores)
    size, event_kind = max(f.largest_event for f in stores)
    print(f"largest event      {size} bytes ({event_kind})")
    print(f"on disk            run.db {run_db / 1e6:.1f} MB, cache.db {cache_db / 1e6:.1f} MB")

    healthy = (
        not crashed
        and ok_runs == args.runs
        and completed == planned
        and gaps == 0
        and missing == 0
        and unrecorded == 0
    )
    print(f"verdict            {'no data lost' if healthy else 'DATA LOST OR RUN FAILED'}")
    return 0 if healthy else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--months", type=int, default=50, help="ticks per run")
    parser.add_argument("--rate", type=float, default=0.2, help="share of requests that fail")
    parser.add_argument("--seed", type=int, default=1, help="fault plan seed; run i uses seed+i")
    parser.add_argument("--timeout", type=float, default=0.5, help="run.request_timeout_s")
    parser.add_argument("--huge-bytes", type=int, default=2_000_000, help="size of a huge answer")
    parser.add_argument("--keep", type=Path, default=None, help="keep the run stores here")
    args = parser.parse_args()
    if args.keep is not None:
        sys.exit(soak(args, args.keep))
    with tempfile.TemporaryDirectory(prefix="societas-soak-") as tmp:
        code = soak(args, Path(tmp))
    sys.exit(code)


if __name__ == "__main__":
    main()
