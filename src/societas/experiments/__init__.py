"""Experiments: grids of conditions x seeds, run as ordinary runs, summarised with CIs."""

from __future__ import annotations

from societas.experiments.spec import (
    Condition,
    ExperimentSpec,
    Reference,
    ReferenceValue,
    load_experiment,
)
from societas.experiments.sweep import (
    SweepResult,
    add_reference,
    run_sweep,
    summarise,
    t_critical_95,
)

__all__ = [
    "Condition",
    "ExperimentSpec",
    "Reference",
    "ReferenceValue",
    "SweepResult",
    "add_reference",
    "load_experiment",
    "run_sweep",
    "summarise",
    "t_critical_95",
]
