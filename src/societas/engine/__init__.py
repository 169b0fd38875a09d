"""The engine: the simulation loop and the run lifecycle."""

from __future__ import annotations

from societas.engine.options import RunOptions
from societas.engine.runner import RunHandle, prepare_resume, prepare_run, run_sync
from societas.engine.simulation import Progress, RunInterrupted, Simulation

__all__ = [
    "Progress",
    "RunHandle",
    "RunInterrupted",
    "RunOptions",
    "Simulation",
    "prepare_resume",
    "prepare_run",
    "run_sync",
]
