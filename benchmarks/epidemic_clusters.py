"""Cluster inference against archetypes: model calls per week and forecast error, both ways.

For each condition the whole calibration of the epidemic scenario runs
(``societas.scenarios.epidemic.calibrate``: the same deterministic search over the borough
transmission multipliers, fitted to AgentTorch's weekly NYC cases over the training weeks, then
a forecast of the held-out weeks), and the program prints, for the final calibrated run:

* model calls per week (``llm_calls`` of the run / its weeks) and their ratio to the
  archetypes' calls;
* the forecast error of infections (RMSE and MAE over the held-out weeks, in reported cases
  a week, mean over the five neighbourhoods) and of unemployment (RMSE and MAE of the monthly
  borough rate, percentage points, mean over the five boroughs), the scenario's own metrics
  (docs/scenarios/epidemic.md, "Error metric").

Conditions: ``heuristic`` (the fixed rule, no calls: the baseline), ``archetypes`` (one call
per non-empty group of the five archetype keys) and ``clusters`` at each ``--clusters`` count
(one call per non-empty behaviour cluster). With ``--model scripted`` every group or cluster is
answered by the fixed rule (for a cluster: its most numerous archetype's), so the differences
come from how coarse the groups are, not from a language model.

    python benchmarks/epidemic_clusters.py [--data ../shared/data/agenttorch] [--out DIR]
        [--clusters 4,12,24] [--agents 200000] [--model scripted]

Trials are recorded under ``--out`` (a temporary folder by default), so a rerun with the same
``--out`` reads them back instead of running them again.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from societas.scenarios.epidemic.calibrate import CalibrationSpec, calibrate


def _condition(
    name: str, spec: CalibrationSpec, data: Path, out: Path
) -> tuple[str, dict[str, float]]:
    started = time.perf_counter()
    result = calibrate(spec, data, out / name)
    weeks = spec.train + spec.test
    return name, {
        "calls_per_week": result.llm_calls / weeks,
        "calls_all_trials": float(sum(t.llm_calls for t in result.trials)),
        "test_rmse": float(np.mean(list(result.test_rmse.values()))),
        "test_mae": float(np.mean(list(result.test_mae.values()))),
        "train_rmse": float(np.mean(list(result.train_rmse.values()))),
        "unemployment_rmse": float(np.mean(list(result.unemployment_test_rmse.values()))),
        "unemployment_mae": float(np.mean(list(result.unemployment_test_mae.values()))),
        "wall_s": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/agenttorch"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--clusters", default="4,12,24")
    parser.add_argument("--agents", type=int, default=200_000)
    parser.add_argument("--model", default="scripted")
    args = parser.parse_args()
    counts = [int(x) for x in args.clusters.split(",") if x.strip()]
    out = args.out or Path(tempfile.mkdtemp(prefix="epidemic-clusters-"))
    base = {"agents": args.agents, "model": args.model}
    specs = [
        ("heuristic", CalibrationSpec(**base, behaviour="heuristic")),
        ("archetypes", CalibrationSpec(**base, behaviour="archetypes")),
        *[
            (f"clusters={k}", CalibrationSpec(**base, behaviour="clusters", clusters=k))
            for k in counts
        ],
    ]
    rows = [_condition(name, spec, args.data, out) for name, spec in specs]
    load = os.getloadavg()
    reference = dict(rows)["archetypes"]["calls_per_week"]
    print(f"# {args.agents} people, model {args.model}, trials under {out}")
    print(f"# load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    head = (
        "condition",
        "calls/week",
        "vs archetypes",
        "calls (search)",
        "train RMSE",
        "test RMSE",
        "test MAE",
        "unemp. RMSE (pp)",
        "unemp. MAE (pp)",
        "wall s",
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, r in rows:
        ratio = r["calls_per_week"] / reference if reference else float("nan")
        print(
            f"| {name} | {r['calls_per_week']:.1f} | {ratio:.3f} | {r['calls_all_trials']:.0f} "
            f"| {r['train_rmse']:.1f} | {r['test_rmse']:.1f} | {r['test_mae']:.1f} "
            f"| {r['unemployment_rmse']:.2f} | {r['unemployment_mae']:.2f} | {r['wall_s']:.0f} |"
        )


if __name__ == "__main__":
    main()
