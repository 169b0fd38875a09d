"""Analysis of finished (or interrupted) runs, read from their stores alone."""

from __future__ import annotations

from societas.analysis.report import write_report

__all__ = ["write_report"]
