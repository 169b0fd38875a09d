"""Real OpenAI-compatible servers from PyPI, started on 127.0.0.1 for the ``server`` tests.

llama-cpp-python's own server (``python -m llama_cpp.server``, the ``serve`` extra) serves the
bundled GGUF; nothing here is a fake. Each server runs in its own process group and is stopped
(SIGTERM, then SIGKILL) when its context ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from societas.llm.local import bundled_model_path

MODEL_NAME = "smollm2"  # llama-cpp-python's --model_alias; the name the runs ask for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def wait_ready(server: Server, timeout_s: float = 90.0, key: str | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited: {server.log.read_text()[-2000:]}")
        try:
            request = urllib.request.Request(server.base_url + "/models", headers=headers)
            with urllib.request.urlopen(request, timeout=2) as reply:
                json.load(reply)
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"server not ready in {timeout_s} s: {server.log.read_text()[-2000:]}")


def start_llama_server(
    log_dir: Path, port: int | None = None, extra: tuple[str, ...] = ()
) -> Server:
    """llama-cpp-python's server on the bundled GGUF, ready to answer."""
    port = port or free_port()
    log = log_dir / f"llama-server-{port}.log"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(bundled_model_path()),
        "--model_alias",
        MODEL_NAME,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "4096",
        "--n_threads",
        str(max(1, min(2, os.cpu_count() or 1))),
        "--verbose",
        "False",
        *extra,
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(process, port, log)
    wait_ready(server)
    return server


PROXY_PYTHON = Path(__file__).resolve().parents[1] / ".venv-proxy" / "bin" / "python"
PROXY_KEY = "sk-litellm-proxy-test-0123456789abcdef"


def start_litellm_proxy(log_dir: Path, upstream: str) -> Server:
    """The LiteLLM proxy (PyPI ``litellm[proxy]``, installed by scripts/install.sh in
    ``.venv-proxy``) in front of ``upstream``, serving it as ``MODEL_NAME``; offline: the model
    cost map is the packaged copy (``LITELLM_LOCAL_MODEL_COST_MAP``)."""
    port = free_port()
    config = log_dir / f"litellm-{port}.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL_NAME}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL_NAME}\n"
        f"      api_base: {upstream}\n"
        "      api_key: none\n"
    )
    log = log_dir / f"litellm-{port}.log"
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": PROXY_KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
    }
    command = [str(PROXY_PYTHON), "-m", "litellm.proxy.proxy_cli", "--config", str(config)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
    server = Server(process, port, log)
    wait_ready(server, key=PROXY_KEY)
    return server


@contextlib.contextmanager
def llama_server(log_dir: Path) -> Iterator[Server]:
    server = start_llama_server(log_dir)
    try:
        yield server
    finally:
        server.stop()
