"""Real programs for the integration tests: found, started on loopback, always stopped.

A missing binary skips the test on a developer machine and fails it in CI
(``CI`` set), where ``make setup`` must have installed it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml


def require_binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (make setup installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s:\n{log.read_text()[-3000:]}")


@contextmanager
def running(
    command: Sequence[str], log: Path, *, ready_url: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command``, wait until ``ready_url`` answers, stop it however the test ends."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            list(command), cwd=cwd, env={**os.environ, **(env or {})}, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_for_http(ready_url, process, log)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def scraped_service(
    directory: Path, service_dir: Path, *, labels: dict[str, str], rule_files: Sequence[Path] = ()
) -> Iterator[tuple[str, str]]:
    """The real service on loopback, and a real Prometheus scraping its metrics port every second.

    ``labels`` are the target labels the Prometheus Operator adds from the
    ServiceMonitor (``namespace``, ``service``). Yields (service URL, Prometheus URL).
    """
    binary = require_binary("prometheus")
    service_port, metrics_port, prometheus_port = free_port(), free_port(), free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {
                "job_name": labels.get("service", "service"),
                # The metrics port, never the serving one.
                "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"], "labels": labels}],
            }
        ],
    }
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
    service_url, prometheus = f"http://127.0.0.1:{service_port}", f"http://127.0.0.1:{prometheus_port}"
    with (
        running(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(service_port)],
            directory / "service.log",
            ready_url=f"{service_url}/healthz",
            cwd=service_dir,
            env={
                "MODEL_DIR": str(service_dir / "model"),
                "METRICS_HOST": "127.0.0.1",
                "METRICS_PORT": str(metrics_port),
            },
        ),
        running(
            [
                binary,
                f"--config.file={directory / 'prometheus.yml'}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
                "--storage.tsdb.retention.time=1h",
            ],
            directory / "prometheus.log",
            ready_url=f"{prometheus}/-/ready",
        ),
    ):
        yield service_url, prometheus
