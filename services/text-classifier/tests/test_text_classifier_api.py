"""The text-classifier's real HTTP API, served by uvicorn on loopback."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import SERVICE_DIR, Server, launch, start_server, stop_server

from app.metrics import METHODS


def test_liveness_and_readiness(server: Server) -> None:
    with server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready"


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Where is my parcel? It should have arrived on Monday", "delivery"),
        ("I was charged twice on my credit card", "billing"),
        ("I want my money back for this broken blender", "refund"),
        ("I forgot my password and cannot log in", "account"),
        ("The app crashes when I open the settings page", "technical"),
        ("What are your opening hours on Sunday?", "other"),
    ],
)
def test_classifies_customer_messages(server: Server, text: str, label: str) -> None:
    with server.client() as client:
        response = client.post("/v1/classify", json={"texts": [text]})
    assert response.status_code == 200
    body = response.json()
    assert body["predictions"][0]["label"] == label
    assert 0 < body["predictions"][0]["score"] <= 1
    assert body["model"]["name"] == "intent-tfidf-logreg"


def test_batches_keep_their_order(server: Server) -> None:
    texts = ["refund my order", "reset my password"] * 16
    with server.client() as client:
        body = client.post("/v1/classify", json={"texts": texts}).json()
    assert [p["label"] for p in body["predictions"]] == ["refund", "account"] * 16


@pytest.mark.parametrize(
    ("content", "status", "fragment"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"\xff\xfe", 400, "not valid JSON"),
        (b"[]", 422, "invalid request"),
        (b"{}", 422, "invalid request"),
        (b'{"texts": "one string"}', 422, "invalid request"),
        (b'{"texts": [1, 2]}', 422, "invalid request"),
        (b'{"texts": []}', 422, "invalid request"),
        (b'{"texts": ["ok"], "extra": true}', 422, "invalid request"),
        (json.dumps({"texts": ["x"] * 65}).encode(), 422, "invalid request"),
        (json.dumps({"texts": ["x" * 2001]}).encode(), 422, "longer than 2000 characters"),
        (json.dumps({"texts": ["x" * 1000] * 1100}).encode(), 413, "larger than"),
    ],
)
def test_bad_input_is_a_4xx_with_a_message(server: Server, content: bytes, status: int, fragment: str) -> None:
    with server.client() as client:
        response = client.post("/v1/classify", content=content, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert fragment in response.json()["error"]


MIB = 1024 * 1024
HOSTILE = {
    # Nesting past the recursion limit: RecursionError, a 500 before.
    "2000 nested arrays": (b"[" * 2000 + b"]" * 2000, 400, "nested too deeply"),
    "5000 nested objects": (b'{"a":' * 5000 + b"1" + b"}" * 5000, 400, "nested too deeply"),
    "nesting inside texts": (b'{"texts": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, "nested too deeply"),
    "a body of open brackets": (b"[" * (MIB - 1), 400, "nested too deeply"),
    # Integers past Python's 4300-digit limit: ValueError, a 500 before.
    "a 4301-digit integer": (b'{"texts": [' + b"1" * 4301 + b"]}", 400, "too many digits"),
    "a 100000-digit integer": (b"9" * 100_000, 400, "too many digits"),
    "a negative 5000-digit integer": (b'{"texts": -' + b"9" * 5000 + b"}", 400, "too many digits"),
    # Floats have no digit limit; they parse and fail validation.
    "a 5000-digit float": (b'{"texts": [1' + b"0" * 5000 + b".5]}", 422, "invalid request"),
    "an overflowing exponent": (b'{"texts": [1e999999]}', 422, "invalid request"),
    "NaN": (b'{"texts": NaN}', 422, "invalid request"),
    "Infinity in texts": (b'{"texts": [Infinity, -Infinity]}', 422, "invalid request"),
    "a bare NaN": (b"NaN", 422, "invalid request"),
    # Bytes that are not UTF-8.
    "invalid UTF-8 in a string": (b'{"texts": ["\xff"]}', 400, "not valid JSON"),
    "overlong UTF-8": (b'{"texts": ["\xc0\xaf"]}', 400, "not valid JSON"),
    "a truncated UTF-8 sequence": (b'{"texts": ["\xe2\x82"]}', 400, "not valid JSON"),
    # Big, within the body limit.
    "a 1 MiB string": (b'{"texts": ["' + b"x" * (MIB - 20) + b'"]}', 422, "longer than 2000 characters"),
    "a string of escapes": (b'{"texts": ["' + b"\\u00e9" * 170_000 + b'"]}', 422, "longer than 2000 characters"),
    "400000 numbers": (b'{"texts": [' + b",".join([b"1"] * 400_000) + b"]}", 422, "invalid request"),
    "empty body": (b"", 400, "not valid JSON"),
    "whitespace": (b" \n\t ", 400, "not valid JSON"),
    "null": (b"null", 422, "invalid request"),
}


@pytest.mark.parametrize(("content", "status", "fragment"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_json_is_a_4xx_never_a_5xx(server: Server, content: bytes, status: int, fragment: str) -> None:
    assert len(content) <= MIB  # within the body limit: these reach the parser
    logged = server.log.stat().st_size
    with server.client() as client:
        response = client.post("/v1/classify", content=content, headers={"content-type": "application/json"})
        assert client.get("/healthz").status_code == 200
    assert response.status_code == status, response.text[:300]
    assert fragment in response.json()["error"]
    assert b"Traceback" not in server.log.read_bytes()[logged:]


def test_a_huge_object_gets_a_short_answer(server: Server) -> None:
    """80,000 unexpected keys are one bounded 422, not 80,000 issues (5 MB) built on the event loop."""
    content = b'{"texts": ["hi"], ' + b",".join(b'"k%d":0' % i for i in range(80_000)) + b"}"
    with server.client() as client:
        response = client.post("/v1/classify", content=content)
    assert response.status_code == 422
    assert len(response.content) < 2000
    body = response.json()
    assert body["unexpectedFields"] == 80_000
    assert [issue["field"] for issue in body["issues"]] == [f"k{i}" for i in range(10)]


@pytest.mark.parametrize(
    ("content", "label"),
    [
        (b'{"texts": ["hi"], "texts": ["please refund my order"]}', "refund"),  # duplicate keys: the last wins
        (b'\xef\xbb\xbf{"texts": ["please refund my order"]}', "refund"),  # a UTF-8 byte order mark
        (json.dumps({"texts": ["please refund my order"]}).encode("utf-16"), "refund"),  # JSON may be UTF-16
        (b'{"texts": ["refund \\ud800 my order\\u0000"]}', "refund"),  # a lone surrogate and NUL, escaped
    ],
    ids=["duplicate keys", "byte order mark", "UTF-16", "lone surrogate and NUL"],
)
def test_odd_but_valid_json_is_classified(server: Server, content: bytes, label: str) -> None:
    with server.client() as client:
        response = client.post("/v1/classify", content=content)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["label"] == label


def test_metrics_expose_the_platform_contract(server: Server) -> None:
    with server.client() as client:
        client.post("/v1/classify", json={"texts": ["hello", "where is my order"]})
        client.post("/v1/classify", content=b"{")
    text = server.metrics()
    assert 'ai_service_requests_total{method="POST",route="/v1/classify",status="200"}' in text
    assert 'ai_service_requests_total{method="POST",route="/v1/classify",status="400"}' in text
    assert 'ai_service_request_duration_seconds_bucket{le="0.005",route="/v1/classify"}' in text
    assert "ai_service_requests_in_flight " in text
    assert 'ai_service_batch_size_bucket{le="2.0"}' in text
    assert 'ai_service_model_info{name="intent-tfidf-logreg"' in text


def series(exposition: str) -> set[str]:
    """The ai_service_* series (name and labels) of a Prometheus exposition."""
    return {line.rsplit(" ", 1)[0] for line in exposition.splitlines() if line.startswith("ai_service_")}


def test_made_up_methods_and_paths_add_a_constant_number_of_series(server: Server) -> None:
    """Label values come from fixed sets: 1000 made-up methods and 1000 made-up paths add no series."""

    def send(count: int) -> None:
        with server.client() as client:
            for i in range(count):
                path = ["/v1/classify", "/healthz", "/readyz", f"/made-up/{i}"][i % 4]
                assert client.request(f"JUNK{i}", path).status_code in (404, 405)
                assert client.get(f"/made-up/{i}?q={i}").status_code == 404

    send(4)  # each route once: the only series this test may add
    before = series(server.metrics())
    send(1000)
    after = series(server.metrics())
    assert after == before, sorted(after - before)[:20]
    labels = [dict(re.findall(r'(\w+)="([^"]*)"', name)) for name in after]
    assert {label["method"] for label in labels if "method" in label} <= {*METHODS, "other"}
    assert {label["route"] for label in labels if "route" in label} <= {"/healthz", "/readyz", "/v1/classify", "other"}
    statuses = {label["status"] for label in labels if "status" in label}
    assert statuses <= {"200", "400", "401", "404", "405", "413", "422", "503"}


@pytest.mark.parametrize("path", ["/metrics", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"])
def test_the_serving_port_has_no_metrics_docs_or_schema(server: Server, path: str) -> None:
    with server.client() as client:
        assert client.get(path).status_code == 404


def test_metrics_are_served_on_the_metrics_port_only(server: Server) -> None:
    with server.client() as client:
        client.get("/healthz")
        client.get("/metrics")
    text = server.metrics()
    assert 'ai_service_requests_total{method="GET",route="/healthz",status="200"}' in text
    # The public port's 404 for /metrics is an ordinary unknown route.
    assert 'route="/metrics"' not in text
    # The metrics port serves nothing else of the app.
    assert httpx.get(f"{server.metrics_url}/healthz", timeout=10).text.startswith("# HELP")
    assert httpx.post(f"{server.metrics_url}/v1/classify", json={"texts": ["hi"]}, timeout=10).status_code == 405


def test_metrics_listen_on_every_interface_on_port_9090_by_default() -> None:
    """The image's default: Prometheus reaches the pod IP. (Tests set METRICS_HOST=127.0.0.1.)"""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("METRICS_")}
    printed = subprocess.run(
        [sys.executable, "-c", "import app.main as m; print(m.METRICS_HOST, m.METRICS_PORT)"],
        cwd=SERVICE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    assert printed == ["0.0.0.0", "9090"]


def test_a_metrics_port_in_use_fails_startup_loudly(server: Server, trained_model: Path, tmp_path: Path) -> None:
    taken = server.metrics_url.rsplit(":", 1)[1]
    process, _, _ = launch(trained_model, tmp_path / "server.log", METRICS_PORT=taken)
    try:
        assert process.wait(timeout=30) != 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = (tmp_path / "server.log").read_text()
    assert f"cannot serve metrics on 127.0.0.1:{taken}" in log
    assert "Application startup failed" in log


def test_logs_are_json(server: Server) -> None:
    with server.client() as client:
        client.get("/healthz")
    lines = [line for line in server.log.read_text().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert any(r.get("message") == "request" and r.get("route") == "/healthz" for r in records)
    assert any(r.get("message") == "model loaded" for r in records)


def test_alive_but_not_ready_without_a_model(tmp_path: Path) -> None:
    running = start_server(tmp_path / "missing", tmp_path / "server.log", ready_path="/healthz")
    try:
        with running.client() as client:
            assert client.get("/healthz").status_code == 200
            not_ready = client.get("/readyz")
            assert not_ready.status_code == 503
            assert "FileNotFoundError" in not_ready.json()["error"]
            assert client.post("/v1/classify", json={"texts": ["hi"]}).status_code == 503
    finally:
        stop_server(running)


def test_sigterm_lets_an_in_flight_request_finish(trained_model: Path, tmp_path: Path) -> None:
    running = start_server(trained_model, tmp_path / "server.log")
    try:
        body = json.dumps({"texts": ["where is my parcel"]}).encode()
        host, port = running.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            head = (
                f"POST /v1/classify HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode()
            connection.sendall(head + body[:5])  # the request is now in flight
            time.sleep(0.3)
            running.process.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            connection.sendall(body[5:])
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200")
        assert b'"delivery"' in answer
        # uvicorn exits after a graceful shutdown, re-raising SIGTERM for its exit status.
        assert running.process.wait(timeout=10) in (0, -signal.SIGTERM)
        assert "in-flight requests finish first" in running.log.read_text()
    finally:
        stop_server(running)


def test_committed_model_is_trained_from_the_committed_data(trained_model: Path) -> None:
    from app.model import IntentModel

    shipped = IntentModel.load(SERVICE_DIR / "model")
    fresh = IntentModel.load(trained_model)
    assert shipped.version == fresh.version, "retrain: python -m app.train --out model"
    assert fresh.held_out_accuracy >= 0.7
    texts = ["my invoice is wrong", "the courier lost my box"]
    assert shipped.predict(texts) == fresh.predict(texts)
    assert httpx.__version__  # the client the tests use is installed
