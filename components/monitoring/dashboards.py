"""Grafana dashboards, built with grafana-foundation-sdk's typed builders.

One dashboard per AI service (requests, errors and latency against its SLO,
replicas, CPU, memory, in-flight requests and batch size, GPUs) and one
overview of every service. Panels are laid out by the SDK, two per row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig
from grafana_foundation_sdk.builders.dashboard import Dashboard, ThresholdsConfig
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.timeseries import Panel
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import GraphThresholdsStyleMode
from grafana_foundation_sdk.models.dashboard import DataSourceRef, Threshold, ThresholdsMode

from components.monitoring.contract import (
    BATCH_SIZE,
    ERROR_RATIO,
    IN_FLIGHT,
    LATENCY_P50,
    LATENCY_P95,
    LATENCY_P99,
    REQUEST_RATE,
    selector,
)
from model.config import Environment, ServiceConfig

#: The Prometheus data source kube-prometheus-stack provisions in Grafana.
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="prometheus")
#: Grafana refuses dashboard uids longer than this.
MAX_UID_LENGTH = 40
PANEL_HEIGHT, PANEL_WIDTH = 8, 12


def dashboard_uid(name: str) -> str:
    """A Grafana uid for ``name``: the name itself when it fits, else a readable prefix and a hash of all of it.

    Cutting names to 40 characters gave ``...-service-a`` and ``...-service-b``
    one uid, and one dashboard overwrote the other.
    """
    if len(name) <= MAX_UID_LENGTH:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: MAX_UID_LENGTH - len(digest) - 1].rstrip('-')}-{digest}"


def query(expr: str, legend: str) -> Dataquery:
    return Dataquery().expr(expr).legend_format(legend)


def timeseries(title: str, unit: str, *queries: Dataquery, threshold: float | None = None) -> Panel:
    """A time series panel on Prometheus; ``threshold`` draws the SLO as a red line."""
    panel = Panel().title(title).unit(unit).datasource(PROMETHEUS).height(PANEL_HEIGHT).span(PANEL_WIDTH)
    for ref_id, target in zip("ABCDEFGH", queries, strict=False):
        panel.with_target(target.ref_id(ref_id))
    if threshold is not None:
        steps = [Threshold(color="green", value=None), Threshold(color="red", value=threshold)]
        panel.thresholds(ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps))
        panel.thresholds_style(GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.LINE))
    return panel


def dashboard(name: str, title: str, environment: Environment, panels: Sequence[Panel]) -> Dashboard:
    builder = (
        Dashboard(title)
        .uid(dashboard_uid(name))
        .tags(["ai-platform", environment])
        .timezone("browser")
        .refresh("30s")
        .time("now-6h", "now")
        .version(1)
    )
    for number, panel in enumerate(panels, start=1):
        builder.with_panel(panel.id(number))
    return builder


def to_json(builder: Dashboard) -> str:
    """The dashboard document Grafana's sidecar loads."""
    return json.dumps(builder.build(), cls=JSONEncoder, indent=2, sort_keys=True)


def service_dashboard(service: ServiceConfig, environment: Environment) -> Dashboard:
    """Request rate, errors, latency quantiles, replicas, CPU, memory (and GPU) of one service."""
    sel = selector(service)
    pods = f'namespace="{service.namespace}", container="{service.name}"'
    deployment = f'namespace="{service.namespace}", deployment="{service.name}"'
    panels = [
        timeseries("Request rate", "reqps", query(f"{REQUEST_RATE}{{{sel}}}", "requests/s")),
        timeseries(
            "Error ratio",
            "percentunit",
            query(f"{ERROR_RATIO}{{{sel}}}", "5xx ratio"),
            threshold=service.slo.error_ratio,
        ),
        timeseries(
            "Latency",
            "s",
            query(f"{LATENCY_P50}{{{sel}}}", "p50"),
            query(f"{LATENCY_P95}{{{sel}}}", "p95"),
            query(f"{LATENCY_P99}{{{sel}}}", "p99"),
            threshold=service.slo.latency_p95_ms / 1000,
        ),
        timeseries(
            "Replicas",
            "short",
            query(f"kube_deployment_status_replicas_available{{{deployment}}}", "available"),
            query(f"kube_deployment_spec_replicas{{{deployment}}}", "desired"),
        ),
        timeseries(
            "CPU",
            "cores",
            query(f"sum by (pod) (rate(container_cpu_usage_seconds_total{{{pods}}}[5m]))", "{{pod}}"),
        ),
        timeseries("Memory", "bytes", query(f"sum by (pod) (container_memory_working_set_bytes{{{pods}}})", "{{pod}}")),
        timeseries(
            "In-flight requests and batch size",
            "short",
            query(f"sum({IN_FLIGHT}{{{sel}}})", "in flight"),
            query(f"histogram_quantile(0.95, sum by (le) (rate({BATCH_SIZE}_bucket{{{sel}}}[5m])))", "batch size p95"),
        ),
    ]
    if service.resources.gpu:
        gpu = f'namespace="{service.namespace}", pod=~"{service.name}-.*"'
        panels.append(
            timeseries("GPU utilization", "percent", query(f"avg by (pod) (DCGM_FI_DEV_GPU_UTIL{{{gpu}}})", "{{pod}}"))
        )
    return dashboard(f"ai-{service.name}", f"AI service / {service.name}", environment, panels)


def platform_dashboard(services: Sequence[ServiceConfig], environment: Environment) -> Dashboard:
    """One view over every AI service of the environment."""
    namespaces = "|".join(sorted({service.namespace for service in services})) or "none"
    ns = f'namespace=~"{namespaces}"'
    panels = [
        timeseries("Requests by service", "reqps", query(f"{REQUEST_RATE}{{{ns}}}", "{{service}}")),
        timeseries("Error ratio by service", "percentunit", query(f"{ERROR_RATIO}{{{ns}}}", "{{service}}")),
        timeseries("p95 latency by service", "s", query(f"{LATENCY_P95}{{{ns}}}", "{{service}}")),
        timeseries(
            "Unavailable replicas",
            "short",
            query(f"sum by (deployment) (kube_deployment_status_replicas_unavailable{{{ns}}})", "{{deployment}}"),
        ),
        timeseries(
            "CPU by namespace",
            "cores",
            query(f"sum by (namespace) (rate(container_cpu_usage_seconds_total{{{ns}}}[5m]))", "{{namespace}}"),
        ),
        timeseries(
            "Memory by namespace",
            "bytes",
            query(f"sum by (namespace) (container_memory_working_set_bytes{{{ns}}})", "{{namespace}}"),
        ),
    ]
    return dashboard("ai-platform-overview", "AI platform overview", environment, panels)
