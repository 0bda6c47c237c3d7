"""HTTP API of the text classifier.

On the serving port (uvicorn's ``--port``, 8080 in the image):

    GET  /healthz       liveness: the process serves requests
    GET  /readyz        readiness: 200 once the model is loaded, 503 before and from SIGTERM on
    POST /v1/classify   {"texts": [...]} -> {"predictions": [{"label", "score"}], "model": {"name", "version"}}

With ``API_TOKEN_FILE`` set, every path but the two probes needs
``Authorization: Bearer <token>`` (see app/auth.py); otherwise 401.

On the metrics port (``METRICS_PORT``, default 9090, bound to ``METRICS_HOST``,
default 0.0.0.0), never on the serving port:

    GET  /metrics       Prometheus metrics (see app/metrics.py)

The serving port has no ``/metrics``, ``/docs``, ``/redoc`` or ``/openapi.json``.

Run locally from this folder:
``METRICS_HOST=127.0.0.1 uvicorn app.main:app --host 127.0.0.1 --port PORT``.

Parsing and classifying run in worker threads (app/inference.py), never on
the event loop: the probes answer while the largest batches are classified.
At most ``INFERENCE_WORKERS`` (2) run and ``INFERENCE_QUEUE`` (32) wait; a
request beyond that is a 503 with ``Retry-After``.

On SIGTERM the service drains (app/shutdown.py): /readyz turns 503 at once,
everything is still served for ``SHUTDOWN_DELAY_SECONDS`` (2), then uvicorn
closes the listener and lets in-flight requests finish.

Bad input is always a 4xx with a message, however hostile: malformed JSON 400
(also invalid UTF-8, nesting past Python's recursion limit, integers past its
4300-digit limit), wrong types or missing or extra fields 422 (NaN and
Infinity parse, then fail validation), too many or too long texts 422, a body
over the limit 413. Duplicate keys are accepted: the last one wins.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import start_http_server
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app import metrics
from app.auth import CHALLENGE, BearerAuth, TokenFileError
from app.inference import InferenceGate, OverloadedError
from app.logs import configure_logging
from app.model import IntentModel
from app.shutdown import Drain

MODEL_DIR = Path(os.environ.get("MODEL_DIR", Path(__file__).resolve().parent.parent / "model"))
MAX_TEXTS = int(os.environ.get("MAX_TEXTS", "64"))
MAX_TEXT_CHARS = int(os.environ.get("MAX_TEXT_CHARS", "2000"))
MAX_BODY_BYTES = int(os.environ.get("MAX_BODY_BYTES", str(1024 * 1024)))
METRICS_PORT = int(os.environ.get("METRICS_PORT", "9090"))
METRICS_HOST = os.environ.get("METRICS_HOST", "0.0.0.0")  # every interface of the pod: Prometheus scrapes it
INFERENCE_WORKERS = int(os.environ.get("INFERENCE_WORKERS", "2"))
INFERENCE_QUEUE = int(os.environ.get("INFERENCE_QUEUE", "32"))
SHUTDOWN_DELAY_SECONDS = float(os.environ.get("SHUTDOWN_DELAY_SECONDS", "2"))
ROUTES = {"/healthz", "/readyz", "/v1/classify"}

log = logging.getLogger("text-classifier")


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    texts: list[str] = Field(min_length=1, max_length=MAX_TEXTS)


class ModelHolder:
    """The model, loaded in the background so liveness answers while it loads."""

    def __init__(self) -> None:
        self.model: IntentModel | None = None
        self.error: str | None = None

    def load(self, directory: Path) -> None:
        try:
            started = time.perf_counter()
            self.model = IntentModel.load(directory)
            metrics.MODEL_INFO.labels(name=self.model.name, version=self.model.version).set(1)
            log.info(
                "model loaded",
                extra={
                    "model": self.model.name,
                    "version": self.model.version,
                    "heldOutAccuracy": self.model.held_out_accuracy,
                    "seconds": round(time.perf_counter() - started, 3),
                },
            )
        except (OSError, ValueError, KeyError) as error:
            self.error = f"{type(error).__name__}: {error}"
            log.error("model failed to load", extra={"error": self.error, "directory": str(directory)})


holder = ModelHolder()
gate = InferenceGate(INFERENCE_WORKERS, INFERENCE_QUEUE)
drain = Drain()


class Runtime:
    """What startup decides for the request path."""

    def __init__(self) -> None:
        self.auth = BearerAuth()


runtime = Runtime()


def serve_metrics(host: str, port: int) -> WSGIServer:
    """Prometheus' exposition on its own port, from a daemon thread; a port in use fails startup."""
    try:
        server, _ = start_http_server(port, addr=host, registry=metrics.REGISTRY)
    except OSError as error:
        log.error("cannot serve metrics", extra={"host": host, "port": port, "error": str(error)})
        raise RuntimeError(f"cannot serve metrics on {host}:{port} ({error}); set METRICS_PORT") from error
    log.info("serving metrics", extra={"host": host, "port": port})
    return server


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    configure_logging()
    try:
        runtime.auth = BearerAuth.from_environment(os.environ)
    except TokenFileError as error:
        log.error("cannot read the API token", extra={"error": str(error)})
        raise
    if runtime.auth.enabled:
        log.info("bearer authentication on", extra={"tokenFile": os.environ["API_TOKEN_FILE"]})
    else:
        log.warning("bearer authentication off: API_TOKEN_FILE is not set")
    metrics_server = serve_metrics(METRICS_HOST, METRICS_PORT)
    threading.Thread(target=holder.load, args=(MODEL_DIR,), name="model-loader", daemon=True).start()
    drain.install(SHUTDOWN_DELAY_SECONDS)
    try:
        yield
    finally:
        log.info("shutting down: in-flight requests finish first")
        drain.cancel()
        metrics_server.shutdown()
        metrics_server.server_close()


