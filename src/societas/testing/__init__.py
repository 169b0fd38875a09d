"""Test helpers shipped with the package: a fake OpenAI-compatible server."""

from __future__ import annotations

__all__: list[str] = []
