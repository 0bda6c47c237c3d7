"""SIGTERM drains: /readyz turns 503 at once, the socket stays open a while, in-flight work finishes."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import httpx
from conftest import Server, start_server, stop_server

BODY = json.dumps({"texts": ["where is my parcel"]}).encode()


def open_request(server: Server) -> socket.socket:
    """A classify request whose body is not complete yet: in flight."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)), timeout=10)
    connection.sendall(
        f"POST /v1/classify HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n".encode()
        + BODY[:5]
    )
    return connection


def finish_request(connection: socket.socket) -> bytes:
    connection.sendall(BODY[5:])
    answer = b""
    while b'"model"' not in answer and (chunk := connection.recv(65536)):
        answer += chunk
    connection.close()
    return answer


def test_sigterm_turns_readiness_off_and_keeps_serving_for_the_delay(trained_model: Path, tmp_path: Path) -> None:
    running = start_server(trained_model, tmp_path / "server.log")  # the default delay: 2 s
    try:
        in_flight = open_request(running)
        with running.client() as keep_alive:
            assert keep_alive.get("/readyz").status_code == 200
            time.sleep(0.2)
            signalled = time.monotonic()
            running.process.send_signal(signal.SIGTERM)
            time.sleep(0.3)  # uvicorn alone has closed its socket by now

            with running.client() as client:  # new connections are still accepted
                ready = client.get("/readyz")
                assert ready.status_code == 503
                assert ready.json() == {"error": "shutting down"}
                assert client.get("/healthz").status_code == 200  # alive: no restart
                classified = client.post("/v1/classify", content=BODY)
                assert classified.status_code == 200
                assert classified.headers["connection"] == "close"  # clients reconnect elsewhere
            # An open keep-alive connection is served once more, and told to go.
            assert keep_alive.get("/readyz").headers["connection"] == "close"

        assert finish_request(in_flight).startswith(b"HTTP/1.1 200")
        time.sleep(max(0.0, signalled + 1.5 - time.monotonic()))
        assert httpx.get(f"{running.url}/readyz", timeout=2).status_code == 503  # still accepting at 1.5 s

        status = running.process.wait(timeout=15)
        elapsed = time.monotonic() - signalled
        assert status in (0, -signal.SIGTERM)
        assert 1.9 <= elapsed < 10, elapsed
    finally:
        stop_server(running)
    log = running.log.read_text()
    assert "SIGTERM: not ready; still serving" in log
    assert "draining over" in log
    assert "in-flight requests finish first" in log


def test_in_flight_requests_finish_after_the_listener_closes(trained_model: Path, tmp_path: Path) -> None:
    running = start_server(trained_model, tmp_path / "server.log", SHUTDOWN_DELAY_SECONDS="0.5")
    try:
        in_flight = open_request(running)
        time.sleep(0.2)
        running.process.send_signal(signal.SIGTERM)
        time.sleep(1.5)  # past the delay: uvicorn's graceful shutdown waits for the request
        try:
            httpx.get(f"{running.url}/healthz", timeout=2)
            raise AssertionError("the listener should be closed after the delay")
        except httpx.ConnectError:
            pass
        assert finish_request(in_flight).startswith(b"HTTP/1.1 200")
        assert running.process.wait(timeout=10) in (0, -signal.SIGTERM)
    finally:
        stop_server(running)


def test_a_second_sigterm_stops_waiting(trained_model: Path, tmp_path: Path) -> None:
    running = start_server(trained_model, tmp_path / "server.log", SHUTDOWN_DELAY_SECONDS="60")
    try:
        running.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert httpx.get(f"{running.url}/readyz", timeout=2).status_code == 503
        second = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(timeout=10) in (0, -signal.SIGTERM)
        assert time.monotonic() - second < 5
    finally:
        stop_server(running)
