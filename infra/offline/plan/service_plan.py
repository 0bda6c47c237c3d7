"""One service's plan: capacity, replicas, requests, cost, evidence and confidence.

A pure function of the observations, the service's config, the constraints
and the prices, so the tests drive it with synthetic series.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from ai_platform_policies.cost import Prices
from infra.offline.plan.capacity import Capacity, Verdict, estimate_capacity
from infra.offline.plan.evidence import gather_evidence, judge_confidence
from infra.offline.plan.observe import Observations
from infra.offline.plan.sizes import Size
from infra.offline.plan.sizing import cpu_quantity, memory_quantity, plan_cpu, plan_memory
from infra.offline.plan.solver import Constraints, choose_replicas
from infra.offline.plan.stats import quantile
from model.config import ServiceConfig

DEFAULT_TARGET = 70
IDLE_GPU_PERCENT = 30


@dataclass(frozen=True)
class MonthlyCost:
    """Expected monthly cost (replicas over the window's demand) and its range (fewest to most replicas)."""

    currency: str
    current: Decimal
    proposed: Decimal
    current_range: tuple[Decimal, Decimal]
    proposed_range: tuple[Decimal, Decimal]

    def as_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "current": _money(self.current),
            "proposed": _money(self.proposed),
            "change": _money(self.proposed - self.current),
            "range": {
                "current": {"min": _money(self.current_range[0]), "max": _money(self.current_range[1])},
                "proposed": {"min": _money(self.proposed_range[0]), "max": _money(self.proposed_range[1])},
            },
        }


@dataclass(frozen=True)
class ServicePlan:
    """Current against proposed size for one service, with what drove it."""

    name: str
    current: Size
    proposed: Size
    monthly: MonthlyCost
    capacity: Capacity
    evidence: dict[str, Any]
    confidence: str
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.current != self.proposed

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "current": self.current.as_json(),
            "proposed": self.proposed.as_json(),
            "monthlyCost": self.monthly.as_json(),
            "evidence": self.evidence,
            "confidence": self.confidence,
            "notes": self.notes,
        }


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))


@dataclass(frozen=True)
class _Case:
    """Everything one service's plan is computed from."""

    service: ServiceConfig
    current: Size
    observations: Observations
    capacity: Capacity
    constraints: Constraints
    prices: Prices

    @property
    def peak(self) -> float:
        return max(self.observations.rate.values())

    @property
    def typical(self) -> float:
        return quantile(self.observations.rate.values(), 0.5)


def plan_service(
    service: ServiceConfig, observations: Observations, constraints: Constraints, prices: Prices
) -> ServicePlan:
    """Solve the seed's objective for one service (see ``solver`` and ``capacity``)."""
    capacity = estimate_capacity(observations.load_points(), service.slo.latency_p95_ms / 1000)
    case = _Case(service, Size.of(service), observations, capacity, constraints, prices)
    current, floor = case.current, constraints.min_replicas

    proposed, cpu_notes, cpu_measured = _size(case, float(current.replica_month(prices)))
    if capacity.verdict is Verdict.SLO_UNREACHABLE:
        # The trade-off depends on the price of a replica: solve again at the proposed requests.
        proposed, cpu_notes, cpu_measured = _size(case, float(proposed.replica_month(prices)))

    notes = [*capacity.notes, *cpu_notes]
    if proposed.min_replicas == floor and proposed.min_replicas > current.min_replicas:
        notes.append(f"minReplicas raised to the environment's minimum of {floor}")
    gpu = list(observations.gpu_utilization.values())
    if gpu and quantile(gpu, 0.95) < IDLE_GPU_PERCENT:
        notes.append(
            f"GPUs stay below {IDLE_GPU_PERCENT}% utilisation 95% of the time: a smaller gpuType may serve "
            "(the planner does not change GPU types; it cannot tell the smaller one's latency)"
        )
    at_peak = choose_replicas(case.peak, capacity, float(proposed.replica_month(prices)), constraints)
    if capacity.per_replica_rps is not None and not at_peak.meets_slo:
        notes.append(f"no listed size up to {constraints.max_replicas} replicas meets the SLO at peak")
    evidence = gather_evidence(service, observations, capacity, constraints, at_peak.predicted_p95_seconds)
    confidence, reasons = judge_confidence(observations, capacity, measured=cpu_measured)
    evidence["confidenceReasons"] = reasons
    return ServicePlan(service.name, current, proposed, _monthly(case, proposed), capacity, evidence, confidence, notes)


