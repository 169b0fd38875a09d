"""The browser dashboard: an aiohttp application that reads run stores (read-only) and
serves a page of plain JavaScript and hand-drawn SVG charts shipped inside the package.

``societas dashboard [RUN_DIR | RUNS_ROOT | EXPERIMENT_DIR]`` starts it; ``create_app`` builds
it for tests and other servers.
"""

from __future__ import annotations

from societas.web.app import create_app

__all__ = ["create_app"]
