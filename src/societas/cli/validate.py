"""``societas validate cascades``: simulate real rumour cascades and compare the distributions.

For each real cascade of the Twitter15/16 sample shipped by OASIS (``all_topics.csv``; or a
random sample of them) the social scenario runs once, seeded with that rumour's text, its
true/false label and its topic, on a population as large as the cascade's ``num_users``
(times ``--scale``). The simulated seed cascades' sizes and depths are set beside the real
``num_users`` and ``max_depth``: quantiles, the two-sample Kolmogorov-Smirnov statistic
(``scipy.stats.ks_2samp``) and the mean size and depth of true and of false rumours.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

__all__ = ["app", "simulate_cascades", "validate_cascades_command"]

# The shared data folder sits beside the repository on our machines; pass --data elsewhere.
_CANDIDATES = (
    Path("../shared/data/oasis/all_topics.csv"),
    Path(__file__).resolve().parents[4] / "shared/data/oasis/all_topics.csv",
)
DEFAULT_DATA = next((p for p in _CANDIDATES if p.is_file()), _CANDIDATES[0])

_out = Console()
_err = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    name="validate",
    help="Compare simulations with real data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def simulate_cascades(
    real: pd.DataFrame,
    *,
    model: str = "scripted",
    ticks: int = 10,
    scale: float = 1.0,
    mean_degree: float = 3.0,
    seed: int = 0,
    out: Path | None = None,
    settings: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """One run per row of ``real``; returns label, real and simulated size and depth."""
    from societas.engine import RunOptions, prepare_run, run_sync
    from societas.scenarios.social import SeedPost, SocialConfig, SocialScenario

    scenario = SocialScenario()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="societas-validate-") as tmp:
        base = out if out is not None else Path(tmp)
        for i, r in enumerate(real.to_dict("records")):
            agents = max(2, round(int(r["num_users"]) * scale))
            config = SocialConfig.model_validate(
                {
                    "agents": agents,
                    "mode": "archetype",
                    "ticks": ticks,
                    "mean_degree": mean_degree,
                    "seeds": [
                        SeedPost(
                            text=str(r["source_tweet"])[:1000],
                            label="true" if bool(r["label"]) else "false",
                            topic=str(r["topic_category"]),
                            author="hub",
                        ).model_dump()
                    ],
                    **(settings or {}),
                }
            )
            options = RunOptions(model=model, seed=seed + i)
            run_dir = base / f"{i:03d}_{r['topic_name']}".replace(" ", "_").replace("&", "and")
            handle = prepare_run(scenario, config, options, run_dir)
            metrics = run_sync(handle)
            rows.append(
                {
                    "topic_name": r["topic_name"],
                    "label": bool(r["label"]),
                    "num_users": int(r["num_users"]),
                    "real_size": int(r["num_users"]),
                    "real_depth": int(r["max_depth"]),
                    "sim_size": int(metrics["seed0_size"]),
                    "sim_depth": int(metrics["seed0_depth"]),
                }
            )
    return pd.DataFrame(rows)


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def validate_cascades_command(
    data: Annotated[
        Path, typer.Option("--data", help="OASIS all_topics.csv (Twitter15/16 cascades).")
    ] = DEFAULT_DATA,
    model: Annotated[str, typer.Option("--model", help="Model spec (scripted, openai:...).")] = (
        "scripted"
    ),
    n: Annotated[int, typer.Option("--n", help="Cascades to simulate (0: all).")] = 10,
    ticks: Annotated[int, typer.Option("--ticks", help="Ticks (hours) per run.")] = 10,
    scale: Annotated[float, typer.Option("--scale", help="Population = num_users x scale.")] = 1.0,
    mean_degree: Annotated[
        float, typer.Option("--mean-degree", help="Mean followees per user.")
    ] = 3.0,
    seed: Annotated[int, typer.Option("--seed", help="Sample and run seed.")] = 0,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Keep the runs in this directory.")
    ] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help="A social setting for every run, KEY=VALUE (repeatable)."),
    ] = None,
) -> None:
    """Simulate real rumour cascades with the social scenario; compare sizes and depths."""
    from societas.analysis.social_metrics import compare_distributions, load_real_cascades
    from societas.cli.main import errors
    from societas.scenarios.loader import parse_override
    from societas.typing import ConfigError

    with errors():
        if n < 0 or ticks < 1 or scale <= 0:
            raise ConfigError(
                "validate cascades",
                "--n/--ticks/--scale",
                "n >= 0, ticks >= 1, scale > 0",
                (n, ticks, scale),
            )
        settings: dict[str, Any] = {}
        for item in sets or []:
            keys, value = parse_override(item)
            node = settings
            for part in keys[:-1]:
                node = node.setdefault(part, {})
            node[keys[-1]] = value
        real_all = load_real_cascades(data)
        if 0 < n < len(real_all):
            pick = np.sort(np.random.default_rng(seed).choice(len(real_all), n, replace=False))
            real = real_all.iloc[pick].reset_index(drop=True)
        else:
            real = real_all
        _err.print(f"simulating {len(real)} cascades of {data} with model {model} ...")
        result = simulate_cascades(
            real,
            model=model,
            ticks=ticks,
            scale=scale,
            mean_degree=mean_degree,
            seed=seed,
            out=out,
            settings=settings,
        )
        print_comparison(result, compare_distributions)


def print_comparison(result: pd.DataFrame, compare: Any) -> None:
    quantiles = (0.1, 0.25, 0.5, 0.75, 0.9)
    for what in ("size", "depth"):
        cmp = compare(result[f"real_{what}"], result[f"sim_{what}"], quantiles=quantiles)
        table = Table(title=f"cascade {what}: real vs simulated ({len(result)} cascades)")
        for col in ("", "mean", *(f"q{int(q * 100)}" for q in quantiles)):
            table.add_column(col, justify="right")
        for side, key in (("real", "real"), ("simulated", "simulated")):
            qs = cmp[f"{key}_quantiles"]
            table.add_row(side, _fmt(cmp[f"{key}_mean"]), *(_fmt(qs[q]) for q in quantiles))
        _out.print(table)
        _out.print(f"KS statistic ({what}): {cmp['ks_statistic']:.3f}  (p = {cmp['p_value']:.3g})")
    spread = Table(title="true vs false rumours: mean size and depth")
    for col in ("label", "n", "real size", "sim size", "real depth", "sim depth"):
        spread.add_column(col, justify="right")
    for label, group in result.groupby("label", sort=True):
        spread.add_row(
            "true" if label else "false",
            str(len(group)),
            _fmt(float(group["real_size"].mean())),
            _fmt(float(group["sim_size"].mean())),
            _fmt(float(group["real_depth"].mean())),
            _fmt(float(group["sim_depth"].mean())),
        )
    _out.print(spread)


@app.callback()
def _validate() -> None:
    """Compare simulations with real data."""


app.command(name="cascades")(validate_cascades_command)