def _size(case: _Case, alpha: float) -> tuple[Size, list[str], bool]:
    """Replicas from the solver, then requests and the CPU target for the load each replica will carry."""
    capacity, constraints, current = case.capacity, case.constraints, case.current
    floor = constraints.min_replicas
    if capacity.verdict is Verdict.NOT_LOAD_RELATED:
        most = max(floor, current.max_replicas)
        fewest = min(max(floor, current.min_replicas), most)
    else:
        most = choose_replicas(case.peak, capacity, alpha, constraints).replicas
        fewest = min(choose_replicas(case.typical, capacity, alpha, constraints).replicas, most)
    design = capacity.design_rps(constraints.headroom)
    if capacity.per_replica_rps is not None and design is not None:
        busiest, target_rps = capacity.per_replica_rps, design
    else:
        busiest = target_rps = case.peak / most
    resources = case.service.resources
    cpu = plan_cpu(
        points=case.observations.cpu_points(),
        busiest_rps=busiest,
        target_rps=target_rps,
        current_limit=resources.cpu_limit,
        headroom=constraints.headroom,
        max_ratio=constraints.max_limit_ratio,
    )
    memory = plan_memory(
        largest_replica_bytes=list(case.observations.memory.values()),
        current_limit=resources.memory_limit,
        headroom=constraints.headroom,
        max_ratio=constraints.max_limit_ratio,
    )
    autoscaled = current.target_cpu_utilization is not None or fewest < most
    target = cpu.target_utilization if cpu else (current.target_cpu_utilization or DEFAULT_TARGET)
    proposed = replace(
        current,
        min_replicas=fewest,
        max_replicas=most,
        # A load metric (KEDA) keeps its metric and per-replica target; only the bounds change.
        target_cpu_utilization=target if autoscaled and current.load_metric is None else None,
    )
    notes = []
    if cpu is None:
        notes.append("no CPU usage series (cAdvisor): CPU request and autoscaling target kept")
    else:
        proposed = replace(
            proposed,
            cpu=cpu_quantity(cpu.request_milli),
            cpu_limit=cpu_quantity(cpu.limit_milli) if cpu.limit_milli else None,
        )
        notes += cpu.notes
    if memory is None:
        notes.append("no memory usage series (cAdvisor): memory request kept")
    else:
        proposed = replace(
            proposed,
            memory=memory_quantity(memory.request_mib),
            memory_limit=memory_quantity(memory.limit_mib) if memory.limit_mib else None,
        )
    return proposed, notes, cpu is not None and memory is not None


def _monthly(case: _Case, proposed: Size) -> MonthlyCost:
    """Expected cost: the replicas that ran (current) or would run (proposed) at each step, on average."""
    observations, prices = case.observations, case.prices
    alpha_now, alpha_new = case.current.replica_month(prices), proposed.replica_month(prices)
    ran = list(observations.replicas.values())
    would_run = []
    for timestamp, rate in sorted(observations.rate.items()):
        if case.capacity.verdict is Verdict.NOT_LOAD_RELATED:
            wanted = round(observations.replicas.get(timestamp, proposed.min_replicas))
        else:
            wanted = choose_replicas(rate, case.capacity, float(alpha_new), case.constraints).replicas
        would_run.append(min(max(wanted, proposed.min_replicas), proposed.max_replicas))
    return MonthlyCost(
        currency=prices.currency,
        current=alpha_now * Decimal(str(sum(ran) / len(ran))),
        proposed=alpha_new * Decimal(str(sum(would_run) / len(would_run))),
        current_range=(alpha_now * case.current.min_replicas, alpha_now * case.current.max_replicas),
        proposed_range=(alpha_new * proposed.min_replicas, alpha_new * proposed.max_replicas),
    )