# No interactive docs or schema on the serving port: it is the public one.
app = FastAPI(
    title="text-classifier", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
)


@app.middleware("http")
async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    path = request.scope["path"]
    route = path if path in ROUTES else metrics.OTHER
    method = metrics.method_label(request.method)
    started = time.perf_counter()
    metrics.IN_FLIGHT.inc()
    status = 500
    try:
        # Before the body is read: an unauthenticated client costs nothing more.
        if runtime.auth.required(path) and not runtime.auth.allows(request.headers.get("authorization")):
            response: Response = problem(401, "missing or wrong bearer token", headers=CHALLENGE)
        else:
            response = await call_next(request)
        if drain.draining:  # keep-alive clients reconnect, and reach a pod that stays
            response.headers["connection"] = "close"
        status = response.status_code
        return response
    finally:
        elapsed = time.perf_counter() - started
        metrics.IN_FLIGHT.dec()
        metrics.REQUESTS.labels(route=route, method=method, status=str(status)).inc()
        metrics.DURATION.labels(route=route).observe(elapsed)
        log.info(
            "request",
            extra={"route": route, "method": method, "status": status, "ms": round(elapsed * 1000, 2)},
        )


def problem(status: int, message: str, *, headers: dict[str, str] | None = None, **details: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message, **details}, headers=headers)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/readyz")
async def readyz() -> JSONResponse:
    if drain.draining:
        return problem(503, "shutting down")
    if holder.model is None:
        return problem(503, holder.error or "model is loading")
    return JSONResponse({"status": "ready", "model": holder.model.version})


async def read_body(request: Request) -> bytes | JSONResponse:
    declared = request.headers.get("content-length")
    # isascii: "²".isdigit() is true but int("²") raises (h11 rejects such headers; do not rely on it).
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return problem(413, f"request body is larger than {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            return problem(413, f"request body is larger than {MAX_BODY_BYTES} bytes")
    return bytes(body)


def invalid(**details: Any) -> JSONResponse:
    return problem(422, 'invalid request: expected {"texts": ["...", ...]}', **details)


def decode(body: bytes) -> object:
    """The JSON document, or a 400 for anything ``json.loads`` refuses, however hostile."""
    try:
        return json.loads(body)
    except RecursionError:  # e.g. 2000 nested brackets
        return problem(400, "body is not valid JSON: nested too deeply")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return problem(400, f"body is not valid JSON: {error}")
    except ValueError:  # Python's limit on integer digits (sys.get_int_max_str_digits)
        return problem(400, "body is not valid JSON: a number has too many digits")


def validate(document: object) -> ClassifyRequest | JSONResponse:
    """The request, or a 422 naming what is wrong (a bounded list: never one issue per key of a huge object)."""
    if isinstance(document, dict):
        unexpected = [key for key in document if key != "texts"]
        if unexpected:
            issues = [{"field": key[:64], "message": "Extra inputs are not permitted"} for key in unexpected[:10]]
            return invalid(issues=issues, unexpectedFields=len(unexpected))
    try:
        return ClassifyRequest.model_validate(document)
    except ValidationError as error:
        # At most 1 + MAX_TEXTS issues: a longer list is one "too long" issue.
        issues = [
            {"field": ".".join(str(part) for part in issue["loc"]) or "body", "message": issue["msg"]}
            for issue in error.errors(include_url=False)
        ]
        return invalid(issues=issues)


@app.post("/v1/classify")
async def classify(request: Request) -> JSONResponse:
    model = holder.model
    if model is None:
        return problem(503, "model is not loaded yet")
    body = await read_body(request)
    if isinstance(body, JSONResponse):
        return body
    try:
        return await gate.run(lambda: answer(model, body))
    except OverloadedError:
        return problem(503, "too many requests in progress; retry shortly", headers={"Retry-After": "1"})


def answer(model: IntentModel, body: bytes) -> JSONResponse:
    """Everything CPU-bound about a request, run in a worker thread: parse, validate, classify, render."""
    document = decode(body)
    if isinstance(document, JSONResponse):
        return document
    parsed = validate(document)
    if isinstance(parsed, JSONResponse):
        return parsed
    too_long = [index for index, text in enumerate(parsed.texts) if len(text) > MAX_TEXT_CHARS]
    if too_long:
        return problem(422, f"texts longer than {MAX_TEXT_CHARS} characters", indexes=too_long)
    metrics.BATCH_SIZE.observe(len(parsed.texts))
    predictions = model.predict(parsed.texts)
    return JSONResponse(
        {
            "predictions": [{"label": p.label, "score": p.score} for p in predictions],
            "model": {"name": model.name, "version": model.version},
        }
    )
