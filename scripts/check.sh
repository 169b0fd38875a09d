#!/usr/bin/env bash
# Lint, type-check and test: the same command locally and in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
"$BIN/ruff" check src tests benchmarks
"$BIN/ruff" format --check src tests benchmarks
"$BIN/mypy"
# The layers of docs/architecture.md (contracts in pyproject.toml, [tool.importlinter]).
"$BIN/lint-imports" --no-cache
"$BIN/python" -m pytest "$@"
