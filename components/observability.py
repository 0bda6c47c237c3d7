"""Alert rules, recording rules, Alertmanager routing and Grafana dashboards, as data.

Pure functions of the validated config, so the same documents are declared
by ``Monitoring`` and fed to ``promtool``, ``amtool`` and a real Prometheus
by the integration tests.

The metric names are the contract with every AI service (see
``services/text-classifier/app/metrics.py``): Prometheus' Operator adds the
``namespace`` and ``service`` labels to every scraped series.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from model.config import AlertingConfig, Environment, ServiceConfig

REQUESTS = "ai_service_requests_total"
"""Counter: requests by ``route``, ``method`` and ``status`` (the HTTP code)."""
DURATION = "ai_service_request_duration_seconds"
"""Histogram: request latency by ``route``."""
IN_FLIGHT = "ai_service_requests_in_flight"
BATCH_SIZE = "ai_service_batch_size"
MODEL_INFO = "ai_service_model_info"
#: The metrics every AI service must expose.
SERVICE_METRICS = (REQUESTS, DURATION, IN_FLIGHT, BATCH_SIZE, MODEL_INFO)

REQUEST_RATE = "ai_service:requests:rate5m"
ERROR_RATE = "ai_service:errors:rate5m"
ERROR_RATIO = "ai_service:error_ratio:rate5m"
LATENCY_P50 = "ai_service:latency_seconds:p50_5m"
LATENCY_P95 = "ai_service:latency_seconds:p95_5m"
LATENCY_P99 = "ai_service:latency_seconds:p99_5m"
#: Standard series from kube-state-metrics, cAdvisor and NVIDIA's DCGM exporter.
EXTERNAL_METRICS = (
    "kube_deployment_status_replicas_unavailable",
    "kube_deployment_status_replicas_available",
    "kube_deployment_spec_replicas",
    "kube_pod_container_status_restarts_total",
    "container_cpu_usage_seconds_total",
    "container_memory_working_set_bytes",
    "DCGM_FI_DEV_GPU_UTIL",
    "up",
)


def selector(service: ServiceConfig) -> str:
    return f'namespace="{service.namespace}", service="{service.name}"'


def service_rules(service: ServiceConfig) -> dict[str, Any]:
    """The spec of one service's PrometheusRule: SLO recording rules and alerts."""
    sel = selector(service)
    by = "sum by (namespace, service)"
    slo = service.slo
    labels = {"service": service.name, "namespace": service.namespace}

    def quantile(q: str) -> str:
        return f"histogram_quantile({q}, sum by (namespace, service, le) (rate({DURATION}_bucket{{{sel}}}[5m])))"

    alerts: list[dict[str, Any]] = [
        {
            "alert": "AiServiceHighErrorRatio",
            "expr": f"{ERROR_RATIO}{{{sel}}} > {slo.error_ratio}",
            "for": "5m",
            "labels": {**labels, "severity": "critical"},
            "annotations": {
                "summary": f"{service.name}: more than {slo.error_ratio:.2%} of requests fail",
                "description": f"More than {slo.error_ratio:.2%} of requests answered 5xx for 5 minutes (the SLO).",
            },
        },
        {
            "alert": "AiServiceHighLatencyP95",
            "expr": f"{LATENCY_P95}{{{sel}}} > {slo.latency_p95_ms / 1000}",
            "for": "10m",
            "labels": {**labels, "severity": "warning"},
            "annotations": {
                "summary": f"{service.name}: p95 latency above {slo.latency_p95_ms} ms",
                "description": f"p95 latency stayed above the {slo.latency_p95_ms} ms SLO for 10 minutes.",
            },
        },
        {
            "alert": "AiServiceTargetDown",
            "expr": f"up{{{sel}}} == 0",
            "for": "5m",
            "labels": {**labels, "severity": "critical"},
            "annotations": {"summary": f"{service.name}: Prometheus cannot scrape a replica"},
        },
        {
            "alert": "AiServicePodsUnavailable",
            "expr": (
                f'kube_deployment_status_replicas_unavailable{{namespace="{service.namespace}", '
                f'deployment="{service.name}"}} > 0'
            ),
            "for": "10m",
            "labels": {**labels, "severity": "warning"},
            "annotations": {"summary": f"{service.name}: replicas unavailable for 10 minutes"},
        },
        {
            "alert": "AiServiceRestarting",
            "expr": (
                f'increase(kube_pod_container_status_restarts_total{{namespace="{service.namespace}", '
                f'container="{service.name}"}}[15m]) > 2'
            ),
            "labels": {**labels, "severity": "warning"},
            "annotations": {"summary": f"{service.name}: containers restart repeatedly"},
        },
    ]
    if service.resources.gpu:
        alerts.append(
            {
                "alert": "AiServiceGpuSaturated",
                "expr": (
                    f'avg by (namespace) (DCGM_FI_DEV_GPU_UTIL{{namespace="{service.namespace}", '
                    f'pod=~"{service.name}-.*"}}) > 90'
                ),
                "for": "15m",
                "labels": {**labels, "severity": "warning"},
                "annotations": {"summary": f"{service.name}: GPUs above 90% for 15 minutes; scale out"},
            }
        )
    return {
        "groups": [
            {
                "name": f"ai-service.{service.name}.recording",
                "rules": [
                    {"record": REQUEST_RATE, "expr": f"{by} (rate({REQUESTS}{{{sel}}}[5m]))"},
                    {
                        # `or ... * 0`: a service without a single 5xx has an error rate of 0, not no data.
                        "record": ERROR_RATE,
                        "expr": (
                            f'{by} (rate({REQUESTS}{{{sel}, status=~"5.."}}[5m])) '
                            f"or {by} (rate({REQUESTS}{{{sel}}}[5m])) * 0"
                        ),
                    },
                    {"record": ERROR_RATIO, "expr": f"{ERROR_RATE}{{{sel}}} / {REQUEST_RATE}{{{sel}}}"},
                    {"record": LATENCY_P50, "expr": quantile("0.5")},
                    {"record": LATENCY_P95, "expr": quantile("0.95")},
                    {"record": LATENCY_P99, "expr": quantile("0.99")},
                ],
            },
            {"name": f"ai-service.{service.name}.alerts", "rules": alerts},
        ]
    }


