"""The plan as JSON (the fixed interface), plain text, or Markdown for a pull-request comment."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from infra.offline.plan.planner import Plan
from infra.offline.plan.prometheus import format_duration
from infra.offline.plan.service_plan import ServicePlan
from infra.offline.plan.sizes import Size


def as_json(plan: Plan) -> dict[str, Any]:
    return {
        "stack": plan.stack,
        "environment": plan.environment,
        "window": format_duration(plan.window),
        "latencyWeight": plan.constraints.latency_weight,
        "services": [service.as_json() for service in plan.services],
        "errors": [{"name": name, "message": message} for name, message in plan.errors.items()],
        "patch": plan.patch,
    }


def _size(size: Size) -> str:
    replicas = (
        f"{size.min_replicas}" if size.min_replicas == size.max_replicas else f"{size.min_replicas}-{size.max_replicas}"
    )
    target = f" @ {size.target_cpu_utilization}% CPU" if size.target_cpu_utilization is not None else ""
    if size.load_metric is not None:
        target = f" @ {size.load_metric[1]:g} {size.load_metric[0]} per replica"
    limits = "".join(
        f", {name} limit {value}" for name, value in (("cpu", size.cpu_limit), ("memory", size.memory_limit)) if value
    )
    return f"{replicas} x ({size.cpu} CPU, {size.memory}{limits}){target}"


def _change(service: ServicePlan) -> str:
    delta = service.monthly.proposed - service.monthly.current
    word = "saves" if delta < 0 else "costs"
    return f"{word} {service.monthly.currency} {abs(delta):,.2f}/month"


def _why(service: ServicePlan) -> str:
    """The evidence that drove the plan, in one line."""
    evidence, capacity = service.evidence, service.capacity
    latency = evidence["latencyP95Ms"]
    rate = evidence["requestRate"]
    if capacity.per_replica_rps is not None:
        estimate = f"{capacity.per_replica_rps:.3g} req/s per replica at the SLO ({capacity.verdict})"
    else:
        estimate = f"no capacity at the SLO ({capacity.verdict})"
    return (
        f"peak {rate['peak']:.3g} req/s, median {rate['p50']:.3g}; p95 latency up to {latency['p95']:.0f} ms "
        f"95 % of the time, over the {latency['slo']} ms SLO {latency['shareOverSlo']:.0%} of the time; {estimate}"
    )


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def format_text(plan: Plan) -> str:
    lines = [f"capacity plan for stack {plan.stack} ({plan.environment}), last {format_duration(plan.window)}:"]
    for service in plan.services:
        m = service.monthly
        lines += [
            f"  {service.name} (confidence {service.confidence}): {_why(service)}",
            f"    current:  {_size(service.current)}  ~{m.currency} {_money(m.current)}/month",
            f"    proposed: {_size(service.proposed)}  ~{m.currency} {_money(m.proposed)}/month ({_change(service)})",
            *(f"    - {note}" for note in service.notes),
        ]
    lines += [f"  {name}: no plan: {message}" for name, message in plan.errors.items()]
    if plan.patch:
        lines += ["", "stack-file patch (merge into the stack file; lists are replaced):", plan.patch.rstrip()]
    return "\n".join(lines)


def format_markdown(plan: Plan) -> str:
    lines = [
        f"### Capacity plan: `{plan.stack}` ({plan.environment})",
        "",
        f"From the last {format_duration(plan.window)} of Prometheus data; latency weight "
        f"λ = {plan.constraints.latency_weight:g} per ms of p95 above the SLO.",
        "",
        "| service | current | proposed | per month now | per month proposed | change | confidence |",
        "| --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for s in plan.services:
        m = s.monthly
        delta = m.proposed - m.current
        lines.append(
            f"| {s.name} | {_size(s.current)} | {_size(s.proposed)} | {_money(m.current)} | {_money(m.proposed)} | "
            f"{'+' if delta > 0 else ''}{_money(delta)} | {s.confidence} |"
        )
    lines += [f"| {name} | — | no plan: {message} | | | | |" for name, message in plan.errors.items()]
    for s in plan.services:
        lines += [
            "",
            f"<details><summary>{s.name}: evidence</summary>",
            "",
            f"- {_why(s)}",
            *(f"- {note}" for note in s.notes),
            "",
            "```json",
            json.dumps(s.evidence, indent=2),
            "```",
            "</details>",
        ]
    if plan.patch:
        lines += [
            "",
            "<details><summary>Stack-file patch</summary>",
            "",
            "```yaml",
            plan.patch.rstrip(),
            "```",
            "</details>",
        ]
    return "\n".join(lines)
