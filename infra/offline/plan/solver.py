"""The seed's objective: least cost per service subject to its latency SLO.

Each service's monthly cost is linear in what it runs, ``C = alpha * x``,
with ``alpha`` the price of one replica's requests from the cost model and
``x`` its replicas. Services share nothing but the budget, so the problem
splits per service: for a demand ``D`` (requests/s) the cheapest size is the
smallest listed replica count ``x`` (from the environment's minimum up to
``Constraints.max_replicas``) whose per-replica load ``D / x`` keeps the
predicted p95 within the SLO, with ``headroom`` spare so the autoscaler has
time to react (``Capacity.design_rps``). When no listed size meets the SLO, it minimises

    alpha * x + lambda * max(0, p95(D / x) - SLO)   (p95 in milliseconds)

instead, with lambda (``--latency-weight``) in currency per month per
millisecond of predicted p95 above the SLO.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from infra.offline.plan.capacity import Capacity


@dataclass(frozen=True)
class Constraints:
    """What bounds every plan: the environment's policy, the listed sizes, the trade-off weight."""

    min_replicas: int = 1
    """The policy pack's ``workload-minimum-replicas`` / ``hpa-minimum-replicas`` for the environment."""
    max_replicas: int = 100
    """The largest replica count the planner considers (the listed sizes are min_replicas..max_replicas)."""
    max_limit_ratio: float = 4.0
    """The policy pack's ``limit-request-ratio``."""
    headroom: float = 0.2
    """Spare capacity kept above demand and above usage (0.2 = 20 %)."""
    latency_weight: float = 1.0
    """lambda: currency per month per millisecond of p95 above the SLO."""


@dataclass(frozen=True)
class Choice:
    """A replica count for one demand, and the p95 the capacity model predicts for it."""

    replicas: int
    predicted_p95_seconds: float
    meets_slo: bool


def choose_replicas(demand_rps: float, capacity: Capacity, alpha: float, constraints: Constraints) -> Choice:
    """The cheapest listed replica count for ``demand_rps`` (see the module docstring)."""
    low, high = constraints.min_replicas, max(constraints.min_replicas, constraints.max_replicas)
    per_replica = capacity.design_rps(constraints.headroom)
    if per_replica is not None:
        needed = max(low, math.ceil(demand_rps / per_replica - 1e-9))
        if needed <= high:
            return Choice(needed, capacity.latency_at(demand_rps / needed), True)
        if capacity.fit is None:
            # A lower bound with no latency curve: the largest listed size is all we can offer.
            return Choice(high, math.inf, False)
    return _weighted(demand_rps, capacity, alpha, constraints)


def _weighted(demand_rps: float, capacity: Capacity, alpha: float, constraints: Constraints) -> Choice:
    """Minimise ``alpha * x + lambda * excess_ms`` over the listed sizes."""
    low, high = constraints.min_replicas, max(constraints.min_replicas, constraints.max_replicas)
    best: tuple[float, int, float] | None = None
    for replicas in range(low, high + 1):
        latency = capacity.latency_at(demand_rps / replicas)
        if not math.isfinite(latency):
            continue
        excess_ms = max(0.0, latency - capacity.slo_seconds) * 1000
        objective = alpha * replicas + constraints.latency_weight * excess_ms
        if best is None or objective < best[0] - 1e-9:
            best = (objective, replicas, latency)
    if best is None:
        return Choice(high, math.inf, False)
    _, replicas, latency = best
    return Choice(replicas, latency, latency <= capacity.slo_seconds)
