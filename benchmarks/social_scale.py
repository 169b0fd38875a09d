"""The social scenario at scale: archetype mode, 10k and 1M users.

For each size, a fresh process runs the scenario (``mode: archetype``, ``ticks`` ticks) and
prints: wall time (build + run + metrics), peak resident memory of that process
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``), model calls per tick and groups per tick
(from the run store's ``tick_completed`` and ``group_decision`` events), and the seed
rumour's cascade size. Targets (issue 4): 1M x 10 ticks within 10 minutes on 2 cores, peak
memory at most 4 GB at 1M, calls per tick bounded by the number of groups at every size.

    python benchmarks/social_scale.py [--sizes 10000,1000000] [--ticks 10] [--model scripted]

``--model local`` uses the bundled model (slow: one call per group that sees something new).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one(n: int, ticks: int, model: str, runner: str) -> dict[str, object]:
    from societas.engine import RunOptions, prepare_run, run_sync
    from societas.scenarios.social import SocialConfig, SocialScenario
    from societas.store import RunStore
    from societas.typing import GroupDecisionEvent, TickCompleted

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="social-scale-") as tmp:
        out = Path(tmp) / "run"
        config = SocialConfig(agents=n, mode="archetype", ticks=ticks)
        options = RunOptions(model=model, seed=0, runner=runner)
        metrics = run_sync(prepare_run(SocialScenario(), config, options, out))
        wall = time.perf_counter() - start
        store = RunStore.open(out, readonly=True)
        events = store.events(["tick_completed", "group_decision"])
        calls = [e.llm_calls for e in events if isinstance(e, TickCompleted)]
        groups = [0] * len(calls)
        for e in events:
            if isinstance(e, GroupDecisionEvent):
                groups[e.tick] += 1
        store.close()
        size_mb = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    return {
        "agents": n,
        "ticks": ticks,
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "calls_per_tick": calls,
        "groups_per_tick": groups,
        "seed_cascade_size": metrics.get("seed0_size"),
        "mean_active": metrics.get("mean_active"),
        "store_mb": round(size_mb, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--ticks", type=int, default=10)
    parser.add_argument("--model", default="scripted", help="scripted (default) or local")
    parser.add_argument("--runner", default="local", help="local or ray")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one, args.ticks, args.model, args.runner)))
        return
    for n in [int(s) for s in args.sizes.split(",") if s]:
        cmd = [sys.executable, __file__, "--one", str(n), "--ticks", str(args.ticks)]
        cmd += ["--model", args.model, "--runner", args.runner]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"{n:>9} agents: failed\n{proc.stderr[-2000:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        calls = r["calls_per_tick"]
        print(
            f"{n:>9} agents x {r['ticks']} ticks: wall {r['wall_s']} s, peak RSS "
            f"{r['peak_rss_mb']} MB, store {r['store_mb']} MB, mean active/tick "
            f"{r['mean_active']:.0f}, seed cascade {r['seed_cascade_size']:.0f}"
        )
        print(f"{'':>9} calls per tick {calls} (mean {sum(calls) / len(calls):.1f})")
        print(f"{'':>9} groups per tick {r['groups_per_tick']}")


if __name__ == "__main__":
    main()
