"""``societas validate NAME``: a published set-up as a sweep, its table beside published values.

The published values and the set-ups live in one data file, ``published.yaml`` (beside this
module), each value with its source. A validation is an ordinary experiment: its YAML is
written into the output directory and run with ``run_sweep``, so it resumes when interrupted
and replays from its caches (``--replay-from``).

Confidence intervals (95 %): for a metric that is 0 or 1 in every run (``collapsed``) the
Wilson score interval of the proportion; for any other metric bounded by [0, 1] (shares,
rates) a percentile bootstrap of the mean (so the interval stays inside [0, 1]); otherwise
the t interval of the mean. The verdict says whether the published value lies inside the
interval, else how far outside it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from societas.experiments.sweep import SweepResult, run_sweep, t_critical_95
from societas.typing import ConfigError

__all__ = [
    "NAMES",
    "Published",
    "bootstrap_ci",
    "compare",
    "load_published",
    "mean_ci",
    "run_validation",
    "wilson_ci",
]

# The sweep-based ones; oasis and cascades run apart.
NAMES = ("govsim", "donor", "wealth", "market")
_BOOTSTRAP = 4000


@dataclass(frozen=True)
class Published:
    name: str
    note: str
    setup: dict[str, Any]
    rows: list[dict[str, Any]]


def load_published(name: str, path: Path | None = None) -> Published:
    """The entry ``name`` of ``published.yaml`` (or of ``path``)."""
    if path is None:
        text = resources.files("societas.experiments").joinpath("published.yaml").read_text()
        source = "published.yaml"
    else:
        text, source = path.read_text(), str(path)
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or name not in data:
        known = ", ".join(sorted(data)) if isinstance(data, dict) else ""
        raise ConfigError(source, name, f"a validation name ({known})", name)
    entry = data[name]
    return Published(
        name=name,
        note=str(entry.get("note", "")).strip(),
        setup=dict(entry.get("setup") or {}),
        rows=[dict(r) for r in entry.get("rows", [])],
    )


def wilson_ci(successes: int, n: int) -> tuple[float, float]:
    """Wilson score interval (95 %) of a proportion; (0, 1) when there is no data."""
    if n <= 0:
        return 0.0, 1.0
    z = 1.959963984540054
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return round(max(0.0, centre - half), 12), round(min(1.0, centre + half), 12)


def bootstrap_ci(values: np.ndarray[Any, Any], seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap (95 %) of the mean: inside the values' range, so shares stay in
    [0, 1]."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan
    if x.size == 1 or np.all(x == x[0]):
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(_BOOTSTRAP, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [0.025, 0.975])
    return float(lo), float(hi)


def mean_ci(values: np.ndarray[Any, Any], *, bounded: bool) -> tuple[float, float, float]:
    """(mean, low, high) by the rule in the module docstring."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if np.isin(x, (0.0, 1.0)).all():
        lo, hi = wilson_ci(int(x.sum()), int(x.size))
    elif bounded:
        lo, hi = bootstrap_ci(x)
    elif x.size > 1:
        half = t_critical_95(x.size - 1) * float(x.std(ddof=1)) / math.sqrt(x.size)
        lo, hi = mean - half, mean + half
    else:
        lo = hi = mean
    return mean, lo, hi


_BOUNDED = {
    "collapsed",
    "efficiency",
    "equality",
    "over_usage",
    "over_usage_surviving",
    "punishment_rate",
    "mean_donation_fraction",
    "invalid_action_rate",
    "fallback_rate",
    "invalid_answer_rate",
    "gini",
    "gini_mean_tail",
}


def _verdict(value: float, lo: float, hi: float) -> str:
    if math.isnan(lo) or math.isnan(hi):
        return "no data"
    if lo - 1e-9 <= value <= hi + 1e-9:
        return "inside the CI"
    if value > hi:
        return f"published {value - hi:.3g} above the CI"
    return f"published {lo - value:.3g} below the CI"


def compare(runs: pd.DataFrame, published: Published) -> pd.DataFrame:
    """One row per published value: condition, metric, model, n, ours (mean, CI),
    published, source, verdict."""
    rows = []
    for ref in published.rows:
        mask = (runs["condition"] == ref["condition"]) & (runs["metric"] == ref["metric"])
        values = runs.loc[mask, "value"].to_numpy(dtype=np.float64)
        mean, lo, hi = mean_ci(values, bounded=ref["metric"] in _BOUNDED)
        value = float(ref["value"])
        rows.append(
            {
                "condition": ref["condition"],
                "metric": ref["metric"],
                "n": int(values.size),
                "mean": mean,
                "ci95_low": lo,
                "ci95_high": hi,
                "published": value,
                "model": str(ref.get("model", "")),
                "source": str(ref["source"]),
                "verdict": _verdict(value, lo, hi),
            }
        )
    return pd.DataFrame(rows)


def run_validation(
    name: str,
    *,
    out: Path,
    model: str | None,
    seeds: int,
    sets: list[str] | None = None,
    replay_from: Path | None = None,
    parallel: int = 1,
) -> tuple[SweepResult, pd.DataFrame, Published]:
    """Write the set-up's experiment file into ``out``, run (or resume) it, compare."""
    if name not in NAMES:
        raise ConfigError("validate", "NAME", " or ".join(NAMES), name)
    if seeds < 1:
        raise ConfigError("--seeds", "seeds", "a number of seeds >= 1", seeds)
    published = load_published(name)
    setup = published.setup
    spec = {
        "name": f"validate-{name}",
        "scenario": setup["scenario"],
        "base": setup.get("base", {}),
        "grid": setup.get("grid", {}),
        "seeds": list(range(seeds)),
    }
    out.mkdir(parents=True, exist_ok=True)
    spec_path = out / f"validate-{name}.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = run_sweep(
        spec_path,
        out=out,
        model=model,
        sets=list(sets or []),
        replay_from=replay_from,
        parallel=parallel,
    )
    return result, compare(result.runs, published), published
