"""The planner as a library: read a stack, ask Prometheus, plan every AI service.

``plan_stack`` is what ``python -m infra.offline plan`` runs. A service that
cannot be planned (no data, too little) gets a message and no change in the
patch; the others are still planned. An unreachable Prometheus is one
message for every service.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from infra.offline.plan.errors import NoPlanError
from infra.offline.plan.observe import observe
from infra.offline.plan.patch import services_patch
from infra.offline.plan.prometheus import Prometheus, PrometheusError
from infra.offline.plan.service_plan import ServicePlan, plan_service
from infra.offline.plan.solver import Constraints
from infra.offline.policy_config import load_policy_config, policy_config_path
from infra.offline.stack_file import read_stack_file
from model.config import PlatformConfig
from model.stack_config import parse_platform_config


@dataclass
class Plan:
    """Every service's plan or the reason it has none, and the stack-file patch."""

    stack: str
    environment: str
    window: float
    constraints: Constraints
    services: list[ServicePlan] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    patch: str = ""

    @property
    def complete(self) -> bool:
        return not self.errors


def constraints_for(config: PlatformConfig, latency_weight: float, policy_config: Path | None = None) -> Constraints:
    """The environment's replica minimum and limit ratio, from the policy pack's config for it."""
    entries = load_policy_config(policy_config or policy_config_path(config.environment))

    def number(policy: str, key: str, default: float) -> float:
        entry = entries.get(policy)
        if entry is None or entry.level == "disabled" or key not in entry.properties:
            return default
        return float(entry.properties[key])

    floor = max(
        number("workload-minimum-replicas", "minReplicas", 1), number("hpa-minimum-replicas", "minReplicas", 1), 1
    )
    return Constraints(
        min_replicas=int(floor),
        max_limit_ratio=number("limit-request-ratio", "maxRatio", 4),
        latency_weight=latency_weight,
    )


def plan_stack(
    stack_file: Path,
    prometheus: Prometheus,
    window: float,
    latency_weight: float,
    end: float | None = None,
) -> Plan:
    """Plan every AI service of the stack from the last ``window`` seconds of Prometheus data.

    Raises ``ConfigError`` (invalid stack) and ``PolicyConfigError``; data problems are per-service errors.
    """
    stack = read_stack_file(stack_file)
    config = parse_platform_config(stack.values, stack.display_path, stack.secret_keys)
    constraints = constraints_for(config, latency_weight)
    prices = config.pricing.to_prices()
    plan = Plan(stack=stack.stack, environment=config.environment, window=window, constraints=constraints)
    try:
        prometheus.check_reachable()
    except PrometheusError as error:
        plan.errors = {service.name: str(error) for service in config.services}
        return plan
    end = time.time() if end is None else end
    for service in config.services:
        try:
            observations = observe(prometheus, service, end, window)
            plan.services.append(plan_service(service, observations, constraints, prices))
        except (NoPlanError, PrometheusError) as error:
            plan.errors[service.name] = str(error)
    plan.patch = services_patch(stack_file, {s.name: s.proposed for s in plan.services if s.changed})
    return plan