def alertmanager_config(alerting: AlertingConfig) -> dict[str, Any]:
    """Routing: critical alerts to the critical receiver, the rest to the default one."""
    default = alerting.default_receiver or "null"
    routes: list[dict[str, Any]] = [{"receiver": "null", "matchers": ['alertname="Watchdog"']}]
    if alerting.critical_receiver:
        routes.append({"receiver": alerting.critical_receiver, "matchers": ['severity="critical"']})
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": default,
            "group_by": ["alertname", "namespace", "service"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["namespace", "service"],
            }
        ],
        "receivers": [
            {"name": "null"},
            *(
                {"name": receiver.name, "webhook_configs": [{"url": receiver.webhook_url, "send_resolved": True}]}
                for receiver in alerting.receivers
            ),
        ],
    }


def _panel(title: str, targets: Sequence[tuple[str, str]], unit: str, position: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": position + 1,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "gridPos": {"h": 8, "w": 12, "x": (position % 2) * 12, "y": (position // 2) * 8},
        "fieldConfig": {"defaults": {"unit": unit, **extra}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + index), "expr": expr, "legendFormat": legend}
            for index, (expr, legend) in enumerate(targets)
        ],
    }


#: Grafana refuses dashboard uids longer than this.
MAX_UID_LENGTH = 40


def dashboard_uid(name: str) -> str:
    """A Grafana uid for ``name``: the name itself when it fits, else a readable prefix and a hash of all of it.

    Cutting names to 40 characters gave ``...-service-a`` and ``...-service-b``
    one uid, and one dashboard overwrote the other.
    """
    if len(name) <= MAX_UID_LENGTH:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: MAX_UID_LENGTH - len(digest) - 1].rstrip('-')}-{digest}"


def _dashboard(uid: str, title: str, environment: Environment, panels: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "uid": dashboard_uid(uid),
        "title": title,
        "tags": ["ai-platform", environment],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "panels": panels,
    }


