"""Grafana reads only its own namespace, admits no anonymous users, and keeps its volume."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from components.addons.kube_prometheus_stack import KubePrometheusStack, KubePrometheusStackArgs
from infra.offline.check import Rendered
from model.config import ClusterConfig, HelmChartConfig, MonitoringConfig
from tests.helpers import resources_of


def grafana_values(rendered: Rendered) -> dict[str, Any]:
    [release] = [
        r
        for r in resources_of(rendered, "kubernetes:helm.sh/v3:Release")
        if r.inputs["chart"] == "kube-prometheus-stack"
    ]
    values: dict[str, Any] = release.inputs["values"]["grafana"]
    return values


def test_no_cluster_role_of_grafana_reads_secrets(rendered_stack: Callable[[str], Rendered]) -> None:
    """grafana 8.5.x renders its ClusterRole (configmaps and secrets, get/watch/list, bound cluster-wide)
    only `if and .Values.rbac.create (or (not .Values.rbac.namespaced) .Values.rbac.extraClusterRoleRules)`.
    Rendered with helm 3.17.3 and these values: no ClusterRole named *grafana*, a Role in `monitoring`."""
    for stack in ("dev", "staging", "prod"):
        grafana = grafana_values(rendered_stack(stack))
        assert grafana["rbac"]["namespaced"] is True
        assert not grafana["rbac"].get("extraClusterRoleRules")
        # A namespaced Role cannot list other namespaces: the sidecar must watch only its own.
        assert grafana["sidecar"]["dashboards"]["searchNamespace"] == "monitoring"


def test_the_dashboard_sidecar_watches_the_monitoring_namespace_it_is_given() -> None:
    args = KubePrometheusStackArgs(
        chart=HelmChartConfig(version="65.0.0"),
        monitoring=MonitoringConfig(kube_prometheus_stack=HelmChartConfig(version="65.0.0")),
        environment="prod",
        namespace="observability",
        cluster=ClusterConfig(monitoring_namespace="observability"),
    )
    assert KubePrometheusStack.values(args)["grafana"]["sidecar"]["dashboards"]["searchNamespace"] == "observability"


def test_dashboards_live_where_the_sidecar_looks(rendered_stack: Callable[[str], Rendered]) -> None:
    prod = rendered_stack("prod")
    dashboards = [
        m
        for m in prod.manifests
        if m.kind == "ConfigMap" and m.body["metadata"].get("labels", {}).get("grafana_dashboard")
    ]
    assert dashboards
    assert {m.namespace for m in dashboards} == {grafana_values(prod)["sidecar"]["dashboards"]["searchNamespace"]}


def test_anonymous_access_is_explicitly_off(rendered_stack: Callable[[str], Rendered]) -> None:
    grafana = grafana_values(rendered_stack("prod"))
    assert grafana["grafana.ini"]["auth.anonymous"] == {"enabled": False}
