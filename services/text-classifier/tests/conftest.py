"""Fixtures for the text-classifier's own tests: a freshly trained model and a running server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

# The service folder is on the path through pytest's `pythonpath` (pyproject.toml).
SERVICE_DIR = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    url: str
    metrics_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def metrics(self) -> str:
        """The Prometheus exposition, from the metrics port."""
        response = httpx.get(f"{self.metrics_url}/metrics", timeout=10)
        response.raise_for_status()
        return response.text


def launch(model_dir: Path, log: Path, **env: str) -> tuple[subprocess.Popen[bytes], int, int]:
    """``uvicorn app.main:app --host 127.0.0.1 --port PORT`` from the service folder, as documented.

    Metrics go to a free port on loopback (``METRICS_PORT``/``METRICS_HOST``) unless ``env`` says otherwise.
    """
    port = free_port()
    settings = {"METRICS_HOST": "127.0.0.1", "METRICS_PORT": str(free_port()), "MODEL_DIR": str(model_dir), **env}
    handle = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=SERVICE_DIR,
        env={**os.environ, **settings},
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    return process, port, int(settings["METRICS_PORT"])


def start_server(model_dir: Path, log: Path, *, ready_path: str = "/readyz", **env: str) -> Server:
    """Launch the server and wait until ``ready_path`` answers 200."""
    process, port, metrics_port = launch(model_dir, log, **env)
    server = Server(
        url=f"http://127.0.0.1:{port}", metrics_url=f"http://127.0.0.1:{metrics_port}", process=process, log=log
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{server.url}{ready_path}", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"the server did not become ready:\n{log.read_text()}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.train import main as train

    directory = tmp_path_factory.mktemp("model")
    assert train(["--out", str(directory)]) == 0
    return directory


@pytest.fixture(scope="session")
def server(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(trained_model, tmp_path_factory.mktemp("logs") / "server.log")
    try:
        yield running
    finally:
        stop_server(running)
