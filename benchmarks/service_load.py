"""Load benchmark of the reference text-classifier on loopback.

    .venv/bin/python benchmarks/service_load.py [--requests 3000] [--concurrency 16]

Starts the service as documented (``uvicorn app.main:app`` from its folder,
one worker), drives it with concurrent keep-alive clients, and prints
throughput and p50/p95/p99 latency for ``POST /v1/classify`` at batch sizes 1
and 32, next to the same server's ``GET /healthz`` as the framework floor.
Target: classification at batch size 1 reaches at least half the floor's
throughput. Every request count and time is bounded; only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

SERVICE_DIR = Path(__file__).resolve().parents[1] / "services" / "text-classifier"
TEXTS = [
    "Where is my parcel? It should have arrived yesterday",
    "I was charged twice for my subscription",
    "The app crashes when I open settings",
    "Please refund my broken headphones",
]


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def drive(url: str, name: str, requests: int, concurrency: int, payload: dict[str, object] | None) -> Result:
    latencies: list[float] = []
    remaining = requests
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                if payload is None:
                    response = await client.get("/healthz")
                else:
                    response = await client.post("/v1/classify", json=payload)
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Result(name, len(latencies), elapsed, latencies)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=SERVICE_DIR,
        # Metrics on a free loopback port: the default (0.0.0.0:9090) may be taken and is not loopback.
        env={
            **os.environ,
            "MODEL_DIR": str(SERVICE_DIR / "model"),
            "METRICS_HOST": "127.0.0.1",
            "METRICS_PORT": str(free_port()),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                print("the service did not start", file=sys.stderr)
                return 1
            time.sleep(0.1)
        scenarios: list[tuple[str, dict[str, object] | None, int]] = [
            ("GET /healthz (floor)", None, args.requests),
            ("classify, batch 1", {"texts": TEXTS[:1]}, args.requests),
            ("classify, batch 32", {"texts": (TEXTS * 8)[:32]}, max(1, args.requests // 4)),
        ]
        asyncio.run(drive(url, "warm-up", 200, args.concurrency, {"texts": TEXTS}))
        results = [
            asyncio.run(drive(url, name, count, args.concurrency, payload)) for name, payload, count in scenarios
        ]
    finally:
        server.terminate()
        server.wait(timeout=15)

    print(
        f"text-classifier on {platform.machine()} ({os.cpu_count()} cores), one uvicorn worker, "
        f"{args.concurrency} concurrent clients, Python {platform.python_version()}\n"
    )
    print("| scenario | requests | texts/s | requests/s | p50 ms | p95 ms | p99 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for result, (_, payload, _) in zip(results, scenarios, strict=True):
        texts = len(payload["texts"]) if payload and isinstance(payload["texts"], list) else 0
        print(
            f"| {result.name} | {result.requests} | {result.throughput * texts:,.0f} | {result.throughput:,.0f} | "
            f"{result.quantile(0.5):.1f} | {result.quantile(0.95):.1f} | {result.quantile(0.99):.1f} |"
        )
    ratio = results[1].throughput / results[0].throughput
    verdict = "met" if ratio >= 0.5 else "NOT met"
    print(
        f"\nbatch-1 classification reaches {ratio:.0%} of the /healthz floor (target 50%: {verdict}); "
        f"median of all latencies {statistics.median(results[1].latencies) * 1000:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
