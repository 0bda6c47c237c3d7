"""Bearer-token authentication: API_TOKEN_FILE names the token, /v1/* needs it, the probes never do."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import Server, launch, start_server, stop_server

TOKEN = "tc-4f9a.Secret_token~value"


@pytest.fixture(scope="module")
def guarded(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("auth")
    token_file = directory / "API_TOKEN"
    token_file.write_text(TOKEN + "\n")  # as `kubectl create secret --from-file` or an editor leaves it
    running = start_server(trained_model, directory / "server.log", API_TOKEN_FILE=str(token_file))
    try:
        yield running
    finally:
        stop_server(running)


def classify(server: Server, **headers: str) -> httpx.Response:
    with server.client() as client:
        return client.post("/v1/classify", json={"texts": ["where is my parcel"]}, headers=headers)


def test_the_right_token_classifies(guarded: Server) -> None:
    response = classify(guarded, authorization=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response.json()["predictions"][0]["label"] == "delivery"
    # The scheme is case-insensitive.
    assert classify(guarded, authorization=f"bearer {TOKEN}").status_code == 200


def test_probes_stay_open(guarded: Server) -> None:
    with guarded.client() as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer x",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN} {TOKEN}",
        f"Basic {TOKEN}",
        TOKEN,
        f"Token {TOKEN}",
        f"Bearer {TOKEN.upper()}",
    ],
)
def test_a_missing_or_wrong_token_is_a_401_with_a_challenge(guarded: Server, authorization: str | None) -> None:
    response = classify(guarded) if authorization is None else classify(guarded, authorization=authorization)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "bearer token" in response.json()["error"]


def test_a_non_ascii_authorization_header_is_a_401_not_a_500(guarded: Server) -> None:
    # hmac.compare_digest raises on non-ASCII str: the service compares bytes.
    with guarded.client() as client:
        response = client.post(
            "/v1/classify", json={"texts": ["hi"]}, headers={"authorization": b"Bearer \xff\xfe" + TOKEN.encode()}
        )
    assert response.status_code == 401


def test_unknown_paths_need_the_token_too(guarded: Server) -> None:
    with guarded.client() as client:
        assert client.get("/v1/unknown").status_code == 401
        assert client.get("/docs").status_code == 401
        assert client.get("/v1/unknown", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 404


def test_the_token_is_checked_before_the_body_is_read(guarded: Server) -> None:
    """A client without the token cannot make the service wait for (or buffer) a body."""
    host, port = guarded.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(
            f"POST /v1/classify HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000000\r\n\r\n".encode()
        )
        answer = connection.recv(65536)  # no body sent: only an early answer arrives within the timeout
    assert answer.startswith(b"HTTP/1.1 401")


def test_rejections_are_counted(guarded: Server) -> None:
    classify(guarded)
    assert 'ai_service_requests_total{method="POST",route="/v1/classify",status="401"}' in guarded.metrics()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "cannot be read"),  # no such file
        ("dir", "cannot be read"),  # a directory
        ("", "holds no token"),
        ("\n", "holds no token"),
        ("\r\n\n", "holds no token"),
        ("two words\n", "printable ASCII without spaces"),
        ("tab\tbed", "printable ASCII without spaces"),
        ("caf\u00e9", "printable ASCII without spaces"),
    ],
)
def test_an_unusable_token_file_fails_startup(
    trained_model: Path, tmp_path: Path, content: str | None, fragment: str
) -> None:
    token_file = tmp_path / "API_TOKEN"
    if content == "dir":
        token_file.mkdir()
    elif content is not None:
        token_file.write_text(content, encoding="utf-8")
    log = tmp_path / "server.log"
    process, port, _ = launch(trained_model, log, API_TOKEN_FILE=str(token_file))
    try:
        assert process.wait(timeout=30) != 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text()
    assert "cannot read the API token" in text
    assert fragment in text
    assert "Application startup failed" in text
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
