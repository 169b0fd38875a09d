"""Scripted commons at growing population: wall time and its growth exponent.

Runs the commons with the scripted model (engine, gateway, store; no language model) at
5, 50 and 500 agents for 3 months each, and prints the wall time, the time per agent-month
relative to the 5-agent run (the baseline of this command) and the growth exponent k of
time ~ agents^k fitted over 50 -> 500 agents. Targets (issue 14, item 7): 500 agents in
<= 2.5 s and k <= 1.05.

    python benchmarks/commons_scaling.py [--months 3] [--protocol societas|govsim] [--repeat 2]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from societas.engine import prepare_run, run_sync
from societas.scenarios import load_spec


def one_run(agents: int, months: int, protocol: str) -> float:
    spec = load_spec(
        "commons",
        [f"agents={agents}", f"months={months}", f"protocol={protocol}", "collapse_threshold=0"],
        model="scripted",
        seed=1,
    )
    with tempfile.TemporaryDirectory() as tmp:
        handle = prepare_run(spec.scenario, spec.config, spec.options, Path(tmp) / "run")
        t0 = time.perf_counter()
        run_sync(handle)
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--protocol", default="societas", choices=["societas", "govsim"])
    parser.add_argument("--repeat", type=int, default=2, help="best of this many runs")
    args = parser.parse_args()
    sizes = (5, 50, 500)
    best: dict[int, float] = {}
    for n in sizes:
        best[n] = min(one_run(n, args.months, args.protocol) for _ in range(args.repeat))
    base = best[5] / (5 * args.months)
    print(
        f"scripted commons, protocol {args.protocol}, {args.months} months, best of {args.repeat}"
    )
    print(f"{'agents':>7} {'wall s':>8} {'ms/agent-month':>15} {'x baseline':>11}")
    for n in sizes:
        per = best[n] / (n * args.months)
        print(f"{n:>7} {best[n]:>8.3f} {per * 1e3:>15.3f} {per / base:>11.2f}")
    k = math.log(best[500] / best[50]) / math.log(500 / 50)
    print(f"growth exponent k (50 -> 500 agents): {k:.3f}  (target <= 1.05)")
    print(f"500 agents: {best[500]:.2f} s  (target <= 2.5 s)")


if __name__ == "__main__":
    main()
