"""Health stays fast while the largest batches are classified: inference runs off the event loop.

A real uvicorn on 127.0.0.1, a bounded number of clients, a bounded time.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import httpx
import pytest
from conftest import Server, start_server, stop_server

from app.inference import InferenceGate, OverloadedError

CLIENTS = 12
SECONDS = 4.0
# The largest request the service accepts: 64 texts of 2000 characters, all of them model vocabulary.
WORDS = "where is my parcel refund my order the invoice is wrong reset my password the app crashes "
BATCH = json.dumps({"texts": [(WORDS * 30)[i : i + 2000] for i in range(64)]}).encode()


def test_health_answers_fast_while_max_size_batches_are_in_flight(server: Server) -> None:
    assert len(BATCH) < 1024 * 1024
    stop = threading.Event()
    outcomes: Counter[int] = Counter()
    lock = threading.Lock()

    def classify_until_stopped() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not stop.is_set():
                status = client.post("/v1/classify", content=BATCH).status_code
                with lock:
                    outcomes[status] += 1

    clients = [threading.Thread(target=classify_until_stopped, daemon=True) for _ in range(CLIENTS)]
    for thread in clients:
        thread.start()
    latencies = []
    try:
        time.sleep(0.5)  # every client has a batch in flight
        deadline = time.monotonic() + SECONDS
        with httpx.Client(base_url=server.url, timeout=30) as probe:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                assert probe.get("/healthz").status_code == 200
                latencies.append(time.perf_counter() - started)
                time.sleep(0.05)
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in clients)
    # The load was real: batches completed all along (a full queue would answer 503, none expected here).
    assert outcomes[200] >= 2 * CLIENTS, outcomes
    assert set(outcomes) == {200}, outcomes
    median = statistics.median(latencies)
    assert median < 0.2, f"/healthz p50 {median * 1000:.0f} ms under load ({len(latencies)} probes, {outcomes})"


def test_the_gate_bounds_running_and_waiting_work() -> None:
    """Two workers, one waiting place: the fourth request is refused at once, not queued."""
    release = threading.Event()
    gate = InferenceGate(workers=2, queue=1)
    running: list[str] = []

    def work(name: str) -> str:
        running.append(name)
        release.wait(10)
        return name

    async def scenario() -> list[str]:
        results: list[str] = []

        async def submit(name: str) -> None:
            results.append(await gate.run(lambda: work(name)))

        async with anyio.create_task_group() as tasks:
            for name in ("a", "b", "c"):
                tasks.start_soon(submit, name)
            with anyio.fail_after(5):
                while gate.pending < 3 or len(running) < 2:
                    await anyio.sleep(0.01)
            assert len(running) == 2  # the third waits for a worker
            with pytest.raises(OverloadedError):
                await gate.run(lambda: work("d"))
            release.set()
        assert gate.pending == 0
        return results

    # In a thread of its own: asyncio.run leaves its thread without an event loop, which the
    # Pulumi tests in the same session (run on the main thread) need.
    with ThreadPoolExecutor(1) as executor:
        assert sorted(executor.submit(anyio.run, scenario).result(timeout=30)) == ["a", "b", "c"]


def test_a_full_queue_is_a_503_with_retry_after(trained_model: Path, tmp_path: Path) -> None:
    busy = start_server(trained_model, tmp_path / "server.log", INFERENCE_WORKERS="1", INFERENCE_QUEUE="0")
    responses: list[httpx.Response] = []

    def post(barrier: threading.Barrier) -> None:
        with httpx.Client(base_url=busy.url, timeout=30) as client:
            barrier.wait(10)
            responses.append(client.post("/v1/classify", content=BATCH))

    try:
        for _ in range(5):  # simultaneous batches: one runs, the others find no place
            barrier = threading.Barrier(6)
            threads = [threading.Thread(target=post, args=(barrier,)) for _ in range(6)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            if any(response.status_code == 503 for response in responses):
                break
    finally:
        stop_server(busy)
    assert {response.status_code for response in responses} == {200, 503}
    refused = next(response for response in responses if response.status_code == 503)
    assert refused.headers["retry-after"] == "1"
    assert "retry" in refused.json()["error"]
