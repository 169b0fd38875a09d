"""``societas validate NAME``: published set-ups run here, beside the published values.

``govsim``, ``donor``, ``wealth``, ``market``: the set-up of
``societas/experiments/published.yaml`` as a resumable, replayable sweep
(``societas.experiments.validation``), then a table: metric, ours (mean and 95 % CI),
published value, model, source, verdict.

``oasis``: the social scenario on OASIS's real follow graph of False_Business_0 with its
source tweet, 3 minutes a tick, compared with the real propagation by OASIS's normalised RMSE
of scale, depth and max breadth over the first 150 minutes
(``societas.analysis.oasis_propagation``).

``cascades``: simulate real rumour cascades and compare the distributions.

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
from rich.text import Text

__all__ = ["app", "simulate_cascades", "simulate_oasis", "validate_cascades_command"]

# The shared data folder sits beside the repository on our machines; pass --data elsewhere.
_CANDIDATES = (
    Path("../shared/data/oasis/all_topics.csv"),
    Path(__file__).resolve().parents[4] / "shared/data/oasis/all_topics.csv",
)
DEFAULT_DATA = next((p for p in _CANDIDATES if p.is_file()), _CANDIDATES[0])
TOPIC = "False_Business_0"

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
    real_sizes = _real_sizes(real)
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
                    "real_size": real_sizes.get(str(r["topic_name"]), int(r["num_users"])),
                    "real_depth": int(r["max_depth"]),
                    "sim_size": int(metrics["seed0_size"]),
                    "sim_depth": int(metrics["seed0_depth"]),
                }
            )
    return pd.DataFrame(rows)


def _real_sizes(real: pd.DataFrame) -> dict[str, int]:
    """The final size of each cascade whose real series is in the shared data (the users
    reached through reposts, e.g. 104 for False_Business_0 where all_topics.csv says 130)."""
    import json

    out: dict[str, int] = {}
    for path in DEFAULT_DATA.parent.glob("*_real_series.json"):
        data = json.loads(path.read_text())
        for topic in real["topic_name"].astype(str):
            series = data.get(f"scale__{topic}")
            if isinstance(series, list) and series:
                out[topic] = int(series[-1])
    return out


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
        _err.print(
            Text(f"simulating {len(real)} cascades of {data} with model {model} ..."),
            highlight=False,
        )
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


def print_validation(table: pd.DataFrame, title: str, note: str) -> None:
    out = Table(title=title, show_lines=False)
    for col in ("condition", "metric", "n", "ours (mean, 95% CI)", "published", "model"):
        out.add_column(col, justify="left" if col in ("condition", "metric", "model") else "right")
    out.add_column("src")
    out.add_column("verdict")
    sources: list[str] = []
    for r in table.to_dict("records"):
        if r["source"] not in sources:
            sources.append(str(r["source"]))
        ours = (
            f"{_fmt(r['mean'])} [{_fmt(r['ci95_low'])}, {_fmt(r['ci95_high'])}]" if r["n"] else "-"
        )
        out.add_row(
            str(r["condition"]),
            str(r["metric"]),
            str(r["n"]),
            ours,
            _fmt(float(r["published"])),
            str(r["model"]),
            f"[{sources.index(str(r['source'])) + 1}]",
            str(r["verdict"]),
        )
    _out.print(out)
    for k, source in enumerate(sources, 1):
        _out.print(f"[{k}] {source}", soft_wrap=True)
    if note:
        _out.print(note, soft_wrap=True)


def _sweep_command(name: str) -> Any:
    def command(
        model: Annotated[
            str | None, typer.Option("--model", help="Model spec (scripted, local, openai:...).")
        ] = None,
        seeds: Annotated[int, typer.Option("--seeds", help="Runs per condition.")] = 5,
        out: Annotated[
            Path | None,
            typer.Option("--out", "-o", help="Experiment directory (default: experiments/).."),
        ] = None,
        sets: Annotated[
            list[str] | None,
            typer.Option("--set", help="A setting for every run, KEY=VALUE (repeatable)."),
        ] = None,
        replay_from: Annotated[
            Path | None,
            typer.Option("--replay-from", help="Replay a finished validation from its caches."),
        ] = None,
        parallel: Annotated[int, typer.Option("--parallel", help="Worker processes.")] = 1,
    ) -> None:
        from societas.cli.main import errors
        from societas.experiments.validation import run_validation

        with errors():
            directory = out or Path("experiments") / f"validate-{name}"
            result, table, published = run_validation(
                name,
                out=directory,
                model=model,
                seeds=seeds,
                sets=sets,
                replay_from=replay_from,
                parallel=parallel,
            )
            table.to_csv(directory / "validation.csv", index=False)
            print_validation(table, f"validate {name}: ours beside the published values", "")
            _out.print(published.note, soft_wrap=True)
            _err.print(
                f"runs in {directory} (started {result.started}, resumed {result.resumed}, "
                f"skipped {result.skipped}); table in {directory / 'validation.csv'}"
            )
            if result.failed:
                for job, message in result.failed:
                    _err.print(f"[red]failed[/]: {job.condition} seed {job.seed}: {message}")
                raise typer.Exit(1)

    command.__doc__ = f"Run the published {name} set-up and set ours beside its values."
    return command


def simulate_oasis(
    *,
    data_dir: Path,
    model: str,
    seeds: int,
    ticks: int,
    minutes_per_tick: float,
    out: Path,
    settings: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """The social scenario on False_Business_0's follow graph, once per seed; NRMSE rows."""
    from societas.analysis.oasis_propagation import (
        METRICS,
        load_real_series,
        nrmse,
        propagation_series,
        repost_tree,
    )
    from societas.engine import RunOptions, prepare_resume, prepare_run, run_sync
    from societas.scenarios.social import SeedPost, SocialConfig, SocialScenario
    from societas.store import DB_NAME, RunStore
    from societas.typing import OutcomeEvent

    topics = pd.read_csv(data_dir / "all_topics.csv")
    row = topics[topics["topic_name"] == TOPIC].iloc[0]
    users = pd.read_csv(data_dir / f"{TOPIC}.csv")
    root = int(users.index[users["user_id"] == row["root_user"]][0])
    real = load_real_series(data_dir / "false_business_0_real_series.json", TOPIC)
    scenario = SocialScenario()
    rows: list[dict[str, Any]] = []
    for seed in range(seeds):
        config = SocialConfig.model_validate(
            {
                "graph_file": str(data_dir / f"{TOPIC}.csv"),
                "agents": len(users),
                "mode": "archetype",
                "ticks": ticks,
                "minutes_per_tick": minutes_per_tick,
                "seeds": [
                    SeedPost(
                        text=str(row["source_tweet"])[:1000],
                        label="true" if bool(row["label"]) else "false",
                        topic=str(row["topic_category"]),
                        author=root,
                    ).model_dump()
                ],
                **(settings or {}),
            }
        )
        run_dir = out / f"seed{seed}"
        status = None
        if (run_dir / DB_NAME).exists():
            with RunStore.open(run_dir, readonly=True) as store:
                status = store.run_info()["status"]
        if status != "completed":
            handle = (
                prepare_resume(run_dir, scenario)
                if status is not None
                else prepare_run(scenario, config, RunOptions(model=model, seed=seed), run_dir)
            )
            run_sync(handle)
        with RunStore.open(run_dir, readonly=True) as store:
            events = store.events()
        seed_rec = next(e.data for e in events if isinstance(e, OutcomeEvent) and e.phase == "seed")
        tree = repost_tree(
            events,
            source_post=int(seed_rec["post_id"]),
            root_author=int(seed_rec["author"]),
            minutes_per_tick=minutes_per_tick,
        )
        series = propagation_series(tree)
        for metric in METRICS:
            rows.append(
                {
                    "condition": TOPIC,
                    "seed": seed,
                    "metric": f"nrmse_{metric}",
                    "value": nrmse(series[metric], real[metric]),
                }
            )
        rows.append(
            {"condition": TOPIC, "seed": seed, "metric": "reposts", "value": float(tree.reposts)}
        )
    return pd.DataFrame(rows)


