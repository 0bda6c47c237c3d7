"""Recording and alert rules of one AI service: the spec of its PrometheusRule.

Recording rules turn the contract's raw series into per-service rates,
ratios and latency quantiles; alerts compare them with the service's SLO.
Every alert carries ``annotations.runbook_url``: the runbook
``docs/runbooks/<alert>.md`` of this repository, under a configurable base
URL (``monitoring.runbookBaseUrl``).
"""

from __future__ import annotations

from typing import Any

from components.monitoring.contract import (
    DURATION,
    ERROR_RATE,
    ERROR_RATIO,
    LATENCY_P50,
    LATENCY_P95,
    LATENCY_P99,
    REQUEST_RATE,
    REQUESTS,
    selector,
)
from model.config import ServiceConfig

HIGH_ERROR_RATIO = "AiServiceHighErrorRatio"
HIGH_LATENCY_P95 = "AiServiceHighLatencyP95"
TARGET_DOWN = "AiServiceTargetDown"
PODS_UNAVAILABLE = "AiServicePodsUnavailable"
RESTARTING = "AiServiceRestarting"
GPU_SATURATED = "AiServiceGpuSaturated"
#: Every alert a service can get; each has ``docs/runbooks/<name>.md``.
ALERTS = (HIGH_ERROR_RATIO, HIGH_LATENCY_P95, TARGET_DOWN, PODS_UNAVAILABLE, RESTARTING, GPU_SATURATED)
#: Where the runbooks live in this repository.
RUNBOOK_DIR = "docs/runbooks"


def runbook_url(base_url: str, alert: str) -> str:
    """The runbook of ``alert`` under ``base_url`` (which points at ``docs/runbooks/``)."""
    return f"{base_url.rstrip('/')}/{alert}.md"


def recording_rules(service: ServiceConfig) -> list[dict[str, Any]]:
    """Request rate, error rate and ratio, latency p50/p95/p99 over 5 minutes, per service."""
    sel = selector(service)
    by = "sum by (namespace, service)"

    def quantile(q: str) -> str:
        return f"histogram_quantile({q}, sum by (namespace, service, le) (rate({DURATION}_bucket{{{sel}}}[5m])))"

    return [
        {"record": REQUEST_RATE, "expr": f"{by} (rate({REQUESTS}{{{sel}}}[5m]))"},
        {
            # `or ... * 0`: a service without a single 5xx has an error rate of 0, not no data.
            "record": ERROR_RATE,
            "expr": (
                f'{by} (rate({REQUESTS}{{{sel}, status=~"5.."}}[5m])) or {by} (rate({REQUESTS}{{{sel}}}[5m])) * 0'
            ),
        },
        {"record": ERROR_RATIO, "expr": f"{ERROR_RATE}{{{sel}}} / {REQUEST_RATE}{{{sel}}}"},
        {"record": LATENCY_P50, "expr": quantile("0.5")},
        {"record": LATENCY_P95, "expr": quantile("0.95")},
        {"record": LATENCY_P99, "expr": quantile("0.99")},
    ]


def alert_rules(service: ServiceConfig, runbook_base_url: str) -> list[dict[str, Any]]:
    """SLO alerts (error ratio, p95 latency) and health alerts; GPU saturation for GPU services."""
    sel = selector(service)
    slo = service.slo
    labels = {"service": service.name, "namespace": service.namespace}
    pods = f'namespace="{service.namespace}"'

    def alert(name: str, expr: str, severity: str, annotations: dict[str, str], duration: str | None) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": name, "expr": expr}
        if duration:
            rule["for"] = duration
        rule["labels"] = {**labels, "severity": severity}
        rule["annotations"] = {**annotations, "runbook_url": runbook_url(runbook_base_url, name)}
        return rule

    alerts = [
        alert(
            HIGH_ERROR_RATIO,
            f"{ERROR_RATIO}{{{sel}}} > {slo.error_ratio}",
            "critical",
            {
                "summary": f"{service.name}: more than {slo.error_ratio:.2%} of requests fail",
                "description": f"More than {slo.error_ratio:.2%} of requests answered 5xx for 5 minutes (the SLO).",
            },
            "5m",
        ),
        alert(
            HIGH_LATENCY_P95,
            f"{LATENCY_P95}{{{sel}}} > {slo.latency_p95_ms / 1000}",
            "warning",
            {
                "summary": f"{service.name}: p95 latency above {slo.latency_p95_ms} ms",
                "description": f"p95 latency stayed above the {slo.latency_p95_ms} ms SLO for 10 minutes.",
            },
            "10m",
        ),
        alert(
            TARGET_DOWN,
            f"up{{{sel}}} == 0",
            "critical",
            {"summary": f"{service.name}: Prometheus cannot scrape a replica"},
            "5m",
        ),
        alert(
            PODS_UNAVAILABLE,
            f'kube_deployment_status_replicas_unavailable{{{pods}, deployment="{service.name}"}} > 0',
            "warning",
            {"summary": f"{service.name}: replicas unavailable for 10 minutes"},
            "10m",
        ),
        alert(
            RESTARTING,
            f'increase(kube_pod_container_status_restarts_total{{{pods}, container="{service.name}"}}[15m]) > 2',
            "warning",
            {"summary": f"{service.name}: containers restart repeatedly"},
            None,
        ),
    ]
    if service.resources.gpu:
        alerts.append(
            alert(
                GPU_SATURATED,
                f'avg by (namespace) (DCGM_FI_DEV_GPU_UTIL{{{pods}, pod=~"{service.name}-.*"}}) > 90',
                "warning",
                {"summary": f"{service.name}: GPUs above 90% for 15 minutes; scale out"},
                "15m",
            )
        )
    return alerts


def service_rules(service: ServiceConfig, runbook_base_url: str) -> dict[str, Any]:
    """The spec of one service's PrometheusRule: a recording group and an alerting group."""
    return {
        "groups": [
            {"name": f"ai-service.{service.name}.recording", "rules": recording_rules(service)},
            {"name": f"ai-service.{service.name}.alerts", "rules": alert_rules(service, runbook_base_url)},
        ]
    }
