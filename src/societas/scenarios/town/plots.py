"""The town's report figures: party diffusion, attendance, and model calls and prompt sizes.

Drawn from a run's events only; ``report_plots`` is what the run report calls for a town run.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from societas.scenarios.town.config import TownConfig
from societas.scenarios.town.metrics import attendance, call_table, diffusion_table
from societas.typing import Event, RunStarted

__all__ = ["report_plots", "town_config_of"]


def town_config_of(events: Sequence[Event]) -> TownConfig | None:
    """The run's town config, from its ``run_started`` event (None if absent)."""
    for e in events:
        if isinstance(e, RunStarted):
            return TownConfig.model_validate(e.config)
    return None


def _save(fig: Figure, path: Path) -> None:
    try:
        with warnings.catch_warnings(action="ignore"):  # layout warnings are cosmetic
            fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)


def report_plots(events: Sequence[Event], out: Path) -> list[tuple[str, str]]:
    """Write the town's PNGs into ``out``; returns (file, caption) pairs."""
    config = town_config_of(events)
    if config is None:
        return []
    plots: list[tuple[str, str]] = []
    n = len(config.agents)
    diffusion = diffusion_table(config, events)
    if not diffusion.empty:
        fig, ax = plt.subplots(figsize=(8, 4))
        ticks = diffusion.index.to_numpy()
        ax.step(ticks, diffusion["exposed"], where="post", label="exposed (heard it in talk)")
        surveyed = diffusion.dropna(subset=["aware"])
        if not surveyed.empty:
            ax.plot(
                surveyed.index.to_numpy(), surveyed["aware"], "o--", label="aware (survey: yes)"
            )
        for t in config.party_ticks():
            ax.axvspan(t - 0.5, t + 0.5, color="tab:pink", alpha=0.2)
        ax.set_ylim(0, n + 0.5)
        ax.set_xlabel("tick")
        ax.set_ylabel("residents")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="upper left")
        fig.suptitle(f"Who knows of the party (of {n}; shaded: the party)")
        _save(fig, out / "town_diffusion.png")
        plots.append(("town_diffusion.png", "Party information diffusion: exposed and aware"))

    present = attendance(config, events)
    if present:
        fig, ax = plt.subplots(figsize=(8, 3))
        ticks_list = sorted(present)
        ax.bar(ticks_list, [len(present[t]) for t in ticks_list], color="tab:pink")
        for t in ticks_list:
            ax.annotate(
                ", ".join(present[t]), (t, len(present[t])), ha="center", va="bottom", fontsize=7
            )
        ax.set_xlabel("tick")
        ax.set_ylabel(f"at {config.party.place}")
        ax.set_ylim(0, n + 1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        fig.suptitle("Party attendance (ticks in the party window)")
        _save(fig, out / "town_attendance.png")
        plots.append(("town_attendance.png", "Residents at the party's place during the party"))

    calls = call_table(config, events)
    if not calls.empty:
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
        ticks = calls.index.to_numpy()
        top.bar(ticks, calls["calls_per_agent_step"], color="tab:blue")
        top.set_ylabel("calls / agent-step")
        bottom.plot(ticks, calls["prompt_tokens_per_call"], "o-", label="prompt")
        bottom.plot(ticks, calls["completion_tokens_per_call"], "o-", label="completion")
        bottom.set_ylabel("tokens / call")
        bottom.set_xlabel("tick")
        bottom.set_ylim(bottom=0)
        bottom.legend(fontsize="small")
        bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
        fig.suptitle("Model calls per agent-step and tokens per call (surveys excluded)")
        _save(fig, out / "town_calls.png")
        plots.append(("town_calls.png", "Calls per agent-step and tokens per call by tick"))
    return plots
