"""Test helpers shipped with the package: the schema-filling `test` backend
(`schema_model`), a fake OpenAI-compatible server, fault injection."""

from __future__ import annotations

__all__: list[str] = []
