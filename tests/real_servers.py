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


def wait_ready(server: Server, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited: {server.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(server.base_url + "/models", timeout=2) as reply:
                json.load(reply)
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"server not ready in {timeout_s} s: {server.log.read_text()[-2000:]}")


def start_llama_server(log_dir: Path, port: int | None = None) -> Server:
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
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(process, port, log)
    wait_ready(server)
    return server


@contextlib.contextmanager
def llama_server(log_dir: Path) -> Iterator[Server]:
    server = start_llama_server(log_dir)
    try:
        yield server
    finally:
        server.stop()
