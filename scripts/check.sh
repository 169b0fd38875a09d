#!/usr/bin/env bash
# Lint, type-check and test: the same command locally and in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
"$BIN/ruff" check src tests benchmarks
"$BIN/ruff" format --check src tests benchmarks
"$BIN/mypy"
"$BIN/python" -m pytest "$@"
