"""The scenario guide's code (docs/writing-a-scenario.md), for the tests that build it."""

from __future__ import annotations

import re
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "writing-a-scenario.md"


def guide_code() -> str:
    """The guide's Python blocks, in order, as one module."""
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    return "\n\n".join(b.rstrip("\n") for b in blocks) + "\n"
