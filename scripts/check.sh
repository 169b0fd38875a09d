#!/usr/bin/env bash
# Lint, type-check and test: the same command locally and in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
"$BIN/ruff" check src tests benchmarks
"$BIN/ruff" format --check src tests benchmarks
"$BIN/mypy"
# The layers of docs/architecture.md (contracts in pyproject.toml, [tool.importlinter]).
# A .venv made before import-linter joined the dev extra gets it here (same pin as there).
[ -x "$BIN/lint-imports" ] || "$BIN/python" -m pip install --quiet "import-linter>=2.1,<3"
"$BIN/lint-imports" --no-cache
"$BIN/python" -m pytest "$@"
