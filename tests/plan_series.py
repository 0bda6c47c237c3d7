"""Synthetic history for the capacity planner's tests: a service as an M/M/1 queue per replica.

A replica serving ``rho`` requests/s with service rate ``mu`` answers in an
exponentially distributed time with rate ``mu - rho``: its p95 is
``ln(20) / (mu - rho)``. CPU per replica is ``idle + k * rho``. The same
model gives the unit tests their ``Observations`` and the integration test
its OpenMetrics history (counters, histogram buckets, kube-state-metrics and
cAdvisor series) for ``promtool tsdb create-blocks-from openmetrics``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from infra.offline.plan.observe import Observations

#: The reference service's latency buckets (services/text-classifier/app/metrics.py).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
GIB = 2**30


@dataclass(frozen=True)
class QueueService:
    """A service's true behaviour: demand over time, replicas, and what one replica can do."""

    name: str
    load: Callable[[float], float]
    """Total requests/s at a time (seconds since the history starts)."""
    replicas: int
    mu: float
    """Service rate of one replica (requests/s): latency is unbounded as the load per replica nears it."""
    idle_cores: float = 0.05
    cores_per_request: float = 0.01
    memory_bytes: float = 0.3 * GIB
    namespace: str = "ai-services"
    floor_seconds: float = 0.0
    """A fixed time added to every request (a model that is slow however idle the replica)."""

    def p95(self, t: float) -> float:
        rho = min(self.load(t) / self.replicas, 0.98 * self.mu)
        return self.floor_seconds + math.log(20) / (self.mu - rho)

    def share_within(self, t: float, seconds: float) -> float:
        """The fraction of requests answered within ``seconds`` (the histogram bucket ``le``)."""
        if seconds < self.floor_seconds:
            return 0.0
        rho = min(self.load(t) / self.replicas, 0.98 * self.mu)
        return 1 - math.exp(-(self.mu - rho) * (seconds - self.floor_seconds))

    def cpu(self, t: float) -> float:
        """Cores used by all replicas together."""
        return self.replicas * self.idle_cores + self.cores_per_request * self.load(t)


def diurnal(low: float, high: float, period: float = 6 * 3600) -> Callable[[float], float]:
    """A day-like wave from ``low`` to ``high`` requests/s."""
    return lambda t: low + (high - low) * (1 - math.cos(2 * math.pi * t / period)) / 2


def observations(service: QueueService, hours: float = 6, step: float = 300) -> Observations:
    """What Prometheus would report for ``service`` (exact p95, no histogram rounding)."""
    times = [step * i for i in range(int(hours * 3600 / step))]
    return Observations(
        window=hours * 3600,
        step=step,
        rate={t: service.load(t) for t in times},
        errors={t: 0.0 for t in times},
        latency_p95={t: service.p95(t) for t in times},
        replicas={t: float(service.replicas) for t in times},
        replicas_source="kube_deployment_status_replicas_available",
        cpu={t: service.cpu(t) for t in times},
        memory={t: service.memory_bytes for t in times},
        gpu_utilization={},
    )


def openmetrics(services: list[QueueService], start: int, end: int, interval: int = 60) -> Iterator[str]:
    """The services' raw series, one sample per ``interval`` seconds, as OpenMetrics lines (with ``# EOF``)."""
    times = range(start, end, interval)
    for service in services:
        sel = f'namespace="{service.namespace}",service="{service.name}"'
        route = f'{sel},route="/v1/predict"'
        probe = f'{sel},route="/healthz"'
        counters: dict[str, float] = {}

        def add(series: str, value: float, counters: dict[str, float] = counters) -> float:
            counters[series] = counters.get(series, 0.0) + value
            return counters[series]

        lines: dict[str, list[str]] = {}
        for t in times:
            offset = t - start
            requests = service.load(offset) * interval
            samples = {f'ai_service_requests_total{{{route},method="POST",status="200"}}': add("requests", requests)}
            for le in BUCKETS:
                within = requests * service.share_within(offset, le)
                samples[f'ai_service_request_duration_seconds_bucket{{{route},le="{le}"}}'] = add(f"b{le}", within)
            samples[f'ai_service_request_duration_seconds_bucket{{{route},le="+Inf"}}'] = add("inf", requests)
            samples[f"ai_service_request_duration_seconds_count{{{route}}}"] = add("count", requests)
            # Kubelet probes: a request per replica a second, answered in under 5 ms; not traffic.
            probes = service.replicas * interval
            samples[f'ai_service_requests_total{{{probe},method="GET",status="200"}}'] = add("probes", probes)
            for bound in ("0.005", "+Inf"):
                samples[f'ai_service_request_duration_seconds_bucket{{{probe},le="{bound}"}}'] = add(bound, probes)
            deployment = f'namespace="{service.namespace}",deployment="{service.name}"'
            samples[f"kube_deployment_status_replicas_available{{{deployment}}}"] = service.replicas
            samples[f"kube_deployment_spec_replicas{{{deployment}}}"] = service.replicas
            for replica in range(service.replicas):
                name = f"{service.name}-7f9c6d5b8-x{replica}"
                pod = f'namespace="{service.namespace}",pod="{name}",container="{service.name}"'
                cores = service.cpu(offset) / service.replicas * interval
                samples[f"container_cpu_usage_seconds_total{{{pod}}}"] = add(f"cpu{replica}", cores)
                samples[f"container_memory_working_set_bytes{{{pod}}}"] = service.memory_bytes
            for series, value in samples.items():
                lines.setdefault(series, []).append(f"{series} {value:.6f} {t}")
        for series_lines in lines.values():
            yield from series_lines
    yield "# EOF"
