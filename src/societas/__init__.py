"""societas: a laboratory for societies of language-model agents."""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["__version__", "interview"]

__version__ = "0.1.0"

if TYPE_CHECKING:
    from societas.analysis.interview import interview


def __getattr__(name: str) -> object:
    # Lazy, so that ``import societas`` stays light.
    if name == "interview":
        from societas.analysis.interview import interview

        return interview
    raise AttributeError(f"module 'societas' has no attribute {name!r}")
