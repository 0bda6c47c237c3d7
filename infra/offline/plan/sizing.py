"""CPU and memory requests from observed usage, and the autoscaler's CPU target.

CPU: per-replica usage is fitted as ``u = idle + k * rho`` (cores, at
``rho`` requests/s per replica). The request is what one replica uses at its
busiest planned load, plus headroom; the autoscaling target is the
utilisation of that request at the load the replica plan aims for, so the
HPA scales out before a replica reaches its SLO capacity. When usage does
not vary with load, CPU is taken as proportional to load (cores per request
including idle time), which over-estimates at higher loads.

Memory: the 99th percentile of the largest replica's working set plus
headroom, never below the largest value seen (memory is not compressible:
below it a replica is OOM-killed).

Capacity was measured under the current CPU limit, so an explicit limit is
kept (and the request raised to ``limit / maxRatio`` when the policy
requires); without one, the limit is the request, sized above the usage at
capacity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from ai_platform_policies.quantity import parse_quantity
from infra.offline.plan.stats import fit_line, quantile

MIB = 2**20
MIN_CPU_MILLI = 10
MIN_MEMORY_MIB = 32
TARGET_RANGE = (20, 90)


@dataclass(frozen=True)
class CpuPlan:
    request_milli: int
    limit_milli: int | None
    """An explicit limit (``cpuLimit``), or ``None`` for "the request"."""
    target_utilization: int
    evidence: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    measured: bool = True


@dataclass(frozen=True)
class MemoryPlan:
    request_mib: int
    limit_mib: int | None
    evidence: dict[str, float] = field(default_factory=dict)


def milli(quantity: str) -> int:
    return math.ceil(parse_quantity(quantity) * 1000)


def mib(quantity: str) -> int:
    return math.ceil(parse_quantity(quantity) / MIB)


def cpu_quantity(millicores: int) -> str:
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def memory_quantity(mebibytes: int) -> str:
    return f"{mebibytes // 1024}Gi" if mebibytes % 1024 == 0 else f"{mebibytes}Mi"


def plan_cpu(
    *,
    points: list[tuple[float, float]],
    busiest_rps: float,
    target_rps: float,
    current_limit: str | None,
    headroom: float,
    max_ratio: float,
) -> CpuPlan | None:
    """Size CPU for a replica serving up to ``busiest_rps`` and scaled at ``target_rps``; ``None`` without data."""
    if not points:
        return None
    notes = []
    line = fit_line(points)
    if line is not None and line.slope > 0 and line.slope_t >= 3 and line.intercept >= 0:
        idle, per_request = line.intercept, line.slope
        evidence = {"idleCores": round(idle, 4), "coresPerRequest": round(per_request, 6), "fitR2": round(line.r2, 3)}
    else:
        total_rps = sum(rho for rho, _ in points)
        idle, per_request = 0.0, (sum(u for _, u in points) / total_rps if total_rps > 0 else 0.0)
        evidence = {"coresPerRequest": round(per_request, 6)}
        notes.append("CPU use does not vary with load clearly enough to separate idle CPU: taken as proportional")
    usage = [u for _, u in points]
    evidence |= {
        "perReplicaCoresP50": round(quantile(usage, 0.5), 4),
        "perReplicaCoresP95": round(quantile(usage, 0.95), 4),
    }
    at_busiest = idle + per_request * busiest_rps
    request = max(MIN_CPU_MILLI, _round_up(at_busiest * (1 + headroom) * 1000, 10))
    limit = milli(current_limit) if current_limit else None
    if limit is not None:
        if request >= limit:
            limit = None  # the request covers the old limit; let the limit default to it
        elif limit > request * max_ratio:
            request = _round_up(limit / max_ratio, 10)
            notes.append(f"request raised to {cpu_quantity(request)} to keep the current limit within {max_ratio:g}x")
    target = round(100 * (idle + per_request * target_rps) / (request / 1000))
    return CpuPlan(
        request_milli=request,
        limit_milli=limit,
        target_utilization=min(max(target, TARGET_RANGE[0]), TARGET_RANGE[1]),
        evidence=evidence | {"atBusiestPlannedLoadCores": round(at_busiest, 4)},
        notes=notes,
    )


def plan_memory(
    *, largest_replica_bytes: list[float], current_limit: str | None, headroom: float, max_ratio: float
) -> MemoryPlan | None:
    """Size memory from the largest replica's working set; ``None`` without data."""
    if not largest_replica_bytes:
        return None
    p99, peak = quantile(largest_replica_bytes, 0.99), max(largest_replica_bytes)
    request = max(MIN_MEMORY_MIB, _round_up(max(p99 * (1 + headroom), peak) / MIB, 16))
    limit = mib(current_limit) if current_limit else None
    if limit is not None:
        if request >= limit:
            limit = None
        elif limit > request * max_ratio:
            request = _round_up(limit / max_ratio, 16)
    return MemoryPlan(
        request_mib=request,
        limit_mib=limit,
        evidence={"largestReplicaP99Bytes": round(p99), "largestReplicaMaxBytes": round(peak)},
    )


def _round_up(value: float | Decimal, step: int) -> int:
    return int(math.ceil(float(value) / step - 1e-9) * step)
