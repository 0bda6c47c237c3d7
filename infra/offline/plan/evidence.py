"""The evidence behind a service's plan, and how far to trust it.

Every number the plan was computed from, rounded for people, and a
confidence: ``high`` unless something lowers it (a loose fit, a capacity
that is extrapolated or only a lower bound, a window mostly without data,
missing CPU or memory series), each such reason listed.
"""

from __future__ import annotations

import math
from typing import Any

from infra.offline.plan.capacity import Capacity, Verdict
from infra.offline.plan.observe import Observations
from infra.offline.plan.prometheus import format_duration
from infra.offline.plan.sizing import milli
from infra.offline.plan.solver import Constraints
from infra.offline.plan.stats import quantile
from model.config import ServiceConfig

CONFIDENCE = ("low", "medium", "high")


def gather_evidence(
    service: ServiceConfig,
    observations: Observations,
    capacity: Capacity,
    constraints: Constraints,
    predicted_peak_p95: float,
) -> dict[str, Any]:
    """The numbers that drove the plan, for the report (JSON-safe: no NaN or infinity)."""
    rates = list(observations.rate.values())
    latencies = [value * 1000 for value in observations.latency_p95.values()]
    slo_ms = service.slo.latency_p95_ms
    replicas = list(observations.replicas.values())
    errors = [e / r for r, e in observations.joined(observations.rate, observations.errors) if r > 0]
    fit = capacity.fit
    evidence: dict[str, Any] = {
        "window": format_duration(observations.window),
        "step": format_duration(observations.step),
        "samples": len(observations.load_points()),
        "coverage": round(observations.coverage, 3),
        "requestRate": {"peak": _r(max(rates)), "p95": _r(quantile(rates, 0.95)), "p50": _r(quantile(rates, 0.5))},
        "latencyP95Ms": {
            "slo": slo_ms,
            "p50": _r(quantile(latencies, 0.5)),
            "p95": _r(quantile(latencies, 0.95)),
            "max": _r(max(latencies)),
            "shareOverSlo": _r(sum(value > slo_ms for value in latencies) / len(latencies)),
            "predictedAtPeak": _r(predicted_peak_p95 * 1000),
        },
        "errorRatio": {"slo": service.slo.error_ratio, "p95": _r(quantile(errors, 0.95)) if errors else None},
        "replicas": {
            "source": observations.replicas_source,
            "min": min(replicas),
            "mean": _r(sum(replicas) / len(replicas)),
            "max": max(replicas),
        },
        "capacity": {
            "verdict": str(capacity.verdict),
            "perReplicaRps": _r(capacity.per_replica_rps),
            "plannedPerReplicaRps": _r(capacity.design_rps(constraints.headroom)),
            "observedMaxPerReplicaRps": _r(capacity.observed_max_rps),
            "observedMaxWithinSloPerReplicaRps": _r(capacity.observed_max_within_slo_rps),
            "saturationPerReplicaRps": _r(capacity.saturation_rps),
            "latencyFloorMs": _r(capacity.latency_floor_seconds * 1000) if capacity.latency_floor_seconds else None,
            "fit": {"model": "1/p95 = a - b*rps", "a": _r(fit.intercept), "b": _r(-fit.slope), "r2": _r(fit.r2)}
            if fit
            else None,
        },
    }
    cpu = [u for _, u in observations.cpu_points()]
    if cpu:
        request = milli(service.resources.cpu) / 1000
        evidence["cpu"] = {
            "perReplicaCoresP95": _r(quantile(cpu, 0.95)),
            "p95OfRequest": _r(quantile(cpu, 0.95) / request),
        }
    memory = list(observations.memory.values())
    if memory:
        evidence["memory"] = {
            "largestReplicaP99Mib": _r(quantile(memory, 0.99) / 2**20),
            "maxMib": _r(max(memory) / 2**20),
        }
    gpu = list(observations.gpu_utilization.values())
    if gpu:
        evidence["gpu"] = {"utilizationP50": _r(quantile(gpu, 0.5)), "utilizationP95": _r(quantile(gpu, 0.95))}
    elif service.resources.gpu:
        evidence["gpu"] = None  # no DCGM_FI_DEV_GPU_UTIL for the service's pods
    return evidence


def judge_confidence(observations: Observations, capacity: Capacity, *, measured: bool) -> tuple[str, list[str]]:
    """``high``, ``medium`` or ``low``, with the reasons it is not higher."""
    level = len(CONFIDENCE) - 1
    reasons = []

    def lower(to: str, reason: str) -> None:
        nonlocal level
        level = min(level, CONFIDENCE.index(to))
        reasons.append(reason)

    if capacity.verdict is Verdict.NOT_LOAD_RELATED:
        lower("low", "latency does not depend on load in the data: replicas were kept, not planned")
    elif capacity.verdict is Verdict.LOWER_BOUND:
        lower("medium", "capacity is a lower bound (the highest load seen within the SLO)")
    if capacity.fit is not None:
        if capacity.fit.r2 < 0.3:
            lower("low", f"the latency fit explains little (r2 {capacity.fit.r2:.2f})")
        elif capacity.fit.r2 < 0.7:
            lower("medium", f"the latency fit is loose (r2 {capacity.fit.r2:.2f})")
    if capacity.per_replica_rps is not None and capacity.per_replica_rps > capacity.observed_max_rps:
        lower("medium", "capacity is extrapolated beyond the highest load observed")
    if capacity.per_replica_rps is not None and capacity.observed_max_within_slo_rps is None:
        lower("medium", "no load observed met the SLO: capacity is extrapolated below the data")
    if observations.coverage < 0.2:
        lower("low", f"only {observations.coverage:.0%} of the window has data")
    elif observations.coverage < 0.5:
        lower("medium", f"only {observations.coverage:.0%} of the window has data")
    if not measured:
        lower("medium", "CPU or memory usage is missing: those requests were kept")
    return CONFIDENCE[level], reasons


def _r(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, 4) if abs(value) < 10 else round(value, 1)
