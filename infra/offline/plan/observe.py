"""What Prometheus saw of one AI service over a window, read from the raw series.

Only the metric contract every AI service exposes (``ai_service_*``, with the
``namespace`` and ``service`` labels Prometheus' Operator adds) and the
standard kube-state-metrics, cAdvisor and DCGM series are read; recording
rules are not needed. Every series is sampled on one step grid, so the
samples of different series at one timestamp describe the same moment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from infra.offline.plan.errors import NoPlanError
from infra.offline.plan.prometheus import Prometheus, Series, format_duration
from model.config import ServiceConfig

#: Fewest step samples with traffic, latency and replicas before any estimate is made.
MIN_SAMPLES = 12
DEFAULT_STEP = 300.0
#: Points per series the planner asks for at most (Prometheus allows 11,000).
MAX_STEPS = 10_000


@dataclass(frozen=True)
class Observations:
    """One service's series on a common step grid (timestamps in seconds)."""

    window: float
    step: float
    rate: Series
    """Requests per second, all replicas."""
    errors: Series
    """5xx answers per second, all replicas."""
    latency_p95: Series
    """p95 request latency in seconds (from the histogram)."""
    replicas: Series
    replicas_source: str
    """The series the replica count came from."""
    cpu: Series
    """CPU cores used, all replicas together."""
    memory: Series
    """Working-set bytes of the largest replica."""
    gpu_utilization: Series
    """Average GPU utilisation, percent (empty when the service has no GPUs or no DCGM exporter)."""

    def joined(self, *series: Series) -> list[tuple[float, ...]]:
        """Values of ``series`` at the timestamps where all of them have one, in time order."""
        common = set(series[0]).intersection(*series[1:]) if series else set()
        return [tuple(s[t] for s in series) for t in sorted(common)]

    def load_points(self) -> list[tuple[float, float]]:
        """(requests/s per replica, p95 seconds) wherever the service had traffic and running replicas."""
        return [
            (rate / replicas, latency)
            for rate, replicas, latency in self.joined(self.rate, self.replicas, self.latency_p95)
            if rate > 0 and replicas > 0
        ]

    def cpu_points(self) -> list[tuple[float, float]]:
        """(requests/s per replica, CPU cores per replica) at every step with both."""
        return [
            (rate / replicas, cpu / replicas)
            for rate, replicas, cpu in self.joined(self.rate, self.replicas, self.cpu)
            if replicas > 0
        ]

    @property
    def coverage(self) -> float:
        """Fraction of the window's steps with usable load points."""
        return min(1.0, len(self.load_points()) / max(1.0, self.window / self.step))


def step_for(window: float) -> float:
    """5 minutes, or coarser when the window would need more than ``MAX_STEPS`` points."""
    return max(DEFAULT_STEP, float(-(-int(window) // MAX_STEPS)))


def observe(prometheus: Prometheus, service: ServiceConfig, end: float, window: float) -> Observations:
    """Read one service's series over ``[end - window, end]``; ``NoPlanError`` when there is too little."""
    step = step_for(window)
    if window < MIN_SAMPLES * step:
        raise NoPlanError(
            f"a {format_duration(window)} window is too short: at least {format_duration(MIN_SAMPLES * step)} "
            f"({MIN_SAMPLES} steps of {format_duration(step)}) is needed"
        )
    rng = format_duration(step)
    sel = f'namespace="{service.namespace}", service="{service.name}"'
    # Traffic only: probes and scrapes are cheap requests that say nothing of capacity.
    served = f'{sel}, route!~"{_probe_routes(service)}"'
    deployment = f'namespace="{service.namespace}", deployment="{service.name}"'
    # Pods of the Deployment only: <name>-<replica set hash>-<pod hash>.
    pods = f'namespace="{service.namespace}", pod=~"{service.name}-[a-z0-9]+-[a-z0-9]+"'
    container = f'{pods}, container="{service.name}"'

    def one(expr: str) -> Series:
        result = prometheus.query_range(expr, end - window, end, step)
        return result[0][1] if result else {}

    def first(exprs: Iterable[tuple[str, str]]) -> tuple[Series, str]:
        for expr, source in exprs:
            series = one(expr)
            if series:
                return series, source
        return {}, "none"

    rate = one(f"sum(rate(ai_service_requests_total{{{served}}}[{rng}]))")
    if not any(value > 0 for value in rate.values()):
        raise NoPlanError(
            f"no requests in the last {format_duration(window)}: Prometheus has no ai_service_requests_total "
            f"for {{{sel}}} (is the service deployed and scraped?)"
        )
    replicas, source = first(
        (
            (
                f"max(kube_deployment_status_replicas_available{{{deployment}}})",
                "kube_deployment_status_replicas_available",
            ),
            (f"max(kube_deployment_spec_replicas{{{deployment}}})", "kube_deployment_spec_replicas"),
            (f"count(up{{{sel}}} == 1)", "up"),
        )
    )
    observations = Observations(
        window=window,
        step=step,
        rate=rate,
        # `or ... * 0`: no 5xx series at all is an error rate of 0, not no data.
        errors=one(
            f'sum(rate(ai_service_requests_total{{{served}, status=~"5.."}}[{rng}])) '
            f"or sum(rate(ai_service_requests_total{{{served}}}[{rng}])) * 0"
        ),
        latency_p95=one(
            "histogram_quantile(0.95, sum by (le) "
            f"(rate(ai_service_request_duration_seconds_bucket{{{served}}}[{rng}])))"
        ),
        replicas=replicas,
        replicas_source=source,
        cpu=one(f"sum(rate(container_cpu_usage_seconds_total{{{container}}}[{rng}]))"),
        memory=one(f"max(container_memory_working_set_bytes{{{container}}})"),
        gpu_utilization=one(f"avg(DCGM_FI_DEV_GPU_UTIL{{{pods}}})") if service.resources.gpu else {},
    )
    _require_enough(observations, window, step)
    return observations


def _probe_routes(service: ServiceConfig) -> str:
    """A PromQL regex (in a double-quoted string) matching the service's probe and metrics paths."""
    paths = sorted({service.health.liveness_path, service.health.readiness_path, "/metrics"})
    pattern = "|".join(re.escape(path) for path in paths)
    return pattern.replace("\\", "\\\\").replace('"', '\\"')


def _require_enough(observations: Observations, window: float, step: float) -> None:
    if not observations.replicas:
        raise NoPlanError("no replica count: neither kube-state-metrics' kube_deployment_* nor `up` has the service")
    if not observations.latency_p95:
        raise NoPlanError("no latency: ai_service_request_duration_seconds_bucket has no samples for the service")
    usable = len(observations.load_points())
    if usable < MIN_SAMPLES:
        raise NoPlanError(
            f"only {usable} of {int(window // step)} steps ({format_duration(usable * step)}) have traffic, latency "
            f"and replicas together; at least {MIN_SAMPLES} ({format_duration(MIN_SAMPLES * step)}) are needed"
        )
