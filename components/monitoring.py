"""``Monitoring``: Prometheus, Alertmanager and Grafana, and how every AI service is watched.

kube-prometheus-stack as a ``HelmAddon`` (retention and storage sized per
environment, Alertmanager routes from config, Grafana with its admin password
from a Pulumi secret, a TLS ingress and the dashboard sidecar), plus for each
AI service a ServiceMonitor, a PrometheusRule with SLO recording rules and
alerts, and a Grafana dashboard, all generated from the service's config.
Custom resources wait for the release that installs their CRDs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.addons.kube_prometheus_stack import DASHBOARD_LABEL, KubePrometheusStack, KubePrometheusStackArgs
from components.kube import selector_labels
from components.observability import platform_dashboard, service_dashboard, service_rules
from model.config import ClusterConfig, Environment, MonitoringConfig, ServiceConfig


@dataclass(frozen=True)
class MonitoringArgs:
    config: MonitoringConfig
    environment: Environment
    cluster: ClusterConfig
    services: Sequence[ServiceConfig]
    grafana_password: pulumi.Input[str]


class Monitoring(pulumi.ComponentResource):
    """The monitoring stack and the per-service monitors, rules and dashboards."""

    TYPE = "ai-platform:monitoring:Monitoring"

    stack: KubePrometheusStack

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, None, opts)
        self.stack = KubePrometheusStack(
            "kube-prometheus-stack",
            KubePrometheusStackArgs(
                chart=args.config.kube_prometheus_stack,
                monitoring=args.config,
                environment=args.environment,
                namespace=args.cluster.monitoring_namespace,
                # Metrics history and dashboards are data.
                protect=args.environment == "prod",
                cluster=args.cluster,
            ),
            grafana_password=args.grafana_password,
            opts=pulumi.ResourceOptions(parent=self),
        )
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[self.stack.release])
        namespace = self.stack.namespace_name
        for service in args.services:
            self._watch(service, after_crds)
            self._dashboard(f"dashboard-{service.name}", namespace, service_dashboard(service, args.environment))
        self._dashboard("dashboard-platform", namespace, platform_dashboard(args.services, args.environment))
        self.register_outputs({"namespace": namespace})

    def _watch(self, service: ServiceConfig, opts: pulumi.ResourceOptions) -> None:
        metadata = k8s.meta.v1.ObjectMetaArgs(
            name=service.name, namespace=service.namespace, labels={"app.kubernetes.io/part-of": "ai-platform"}
        )
        k8s.apiextensions.CustomResource(
            f"{service.name}-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=metadata,
            spec={
                "selector": {"matchLabels": selector_labels(service.name)},
                "namespaceSelector": {"matchNames": [service.namespace]},
                "endpoints": [
                    {"port": "http", "path": service.metrics_path, "interval": "30s", "scrapeTimeout": "10s"}
                ],
            },
            opts=opts,
        )
        k8s.apiextensions.CustomResource(
            f"{service.name}-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=metadata,
            spec=service_rules(service),
            opts=opts,
        )

    def _dashboard(self, name: str, namespace: str, dashboard: dict[str, Any]) -> None:
        k8s.core.v1.ConfigMap(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                namespace=namespace,
                labels={DASHBOARD_LABEL: "1", "app.kubernetes.io/part-of": "ai-platform"},
            ),
            data={f"{name}.json": json.dumps(dashboard, indent=2, sort_keys=True)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.stack.namespace]),
        )