def _threshold(value: float) -> dict[str, Any]:
    return {
        "thresholds": {
            "mode": "absolute",
            "steps": [{"color": "green", "value": None}, {"color": "red", "value": value}],
        },
        "custom": {"thresholdsStyle": {"mode": "line"}},
    }


def service_dashboard(service: ServiceConfig, environment: Environment) -> dict[str, Any]:
    """Request rate, errors, latency quantiles, replicas, CPU, memory (and GPU) of one service."""
    sel = selector(service)
    pods = f'namespace="{service.namespace}", container="{service.name}"'
    deployment = f'namespace="{service.namespace}", deployment="{service.name}"'
    panels = [
        ("Request rate", [(f"{REQUEST_RATE}{{{sel}}}", "requests/s")], "reqps", {}),
        ("Error ratio", [(f"{ERROR_RATIO}{{{sel}}}", "5xx ratio")], "percentunit", _threshold(service.slo.error_ratio)),
        (
            "Latency",
            [
                (f"{LATENCY_P50}{{{sel}}}", "p50"),
                (f"{LATENCY_P95}{{{sel}}}", "p95"),
                (f"{LATENCY_P99}{{{sel}}}", "p99"),
            ],
            "s",
            _threshold(service.slo.latency_p95_ms / 1000),
        ),
        (
            "Replicas",
            [
                (f"kube_deployment_status_replicas_available{{{deployment}}}", "available"),
                (f"kube_deployment_spec_replicas{{{deployment}}}", "desired"),
            ],
            "short",
            {},
        ),
        ("CPU", [(f"sum by (pod) (rate(container_cpu_usage_seconds_total{{{pods}}}[5m]))", "{{pod}}")], "cores", {}),
        ("Memory", [(f"sum by (pod) (container_memory_working_set_bytes{{{pods}}})", "{{pod}}")], "bytes", {}),
        (
            "In-flight requests and batch size",
            [
                (f"sum({IN_FLIGHT}{{{sel}}})", "in flight"),
                (
                    f"histogram_quantile(0.95, sum by (le) (rate({BATCH_SIZE}_bucket{{{sel}}}[5m])))",
                    "batch size p95",
                ),
            ],
            "short",
            {},
        ),
    ]
    if service.resources.gpu:
        gpu = f'namespace="{service.namespace}", pod=~"{service.name}-.*"'
        panels.append(
            ("GPU utilization", [(f"avg by (pod) (DCGM_FI_DEV_GPU_UTIL{{{gpu}}})", "{{pod}}")], "percent", {})
        )
    return _dashboard(
        f"ai-{service.name}",
        f"AI service / {service.name}",
        environment,
        [_panel(title, targets, unit, index, **extra) for index, (title, targets, unit, extra) in enumerate(panels)],
    )


def platform_dashboard(services: Sequence[ServiceConfig], environment: Environment) -> dict[str, Any]:
    """One view over every AI service of the environment."""
    namespaces = "|".join(sorted({service.namespace for service in services})) or "none"
    ns = f'namespace=~"{namespaces}"'
    panels = [
        ("Requests by service", [(f"{REQUEST_RATE}{{{ns}}}", "{{service}}")], "reqps"),
        ("Error ratio by service", [(f"{ERROR_RATIO}{{{ns}}}", "{{service}}")], "percentunit"),
        ("p95 latency by service", [(f"{LATENCY_P95}{{{ns}}}", "{{service}}")], "s"),
        (
            "Unavailable replicas",
            [(f"sum by (deployment) (kube_deployment_status_replicas_unavailable{{{ns}}})", "{{deployment}}")],
            "short",
        ),
        (
            "CPU by namespace",
            [(f"sum by (namespace) (rate(container_cpu_usage_seconds_total{{{ns}}}[5m]))", "{{namespace}}")],
            "cores",
        ),
        (
            "Memory by namespace",
            [(f"sum by (namespace) (container_memory_working_set_bytes{{{ns}}})", "{{namespace}}")],
            "bytes",
        ),
    ]
    return _dashboard(
        "ai-platform-overview",
        "AI platform overview",
        environment,
        [_panel(title, targets, unit, index) for index, (title, targets, unit) in enumerate(panels)],
    )