def validate_oasis_command(
    data: Annotated[
        Path, typer.Option("--data", help="Folder with OASIS's all_topics.csv and the cascade.")
    ] = DEFAULT_DATA.parent,
    model: Annotated[str, typer.Option("--model", help="Model spec.")] = "scripted",
    seeds: Annotated[int, typer.Option("--seeds", help="Runs.")] = 3,
    ticks: Annotated[int, typer.Option("--ticks", help="Ticks (150 minutes at 3 a tick).")] = 50,
    minutes_per_tick: Annotated[
        float, typer.Option("--minutes-per-tick", help="OASIS: 3 minutes a time step.")
    ] = 3.0,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run directory (resumed if it exists).")
    ] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help="A social setting for every run, KEY=VALUE (repeatable)."),
    ] = None,
) -> None:
    """Run False_Business_0 on OASIS's real follow graph; NRMSE as OASIS's result_ana_mse.py."""
    from societas.cli.main import errors
    from societas.experiments.validation import compare, load_published
    from societas.scenarios.loader import parse_override
    from societas.typing import ConfigError

    with errors():
        if seeds < 1 or ticks < 1 or minutes_per_tick <= 0:
            raise ConfigError(
                "validate oasis",
                "--seeds/--ticks/--minutes-per-tick",
                "seeds >= 1, ticks >= 1, minutes per tick > 0",
                (seeds, ticks, minutes_per_tick),
            )
        for name in ("all_topics.csv", f"{TOPIC}.csv", "false_business_0_real_series.json"):
            if not (data / name).is_file():
                raise ConfigError("--data", str(data / name), "OASIS's data file", None)
        settings: dict[str, Any] = {}
        for item in sets or []:
            keys, value = parse_override(item)
            node = settings
            for part in keys[:-1]:
                node = node.setdefault(part, {})
            node[keys[-1]] = value
        directory = out or Path("experiments") / "validate-oasis"
        runs = simulate_oasis(
            data_dir=data,
            model=model,
            seeds=seeds,
            ticks=ticks,
            minutes_per_tick=minutes_per_tick,
            out=directory,
            settings=settings,
        )
        published = load_published("oasis")
        table = compare(runs, published)
        extra = Table(title=f"{TOPIC}: per metric, mean over {seeds} runs")
        for col in ("metric", "mean", "min", "max"):
            extra.add_column(col, justify="right")
        for metric, group in runs.groupby("metric", sort=True):
            v = group["value"].astype(float)
            extra.add_row(str(metric), _fmt(v.mean()), _fmt(v.min()), _fmt(v.max()))
        _out.print(extra)
        print_validation(table, "validate oasis: ours beside OASIS", published.note)
        runs.to_csv(directory / "nrmse.csv", index=False)


@app.callback()
def _validate() -> None:
    """Compare simulations with real data."""


app.command(name="cascades")(validate_cascades_command)
app.command(name="oasis")(validate_oasis_command)
for _name in ("govsim", "donor", "wealth", "market"):  # validation.NAMES, without its imports
    app.command(name=_name)(_sweep_command(_name))
